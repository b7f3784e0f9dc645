#include "kiln/serve/prediction_cache.h"

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

using Clock = PredictionCache::Clock;
using std::chrono::milliseconds;

std::shared_ptr<const InferResponse> Answer(double v) {
  auto r = std::make_shared<InferResponse>();
  r->outputs.push_back({"predict", DataType::kFp32, {1}, {v}, {}});
  return r;
}

PreparedInfer Rows(std::vector<double> values, bool explain = false) {
  PreparedInfer p;
  p.x.rows = values.size();
  p.x.cols = 1;
  p.x.values = std::move(values);
  p.predict = true;
  p.contributions = explain;
  return p;
}

TEST(PredictionCacheTest, KeysAreTheCanonicalRequest) {
  ServedModel v1, v2;
  v1.version = 1;
  v2.version = 2;
  const auto k = PredictionCache::Key(v1, Rows({1, 2}));
  EXPECT_EQ(k, PredictionCache::Key(v1, Rows({1, 2})));
  EXPECT_NE(k, PredictionCache::Key(v2, Rows({1, 2})));        // another version
  EXPECT_NE(k, PredictionCache::Key(v1, Rows({1, 2}, true)));  // other outputs
  EXPECT_NE(k, PredictionCache::Key(v1, Rows({2, 1})));
  PreparedInfer wide = Rows({1, 2});
  wide.x.rows = 1;
  wide.x.cols = 2;  // the same numbers as one row of two features
  EXPECT_NE(k, PredictionCache::Key(v1, wide));
}

TEST(PredictionCacheTest, HitsExpireAfterTheTtl) {
  PredictionCache cache({.max_entries = 10, .max_bytes = 1 << 20, .ttl_ms = 100});
  const auto t0 = Clock::now();
  cache.Put("a", Answer(1), t0);
  ASSERT_NE(cache.Get("a", t0 + milliseconds(99)), nullptr);
  EXPECT_EQ(cache.Get("a", t0 + milliseconds(99))->outputs[0].numbers[0], 1);
  EXPECT_EQ(cache.Get("b", t0), nullptr);
  EXPECT_EQ(cache.Get("a", t0 + milliseconds(100)), nullptr);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(PredictionCacheTest, EvictsTheLeastRecentlyUsed) {
  PredictionCache cache({.max_entries = 2, .max_bytes = 1 << 20, .ttl_ms = 60000});
  const auto t = Clock::now();
  cache.Put("a", Answer(1), t);
  cache.Put("b", Answer(2), t);
  ASSERT_NE(cache.Get("a", t), nullptr);  // a is now the most recent
  cache.Put("c", Answer(3), t);           // evicts b
  EXPECT_NE(cache.Get("a", t), nullptr);
  EXPECT_EQ(cache.Get("b", t), nullptr);
  EXPECT_NE(cache.Get("c", t), nullptr);
  cache.Put("c", Answer(4), t);  // replaces
  EXPECT_EQ(cache.Get("c", t)->outputs[0].numbers[0], 4);
  EXPECT_EQ(cache.entries(), 2u);
}

TEST(PredictionCacheTest, BytesAreBounded) {
  const std::string big(3000, 'k');
  PredictionCache cache({.max_entries = 1000, .max_bytes = 10000, .ttl_ms = 60000});
  const auto t = Clock::now();
  for (int i = 0; i < 10; ++i) cache.Put(big + std::to_string(i), Answer(i), t);
  EXPECT_LE(cache.bytes(), 10000u);
  EXPECT_GE(cache.entries(), 1u);
  EXPECT_LT(cache.entries(), 10u);
  EXPECT_NE(cache.Get(big + "9", t), nullptr);       // the newest stays
  cache.Put(std::string(20000, 'x'), Answer(0), t);  // larger than the bound: not stored
  EXPECT_EQ(cache.Get(std::string(20000, 'x'), t), nullptr);
  EXPECT_NE(cache.Get(big + "9", t), nullptr);
}

TEST(PredictionCacheTest, DisabledCacheStoresNothing) {
  PredictionCache cache(CachePolicy{});
  cache.Put("a", Answer(1), Clock::now());
  EXPECT_EQ(cache.Get("a", Clock::now()), nullptr);
}

}  // namespace
}  // namespace kiln::serve
