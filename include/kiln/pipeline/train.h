// Training, evaluation and model import as operations on a kiln home: typed options in, a typed
// result out. `kiln train | eval | model import`, the job worker and the control plane all call
// these; none of them prints.
//
//   TrainOptions o;
//   o.data = "churn@v3";
//   o.target = "churn";
//   o.register_name = "churn";  // also a new version of registered model "churn"
//   KILN_ASSIGN_OR_RETURN(TrainResult r, Train(home, o, ctx));
//
// A training is a run (pipeline/run_recorder.h): created when it starts, finished with its
// metrics, curves and the model as its artifact, `failed` with its error when it fails.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

struct TrainOptions {
  std::string data;                   // dataset NAME[@vN] or a CSV/JSONL file
  std::string target;                 // label column
  std::string task;                   // binary | multiclass | regression; empty: inferred
  std::vector<std::string> params;    // k=v training parameters
  std::vector<std::string> features;  // exactly these feature columns; empty: every usable one
  std::string valid;                  // validation dataset or file
  double valid_frac = 0;              // or hold out this fraction (seeded), in [0, 1)
  std::string metric;                 // validation / early-stopping metric; empty: the default
  std::string experiment = "default";
  std::string run_name;
  std::map<std::string, std::string> tags;  // recorded on the run
  bool record_curves = true;                // per-iteration curves in the run
  std::string init_model;                   // warm start from this model file
  int checkpoint_every = 10;                // iterations; 0: never
  bool resume = false;                      // continue the same training from its last checkpoint
  std::string out;            // also write the model to this file ("": only into the run)
  std::string register_name;  // also register the model as a new version of this name
  std::string actor;          // recorded with the registration
  // Called after every boosting iteration (progress display); may be empty.
  std::function<void(const learn::IterationLog&)> on_iteration;
};

struct TrainResult {
  std::string run_id, experiment;
  std::string data;      // "churn@v3" or the file name
  std::string artifact;  // the model's object in the blob store
  std::string out;       // the model file written, if any
  std::string objective;
  size_t trees = 0;
  int best_iteration = -1;
  double binning_seconds = 0, train_seconds = 0;
  std::map<std::string, double> train_metrics, valid_metrics;
  std::vector<std::string> skipped_columns;  // string columns that are not features
  std::string registered_name;
  int64_t registered_version = 0;  // 0: not registered
};

// Trains a gradient-boosted tree model on `options.data`. InvalidArgument for bad options,
// columns or parameters; the run is recorded as failed when training fails after it started.
Result<TrainResult> Train(Home& home, const TrainOptions& options, const ExecContext& ctx);

struct EvalOptions {
  std::string model;  // model file, NAME@ALIAS, NAME:VERSION or a run id
  std::string data;   // dataset NAME[@vN] or a file, with the model's target column
};

struct EvalResult {
  std::string model, data;
  uint64_t rows = 0;
  std::map<std::string, double> metrics;  // the model's default metrics
  double rows_per_second = 0;             // prediction throughput
};

Result<EvalResult> Evaluate(Home& home, const EvalOptions& options, const ExecContext& ctx);

struct ImportOptions {
  std::string file;  // the source model file
  std::string from = "xgboost";
  std::string out;            // write the kiln model here ("": no file)
  std::string register_name;  // record a run and register it under this name
  std::string actor;
  // A dataset version NAME@vN the model's drift reference is taken from (needs the home): its
  // rows counted in quantile bins of their own (kept as the features' bin edges), the scores the
  // model gives them, its metrics on them when they hold its target (the live-accuracy
  // baseline); the import run's parameter `reference_data`. "": no reference (drift says so).
  std::string reference_data;
};

struct ImportResult {
  size_t trees = 0;
  std::string objective;
  std::string out;
  std::string run_id;
  std::string registered_name;
  int64_t registered_version = 0;
};

// Converts an XGBoost JSON model; at least one of `out` and `register_name` must be given.
Result<ImportResult> ImportModel(Home* home, const ImportOptions& options, const ExecContext& ctx);

}  // namespace kiln::pipeline
