// Automatic retraining (docs/monitoring.md, "Automatic retraining"): one retraining of a
// registered model under its policy (kiln.yaml `monitoring.retraining`), as the `retrain` job,
// `kiln monitor retrain` and the triggers (an alert with `retrain: true`, a schedule, a new
// dataset version) run it.
//
//   1. The champion is the version the policy's alias points to; its training run is the
//      recipe: parameters, target, metric, validation split, and the model's feature columns.
//   2. A challenger is trained with that recipe on the policy's data (by default the newest
//      version of the dataset the champion was trained on), tagged `trigger=...`,
//      `kiln.retrain=MODEL` and `retrained_from=MODEL:V`, and registered.
//   3. It is promoted through the policy's gate against the champion on the held-out dataset
//      version (pipeline/promote.h): the alias moves, with the actor recorded, only if the gate
//      holds; a server serving the alias hot-reloads it.
// A training that fails or a challenger the gate rejects leaves the alias where it was and fires
// the model's `retraining` alert (stored in the catalog with the other alert events); the next
// promotion resolves it. Retrainings of a model are at least `cooldown` apart and at most
// `max_per_day` in any 24 hours: one that would break either is skipped, not run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/base/exec_context.h"
#include "kiln/pipeline/config.h"
#include "kiln/pipeline/home.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/train.h"

namespace kiln::pipeline {

struct RetrainOptions {
  std::string model;
  // What started it, recorded as the run's `trigger` tag: alert:RULE, schedule:NAME,
  // data:NAME@vN or manual.
  std::string trigger = "manual";
  std::string actor = "monitor";  // recorded with the registration and the alias move
  // The job running it ("" none): its runs are tagged `kiln.job`, and a retry reuses the run an
  // earlier attempt finished instead of training again (and is not held back by it).
  std::string job;
  int64_t now_ms = 0;  // 0: the clock (the cool-down and the daily maximum count from it)
  std::function<void(const std::string&)> log;  // progress lines; may be empty
  std::function<void(const learn::IterationLog&)> on_iteration;
};

struct RetrainResult {
  std::string model, alias, trigger;
  // promoted | rejected (the gate held) | failed (training or scoring failed) | skipped
  std::string outcome;
  std::string detail;  // why, in a sentence
  int64_t champion = 0;
  std::string recipe_run;  // the champion's training run
  std::string run_id;      // the challenger's training run ("" when none)
  std::string data;        // what it was trained on (NAME@vN)
  int64_t challenger = 0;  // its registered version (0: none)
  std::optional<PromoteResult> promotion;
};

// The policy kiln.yaml sets for `model`; FailedPrecondition when it sets none.
Result<RetrainPolicy> RetrainPolicyFor(const Home& home, const std::string& model);

// A trigger as RetrainOptions::trigger spells it; InvalidArgument for anything else.
Status ValidateTrigger(std::string_view trigger);

// What a retraining under `policy` trains on: the policy's `data`, else the dataset the champion
// was trained on (`champion_data`, its run's NAME@vN) by its bare NAME, i.e. its newest version.
// FailedPrecondition when neither names a dataset (the champion was trained on a file).
Result<std::string> RetrainData(const RetrainPolicy& policy, const std::string& champion_data);

// The training the champion's run describes, on `policy.data` or the newest version of the
// champion's dataset. FailedPrecondition when there is no champion or it has no kiln recipe
// (an imported model, a training on a file without `data` in the policy).
Result<TrainOptions> RetrainRecipe(Home& home, const RetrainPolicy& policy, int64_t champion,
                                   std::string* recipe_run);

// One retraining of `policy.model`. Errors: InvalidArgument for bad options, FailedPrecondition
// without a recipe, and the training's own errors that a retry may cure (a cancelled context,
// an unavailable catalog); a training that fails for good or a rejected challenger is an
// outcome, not an error.
Result<RetrainResult> Retrain(Home& home, const RetrainPolicy& policy,
                              const RetrainOptions& options, const ExecContext& ctx);

}  // namespace kiln::pipeline
