// The tuner: trials of the gradient-boosting trainer over one binned dataset shared by all of
// them, drawn by a sampler (random or TPE), cut short by ASHA, run P at a time. Pure engine: the
// caller records trials (as child runs) through a TrialObserver.
//
// ASHA (asynchronous successive halving) over boosting rounds: rungs at grace * eta^k rounds.
// A trial that reaches a rung continues only if its best validation score so far is in the top
// 1/eta of the scores recorded at that rung so far; others stop there.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/base/mutex.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/params.h"
#include "kiln/model/tree_model.h"
#include "kiln/tune/space.h"

namespace kiln::tune {

class Asha {
 public:
  // Rungs at grace, grace*eta, ... below max_rounds.
  Asha(int max_rounds, int grace, double eta);
  const std::vector<int>& rungs() const { return rungs_; }
  // A trial finished `rounds` rounds with best score `score` (higher is better): true if it
  // goes on. Rounds that are not rungs always go on. Thread-safe.
  bool Continue(int rounds, double score);

 private:
  double eta_;
  std::vector<int> rungs_;
  Mutex mu_;
  std::vector<std::vector<double>> recorded_ KILN_GUARDED_BY(mu_);
};

// The data every trial trains on: one (train, valid) pair, or K folds; binned once.
struct Fold {
  learn::BinnedData train, valid;
  std::vector<float> train_labels, valid_labels;
};

// K folds (K >= 2) or, for K = 0, one split with `valid_frac` of the rows for validation;
// seeded. Rows are taken from `x` (binned once).
std::vector<Fold> MakeFolds(const learn::BinnedData& x, const std::vector<float>& labels, int k,
                            double valid_frac, uint64_t seed);

struct TuneOptions {
  SearchSpace space;
  learn::GbdtParams base;  // parameters the space does not set
  model::Objective objective = model::Objective::kBinaryLogistic;
  int32_t num_classes = 1;
  std::string target;
  std::vector<std::string> class_labels;
  std::string metric;  // "" = the objective's default
  int trials = 20;
  int parallel = 1;
  std::string sampler = "tpe";  // tpe | random
  int startup = 10;             // TPE's random trials first
  bool asha = true;
  int grace = 10;  // rounds of the first rung
  double eta = 3;
  uint64_t seed = 42;
};

struct TrialResult {
  int index = 0;
  Assignment params;
  learn::GbdtParams resolved;
  double score = 0;  // the metric, mean over folds of each fold's best
  int best_iteration = 0;
  int rounds = 0;                         // boosting rounds trained, summed over folds
  int stopped_at = 0;                     // the rung ASHA stopped it at (0 = ran to the end)
  std::vector<double> curve;              // the first fold's validation metric per round
  std::optional<model::TreeModel> model;  // holdout (one fold) only
};

class TrialObserver {
 public:
  virtual ~TrialObserver() = default;
  // Called (from the trial's worker thread) before a trial trains; an error stops the tuner.
  virtual Status TrialStarted(int index, const learn::GbdtParams& resolved,
                              const Assignment& params) = 0;
  virtual Status TrialFinished(const TrialResult& result) = 0;
};

struct TuneSummary {
  std::vector<TrialResult> trials;  // this call's trials, in finishing order (models dropped)
  std::string metric;
  bool higher_is_better = true;
  int total_rounds = 0;
};

// Runs trials with indices start_index.. until `options.trials` finished in all (counting
// `history`, the trials of an earlier, interrupted search). `folds` are shared read-only.
Result<TuneSummary> RunTune(const TuneOptions& options, const std::vector<Fold>& folds,
                            std::vector<Observation> history, int start_index,
                            TrialObserver* observer, const ExecContext& ctx);

// Applies an assignment over base parameters.
Result<learn::GbdtParams> Resolve(const SearchSpace& space, const learn::GbdtParams& base,
                                  const Assignment& a);

}  // namespace kiln::tune
