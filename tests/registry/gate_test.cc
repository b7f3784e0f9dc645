#include "kiln/registry/gate.h"

#include <gtest/gtest.h>

namespace kiln::registry {
namespace {

const MetricMap kChallenger = {{"auc", 0.80}, {"logloss", 0.50}};
const MetricMap kChampion = {{"auc", 0.805}, {"logloss", 0.52}};

TEST(GateTest, ComparesChallengerWithChampion) {
  auto r = EvaluateGate("auc >= champion.auc - 0.01 and challenger.logloss <= champion.logloss",
                        kChallenger, kChampion);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->passed);
  ASSERT_EQ(r->clauses.size(), 2u);
  EXPECT_EQ(r->clauses[0].text, "auc >= champion.auc - 0.01");
  EXPECT_DOUBLE_EQ(r->clauses[0].left, 0.80);
  EXPECT_DOUBLE_EQ(r->clauses[0].right, 0.795);
  auto strict = EvaluateGate("auc >= champion.auc - 0.001", kChallenger, kChampion);
  ASSERT_TRUE(strict.ok());
  EXPECT_FALSE(strict->passed);
  EXPECT_FALSE(strict->clauses[0].passed);
}

TEST(GateTest, ArithmeticAndPrecedence) {
  auto r = EvaluateGate("-(auc - 1) * 2 + 0.1 / 0.5 == 0.6", kChallenger, kChampion);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->clauses[0].left, 0.6, 1e-12);
  auto div0 = EvaluateGate("auc / 0 > 0 and (auc - auc) / 0 < 1", kChallenger, kChampion);
  ASSERT_TRUE(div0.ok());
  EXPECT_TRUE(div0->clauses[0].passed);   // +inf
  EXPECT_FALSE(div0->clauses[1].passed);  // nan fails
}

TEST(GateTest, NoChampionSkipsChampionClauses) {
  auto r = EvaluateGate("auc >= champion.auc and auc > 0.9", kChallenger, std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->clauses[0].skipped);
  EXPECT_TRUE(r->clauses[0].passed);
  EXPECT_FALSE(r->clauses[1].passed);
  EXPECT_FALSE(r->passed);
}

TEST(GateTest, BadGatesAreClearErrors) {
  for (const char* g :
       {"", "auc", "auc >", "auc >= 0.8 or auc < 1", "auc >= (0.8", "auc >= 0.8 and",
        "auc >= 1e999", "auc ! 0.8", "auc >= 0.8; DROP TABLE runs", "and > 1"}) {
    EXPECT_EQ(ValidateGate(g).code(), StatusCode::kInvalidArgument) << g;
    EXPECT_EQ(EvaluateGate(g, kChallenger, kChampion).status().code(), StatusCode::kInvalidArgument)
        << g;
  }
  auto unknown = EvaluateGate("rmse < 1", kChallenger, kChampion);
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("rmse"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("auc"), std::string::npos);  // lists what exists
  EXPECT_EQ(ValidateGate(std::string(5000, '(')).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateGate("auc > " + std::string(100, '(') + "1" + std::string(100, ')')).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::registry
