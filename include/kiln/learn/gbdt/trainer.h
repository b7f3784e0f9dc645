// Histogram gradient boosting: a pure engine. Binned data + labels + parameters + an
// ExecContext in; a TreeModel or a Status out. No files, no catalog, no threads of its own.
//
//   KILN_ASSIGN_OR_RETURN(BinnedData x, BinDataset(train, feature_columns, 255, 200000, ctx));
//   TrainOptions o{.params = params, .objective = Objective::kBinaryLogistic, .num_classes = 2};
//   KILN_ASSIGN_OR_RETURN(TreeModel m, TrainGbdt({&x, labels}, nullptr, o, ctx));
//
// Trees grow depth-wise (max_depth) or leaf-wise (num_leaves, best gain first), over histograms
// built for the smaller child and derived for its sibling by subtraction; each split learns the
// direction of missing values. Results are bit-identical for any thread count: every
// histogram is accumulated in row order by one thread and ties break by feature index.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/params.h"
#include "kiln/model/tree_model.h"

namespace kiln::learn {

struct TrainInput {
  const BinnedData* x = nullptr;
  std::vector<float> labels;  // class index (classification) or value (regression)
  // With TrainOptions::init: the init model's margins for these rows (rows x groups), as the
  // Predictor computes them.
  std::vector<double> init_margins;
};

struct IterationLog {
  int iteration = 0;   // 0-based
  std::string metric;  // the early-stopping metric
  std::optional<double> valid;
  int best_iteration = 0;
  // With TrainOptions::train_curve_rows: the objective's loss (train_metric) on a fixed sample
  // of training rows.
  std::string train_metric;
  std::optional<double> train;
};

struct TrainOptions {
  GbdtParams params;
  model::Objective objective = model::Objective::kBinaryLogistic;
  int32_t num_classes = 1;
  std::string target;
  std::vector<std::string> class_labels;
  // The validation (early-stopping) metric; "" = the objective's first default metric.
  std::string eval_metric;
  std::function<void(const IterationLog&)> on_iteration;
  // Asked after every iteration; false stops training there (the trees so far are the model).
  std::function<bool(const IterationLog&)> keep_going;
  // > 0: IterationLog::train carries the objective's loss over the first this-many training
  // rows of a seeded permutation (a cheap training curve; 0 = off).
  size_t train_curve_rows = 0;

  // Continue from an existing model: its trees are kept and boosting goes on from its margins.
  // Warm start (resume = false): num_trees more iterations. Resume (resume = true): `init` is a
  // checkpoint of this same training (its train_state_json), and training finishes the
  // remaining iterations with a result bit-identical to an uninterrupted run.
  const model::TreeModel* init = nullptr;
  bool resume = false;
  // Called every checkpoint_every iterations (0 = never) with the model so far, including its
  // train_state_json; an error stops training.
  int checkpoint_every = 0;
  std::function<Status(const model::TreeModel&)> on_checkpoint;
};

Result<model::TreeModel> TrainGbdt(const TrainInput& train, const TrainInput* valid,
                                   const TrainOptions& options, const ExecContext& ctx);

}  // namespace kiln::learn
