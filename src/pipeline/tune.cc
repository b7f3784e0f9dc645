#include "kiln/pipeline/tune.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/json_reader.h"
#include "kiln/base/numbers.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/pipeline/ingest.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/run_recorder.h"
#include "kiln/pipeline/training_data.h"
#include "kiln/tune/tuner.h"

namespace kiln::pipeline {

using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TuneSettings, data, target, task, space, sampler, scheduler,
                                   metric, params, trials, cv, grace, startup, eta, valid_frac,
                                   seed)

namespace {

// Records each trial as a child run of the search's parent run.
class RunObserver final : public tune::TrialObserver {
 public:
  RunObserver(Home* home, const TuneOptions* options, std::string parent, LoadedData* data,
              std::string metric)
      : home_(home),
        options_(options),
        parent_(std::move(parent)),
        data_(data),
        metric_(std::move(metric)) {}

  Status TrialStarted(int index, const learn::GbdtParams& resolved,
                      const tune::Assignment&) override {
    registry::RunRecord run;
    run.experiment = options_->experiment;
    run.name = fmt::format("trial {}", index);
    run.params = RunParams(resolved);
    run.params.erase("threads");
    run.tags["tune.trial"] = std::to_string(index);
    run.attributes.parent_id = parent_;
    run.attributes.train_data = data_->label;
    run.attributes.train_hash = data_->content_hash;
    KILN_ASSIGN_OR_RETURN(auto rec, RunRecorder::Start(home_, std::move(run)));
    MutexLock lock(&mu_);
    recorders_[index] = std::move(rec);
    return Status::Ok();
  }

  Status TrialFinished(const tune::TrialResult& r) override {
    std::unique_ptr<RunRecorder> rec;
    {
      MutexLock lock(&mu_);
      rec = std::move(recorders_[r.index]);
      recorders_.erase(r.index);
    }
    if (!rec) return InternalError("trial finished before it started");
    for (size_t i = 0; i < r.curve.size(); ++i) {
      rec->AddPoint("valid." + metric_, static_cast<int64_t>(i), r.curve[i]);
    }
    if (r.stopped_at > 0) {
      KILN_RETURN_IF_ERROR(rec->SetTags({{"tune.stopped_at", std::to_string(r.stopped_at)}}));
    }
    const std::string bytes = r.model ? model::EncodeModel(*r.model) : std::string();
    KILN_RETURN_IF_ERROR(rec->Finish(bytes, {{"valid." + metric_, r.score},
                                             {"rounds", r.rounds},
                                             {"best_iteration", r.best_iteration}})
                             .status());
    if (options_->on_trial) {
      options_->on_trial({r.index, metric_, r.score, r.rounds, r.stopped_at, rec->id()});
    }
    return Status::Ok();
  }

