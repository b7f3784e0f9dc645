#include "kiln/learn/objective.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "kiln/learn/params.h"
#include "kiln/model/predictor.h"

namespace kiln::learn {
namespace {

using model::Objective;

// The loss of one row (summed over groups), for finite differences.
double Loss(Objective o, int32_t groups, const double* m, float y) {
  switch (o) {
    case Objective::kBinaryLogistic: {
      const double p = 1 / (1 + std::exp(-m[0]));
      return -(y * std::log(p) + (1 - y) * std::log(1 - p));
    }
    case Objective::kMulticlassSoftmax: {
      std::vector<double> p(m, m + groups);
      model::TransformMargins(o, p.data(), groups);
      return -std::log(p[static_cast<size_t>(y)]);
    }
    case Objective::kRegressionL2:
      return 0.5 * (m[0] - y) * (m[0] - y);
    case Objective::kRegressionL1:
      return std::fabs(m[0] - y);
    case Objective::kPoisson:
      return std::exp(m[0]) - y * m[0];
  }
  return 0;
}

TEST(ObjectiveTest, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (Objective o : {Objective::kBinaryLogistic, Objective::kMulticlassSoftmax,
                      Objective::kRegressionL2, Objective::kRegressionL1, Objective::kPoisson}) {
    const int32_t groups = o == Objective::kMulticlassSoftmax ? 4 : 1;
    const size_t rows = 50;
    std::vector<double> m(rows * groups);
    std::vector<float> y(rows);
    for (auto& v : m) v = normal(rng);
    for (size_t r = 0; r < rows; ++r) {
      y[r] = o == Objective::kMulticlassSoftmax ? static_cast<float>(rng() % 4)
             : o == Objective::kBinaryLogistic  ? static_cast<float>(rng() % 2)
             : o == Objective::kPoisson         ? static_cast<float>(rng() % 5)
                                                : static_cast<float>(normal(rng));
    }
    std::vector<GradPair> g(rows * groups);
    ComputeGradients(o, groups, m, y, g);
    const double eps = 1e-5;
    for (size_t r = 0; r < rows; ++r) {
      for (int32_t k = 0; k < groups; ++k) {
        double* mk = &m[r * groups + k];
        const double x0 = *mk;
        *mk = x0 + eps;
        const double up = Loss(o, groups, &m[r * groups], y[r]);
        *mk = x0 - eps;
        const double down = Loss(o, groups, &m[r * groups], y[r]);
        *mk = x0;
        const double mid = Loss(o, groups, &m[r * groups], y[r]);
        const double fd_g = (up - down) / (2 * eps);
        EXPECT_NEAR(g[r * groups + k].g, fd_g, 1e-4) << model::ObjectiveName(o);
        if (o == Objective::kBinaryLogistic || o == Objective::kRegressionL2) {
          EXPECT_NEAR(g[r * groups + k].h, (up - 2 * mid + down) / (eps * eps), 1e-3);
        }
        EXPECT_GT(g[r * groups + k].h, 0);
      }
    }
  }
}

TEST(MetricsTest, KnownValues) {
  std::vector<float> y = {0, 0, 1, 1};
  std::vector<double> scores = {0.1, 0.4, 0.35, 0.8};
  EXPECT_DOUBLE_EQ(*EvaluateMetric("auc", Objective::kBinaryLogistic, 1, scores, y), 0.75);
  std::vector<double> tied = {0.5, 0.5, 0.5, 0.5};
  EXPECT_DOUBLE_EQ(*EvaluateMetric("auc", Objective::kBinaryLogistic, 1, tied, y), 0.5);
  std::vector<double> pred = {1, 2, 3, 4};
  std::vector<float> truth = {1, 2, 3, 6};
  EXPECT_DOUBLE_EQ(*EvaluateMetric("rmse", Objective::kRegressionL2, 1, pred, truth), 1.0);
  EXPECT_DOUBLE_EQ(*EvaluateMetric("mae", Objective::kRegressionL2, 1, pred, truth), 0.5);
  EXPECT_FALSE(EvaluateMetric("f1", Objective::kRegressionL2, 1, pred, truth).ok());
}

TEST(ParamsTest, AliasesUnknownNamesAndRanges) {
  GbdtParams p;
  ASSERT_TRUE(p.Set("eta", "0.3").ok());
  ASSERT_TRUE(p.Set("n_estimators", "7").ok());
  ASSERT_TRUE(p.Set("max_leaves", "15").ok());
  ASSERT_TRUE(p.Set("reg_lambda", "2").ok());
  ASSERT_TRUE(p.Set("colsample_bytree", "0.5").ok());
  ASSERT_TRUE(p.Set("objective", "reg:squarederror").ok());
  EXPECT_EQ(p.learning_rate, 0.3);
  EXPECT_EQ(p.num_trees, 7);
  EXPECT_EQ(p.num_leaves, 15);
  EXPECT_EQ(p.lambda, 2);
  EXPECT_EQ(*p.objective, Objective::kRegressionL2);
  EXPECT_EQ(p.Set("learning_rat", "0.1").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(p.Set("max_depth", "six").ok());
  EXPECT_FALSE(p.Set("eta", "nan").ok());
  p.max_bin = 300;
  EXPECT_FALSE(p.Validate().ok());
}

}  // namespace
}  // namespace kiln::learn
