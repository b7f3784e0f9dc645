#include <cmath>

#include <gtest/gtest.h>

#include "kiln/tune/space.h"
#include "kiln/tune/tuner.h"

namespace kiln::tune {
namespace {

SearchSpace Space() {
  SearchSpace s;
  s.params.push_back({"learning_rate", ParamSpec::Type::kFloat, 0.001, 1.0, true, {}});
  s.params.push_back({"max_depth", ParamSpec::Type::kInt, 2, 12, false, {}});
  s.params.push_back(
      {"max_cat_to_onehot", ParamSpec::Type::kCategorical, 0, 0, false, {"2", "4", "8", "16"}});
  return s;
}

// A loss with its minimum at learning_rate 0.05, depth 7, onehot "8".
double Loss(const Assignment& a) {
  const double lr = std::log10(a.at("learning_rate") / 0.05);
  const double d = (a.at("max_depth") - 7) / 3.0;
  return lr * lr + d * d + (a.at("max_cat_to_onehot") == 2 ? 0 : 0.5);
}

double BestAfter(std::unique_ptr<Sampler> sampler, int trials, uint64_t seed) {
  std::vector<Observation> history;
  double best = INFINITY;
  for (int i = 0; i < trials; ++i) {
    std::mt19937_64 rng(seed * 1000 + static_cast<uint64_t>(i));
    Assignment a = sampler->Suggest(history, rng);
    EXPECT_GE(a.at("learning_rate"), 0.001);
    EXPECT_LE(a.at("learning_rate"), 1.0);
    EXPECT_EQ(a.at("max_depth"), std::round(a.at("max_depth")));
    EXPECT_GE(a.at("max_depth"), 2);
    EXPECT_LE(a.at("max_depth"), 12);
    history.push_back({a, Loss(a)});
    best = std::min(best, history.back().loss);
  }
  return best;
}

TEST(SamplerTest, TpeBeatsRandomOnAverage) {
  double tpe = 0, random = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    tpe += BestAfter(NewTpeSampler(Space(), 10), 40, seed);
    random += BestAfter(NewRandomSampler(Space()), 40, seed);
  }
  EXPECT_LT(tpe, random * 0.8) << "tpe " << tpe / 20 << " random " << random / 20;
}

TEST(SamplerTest, ValuesRoundTripThroughText) {
  const SearchSpace s = Space();
  EXPECT_EQ(ValueText(s.params[1], 6.6), "7");
  EXPECT_EQ(ValueText(s.params[2], 2), "8");
  EXPECT_EQ(*ParseValue(s.params[2], "8"), 2);
  EXPECT_FALSE(ParseValue(s.params[2], "3").ok());
  EXPECT_DOUBLE_EQ(*ParseValue(s.params[0], ValueText(s.params[0], 0.0123456789)), 0.0123456789);
  EXPECT_TRUE(ValidateSpace(s).ok());
  SearchSpace bad = s;
  bad.params.push_back(s.params[0]);
  EXPECT_EQ(ValidateSpace(bad).code(), StatusCode::kInvalidArgument);  // listed twice
}

TEST(AshaTest, RungsAndCutoffs) {
  Asha asha(100, 5, 3);
  EXPECT_EQ(asha.rungs(), (std::vector<int>{5, 15, 45}));
  EXPECT_TRUE(asha.Continue(4, -1));    // not a rung
  EXPECT_TRUE(asha.Continue(5, 0.5));   // first at the rung
  EXPECT_FALSE(asha.Continue(5, 0.4));  // below the 2/3 quantile of {0.4, 0.5}
  EXPECT_TRUE(asha.Continue(5, 0.9));
  EXPECT_FALSE(asha.Continue(5, 0.45));  // cutoff: 0.5 of {0.4, 0.45, 0.5, 0.9}
  EXPECT_TRUE(asha.Continue(15, 0.1));   // rungs are independent
}

TEST(FoldsTest, FoldsPartitionTheRows) {
  learn::BinnedData x;
  x.rows = 10;
  x.features.resize(1);
  x.num_bins = {10};
  for (uint8_t i = 0; i < 10; ++i) x.bins.push_back(i);
  std::vector<float> labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto folds = MakeFolds(x, labels, 3, 0, 1);
  ASSERT_EQ(folds.size(), 3u);
  std::vector<int> seen(10, 0);
  for (const auto& f : folds) {
    EXPECT_EQ(f.train.rows + f.valid.rows, 10u);
    for (size_t r = 0; r < f.valid.rows; ++r) {
      EXPECT_EQ(f.valid.bins[r], f.valid_labels[r]);  // rows keep their labels
      ++seen[f.valid.bins[r]];
    }
  }
  for (int s : seen) EXPECT_EQ(s, 1);  // every row validated exactly once
  auto holdout = MakeFolds(x, labels, 0, 0.3, 1);
  ASSERT_EQ(holdout.size(), 1u);
  EXPECT_EQ(holdout[0].valid.rows, 3u);
}

}  // namespace
}  // namespace kiln::tune
