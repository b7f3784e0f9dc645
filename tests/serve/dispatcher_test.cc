#include "kiln/serve/dispatcher.h"

#include <map>

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

TEST(RoutingTest, WeightsSplitTrafficAndStickyKeysStay) {
  RoutingPolicy p;
  p.split = {{"production", 90}, {"canary", 10}};
  ASSERT_TRUE(ValidateRouting(p).ok());
  std::map<std::string, int> by_random, by_key;
  for (uint64_t i = 0; i < 10000; ++i) {
    ++by_random[PickRoute(p, std::nullopt, i * 7919)->target];
    ++by_key[PickRoute(p, "customer-" + std::to_string(i), 0)->target];
  }
  EXPECT_EQ(by_random["canary"], 1000);  // i * 7919 mod 100 visits every residue equally
  EXPECT_GT(by_key["canary"], 800);      // hashed keys: about 10%
  EXPECT_LT(by_key["canary"], 1200);
  // A key keeps its route whatever the random draw.
  const Route* first = PickRoute(p, std::string("customer-42"), 1);
  for (uint64_t r = 0; r < 100; ++r) EXPECT_EQ(PickRoute(p, std::string("customer-42"), r), first);
  // Zero weights are never picked; no split, no route.
  p.split = {{"production", 0}, {"canary", 5}};
  for (uint64_t r = 0; r < 100; ++r) EXPECT_EQ(PickRoute(p, std::nullopt, r)->target, "canary");
  EXPECT_EQ(PickRoute(RoutingPolicy{}, std::nullopt, 3), nullptr);
}

TEST(RoutingTest, InvalidPoliciesAreRefused) {
  RoutingPolicy p;
  p.split = {{"production", 0}};
  EXPECT_EQ(ValidateRouting(p).code(), StatusCode::kInvalidArgument);  // all zero
  p.split = {{"../x", 1}};
  EXPECT_EQ(ValidateRouting(p).code(), StatusCode::kInvalidArgument);
  p.split = {{"a", 2000000}};
  EXPECT_EQ(ValidateRouting(p).code(), StatusCode::kInvalidArgument);
  p.split = {};
  p.shadow = "bad name";
  EXPECT_EQ(ValidateRouting(p).code(), StatusCode::kInvalidArgument);
  p.shadow = "staging";
  EXPECT_TRUE(ValidateRouting(p).ok());  // a shadow alone is a policy
}

}  // namespace
}  // namespace kiln::serve
