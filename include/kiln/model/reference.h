// ReferenceProfile: what a model's training data looked like, carried in the model file so that
// drift can be measured against it wherever the model is served (docs/formats/model.md,
// "reference"). One binning, used twice: the feature histograms are counts over the model's own
// bin edges and dictionaries, the very bins live traffic is counted in.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace kiln::model {

// Counts of one feature's training values.
struct FeatureReference {
  // Numeric: one count per bin of FeatureInfo::bin_edges (bin b holds edges[b-1] < v <= edges[b],
  // the last edge +inf). Categorical: one count per category of FeatureInfo::categories, in code
  // order.
  std::vector<uint64_t> counts;
  uint64_t missing = 0;  // missing values (categorical: also codes without a bin of their own)
  // Numeric: the smallest and largest training value; a live value outside [min, max] is
  // counted out of range. NaN when unknown (categorical, no values, or an older file).
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};

// How the score histogram bins a prediction.
enum class ScoreKind : uint8_t {
  kNone = 0,         // no score histogram
  kProbability = 1,  // binary: the probability of class index 1, on score_edges
  kClass = 2,        // multiclass: the predicted class index (one count per class)
  kValue = 3,        // regression: the prediction, on score_edges (training quantiles)
};

struct ReferenceProfile {
  std::string data;   // where the counts come from, e.g. "credit@v3" ("" if not recorded)
  uint64_t rows = 0;  // training rows counted
  std::vector<FeatureReference> features;  // parallel to TreeModel::features
  ScoreKind score_kind = ScoreKind::kNone;
  std::vector<double> score_edges;     // upper bounds, strictly increasing; +inf implied last
  std::vector<uint64_t> score_counts;  // score_edges.size() + 1 bins (kClass: one per class)
  std::string score_data;              // "validation" or "training": the rows scored
  // The model's metrics on its validation data ("auc", "logloss", "rmse", ...), the baseline of
  // live accuracy; empty without validation data.
  std::map<std::string, double> valid_metrics;

  bool empty() const { return features.empty(); }
};

}  // namespace kiln::model
