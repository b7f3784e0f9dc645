#include "kiln/model/xgboost_import.h"

#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

namespace kiln::model {
namespace {

// For random splits and values around them, v <= t exactly when float(v) < s.
TEST(XgboostImportTest, ThresholdReproducesFloatComparison) {
  std::mt19937_64 rng(21);
  std::uniform_real_distribution<double> u(-100, 100);
  for (int i = 0; i < 20000; ++i) {
    const float s = static_cast<float>(u(rng));
    const double t = ThresholdForFloatLess(s);
    const double around[] = {static_cast<double>(s),
                             std::nextafter(static_cast<double>(s), 1e9),
                             std::nextafter(static_cast<double>(s), -1e9),
                             t,
                             std::nextafter(t, 1e9),
                             std::nextafter(t, -1e9),
                             static_cast<double>(std::nextafter(s, -1e9)),
                             u(rng)};
    for (double v : around) {
      ASSERT_EQ(v <= t, static_cast<float>(v) < s) << s << " " << v;
    }
  }
}

TEST(XgboostImportTest, RejectsBadDocuments) {
  for (const char* bad :
       {"", "{}", "[1,2]", "{\"learner\": {}}", "not json",
        R"({"learner": {"learner_model_param": {"num_feature": "2", "num_class": "0",
                             "base_score": "0.5"}, "objective": {"name": "rank:pairwise"}}})"}) {
    auto r = ImportXgboostJson(bad, "m.json");
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("m.json"), std::string::npos);
  }
  // A child index pointing backwards (a cycle) is refused.
  const char* cyclic = R"({"learner": {"learner_model_param": {"num_feature": "1", "num_class": "0",
      "base_score": "5E-1"}, "objective": {"name": "binary:logistic"},
      "gradient_booster": {"model": {"tree_info": [0], "trees": [{"left_children": [1, 0, -1],
      "right_children": [2, 2, -1], "split_conditions": [0.5, 0.5, 1.0], "split_indices": [0, 0, 0],
      "default_left": [0, 0, 0], "sum_hessian": [3, 2, 1], "loss_changes": [1, 1, 0]}]}}}})";
  EXPECT_EQ(ImportXgboostJson(cyclic, "c.json").status().code(), StatusCode::kInvalidArgument);
}

// A one-split categorical stump as XGBoost 1.7 writes it (NaN condition, categories go right).
std::string CategoricalStump(const std::string& type, const std::string& categories,
                             const std::string& leaf = "1.0") {
  return R"({"learner": {"learner_model_param": {"num_feature": "1", "num_class": "0",
      "base_score": "5E-1"}, "objective": {"name": "binary:logistic"},
      "feature_names": ["NaN\"x"], "feature_types": [")" +
         type + R"("], "gradient_booster": {"model": {"tree_info": [0], "trees": [{
      "left_children": [1, -1, -1], "right_children": [2, -1, -1],
      "split_conditions": [NaN, -1.0, )" +
         leaf + R"(], "split_indices": [0, 0, 0], "default_left": [1, 0, 0],
      "sum_hessian": [3, 2, 1], "loss_changes": [1, 0, 0], "split_type": [1, 0, 0],
      "categories": )" +
         categories + R"(, "categories_nodes": [0], "categories_segments": [0],
      "categories_sizes": [2]}]}}}})";
}

TEST(XgboostImportTest, CategoricalSplits) {
  auto m = ImportXgboostJson(CategoricalStump("c", "[7, 3]"), "m.json");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->features[0].name, "NaN\"x");  // NaN inside a string is left alone
  ASSERT_TRUE(m->features[0].categorical);
  const Node& root = m->trees[0].nodes[0];
  ASSERT_TRUE(root.categorical);
  // kiln sends the set left: XGBoost's right child (leaf 1.0) becomes the left one.
  EXPECT_EQ(m->trees[0].nodes[static_cast<size_t>(root.left)].value, 1.0);
  EXPECT_FALSE(root.default_left);  // missing still reaches XGBoost's left child (-1.0)
  EXPECT_EQ(std::vector<uint32_t>(m->trees[0].categories.begin() + root.cat_begin,
                                  m->trees[0].categories.begin() + root.cat_end),
            (std::vector<uint32_t>{3, 7}));
  // A categorical split on a numeric feature, codes kiln cannot hold, NaN as a leaf value.
  EXPECT_EQ(ImportXgboostJson(CategoricalStump("float", "[7, 3]"), "m").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportXgboostJson(CategoricalStump("c", "[7, 300]"), "m").status().code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(ImportXgboostJson(CategoricalStump("c", "[7, 3]", "NaN"), "m").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportXgboostJson(CategoricalStump("c", "[7]"), "m").status().code(),
            StatusCode::kInvalidArgument);  // sizes say 2, only 1 category
}

}  // namespace
}  // namespace kiln::model
