// `kiln tune`: hyperparameter search recorded as a parent run with one child run per trial.
// The data is loaded and binned once and shared by all trials; `--resume PARENT` continues an
// interrupted search (its finished trials are kept, trials that were running are marked killed).
#include <cmath>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/model_ops.h"
#include "app/run_recorder.h"
#include "app/training_data.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/tune/tuner.h"

namespace kiln::app {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxSpaceBytes = 1 << 20;

// What the search is: stored in the parent run's params and restored by --resume.
struct TuneSettings {
  std::string data, target, task, space, sampler = "tpe", scheduler = "asha", metric;
  std::vector<std::string> params;
  int trials = 20, cv = 0, grace = 10, startup = 10;
  double eta = 3, valid_frac = 0.2;
  uint64_t seed = 42;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TuneSettings, data, target, task, space, sampler, scheduler,
                                   metric, params, trials, cv, grace, startup, eta, valid_frac,
                                   seed)

// How this invocation runs it (`space` above is the YAML text of `space_file`).
struct TuneArgs {
  TuneSettings s;
  std::string space_file, experiment = "tune", resume, register_name;
  int parallel = 1;
  bool json = false;
};

// space.yaml -> SearchSpace (checked by tune::ValidateSpace).
Result<tune::SearchSpace> ParseSpace(const std::string& yaml) {
  tune::SearchSpace space;
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap() || root.size() == 0) {
      return InvalidArgumentError("space.yaml: expected a mapping of parameter -> {type, ...}");
    }
    for (const auto& kv : root) {
      tune::ParamSpec p;
      p.name = kv.first.as<std::string>();
      const std::string what = fmt::format("space.yaml: '{}'", p.name.substr(0, 64));
      // Aliases (eta, n_estimators, ...) become the names trials record their params under.
      const std::string_view canonical = learn::CanonicalParamName(p.name);
      if (canonical.empty()) return InvalidArgumentError(what + ": unknown parameter");
      p.name = std::string(canonical);
      const YAML::Node& n = kv.second;
      if (!n.IsMap()) return InvalidArgumentError(what + ": expected {type, low, high, ...}");
      for (const auto& field : n) {
        const std::string f = field.first.as<std::string>();
        if (f != "type" && f != "low" && f != "high" && f != "log" && f != "values") {
          return InvalidArgumentError(fmt::format("{}: unknown field '{}'", what, f.substr(0, 32)));
        }
      }
      const std::string type = n["type"] ? n["type"].as<std::string>() : "";
      if (type == "int") {
        p.type = tune::ParamSpec::Type::kInt;
      } else if (type == "float") {
        p.type = tune::ParamSpec::Type::kFloat;
      } else if (type == "categorical") {
        p.type = tune::ParamSpec::Type::kCategorical;
      } else {
        return InvalidArgumentError(what + ": type must be int, float or categorical");
      }
      if (p.type == tune::ParamSpec::Type::kCategorical) {
        if (!n["values"] || !n["values"].IsSequence()) {
          return InvalidArgumentError(what + ": categorical needs values: [...]");
        }
        for (const auto& v : n["values"]) {
          if (!v.IsScalar()) return InvalidArgumentError(what + ": values must be scalars");
          p.values.push_back(v.Scalar());
        }
      } else {
        for (const char* bound : {"low", "high"}) {
          if (!n[bound] || !n[bound].IsScalar()) {
            return InvalidArgumentError(fmt::format("{}: {} must be a number", what, bound));
          }
          auto v = tune::ParseValue(p, n[bound].Scalar());
          if (!v.ok()) return v.status().WithContext(fmt::format("{} {}", what, bound));
          (std::string_view(bound) == "low" ? p.low : p.high) = *v;
        }
        if (n["log"]) p.log = n["log"].as<bool>();
      }
      space.params.push_back(std::move(p));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("space.yaml: {}", e.what()));
  }
  KILN_RETURN_IF_ERROR(tune::ValidateSpace(space));
  return space;
}

// Records each trial as a child run of the search's parent run.
class RunObserver final : public tune::TrialObserver {
 public:
  RunObserver(KilnHome* home, std::string parent, std::string experiment, LoadedData* data,
              std::string metric, bool progress)
      : home_(home),
        parent_(std::move(parent)),
        experiment_(std::move(experiment)),
        data_(data),
        metric_(std::move(metric)),
        progress_(progress) {}

