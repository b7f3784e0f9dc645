// Training parameters of the gradient-boosting trainer, with the XGBoost / LightGBM spellings
// accepted as aliases. Unknown names are errors, never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/model/tree_model.h"

namespace kiln::learn {

struct GbdtParams {
  int num_trees = 100;
  double learning_rate = 0.1;
  int max_depth = 6;    // 0 = unlimited (leaf-wise growth only)
  int num_leaves = 0;   // > 0: leaf-wise (best-first) growth up to this many leaves
  int max_bin = 255;    // 2..255
  double lambda = 1.0;  // L2 regularisation of leaf values
  double alpha = 0.0;   // L1 regularisation of leaf values
  double min_child_weight = 1e-3;
  int min_data_in_leaf = 20;
  double min_split_gain = 0.0;
  double max_delta_step = 0.0;  // 0 = no clipping of leaf values
  double subsample = 1.0;
  double colsample = 1.0;
  int max_cat_to_onehot = 4;
  std::optional<model::Objective> objective;  // default: from the task
  int early_stopping_rounds = 0;              // 0 = off
  uint64_t seed = 42;
  int threads = 0;  // 0 = all cores

  // Sets one parameter by name or alias ("eta", "n_estimators", "max_leaves", ...).
  Status Set(std::string_view name, std::string_view value);
  Status Validate() const;
  std::string ToJson() const;
};

// The canonical name of a parameter or of one of its XGBoost / LightGBM aliases
// ("eta" -> "learning_rate"); empty if unknown.
std::string_view CanonicalParamName(std::string_view name);

}  // namespace kiln::learn
