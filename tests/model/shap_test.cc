#include "kiln/model/shap.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "kiln/learn/binning.h"
#include "kiln/learn/gbdt/trainer.h"

namespace kiln::model {
namespace {

// Trains a small model with interactions, a categorical feature and missing values.
std::shared_ptr<const TreeModel> Train(Objective objective, int classes, data::Dataset* test) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  data::Dataset d;
  d.schema = *data::Schema::Make({{"a", data::DataType::kFloat64},
                                  {"b", data::DataType::kFloat64},
                                  {"c", data::DataType::kCategorical}});
  data::Column a(data::DataType::kFloat64), b(data::DataType::kFloat64),
      c(data::DataType::kCategorical);
  std::vector<float> y;
  for (int i = 0; i < 3000; ++i) {
    const double va = normal(rng), vb = normal(rng);
    const uint32_t vc = static_cast<uint32_t>(rng() % 4);
    if (i % 13 == 0)
      a.AppendNull();
    else
      a.AppendFloat64(va);
    b.AppendFloat64(vb);
    c.AppendCode(vc);
    const double z = va * vb + (vc == 1 ? 1 : 0) + 0.2 * normal(rng);
    if (objective == Objective::kRegressionL2)
      y.push_back(static_cast<float>(z));
    else if (objective == Objective::kBinaryLogistic)
      y.push_back(z > 0 ? 1.f : 0.f);
    else
      y.push_back(static_cast<float>(z < -0.5 ? 0 : (z < 0.5 ? 1 : 2)));
  }
  c.set_dictionary(std::make_shared<const data::Dictionary>(data::Dictionary{"w", "x", "y", "z"}));
  d.columns = {a, b, c};
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *learn::BinDataset(d, {0, 1, 2}, 255, 10000, ctx);
  learn::TrainOptions o;
  o.params.num_trees = 20;
  o.params.max_depth = 5;
  o.objective = objective;
  o.num_classes = classes;
  auto m = learn::TrainGbdt({&x, y}, nullptr, o, ctx);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  *test = data::TakeRows(d, {0, 1, 2, 13, 26, 100, 2999});
  return std::make_shared<const TreeModel>(std::move(*m));
}

TEST(ShapTest, ContributionsSumToTheMargin) {
  for (auto [objective, classes] :
       {std::pair{Objective::kRegressionL2, 1}, std::pair{Objective::kBinaryLogistic, 2},
        std::pair{Objective::kMulticlassSoftmax, 3}}) {
    data::Dataset test;
    auto m = Train(objective, classes, &test);
    auto p = *Predictor::Create(m);
    auto x = *p->Prepare(test);
    const size_t groups = static_cast<size_t>(m->num_groups()), width = m->features.size() + 1;
    std::vector<double> phi(x.rows * groups * width);
    ExecContext ctx(ExecContext::Options{.threads = 2});
    ASSERT_TRUE(ExplainRows(*p, x, phi, ctx).ok());
    bool some_nonzero = false;
    for (size_t r = 0; r < x.rows; ++r) {
      std::vector<double> margin(groups);
      p->PredictRowMargin(x.row(r), margin.data());
      for (size_t g = 0; g < groups; ++g) {
        double sum = 0;
        for (size_t f = 0; f < width; ++f) {
          sum += phi[(r * groups + g) * width + f];
          some_nonzero |= f + 1 < width && phi[(r * groups + g) * width + f] != 0;
        }
        EXPECT_NEAR(sum, margin[g], 1e-9 * (1 + std::fabs(margin[g])))
            << ObjectiveName(objective) << " row " << r << " group " << g;
      }
    }
    EXPECT_TRUE(some_nonzero);
  }
}

TEST(ShapTest, SingleSplitAttributesEverythingToItsFeature) {
  TreeModel m;
  m.objective = Objective::kRegressionL2;
  m.base_score = {0};
  m.features = {{"a", false, {}, {0.5, INFINITY}}, {"b", false, {}, {0.5, INFINITY}}};
  Tree t;
  t.nodes.resize(3);
  t.nodes[0] = {.left = 1, .right = 2, .feature = 1, .threshold = 0.5, .cover = 4};
  t.nodes[1].value = -1;
  t.nodes[1].cover = 1;
  t.nodes[2].value = 3;
  t.nodes[2].cover = 3;
  m.trees.push_back(t);
  auto p = *Predictor::Create(std::make_shared<const TreeModel>(m));
  FeatureMatrix x{1, 2, {0.0, 0.0}};
  std::vector<double> phi(3);
  ASSERT_TRUE(ExplainRows(*p, x, phi, ExecContext()).ok());
  EXPECT_DOUBLE_EQ(phi[2], 2.0);   // expected value: (-1 * 1 + 3 * 3) / 4
  EXPECT_DOUBLE_EQ(phi[1], -3.0);  // -1 - 2
  EXPECT_DOUBLE_EQ(phi[0], 0.0);
  auto imp = FeatureImportances(m, 1);
  EXPECT_EQ(imp[1].splits, 1);
  EXPECT_EQ(imp[0].splits, 0);
}

}  // namespace
}  // namespace kiln::model