 private:
  Home* home_;
  const TuneOptions* options_;
  std::string parent_;
  LoadedData* data_;
  std::string metric_;
  Mutex mu_;
  std::map<int, std::unique_ptr<RunRecorder>> recorders_ KILN_GUARDED_BY(mu_);
};

Status CheckSettings(const TuneSettings& s, int parallel) {
  if (s.scheduler != "asha" && s.scheduler != "random") {
    return InvalidArgumentError("--scheduler must be asha or random");
  }
  if (s.cv == 1 || s.cv < 0 || s.cv > 20) return InvalidArgumentError("--cv must be 2..20");
  if (s.scheduler == "asha" && (!(s.eta > 1) || s.grace < 1)) {
    return InvalidArgumentError("--eta must be > 1 and --grace >= 1");
  }
  if (s.cv == 0 && !(s.valid_frac > 0 && s.valid_frac < 1)) {
    return InvalidArgumentError("--valid-frac must be in (0, 1)");
  }
  if (parallel < 1 || parallel > 256) return InvalidArgumentError("--parallel must be 1..256");
  return Status::Ok();
}

// The search as it runs: settings, data, bins, folds, and the parent run.
struct Search {
  TuneSettings s;
  std::string experiment;
  std::optional<registry::RunRecord> parent;  // on resume
  tune::TuneOptions o;
  LoadedData data;
  Labels labels;
  learn::BinnedData x;
  std::vector<tune::Fold> folds;
  std::string key;  // "valid.<metric>"
  bool higher = false;
  std::unique_ptr<RunRecorder> parent_rec;
  std::string parent_id;
  std::string validated;  // train.require_validated: the checks the data passed ("" off)
  std::vector<tune::Observation> history;
  int next_index = 0;
};

// The settings: the options' own, or on resume the parent run's.
Status LoadSettings(Home& home, const TuneOptions& options, Search* s) {
  s->s = options.settings;
  s->experiment = options.experiment;
  if (options.resume.empty()) {
    if (s->s.data.empty() || s->s.target.empty() || s->s.space.empty()) {
      return InvalidArgumentError("--data, --target and --space are required (or --resume RUN)");
    }
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(s->parent, home.catalog().GetRun(options.resume));
  auto it = s->parent->params.find("tune.settings");
  if (it == s->parent->params.end()) {
    return InvalidArgumentError(fmt::format("run {} is not a tune run", options.resume));
  }
  json stored = json::parse(it->second, nullptr, false);
  if (stored.is_discarded()) {
    return InvalidArgumentError("the parent run's tune settings are unreadable");
  }
  JsonReader<json> r(stored, "tune.settings");
  TuneSettings& t = s->s;
  t.data = r.String("data"), t.target = r.String("target"), t.task = r.String("task");
  t.space = r.String("space"), t.sampler = r.String("sampler");
  t.scheduler = r.String("scheduler"), t.metric = r.String("metric");
  t.params = r.Strings("params");
  t.trials = static_cast<int>(r.Integer("trials", 0, INT32_MAX));
  t.cv = static_cast<int>(r.Integer("cv", 0, INT32_MAX));
  t.grace = static_cast<int>(r.Integer("grace", 0, INT32_MAX));
  t.startup = static_cast<int>(r.Integer("startup", 0, INT32_MAX));
  t.eta = r.Number("eta"), t.valid_frac = r.Number("valid_frac");
  t.seed = r.Unsigned("seed");
  if (!r.ok()) {
    return InvalidArgumentError(
        fmt::format("the parent run's tune settings are unreadable: {}", r.status().message()));
  }
  s->experiment = s->parent->experiment;
  return Status::Ok();
}

// Loads and bins the data once; every trial trains on these folds.
Status Prepare(Home& home, const TuneOptions& options, Search* s, const ExecContext& ctx) {
  KILN_ASSIGN_OR_RETURN(s->o.space, tune::ParseSpace(s->s.space));
  KILN_RETURN_IF_ERROR(CheckSettings(s->s, options.parallel));
  KILN_ASSIGN_OR_RETURN(s->o.base, ParseParams(s->s.params));
  KILN_ASSIGN_OR_RETURN(s->data, LoadData(&home.datasets(), home.fs(), s->s.data, ctx));
  KILN_ASSIGN_OR_RETURN(s->validated, RequireValidated(home, s->data.label));
  KILN_ASSIGN_OR_RETURN(s->labels, MakeLabels(s->data.data, s->s.target, s->s.task));
  if (s->o.base.objective) s->labels.objective = *s->o.base.objective;
  const std::vector<size_t> features = FeatureColumns(s->data.data, s->s.target, nullptr);
  if (features.empty()) return InvalidArgumentError("no usable feature columns");
  KILN_ASSIGN_OR_RETURN(s->x,
                        learn::BinDataset(s->data.data, features, s->o.base.max_bin, 200000, ctx));
  s->data.data = data::Dataset{};
  s->folds = tune::MakeFolds(s->x, s->labels.values, s->s.cv, s->s.valid_frac, s->s.seed);
  tune::TuneOptions& o = s->o;
  o.objective = s->labels.objective;
  o.num_classes = s->labels.num_classes;
  o.target = s->s.target;
  o.class_labels = s->labels.class_labels;
  o.metric = s->s.metric.empty() ? learn::DefaultMetrics(s->labels.objective).front() : s->s.metric;
  o.trials = s->s.trials;
  o.parallel = options.parallel;
  o.sampler = s->s.sampler;
  o.startup = s->s.startup;
  o.asha = s->s.scheduler == "asha";
  o.grace = s->s.grace;
  o.eta = s->s.eta;
  o.seed = s->s.seed;
  s->higher = learn::HigherIsBetter(o.metric);
  s->key = "valid." + o.metric;
  return Status::Ok();
}

// A finished trial as the sampler's history, if it has the metric and every tuned parameter.
std::optional<tune::Observation> Observed(const Search& s, const registry::RunRecord& c) {
  auto m = c.metrics.find(s.key);
  if (c.status != registry::RunStatus::kFinished || m == c.metrics.end()) return std::nullopt;
  tune::Observation obs{{}, s.higher ? -m->second : m->second};
  for (const auto& spec : s.o.space.params) {
    auto p = c.params.find(spec.name);
    if (p == c.params.end()) return std::nullopt;
    auto v = tune::ParseValue(spec, p->second);
    if (!v.ok()) return std::nullopt;
    obs.params[spec.name] = *v;
  }
  return obs;
}

// Takes the parent run over and reads the trials it already has.
Status ResumeParent(Home& home, Search* s) {
  s->parent_id = s->parent->id;
  // Taking the parent over first: while its search still runs elsewhere this fails, before
  // any of that search's trials could be marked killed.
  KILN_ASSIGN_OR_RETURN(s->parent_rec, RunRecorder::Resume(&home, *s->parent));
  // Its trials that were running when it died become `killed`.
  KILN_RETURN_IF_ERROR(ReapKilledRuns(&home).status());
  registry::RunQuery q;
  q.filter = fmt::format("attributes.parent_id = '{}'", s->parent_id);
  q.limit = 1'000'000;
  KILN_ASSIGN_OR_RETURN(auto children, home.catalog().SearchRuns(q));
  for (const auto& c : children) {
    auto t = c.tags.find("tune.trial");
    if (t == c.tags.end()) continue;
    auto index = ParseInteger(t->second, "tune.trial", 0, 1'000'000'000);
    if (!index.ok()) continue;  // not a trial this search wrote
    s->next_index = std::max(s->next_index, static_cast<int>(*index) + 1);
    if (auto obs = Observed(*s, c)) s->history.push_back(std::move(*obs));
  }
  return Status::Ok();
}

Status StartParent(Home& home, const TuneOptions& options, Search* s) {
  registry::RunRecord run;
  run.tags = options.tags;
  run.experiment = s->experiment;
  run.name = "tune";
  run.params["tune.settings"] = json(s->s).dump();
  run.params["tune.metric"] = s->o.metric;
  run.params["tune.trials"] = std::to_string(s->s.trials);
  run.params["tune.sampler"] = s->s.sampler;
  run.params["tune.scheduler"] = s->s.scheduler;
  run.params["tune.cv"] = std::to_string(s->s.cv);
  run.tags["kind"] = "tune";
  if (!s->validated.empty()) run.tags["kiln.validated"] = s->validated;
  run.attributes.train_data = s->data.label;
  run.attributes.train_hash = s->data.content_hash;
  KILN_ASSIGN_OR_RETURN(s->parent_rec, RunRecorder::Start(&home, std::move(run)));
  s->parent_id = s->parent_rec->id();
  return Status::Ok();
}

// The best finished trial (this call's and earlier ones).
Result<registry::RunRecord> BestTrial(Home& home, const Search& s) {
  registry::RunQuery q;
  q.filter = fmt::format(
      "attributes.parent_id = '{}' and attributes.status = 'finished' and "
      "metrics.`{}` is not null and tags.tune.stopped_at is null",
      s.parent_id, s.key);
  q.order_by = fmt::format("metrics.`{}` {}", s.key, s.higher ? "desc" : "asc");
  q.limit = 1;
  KILN_ASSIGN_OR_RETURN(auto best, home.catalog().SearchRuns(q));
  if (best.empty()) return InternalError("no finished trial");
  return best.front();
}

// With cross-validation no trial model saw all rows: refit the best parameters on all of them
// for the rounds its first fold found best. Returns the refit's run id.
Result<std::string> Refit(Home& home, const Search& s, const registry::RunRecord& best,
                          const ExecContext& ctx) {
  learn::GbdtParams p = s.o.base;
  for (const auto& spec : s.o.space.params) {
    KILN_RETURN_IF_ERROR(p.Set(spec.name, best.params.at(spec.name)));
  }
  p.num_trees = static_cast<int>(best.metrics.at("best_iteration")) + 1;
  p.early_stopping_rounds = 0;
  registry::RunRecord run;
  run.experiment = s.experiment;
  run.name = "refit";
  run.params = RunParams(p);
  run.params.erase("threads");
  run.tags["tune.refit_of"] = best.id;
  run.attributes.parent_id = s.parent_id;
  run.attributes.train_data = s.data.label;
  run.attributes.train_hash = s.data.content_hash;
  KILN_ASSIGN_OR_RETURN(auto rec, RunRecorder::Start(&home, std::move(run)));
  const learn::TrainOptions t = TrainOptionsFor(p, s.labels, s.s.target);
  KILN_ASSIGN_OR_RETURN(model::TreeModel m,
                        learn::TrainGbdt({&s.x, s.labels.values, {}}, nullptr, t, ctx));
  KILN_RETURN_IF_ERROR(
      rec->Finish(model::EncodeModel(m), {{"cv." + s.key, best.metrics.at(s.key)}}).status());
  return rec->id();
}

}  // namespace

Result<TuneResult> Tune(Home& home, const TuneOptions& options, const ExecContext& ctx) {
  Search s;
  KILN_RETURN_IF_ERROR(LoadSettings(home, options, &s));
  KILN_RETURN_IF_ERROR(Prepare(home, options, &s, ctx));
  KILN_RETURN_IF_ERROR(s.parent ? ResumeParent(home, &s) : StartParent(home, options, &s));
  if (!s.parent && options.on_start) options.on_start(s.parent_id);
  TuneResult r;
  r.run_id = s.parent_id;
  r.metric = s.o.metric;
  r.trials_resumed = static_cast<int>(s.history.size());
  RunObserver observer(&home, &options, s.parent_id, &s.data, s.o.metric);
  KILN_ASSIGN_OR_RETURN(tune::TuneSummary summary, tune::RunTune(s.o, s.folds, std::move(s.history),
                                                                 s.next_index, &observer, ctx));
  KILN_ASSIGN_OR_RETURN(registry::RunRecord best, BestTrial(home, s));
  r.best_run = best.id;
  r.best_score = best.metrics.at(s.key);
  r.best_params = best.params;
  for (const auto& spec : s.o.space.params) r.tuned.push_back(spec.name);
  r.model_run = best.id;
  if (s.s.cv >= 2) {
    KILN_ASSIGN_OR_RETURN(r.model_run, Refit(home, s, best, ctx));
  }
  if (!options.register_name.empty()) {
    KILN_ASSIGN_OR_RETURN(
        registry::ModelVersion v,
        RegisterRun(home, options.register_name, r.model_run,
                    fmt::format("best of tune run {}", s.parent_id), options.actor));
    r.registered_name = v.name;
    r.registered_version = v.version;
  }
  r.trials_run = static_cast<int>(summary.trials.size());
  r.rounds = summary.total_rounds;
  const std::map<std::string, double> metrics = {
      {"best." + s.key, r.best_score},
      {"trials", static_cast<double>(r.trials_resumed + r.trials_run)},
      {"rounds", static_cast<double>(r.rounds)}};
  KILN_RETURN_IF_ERROR(s.parent_rec->SetTags({{"best_run", best.id}, {"model_run", r.model_run}}));
  KILN_RETURN_IF_ERROR(s.parent_rec->Finish("", metrics).status());
  return r;
}

}  // namespace kiln::pipeline