  Status TrialStarted(int index, const learn::GbdtParams& resolved,
                      const tune::Assignment&) override {
    registry::RunRecord run;
    run.experiment = experiment_;
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
    if (progress_) {
      std::fprintf(stderr, "trial %3d  %s %.6f  rounds %4d%s  (run %s)\n", r.index, metric_.c_str(),
                   r.score, r.rounds,
                   r.stopped_at > 0 ? fmt::format("  stopped at {}", r.stopped_at).c_str() : "",
                   rec->id().c_str());
    }
    return Status::Ok();
  }

 private:
  KilnHome* home_;
  std::string parent_, experiment_;
  LoadedData* data_;
  std::string metric_;
  bool progress_;
  Mutex mu_;
  std::map<int, std::unique_ptr<RunRecorder>> recorders_ KILN_GUARDED_BY(mu_);
};

Result<ExitCode> Tune(const GlobalOptions& g, TuneArgs a) {
  auto ctx = Context(g, 0);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  auto& catalog = home->catalog();
  std::optional<registry::RunRecord> parent;
  if (!a.resume.empty()) {
    KILN_ASSIGN_OR_RETURN(parent, catalog.GetRun(a.resume));
    auto it = parent->params.find("tune.settings");
    if (it == parent->params.end()) {
      return InvalidArgumentError(fmt::format("run {} is not a tune run", a.resume));
    }
    try {
      a.s = json::parse(it->second).get<TuneSettings>();
    } catch (const json::exception& e) {
      return InvalidArgumentError(
          fmt::format("the parent run's tune settings are unreadable: {}", e.what()));
    }
    a.experiment = parent->experiment;
  } else {
    if (a.s.data.empty() || a.s.target.empty() || a.space_file.empty()) {
      return InvalidArgumentError("--data, --target and --space are required (or --resume RUN)");
    }
    KILN_ASSIGN_OR_RETURN(a.s.space, home->fs().ReadFile(a.space_file, kMaxSpaceBytes));
  }
  KILN_ASSIGN_OR_RETURN(tune::SearchSpace space, ParseSpace(a.s.space));
  if (a.s.scheduler != "asha" && a.s.scheduler != "random") {
    return InvalidArgumentError("--scheduler must be asha or random");
  }
  if (a.s.cv == 1 || a.s.cv < 0 || a.s.cv > 20) return InvalidArgumentError("--cv must be 2..20");
  if (a.s.scheduler == "asha" && (!(a.s.eta > 1) || a.s.grace < 1)) {
    return InvalidArgumentError("--eta must be > 1 and --grace >= 1");
  }
  if (a.s.cv == 0 && !(a.s.valid_frac > 0 && a.s.valid_frac < 1)) {
    return InvalidArgumentError("--valid-frac must be in (0, 1)");
  }
  if (a.parallel < 1 || a.parallel > 256) return InvalidArgumentError("--parallel must be 1..256");

  tune::TuneOptions o;
  o.space = space;
  KILN_ASSIGN_OR_RETURN(o.base, ParseParams(a.s.params));

  // Load and bin once; every trial trains on these folds.
  KILN_ASSIGN_OR_RETURN(LoadedData data, LoadData(&home->datasets(), home->fs(), a.s.data, *ctx));
  KILN_ASSIGN_OR_RETURN(Labels labels, MakeLabels(data.data, a.s.target, a.s.task));
  if (o.base.objective) labels.objective = *o.base.objective;
  std::vector<std::string> skipped;
  const std::vector<size_t> features = FeatureColumns(data.data, a.s.target, &skipped);
  if (features.empty()) return InvalidArgumentError("no usable feature columns");
  KILN_ASSIGN_OR_RETURN(learn::BinnedData x,
                        learn::BinDataset(data.data, features, o.base.max_bin, 200000, *ctx));
  data.data = data::Dataset{};
  const std::vector<tune::Fold> folds =
      tune::MakeFolds(x, labels.values, a.s.cv, a.s.valid_frac, a.s.seed);

  o.objective = labels.objective;
  o.num_classes = labels.num_classes;
  o.target = a.s.target;
  o.class_labels = labels.class_labels;
  o.metric = a.s.metric.empty() ? learn::DefaultMetrics(labels.objective).front() : a.s.metric;
  o.trials = a.s.trials;
  o.parallel = a.parallel;
  o.sampler = a.s.sampler;
  o.startup = a.s.startup;
  o.asha = a.s.scheduler == "asha";
  o.grace = a.s.grace;
  o.eta = a.s.eta;
  o.seed = a.s.seed;
  const bool higher = learn::HigherIsBetter(o.metric);
  const std::string key = "valid." + o.metric;

  // The parent run, and on resume the trials it already has.
  std::unique_ptr<RunRecorder> parent_rec;
  std::string parent_id;
  std::vector<tune::Observation> history;
  int next_index = 0;
  if (parent) {
    parent_id = parent->id;
    // Taking the parent over first: while its search still runs elsewhere this fails, before
    // any of that search's trials could be marked killed.
    KILN_ASSIGN_OR_RETURN(parent_rec, RunRecorder::Resume(home.get(), *parent));
    // Its trials that were running when it died become `killed`.
    KILN_RETURN_IF_ERROR(ReapKilledRuns(home.get()).status());
    registry::RunQuery q;
    q.filter = fmt::format("attributes.parent_id = '{}'", parent_id);
    q.limit = 1'000'000;
    KILN_ASSIGN_OR_RETURN(auto children, catalog.SearchRuns(q));
    for (const auto& c : children) {
      auto t = c.tags.find("tune.trial");
      if (t == c.tags.end()) continue;
      next_index = std::max(next_index, std::atoi(t->second.c_str()) + 1);
      auto m = c.metrics.find(key);
      if (c.status != registry::RunStatus::kFinished || m == c.metrics.end()) continue;
      tune::Observation obs{{}, higher ? -m->second : m->second};
      bool complete = true;
      for (const auto& spec : space.params) {
        auto p = c.params.find(spec.name);
        auto v = p == c.params.end() ? Result<double>(NotFoundError(spec.name))
                                     : tune::ParseValue(spec, p->second);
        if (!v.ok()) {
          complete = false;
          break;
        }
        obs.params[spec.name] = *v;
      }
      if (complete) history.push_back(std::move(obs));
    }
  } else {
    registry::RunRecord run;
    run.experiment = a.experiment;
    run.name = "tune";
    run.params["tune.settings"] = json(a.s).dump();
    run.params["tune.metric"] = o.metric;
    run.params["tune.trials"] = std::to_string(a.s.trials);
    run.params["tune.sampler"] = a.s.sampler;
    run.params["tune.scheduler"] = a.s.scheduler;
    run.params["tune.cv"] = std::to_string(a.s.cv);
    run.tags["kind"] = "tune";
    run.attributes.train_data = data.label;
    run.attributes.train_hash = data.content_hash;
    KILN_ASSIGN_OR_RETURN(parent_rec, RunRecorder::Start(home.get(), std::move(run)));
    parent_id = parent_rec->id();
    if (!a.json) std::fprintf(stderr, "tune run %s\n", parent_id.c_str());
  }
  const int resumed = static_cast<int>(history.size());

  RunObserver observer(home.get(), parent_id, a.experiment, &data, o.metric, !a.json);
  KILN_ASSIGN_OR_RETURN(tune::TuneSummary summary,
                        tune::RunTune(o, folds, std::move(history), next_index, &observer, *ctx));

  // The best finished trial (this call's and earlier ones).
  registry::RunQuery best_q;
  best_q.filter = fmt::format(
      "attributes.parent_id = '{}' and attributes.status = 'finished' and "
      "metrics.`{}` is not null and tags.tune.stopped_at is null",
      parent_id, key);
  best_q.order_by = fmt::format("metrics.`{}` {}", key, higher ? "desc" : "asc");
  best_q.limit = 1;
  KILN_ASSIGN_OR_RETURN(auto best_runs, catalog.SearchRuns(best_q));
  if (best_runs.empty()) return InternalError("no finished trial");
  registry::RunRecord best = best_runs.front();
  std::string model_run = best.id;

  // With cross-validation no trial model saw all rows: refit the best parameters on all of them
  // for the rounds its first fold found best.
  if (a.s.cv >= 2) {
    learn::GbdtParams p = o.base;
    for (const auto& spec : space.params) {
      KILN_RETURN_IF_ERROR(p.Set(spec.name, best.params.at(spec.name)));
    }
    p.num_trees = static_cast<int>(best.metrics.at("best_iteration")) + 1;
    p.early_stopping_rounds = 0;
    registry::RunRecord run;
    run.experiment = a.experiment;
    run.name = "refit";
    run.params = RunParams(p);
    run.params.erase("threads");
    run.tags["tune.refit_of"] = best.id;
    run.attributes.parent_id = parent_id;
    run.attributes.train_data = data.label;
    run.attributes.train_hash = data.content_hash;
    KILN_ASSIGN_OR_RETURN(auto rec, RunRecorder::Start(home.get(), std::move(run)));
    const learn::TrainOptions t = TrainOptionsFor(p, labels, a.s.target);
    KILN_ASSIGN_OR_RETURN(model::TreeModel m,
                          learn::TrainGbdt({&x, labels.values, {}}, nullptr, t, *ctx));
    KILN_RETURN_IF_ERROR(
        rec->Finish(model::EncodeModel(m), {{"cv." + key, best.metrics.at(key)}}).status());
    model_run = rec->id();
  }
  int64_t registered = 0;
  if (!a.register_name.empty()) {
    registry::ModelVersion mv;
    mv.name = a.register_name;
    mv.run_id = model_run;
    mv.description = fmt::format("best of tune run {}", parent_id);
    mv.actor = Actor();
    KILN_ASSIGN_OR_RETURN(auto v, catalog.RegisterModel(mv));
    registered = v.version;
  }
  const std::map<std::string, double> metrics = {
      {"best." + key, best.metrics.at(key)},
      {"trials", static_cast<double>(resumed + static_cast<int>(summary.trials.size()))},
      {"rounds", static_cast<double>(summary.total_rounds)}};
  KILN_RETURN_IF_ERROR(parent_rec->SetTags({{"best_run", best.id}, {"model_run", model_run}}));
  KILN_RETURN_IF_ERROR(parent_rec->Finish("", metrics).status());
  json out = {{"run_id", parent_id},           {"metric", o.metric},
              {"best_run", best.id},           {"best_score", best.metrics.at(key)},
              {"best_params", best.params},    {"model_run", model_run},
              {"trials_resumed", resumed},     {"trials_run", summary.trials.size()},
              {"rounds", summary.total_rounds}};
  if (registered > 0) out["registered"] = {{"name", a.register_name}, {"version", registered}};
  if (a.json) {
    Print(out.dump(2));
  } else {
    std::string text =
        fmt::format("best trial: run {}  {} {:.6f}\n", best.id, o.metric, best.metrics.at(key));
    for (const auto& spec : space.params) {
      text += fmt::format("  {:<20} {}\n", spec.name, best.params.at(spec.name));
    }
    text += fmt::format("{} trials ({} resumed), {} boosting rounds; tune run {}",
                        resumed + summary.trials.size(), resumed, summary.total_rounds, parent_id);
    if (registered > 0) {
      text += fmt::format("\nregistered {} version {} (run {})", a.register_name, registered,
                          model_run);
    }
    Print(text);
  }
  return 0;
}

}  // namespace

