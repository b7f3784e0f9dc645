#include "kiln/data/profile.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "kiln/base/hash.h"

namespace kiln::data {
namespace {

TEST(QuantileSketchTest, MatchesExactQuantilesWithinRankError) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::vector<double> values(200000);
  QuantileSketch sketch;
  for (double& v : values) {
    v = normal(rng);
    sketch.Add(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
    double q = sketch.Quantile(p);
    double rank =
        static_cast<double>(std::lower_bound(values.begin(), values.end(), q) - values.begin()) /
        values.size();
    EXPECT_NEAR(rank, p, 0.02) << p;
  }
  EXPECT_EQ(sketch.Quantile(0.0), values.front());
  EXPECT_EQ(sketch.Quantile(1.0), values.back());
}

TEST(DistinctCounterTest, EstimatesWithinFivePercent) {
  for (uint64_t n : {10ull, 1000ull, 100000ull}) {
    DistinctCounter d;
    for (uint64_t i = 0; i < n; ++i) {
      std::string key = "value-" + std::to_string(i);
      for (int rep = 0; rep < 3; ++rep) d.AddHash(Xxh3_64(key));
    }
    EXPECT_NEAR(static_cast<double>(d.Estimate()), static_cast<double>(n), 0.05 * n + 1) << n;
  }
}

TEST(ProfileBuilderTest, NumericStatistics) {
  Column c(DataType::kInt64);
  for (int i = 1; i <= 100; ++i) c.AppendInt64(i);
  c.AppendNull();
  ProfileBuilder b(DataType::kInt64);
  b.Add(c);
  ColumnProfile p = b.Finish();
  EXPECT_EQ(p.count, 101u);
  EXPECT_EQ(p.nulls, 1u);
  EXPECT_EQ(*p.min, 1);
  EXPECT_EQ(*p.max, 100);
  EXPECT_DOUBLE_EQ(*p.mean, 50.5);
  EXPECT_NEAR(*p.std, 29.011, 1e-3);
  ASSERT_EQ(p.quantiles.size(), static_cast<size_t>(ColumnProfile::kQuantilePoints));
  EXPECT_EQ(p.distinct, 100u);
}

TEST(ProfileBuilderTest, InfinitiesAreCountedNotAveraged) {
  Column c(DataType::kFloat64);
  c.AppendFloat64(1);
  c.AppendFloat64(INFINITY);
  c.AppendFloat64(3);
  ProfileBuilder b(DataType::kFloat64);
  b.Add(c);
  auto p = b.Finish();
  EXPECT_EQ(p.infinities, 1u);
  EXPECT_DOUBLE_EQ(*p.mean, 2.0);
}

TEST(ProfileBuilderTest, CategoricalTopValues) {
  auto dict = std::make_shared<const Dictionary>(Dictionary{"a", "b", "c"});
  Column c(DataType::kCategorical);
  for (uint32_t code : {0u, 1u, 1u, 2u, 1u}) c.AppendCode(code);
  c.set_dictionary(dict);
  ProfileBuilder b(DataType::kCategorical);
  b.Add(c);
  auto p = b.Finish();
  ASSERT_EQ(p.top.size(), 3u);
  EXPECT_EQ(p.top[0], (ValueCount{"b", 3}));
  EXPECT_TRUE(p.top_complete);
  EXPECT_EQ(p.distinct, 3u);
}

ColumnProfile NormalProfile(double mean, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(mean, 1.0);
  Column c(DataType::kFloat64);
  for (int i = 0; i < 50000; ++i) c.AppendFloat64(normal(rng));
  ProfileBuilder b(DataType::kFloat64);
  b.Add(c);
  return b.Finish();
}

TEST(PsiTest, SmallForSameDistributionLargeForShift) {
  auto a = NormalProfile(0, 1), b = NormalProfile(0, 2), shifted = NormalProfile(1.0, 3);
  EXPECT_LT(*Psi(a, b), 0.02);
  EXPECT_GT(*Psi(a, shifted), 0.25);
}

TEST(PsiTest, Categorical) {
  ColumnProfile e, same, moved;
  e.count = same.count = moved.count = 100;
  e.top = {{"x", 50}, {"y", 50}};
  same.top = {{"y", 50}, {"x", 50}};
  moved.top = {{"x", 90}, {"y", 10}};
  EXPECT_NEAR(*Psi(e, same), 0.0, 1e-9);
  EXPECT_GT(*Psi(e, moved), 0.5);
  EXPECT_FALSE(Psi(ColumnProfile{}, e).has_value());
}

}  // namespace
}  // namespace kiln::data
