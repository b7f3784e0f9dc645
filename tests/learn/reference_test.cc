#include "kiln/learn/reference.h"

#include <cmath>

#include <gtest/gtest.h>

namespace kiln::learn {
namespace {

// Two features over 6 rows: x (3 bins) and c (2 categories), some values missing.
BinnedData Binned() {
  BinnedData x;
  x.rows = 6;
  x.features = {{"x", false, {}, {1, 2, INFINITY}}, {"c", true, {"a", "b"}, {}}};
  x.num_bins = {3, 2};
  x.bins = {0, 0, 1, 2, 2, 3,   // x: bins 0, 0, 1, 2, 2, missing
            1, 1, 1, 0, 2, 2};  // c: b, b, b, a, missing, missing
  x.min = {0.5, NAN};
  x.max = {9, NAN};
  return x;
}

model::TreeModel ModelFor(const BinnedData& x, model::Objective objective, int32_t classes = 1) {
  model::TreeModel m;
  m.objective = objective;
  m.num_classes = classes;
  m.features = x.features;
  m.base_score.assign(static_cast<size_t>(m.num_groups()), 0);
  return m;
}

TEST(ReferenceTest, CountsTrainingRowsInTheModelsBins) {
  const BinnedData x = Binned();
  const auto m = ModelFor(x, model::Objective::kBinaryLogistic);
  const std::vector<double> margins = {-10, 0, 0, 10, 10, 10};
  const auto r = BuildReference(m, x, margins, "validation", {{"auc", 0.8}});
  EXPECT_EQ(r.rows, 6u);
  ASSERT_EQ(r.features.size(), 2u);
  EXPECT_EQ(r.features[0].counts, (std::vector<uint64_t>{2, 1, 2}));
  EXPECT_EQ(r.features[0].missing, 1u);
  EXPECT_EQ(r.features[1].counts, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(r.features[1].missing, 2u);
  EXPECT_EQ(r.features[0].min, 0.5);  // the range binned
  EXPECT_EQ(r.features[0].max, 9);
  EXPECT_TRUE(std::isnan(r.features[1].min));
  // Probabilities in 20 equal bins: 0.00005 -> bin 0, 0.5 -> bin 9 (<= 0.5), 0.99995 -> bin 19.
  EXPECT_EQ(r.score_kind, model::ScoreKind::kProbability);
  ASSERT_EQ(r.score_edges.size(), 19u);
  ASSERT_EQ(r.score_counts.size(), 20u);
  EXPECT_EQ(r.score_counts[0], 1u);
  EXPECT_EQ(r.score_counts[9], 2u);
  EXPECT_EQ(r.score_counts[19], 3u);
  EXPECT_EQ(r.score_data, "validation");
  EXPECT_EQ(r.valid_metrics.at("auc"), 0.8);
  model::TreeModel with = m;
  with.reference = r;
  EXPECT_TRUE(with.Validate().ok()) << with.Validate().ToString();
}

TEST(ReferenceTest, MulticlassCountsPredictedClassesAndRegressionUsesQuantiles) {
  const BinnedData x = Binned();
  const auto mc = ModelFor(x, model::Objective::kMulticlassSoftmax, 3);
  const std::vector<double> margins = {5, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 5};  // 4 rows
  const auto r = BuildReference(mc, x, margins, "training", {});
  EXPECT_EQ(r.score_kind, model::ScoreKind::kClass);
  EXPECT_EQ(r.score_counts, (std::vector<uint64_t>{1, 2, 1}));

  const auto reg = ModelFor(x, model::Objective::kRegressionL2);
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) values.push_back(i);
  const auto q = BuildReference(reg, x, values, "training", {});
  EXPECT_EQ(q.score_kind, model::ScoreKind::kValue);
  ASSERT_EQ(q.score_counts.size(), q.score_edges.size() + 1);
  EXPECT_EQ(q.score_counts.size(), 20u);
  for (uint64_t c : q.score_counts) EXPECT_NEAR(static_cast<double>(c), 50, 1) << "quantile bins";
  model::TreeModel with = reg;
  with.reference = q;
  EXPECT_TRUE(with.Validate().ok()) << with.Validate().ToString();
}

}  // namespace
}  // namespace kiln::learn
