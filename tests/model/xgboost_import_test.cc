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

}  // namespace
}  // namespace kiln::model