void AddTuneCommand(CLI::App& app, const GlobalOptions& g, std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<TuneArgs>();
  CLI::App* t = app.add_subcommand("tune", "hyperparameter search (TPE or random, ASHA, CV)");
  t->add_option("--data", args->s.data, "dataset NAME[@vN] or a CSV/JSONL file");
  t->add_option("--target", args->s.target, "label column");
  t->add_option("--task", args->s.task, "binary|multiclass|regression (default: inferred)");
  t->add_option("--space", args->space_file,
                "space.yaml: parameter -> {type, low, high, log, values}");
  t->add_option("--trials", args->s.trials, "trials in all (default 20)");
  t->add_option("--parallel", args->parallel, "trials at a time (default 1)");
  t->add_option("--sampler", args->s.sampler, "tpe (default) or random");
  t->add_option("--scheduler", args->s.scheduler,
                "asha (default: stop weak trials early) or random (every trial runs in full)");
  t->add_option("--startup", args->s.startup, "random trials before TPE models (default 10)");
  t->add_option("--grace", args->s.grace, "ASHA: rounds of the first rung (default 10)");
  t->add_option("--eta", args->s.eta, "ASHA: reduction factor (default 3)");
  t->add_option("--cv", args->s.cv, "K-fold cross-validation (default: one hold-out split)");
  t->add_option("--valid-frac", args->s.valid_frac, "hold-out fraction without --cv (default 0.2)");
  t->add_option("--metric", args->s.metric, "metric to optimise (default: auc, mlogloss or rmse)");
  t->add_option("--param", args->s.params, "k=v fixed training parameter (repeatable)");
  t->add_option("--seed", args->s.seed, "seed of samplers and splits (default 42)");
  t->add_option("--experiment", args->experiment, "experiment of the runs (default tune)");
  t->add_option("--resume", args->resume, "continue the interrupted tune run RUN");
  t->add_option("--register", args->register_name, "register the best model under this name");
  t->add_flag("--json", args->json, "machine-readable output");
  t->callback([&g, run, args] { *run = [&g, args] { return Tune(g, *args); }; });
}

}  // namespace kiln::app
