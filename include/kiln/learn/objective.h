// Objectives (gradients and hessians of the loss in the margin) and evaluation metrics.
// Labels: class index for classification (0/1 for binary), the value for regression.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/model/tree_model.h"

namespace kiln::learn {

// Gradient statistics of one row, stored as floats (as XGBoost and LightGBM do): half the
// memory traffic in histogram building; histograms accumulate them in double.
struct GradPair {
  float g = 0;
  float h = 0;
};

// margins: rows * groups (row-major). out: same layout.
void ComputeGradients(model::Objective objective, int32_t groups, std::span<const double> margins,
                      std::span<const float> labels, std::span<GradPair> out);

// The initial margin(s) that minimise the loss of a constant prediction.
std::vector<double> BaseScore(model::Objective objective, int32_t groups,
                              std::span<const float> labels);

// Metrics by name: "auc", "logloss", "error", "mlogloss", "merror", "rmse", "mae". Lower is
// better except for auc. `margins` are raw scores (transformed inside as needed).
Result<double> EvaluateMetric(std::string_view metric, model::Objective objective, int32_t groups,
                              std::span<const double> margins, std::span<const float> labels);
bool HigherIsBetter(std::string_view metric);
// The metrics reported for an objective; the first is the early-stopping metric.
std::vector<std::string> DefaultMetrics(model::Objective objective);
// The objective's own loss among its metrics (logloss, mlogloss, mae or rmse): cheap to compute.
std::string LossMetric(model::Objective objective);

}  // namespace kiln::learn
