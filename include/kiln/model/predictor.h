// Predictor: the one compiled predictor every part of kiln calls (`kiln predict`, `kiln eval`,
// later the server, the tuner and the drift monitor).
//
//   KILN_ASSIGN_OR_RETURN(auto p, Predictor::Create(model));
//   KILN_ASSIGN_OR_RETURN(FeatureMatrix x, p->Prepare(dataset));
//   std::vector<float> out(x.rows * p->output_width(PredictKind::kProbability));
//   KILN_RETURN_IF_ERROR(p->Predict(x, PredictKind::kProbability, out, ctx));
//
// Prepare() maps a dataset's columns to the model's features by name; categorical values are
// matched by their text, so codes of another dictionary work, and unknown categories become
// missing (they follow each split's default branch). Thread-safety: immutable after Create;
// Predict may run concurrently.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/data/column.h"
#include "kiln/model/tree_model.h"

namespace kiln::model {

// Row-major feature values in model feature order; NaN = missing. Categorical features hold the
// model's category code as a double.
struct FeatureMatrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<double> values;
  const double* row(size_t r) const { return values.data() + r * cols; }
};

enum class PredictKind {
  kMargin,       // raw score per output group
  kProbability,  // classification: one probability per class; regression: the prediction
  kLeafIndex,    // one leaf index per tree
};

class Predictor {
 public:
  static Result<std::unique_ptr<Predictor>> Create(std::shared_ptr<const TreeModel> model);

  const TreeModel& model() const { return *model_; }
  // Values per row for `kind`.
  size_t output_width(PredictKind kind) const;
  Result<FeatureMatrix> Prepare(const data::Dataset& data) const;
  // `out` holds rows * output_width(kind) values.
  Status Predict(const FeatureMatrix& x, PredictKind kind, std::span<float> out,
                 const ExecContext& ctx) const;
  // Margins of one row (size num_groups), the single-row fast path.
  void PredictRowMargin(const double* row, double* margins) const;
  // Number of trees used (honours best_iteration).
  size_t used_trees() const { return used_trees_; }

 private:
  // Trees compiled into one array of 16-byte nodes, children adjacent (right = left + 1), so a
  // walk touches few cache lines; several rows walk a tree at once to overlap memory latency.
  struct FlatNode {
    double value;   // split threshold, or leaf value; categorical: index into cat_sets_
    uint32_t meta;  // feature (bits 0..23), categorical (29), default left (30), leaf (31)
    int32_t left;   // left child's index (right = left + 1)
  };
  static constexpr uint32_t kLeaf = 1u << 31, kDefaultLeft = 1u << 30, kCategorical = 1u << 29;
  static constexpr uint32_t kFeatureMask = (1u << 24) - 1;

  explicit Predictor(std::shared_ptr<const TreeModel> model);
  void Compile();
  uint32_t Step(uint32_t i, const double* row) const;
  uint32_t WalkToLeaf(size_t tree, const double* row) const;

  std::shared_ptr<const TreeModel> model_;
  size_t used_trees_;
  std::vector<FlatNode> nodes_;
  std::vector<uint32_t> roots_;   // per tree
  std::vector<uint32_t> depths_;  // per tree: steps from the root to its deepest leaf
  // Category sets of categorical splits as 256-bit sets (codes >= 256 never go left: the
  // trainer gives at most 255 categories a bin; imported models have no categorical splits).
  std::vector<std::array<uint64_t, 4>> cat_sets_;
  std::vector<int32_t> original_;  // flat index -> node index in its tree (leaf indices)
};

// Converts margins of one row to probabilities / predictions in place (sigmoid, softmax, exp).
void TransformMargins(Objective objective, double* margins, int32_t groups);

}  // namespace kiln::model
