// The reference profile a trained model carries (model/reference.h): its training rows counted
// in its own bins, and a histogram of the scores it gives its reference rows (validation rows
// when there are any). Pure: binned data and margins in, a profile out.
//
//   KILN_ASSIGN_OR_RETURN(auto margins, PredictBinned(*predictor, valid_x, ctx));
//   m.reference = BuildReference(m, train_x, margins, "validation", valid_metrics);
#pragma once

#include <map>
#include <span>
#include <string>

#include "kiln/learn/binning.h"
#include "kiln/model/reference.h"
#include "kiln/model/tree_model.h"

namespace kiln::learn {

// Score histogram bins: 20 equal-width probability bins (binary), or 20 quantile bins of the
// reference predictions (regression).
inline constexpr int kScoreBins = 20;

// `train` is the binned training data of `m` (its features, in order); `margins` are `m`'s
// margins (rows x groups) on the rows the score histogram describes.
model::ReferenceProfile BuildReference(const model::TreeModel& m, const BinnedData& train,
                                       std::span<const double> margins, std::string score_data,
                                       std::map<std::string, double> valid_metrics);

}  // namespace kiln::learn
