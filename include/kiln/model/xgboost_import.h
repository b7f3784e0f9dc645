// Import of XGBoost JSON models (`Booster.save_model("m.json")`, format of XGBoost 1.x) into a
// kiln TreeModel that predicts the same. XGBoost compares float32 feature values with
// `value < split`; the importer converts each split into the exact double threshold with the
// same outcome for every input, so predictions match to float rounding of the leaf sums.
// The file is untrusted: array lengths, node indices and counts are checked; unsupported
// objectives and categorical splits are refused with Unimplemented.
#pragma once

#include <string_view>

#include "kiln/model/tree_model.h"

namespace kiln::model {

Result<TreeModel> ImportXgboostJson(std::string_view json_text, std::string_view source);

// The largest double t such that, for every double v, (v <= t) == (float(v) < s).
double ThresholdForFloatLess(float s);

}  // namespace kiln::model
