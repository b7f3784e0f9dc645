// Explanations: TreeSHAP per-row feature contributions (Lundberg et al., "Consistent
// Individualized Feature Attribution for Tree Ensembles", the polynomial-time algorithm) and
// gain / split-count / cover importances. For every row and output group the contributions
// plus the bias equal the margin the predictor computes.
#pragma once

#include <span>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/model/predictor.h"

namespace kiln::model {

// out: rows x groups x (features + 1); the last value of each (row, group) is the bias.
Status ExplainRows(const Predictor& predictor, const FeatureMatrix& x, std::span<double> out,
                   const ExecContext& ctx);

struct Importance {
  double gain = 0;    // total split gain
  double splits = 0;  // number of splits
  double cover = 0;   // total hessian cover of the splits
};
std::vector<Importance> FeatureImportances(const TreeModel& model, size_t used_trees);

}  // namespace kiln::model
