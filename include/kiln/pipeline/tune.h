// Hyperparameter search as an operation on a kiln home (`kiln tune`, a tune job): a parent run
// with one child run per trial. The data is loaded and binned once and shared by all trials;
// `resume` continues an interrupted search (its finished trials are kept, trials that were
// running are marked killed). With cross-validation the best parameters are refit on all rows.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

// What the search is: stored in the parent run and restored by a resume.
struct TuneSettings {
  std::string data, target, task;
  std::string space;  // the text of space.yaml (tune/space.h)
  std::string sampler = "tpe", scheduler = "asha", metric;
  std::vector<std::string> params;  // k=v fixed training parameters
  int trials = 20, cv = 0, grace = 10, startup = 10;
  double eta = 3, valid_frac = 0.2;
  uint64_t seed = 42;
};

// One ended trial, for progress displays.
struct TrialReport {
  int index = 0;
  std::string metric;
  double score = 0;
  int rounds = 0;
  int stopped_at = 0;  // the ASHA rung it was stopped at (0: ran to the end)
  std::string run_id;
};

struct TuneOptions {
  TuneSettings settings;  // ignored with `resume`: the parent run's are used
  std::string resume;     // continue the tune run with this id
  std::string experiment = "tune";
  std::string register_name;  // register the best model under this name
  std::string actor;
  std::map<std::string, std::string> tags;  // recorded on the parent run
  int parallel = 1;                         // trials at a time
  // A trial has ended (progress display; called from the trial's thread). May be empty.
  std::function<void(const TrialReport&)> on_trial;
  // The parent run has been created (progress display). May be empty.
  std::function<void(const std::string& run)> on_start;
};

struct TuneResult {
  std::string run_id;  // the parent run
  std::string metric;
  std::string best_run;
  double best_score = 0;
  std::map<std::string, std::string> best_params;  // every parameter of the best trial
  std::vector<std::string> tuned;                  // the names the space tunes
  std::string model_run;  // the best trial, or with cross-validation its refit
  int trials_resumed = 0, trials_run = 0;
  int64_t rounds = 0;
  std::string registered_name;
  int64_t registered_version = 0;
};

Result<TuneResult> Tune(Home& home, const TuneOptions& options, const ExecContext& ctx);

}  // namespace kiln::pipeline
