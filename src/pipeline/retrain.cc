#include "kiln/pipeline/retrain.h"

#include <chrono>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/names.h"
#include "kiln/base/numbers.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/run_recorder.h"
#include "kiln/pipeline/training_data.h"

namespace kiln::pipeline {

namespace {

constexpr const char* kRetrainTag = "kiln.retrain";
constexpr const char* kJobTag = "kiln.job";
constexpr const char* kAlertRule = "retraining";
constexpr int64_t kDayMs = 86'400'000;

void Log(const RetrainOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

// The retrainings of `model` that count against the cool-down and the daily maximum: its
// retraining runs, newest first, except those of this job (an earlier attempt of it).
Result<std::vector<registry::RunRecord>> EarlierRetrainings(Home& home, const RetrainOptions& o) {
  registry::RunQuery q;
  q.filter = fmt::format("tags.`{}` = '{}'", kRetrainTag, o.model);
  q.order_by = "attributes.start_time desc";
  q.limit = 1000;
  KILN_ASSIGN_OR_RETURN(auto runs, home.catalog().SearchRuns(q));
  std::vector<registry::RunRecord> out;
  for (auto& r : runs) {
    auto job = r.tags.find(kJobTag);
    if (!o.job.empty() && job != r.tags.end() && job->second == o.job) continue;
    out.push_back(std::move(r));
  }
  return out;
}

// Why the policy holds this retraining back now ("" when it does not).
Result<std::string> HeldBack(Home& home, const RetrainPolicy& policy, const RetrainOptions& o,
                             int64_t now) {
  KILN_ASSIGN_OR_RETURN(auto earlier, EarlierRetrainings(home, o));
  int today = 0;
  for (const auto& r : earlier) today += r.start_ms > now - kDayMs ? 1 : 0;
  if (today >= policy.max_per_day) {
    return fmt::format("{} retrainings of {} in the last 24 hours reach max_per_day ({})", today,
                       o.model, policy.max_per_day);
  }
  if (!earlier.empty() && earlier.front().start_ms > now - policy.cooldown_ms) {
    return fmt::format("cool-down: the last retraining of {} started {} s ago (cooldown {} s)",
                       o.model, (now - earlier.front().start_ms) / 1000, policy.cooldown_ms / 1000);
  }
  return std::string();
}

// A finished run an earlier attempt of the job trained.
Result<std::optional<registry::RunRecord>> FinishedJobRun(Home& home, const RetrainOptions& o) {
  if (o.job.empty()) return std::optional<registry::RunRecord>();
  registry::RunQuery q;
  q.filter = fmt::format("tags.`{}` = '{}' and tags.`{}` = '{}' and attributes.status = 'finished'",
                         kJobTag, o.job, kRetrainTag, o.model);
  q.order_by = "attributes.start_time desc";
  q.limit = 1;
  KILN_ASSIGN_OR_RETURN(auto runs, home.catalog().SearchRuns(q));
  if (runs.empty()) return std::optional<registry::RunRecord>();
  return std::optional<registry::RunRecord>(runs.front());
}

// The alert a failed or rejected retraining fires, or the resolution a promotion brings when
// the model's last retraining alert is firing. Not storing it is logged, not an error: the
// outcome is in the result either way.
void RecordAlert(Home& home, const RetrainOptions& o, const RetrainResult& r, bool firing,
                 int64_t now) {
  auto& catalog = home.catalog();
  if (!firing) {
    auto events = catalog.AlertEvents(1000);
    if (!events.ok()) return;
    bool was_firing = false;
    for (const auto& e : *events) {  // newest first
      if (e.rule == kAlertRule && e.model == o.model) {
        was_firing = e.state == "firing";
        break;
      }
    }
    if (!was_firing) return;
  }
  registry::AlertEventRecord e;
  e.rule = kAlertRule;
  e.model = o.model;
  e.version = r.champion;
  e.severity = "warning";
  e.state = firing ? "firing" : "resolved";
  e.time_ms = now;
  e.since_ms = now;
  e.detail = firing ? fmt::format("{} ({}): {}", r.outcome, r.trigger, r.detail)
                    : fmt::format("version {} promoted ({})", r.challenger, r.trigger);
  if (auto stored = catalog.RecordAlertEvent(e); !stored.ok()) {
    Log(o, "the retraining alert was not stored: " + stored.status().ToString());
  }
}

}  // namespace

Result<RetrainPolicy> RetrainPolicyFor(const Home& home, const std::string& model) {
  const RetrainPolicy* policy = home.config().monitoring.Policy(model);
  if (!policy) {
    return FailedPreconditionError(
        fmt::format("no retraining policy for model '{}' in kiln.yaml (monitoring.retraining)",
                    Printable(model)));
  }
  return *policy;
}

Status ValidateTrigger(std::string_view trigger) {
  if (trigger == "manual") return Status::Ok();
  const size_t colon = trigger.find(':');
  const std::string_view kind = trigger.substr(0, colon), what = trigger.substr(colon + 1);
  if (colon != std::string_view::npos) {
    if (kind == "alert" || kind == "schedule") {
      if (ValidateName(what, "trigger").ok()) return Status::Ok();
    } else if (kind == "data") {
      auto ref = AsDatasetRef(what);
      if (ref && ref->version > 0) return Status::Ok();
    }
  }
  return InvalidArgumentError(
      fmt::format("trigger '{}': expected manual, alert:RULE, schedule:NAME or data:NAME@vN",
                  Printable(trigger.substr(0, 200))));
}

Result<std::string> RetrainData(const RetrainPolicy& policy, const std::string& champion_data) {
  if (!policy.data.empty()) return policy.data;
  if (auto ref = AsDatasetRef(champion_data)) return std::string(ref->name);
  return FailedPreconditionError(fmt::format(
      "the champion of {} was trained on a file ({}): name the dataset with `data:` in its "
      "retraining policy",
      policy.model, Printable(champion_data)));
}

Result<TrainOptions> RetrainRecipe(Home& home, const RetrainPolicy& policy, int64_t champion,
                                   std::string* recipe_run) {
  auto& catalog = home.catalog();
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion mv, catalog.GetModelVersion(policy.model, champion));
  auto run = catalog.GetRun(mv.run_id);
  if (!run.ok() || !run->params.count("target")) {
    return FailedPreconditionError(
        fmt::format("{} version {} has no kiln training run to take the recipe from (an "
                    "imported model?): retrain it with kiln train",
                    policy.model, champion));
  }
  *recipe_run = run->id;
  TrainOptions t;
  t.target = run->params.at("target");
  t.experiment = run->experiment;
  for (const auto& [key, value] : run->params) {
    if (key == "target") continue;
    if (key == "metric") {
      t.metric = value;
    } else if (key == "valid_frac") {
      KILN_ASSIGN_OR_RETURN(t.valid_frac, ParseDouble(value, "the recipe's valid_frac"));
    } else {
      t.params.push_back(key + "=" + value);
    }
  }
  if (auto parsed = ParseParams(t.params); !parsed.ok()) {
    return FailedPreconditionError(fmt::format("the recipe of {} version {} (run {}): {}",
                                               policy.model, champion, run->id,
                                               parsed.status().message()));
  }
  // A validation dataset is used again by name; a validation file is not read again (it may be
  // gone): a fifth of the rows is held out instead.
  if (!run->attributes.valid_data.empty()) {
    if (AsDatasetRef(run->attributes.valid_data)) {
      t.valid = run->attributes.valid_data;
    } else if (t.valid_frac == 0) {
      t.valid_frac = 0.2;
    }
  }
  KILN_ASSIGN_OR_RETURN(t.data, RetrainData(policy, run->attributes.train_data));
  KILN_ASSIGN_OR_RETURN(auto model, LoadRegisteredModel(home, policy.model, champion));
  for (const auto& f : model->features) t.features.push_back(f.name);
  return t;
}

Result<RetrainResult> Retrain(Home& home, const RetrainPolicy& policy, const RetrainOptions& o,
                              const ExecContext& ctx) {
  KILN_RETURN_IF_ERROR(ValidateName(o.model, "model name"));
  KILN_RETURN_IF_ERROR(ValidateTrigger(o.trigger));
  if (policy.model != o.model) {
    return InvalidArgumentError(
        fmt::format("the policy is for {}, not {}", policy.model, Printable(o.model)));
  }
  const int64_t now = o.now_ms > 0 ? o.now_ms : UnixMillis();
  RetrainResult r;
  r.model = o.model;
  r.alias = policy.alias;
  r.trigger = o.trigger;
  auto champion = home.catalog().ResolveAlias(o.model, policy.alias);
  if (!champion.ok()) {
    if (champion.status().code() != StatusCode::kNotFound) return champion.status();
    return FailedPreconditionError(
        fmt::format("{}@{} is not set: there is no champion to retrain", o.model, policy.alias));
  }
  r.champion = *champion;
  KILN_ASSIGN_OR_RETURN(auto done, FinishedJobRun(home, o));
  if (!done) {
    KILN_ASSIGN_OR_RETURN(std::string held, HeldBack(home, policy, o, now));
    if (!held.empty()) {
      r.outcome = "skipped";
      r.detail = held;
      Log(o, "skipped: " + held);
      return r;
    }
  }
  KILN_ASSIGN_OR_RETURN(TrainOptions t, RetrainRecipe(home, policy, r.champion, &r.recipe_run));
  if (done) {
    Log(o, fmt::format("run {} of an earlier attempt finished: reusing it", done->id));
    r.run_id = done->id;
    r.data = done->attributes.train_data;
  } else {
    t.run_name = fmt::format("retrain {}", o.model);
    t.tags = {{"trigger", o.trigger},
              {kRetrainTag, o.model},
              {"retrained_from", fmt::format("{}:{}", o.model, r.champion)}};
    if (!o.job.empty()) t.tags[kJobTag] = o.job;
    t.actor = o.actor;
    t.resume = !o.job.empty();  // a retried job continues from the lost attempt's checkpoint
    t.on_iteration = o.on_iteration;
    Log(o, fmt::format("retraining {} (champion version {}, recipe of run {}) on {}", o.model,
                       r.champion, r.recipe_run, t.data));
    auto trained = Train(home, t, ctx);
    if (!trained.ok()) {
      if (!IsPermanent(trained.status().code())) return trained.status();
      r.outcome = "failed";
      r.detail = "training failed: " + trained.status().ToString();
      RecordAlert(home, o, r, true, now);
      return r;
    }
    r.run_id = trained->run_id;
    r.data = trained->data;
  }
  KILN_ASSIGN_OR_RETURN(
      registry::ModelVersion v,
      RegisterRun(home, o.model, r.run_id, fmt::format("retrained ({})", o.trigger), o.actor));
  r.challenger = v.version;
  Log(o, fmt::format("registered {} version {}", o.model, v.version));
  if (r.champion == v.version) {  // an earlier attempt of the job moved the alias
    r.outcome = "promoted";
    r.detail = fmt::format("{}@{} is version {} already", o.model, policy.alias, v.version);
    return r;
  }
  PromoteOptions p;
  p.name = o.model;
  p.version = v.version;
  p.to = policy.alias;
  p.gate = policy.gate;
  p.on = policy.holdout;
  p.reason = fmt::format("retrained ({}): gate '{}' on {}", o.trigger, policy.gate, policy.holdout);
  p.actor = o.actor;
  p.dataset_only = true;
  auto promoted = Promote(home, p, ctx);
  if (!promoted.ok()) {
    if (!IsPermanent(promoted.status().code())) return promoted.status();
    r.outcome = "failed";
    r.detail = "the gate could not be checked: " + promoted.status().ToString();
    RecordAlert(home, o, r, true, now);
    return r;
  }
  r.promotion = *promoted;
  for (const auto& c : promoted->clauses) {
    Log(o, fmt::format("gate on {}: {}", policy.holdout, registry::ClauseText(c)));
  }
  if (promoted->moved) {
    r.outcome = "promoted";
    r.detail =
        fmt::format("{}@{} -> version {} (was {})", o.model, policy.alias, v.version, r.champion);
    RecordAlert(home, o, r, false, now);
  } else {
    r.outcome = "rejected";
    std::string failed;
    for (const auto& c : promoted->clauses) {
      if (!c.passed && !c.skipped) failed += (failed.empty() ? "" : "; ") + registry::ClauseText(c);
    }
    r.detail =
        fmt::format("version {} {} on {}: {} (report {})", v.version, promoted->outcome,
                    policy.holdout, failed.empty() ? policy.gate : failed, promoted->report_id);
    RecordAlert(home, o, r, true, now);
  }
  Log(o, fmt::format("{}: {}", r.outcome, r.detail));
  return r;
}

}  // namespace kiln::pipeline
