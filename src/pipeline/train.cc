#include "kiln/pipeline/train.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "kiln/base/hash.h"
#include "kiln/base/names.h"
#include "kiln/base/thread_pool.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/objective.h"
#include "kiln/learn/reference.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "kiln/model/xgboost_import.h"
#include "kiln/pipeline/ingest.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/run_recorder.h"
#include "kiln/pipeline/training_data.h"

namespace kiln::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

// The training curve is the loss over this many training rows (a fixed seeded sample): its
// standard error is about 1% of the loss, and evaluating it costs about 1% of an iteration.
constexpr size_t kTrainCurveRows = 10000;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Whether the model's bin edges bin data exactly for it: every numeric feature has edges and
// every numeric split is at one of its feature's edges (always for a model kiln trained; not
// for an imported one, with no edges or with a drift reference's quantile edges).
bool HasBinEdges(const model::TreeModel& m) {
  for (const auto& f : m.features) {
    if (!f.categorical && f.bin_edges.size() < 2) return false;
  }
  for (const auto& tree : m.trees) {
    for (const auto& n : tree.nodes) {
      if (n.is_leaf() || n.categorical || n.feature >= m.features.size()) continue;
      const auto& edges = m.features[n.feature].bin_edges;
      if (!std::binary_search(edges.begin(), edges.end(), n.threshold)) return false;
    }
  }
  return true;
}

// The margins a model gives every row (rows x groups), for warm start and resume.
Result<std::vector<double>> Margins(const std::shared_ptr<const model::TreeModel>& m,
                                    const data::Dataset& d, const ExecContext& ctx) {
  model::TreeModel all = *m;
  all.best_iteration = -1;  // continue from every tree
  KILN_ASSIGN_OR_RETURN(auto pred,
                        model::Predictor::Create(std::make_shared<const model::TreeModel>(all)));
  KILN_ASSIGN_OR_RETURN(model::FeatureMatrix x, pred->Prepare(d));
  std::vector<double> out(x.rows * static_cast<size_t>(all.num_groups()));
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, (x.rows + 1023) / 1024, [&](size_t b) -> Status {
    for (size_t r = b * 1024; r < std::min(x.rows, (b + 1) * 1024); ++r) {
      pred->PredictRowMargin(x.row(r), out.data() + r * static_cast<size_t>(all.num_groups()));
    }
    return Status::Ok();
  }));
  return out;
}

// The rows and labels a training sees: the training data, and the validation data from
// --valid or a seeded split of the training rows.
struct TrainingSet {
  LoadedData train;
  Labels labels;
  std::vector<size_t> features;
  data::Dataset train_rows, valid_rows;
  std::vector<float> train_labels, valid_labels;
  std::string validated;  // train.require_validated: the checks the data passed ("" off)
};

// The columns `o.features` names, each a usable feature of the data, in the data's order.
Result<std::vector<size_t>> ChosenFeatures(const TrainingSet& s, const TrainOptions& o) {
  const data::Schema& schema = s.train.data.schema;
  for (const std::string& name : o.features) {
    auto i = schema.IndexOf(name);
    if (!i) {
      return InvalidArgumentError(
          fmt::format("feature '{}' is not a column of {}", Printable(name), s.train.label));
    }
    if (std::find(s.features.begin(), s.features.end(), *i) == s.features.end()) {
      return InvalidArgumentError(fmt::format(
          "column '{}' of {} cannot be a feature (the target, or text)", name, s.train.label));
    }
  }
  std::vector<size_t> out;
  for (size_t i : s.features) {
    const std::string& name = schema.field(i).name;
    if (std::find(o.features.begin(), o.features.end(), name) != o.features.end()) {
      out.push_back(i);
    }
  }
  return out;
}

Result<TrainingSet> PrepareTrainingSet(Home& home, const TrainOptions& o,
                                       const learn::GbdtParams& params, TrainResult* result,
                                       const ExecContext& ctx) {
  TrainingSet s;
  KILN_ASSIGN_OR_RETURN(s.train, LoadData(&home.datasets(), home.fs(), o.data, ctx));
  KILN_ASSIGN_OR_RETURN(s.validated, RequireValidated(home, s.train.label));
  KILN_ASSIGN_OR_RETURN(s.labels, MakeLabels(s.train.data, o.target, o.task));
  if (params.objective) s.labels.objective = *params.objective;
  s.features = FeatureColumns(s.train.data, o.target, &result->skipped_columns);
  if (!o.features.empty()) {
    KILN_ASSIGN_OR_RETURN(s.features, ChosenFeatures(s, o));
  }
  if (s.features.empty()) return InvalidArgumentError("no usable feature columns");
  s.train_rows = std::move(s.train.data);
  s.train_labels = s.labels.values;
  if (!o.valid.empty()) {
    KILN_ASSIGN_OR_RETURN(LoadedData v, LoadData(&home.datasets(), home.fs(), o.valid, ctx));
    KILN_ASSIGN_OR_RETURN(const std::string checked, RequireValidated(home, v.label));
    if (!checked.empty()) s.validated += fmt::format("; {}: {}", v.label, checked);
    const bool classes = !s.labels.class_labels.empty();
    KILN_ASSIGN_OR_RETURN(Labels vl, MakeLabels(v.data, o.target, classes ? o.task : "regression",
                                                classes ? &s.labels.class_labels : nullptr));
    s.valid_rows = std::move(v.data);
    s.valid_labels = std::move(vl.values);
  } else if (o.valid_frac > 0) {
    auto [tr, va] = SplitRows(s.train_rows.num_rows(), o.valid_frac, params.seed);
    s.valid_rows = data::TakeRows(s.train_rows, va);
    s.train_rows = data::TakeRows(s.train_rows, tr);
    s.valid_labels.clear();
    std::vector<float> t2;
    for (auto r : va) s.valid_labels.push_back(s.labels.values[r]);
    for (auto r : tr) t2.push_back(s.labels.values[r]);
    s.train_labels = std::move(t2);
  }
  return s;
}

// The run: params as given and as resolved, the data lineage.
registry::RunRecord NewTrainingRun(const TrainOptions& o, const learn::GbdtParams& params,
                                   const TrainingSet& s) {
  registry::RunRecord run;
  run.experiment = o.experiment;
  run.name = o.run_name;
  run.params = RunParams(params);
  run.params["target"] = o.target;
  run.params["objective"] = std::string(model::ObjectiveName(s.labels.objective));
  if (o.valid_frac > 0) run.params["valid_frac"] = fmt::format("{}", o.valid_frac);
  if (!o.metric.empty()) run.params["metric"] = o.metric;
  run.tags = o.tags;
  if (!o.init_model.empty()) run.tags["init_model"] = o.init_model;
  if (!s.validated.empty()) run.tags["kiln.validated"] = s.validated;
  run.attributes.train_data = s.train.label;
  run.attributes.train_hash = s.train.content_hash;
  run.attributes.valid_data = o.valid;
  return run;
}

// Where a training keeps its checkpoint: one file per distinct training command.
std::string CheckpointPath(const Home& home, const TrainOptions& o, const learn::GbdtParams& params,
                           const LoadedData& train) {
  const std::string key =
      fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", train.label, train.content_hash, o.target, o.task,
                  params.ToJson(), o.valid, o.valid_frac, o.init_model);
  return JoinPath(JoinPath(home.path(), "checkpoints"), Sha256Hex(key).substr(0, 32) + ".kiln");
}

// The trained model and what was measured on the way.
struct Trained {
  std::shared_ptr<const model::TreeModel> model;
  std::string bytes;
  std::map<std::string, double> metrics;  // the run's final metrics
};

// Bins the data, boosts, and measures the final model on the training and validation rows.
Result<Trained> Boost(Home& home, const TrainOptions& o, const learn::GbdtParams& params,
                      TrainingSet& s, RunRecorder* recorder, TrainResult* result,
                      const ExecContext& ctx) {
  const auto t0 = Clock::now();
  // Warm start or resume: continue from a model; its bin edges and dictionaries bin the data.
  const std::string checkpoint = CheckpointPath(home, o, params, s.train);
  std::shared_ptr<const model::TreeModel> init;
  bool resuming = false;
  if (o.resume && *home.fs().Exists(checkpoint)) {
    KILN_ASSIGN_OR_RETURN(init, model::LoadModel(home.fs(), checkpoint));
    resuming = true;
  } else if (!o.init_model.empty()) {
    KILN_ASSIGN_OR_RETURN(init, model::LoadModel(home.fs(), o.init_model));
  }
  learn::BinnedData x;
  if (init && HasBinEdges(*init)) {
    KILN_ASSIGN_OR_RETURN(x, learn::ApplyBins(s.train_rows, init->features, ctx));
  } else {
    KILN_ASSIGN_OR_RETURN(x,
                          learn::BinDataset(s.train_rows, s.features, params.max_bin, 200000, ctx));
  }
  std::optional<learn::BinnedData> vx;
  if (s.valid_rows.num_rows() > 0) {
    KILN_ASSIGN_OR_RETURN(vx, learn::ApplyBins(s.valid_rows, x.features, ctx));
  }
  const auto t1 = Clock::now();
  learn::TrainOptions t = TrainOptionsFor(params, s.labels, o.target);
  t.eval_metric = o.metric;
  t.train_curve_rows = o.record_curves ? kTrainCurveRows : 0;
  t.on_iteration = [&](const learn::IterationLog& log) {
    if (o.record_curves) {
      if (log.valid) recorder->AddPoint("valid." + log.metric, log.iteration, *log.valid);
      if (log.train) recorder->AddPoint("train." + log.train_metric, log.iteration, *log.train);
    }
    if (o.on_iteration) o.on_iteration(log);
  };
  learn::TrainInput tin{&x, s.train_labels, {}};
  learn::TrainInput vin{vx ? &*vx : nullptr, s.valid_labels, {}};
  if (init) {
    t.init = init.get();
    t.resume = resuming;
    KILN_ASSIGN_OR_RETURN(tin.init_margins, Margins(init, s.train_rows, ctx));
    if (vx) {
      KILN_ASSIGN_OR_RETURN(vin.init_margins, Margins(init, s.valid_rows, ctx));
    }
  }
  // The bins stand for the data when every split of the final model is at a bin edge: always,
  // except on top of an init model binned without its edges (an XGBoost import). Then the
  // final metrics are computed from the rows; otherwise free the columns before training.
  const bool bins_exact = !init || HasBinEdges(*init);
  if (bins_exact) {
    s.train_rows = data::Dataset{};
    s.valid_rows = data::Dataset{};
  }
  t.checkpoint_every = o.checkpoint_every;
  t.on_checkpoint = [&](const model::TreeModel& partial) -> Status {
    KILN_RETURN_IF_ERROR(home.fs().CreateDirs(DirName(checkpoint)));
    return model::SaveModel(home.fs(), checkpoint, partial);
  };
  KILN_ASSIGN_OR_RETURN(model::TreeModel m, learn::TrainGbdt(tin, vx ? &vin : nullptr, t, ctx));
  const auto t2 = Clock::now();
  if (*home.fs().Exists(checkpoint)) home.fs().Remove(checkpoint).IgnoreError();
  result->binning_seconds = Seconds(t0, t1);
  result->train_seconds = Seconds(t1, t2);
  Trained out;
  out.metrics = {{"train_seconds", result->train_seconds},
                 {"binning_seconds", result->binning_seconds}};
  std::vector<double> train_margins, valid_margins;
  {
    // The final model measured on its rows (the predictor borrows `m`, finished before the
    // reference is added to it).
    const auto shared = std::shared_ptr<const model::TreeModel>(&m, [](const model::TreeModel*) {});
    KILN_ASSIGN_OR_RETURN(auto pred, model::Predictor::Create(shared));
    auto final_margins = [&](const learn::BinnedData& bins, const data::Dataset& rows) {
      return bins_exact ? learn::PredictBinned(*pred, bins, ctx) : Margins(shared, rows, ctx);
    };
    KILN_ASSIGN_OR_RETURN(train_margins, final_margins(x, s.train_rows));
    if (vx) {
      KILN_ASSIGN_OR_RETURN(valid_margins, final_margins(*vx, s.valid_rows));
    }
  }
  result->train_metrics = MetricsFromMargins(m, train_margins, s.train_labels);
  for (const auto& [k, v] : result->train_metrics) out.metrics["train." + k] = v;
  if (vx) {
    result->valid_metrics = MetricsFromMargins(m, valid_margins, s.valid_labels);
    for (const auto& [k, v] : result->valid_metrics) out.metrics["valid." + k] = v;
  }
  // The drift reference: the training rows in the model's bins, the scores of the validation
  // rows (of the training rows without them), the validation metrics.
  m.reference = learn::BuildReference(m, x, vx ? valid_margins : train_margins,
                                      vx ? "validation" : "training", result->valid_metrics);
  m.reference.data = s.train.label;
  KILN_RETURN_IF_ERROR(m.Validate());
  out.bytes = model::EncodeModel(m);
  out.model = std::make_shared<const model::TreeModel>(std::move(m));
  return out;
}

}  // namespace

Result<TrainResult> Train(Home& home, const TrainOptions& o, const ExecContext& ctx) {
  KILN_ASSIGN_OR_RETURN(learn::GbdtParams params, ParseParams(o.params));
  if (!(o.valid_frac >= 0 && o.valid_frac < 1)) {
    return InvalidArgumentError("--valid-frac must be in [0, 1)");
  }
  if (o.checkpoint_every < 0) return InvalidArgumentError("--checkpoint-every must be >= 0");
  if (!o.register_name.empty()) KILN_RETURN_IF_ERROR(ValidateName(o.register_name, "model name"));
  // `threads=N` among the parameters sets this training's cap; cancellation stays the caller's.
  const ExecContext c = ctx.WithThreads(params.threads);
  TrainResult result;
  KILN_ASSIGN_OR_RETURN(TrainingSet set, PrepareTrainingSet(home, o, params, &result, c));
  KILN_ASSIGN_OR_RETURN(auto recorder, RunRecorder::Start(&home, NewTrainingRun(o, params, set)));
  Result<Trained> trained = Boost(home, o, params, set, recorder.get(), &result, c);
  if (!trained.ok()) {
    recorder->Fail(trained.status());
    return trained.status();
  }
  if (!o.out.empty()) {
    KILN_RETURN_IF_ERROR(AtomicWriteFile(home.fs(), o.out, trained->bytes));
    result.out = o.out;
  }
  KILN_ASSIGN_OR_RETURN(result.artifact, recorder->Finish(trained->bytes, trained->metrics));
  result.run_id = recorder->id();
  result.experiment = o.experiment;
  result.data = set.train.label;
  result.objective = std::string(model::ObjectiveName(trained->model->objective));
  result.trees = trained->model->trees.size();
  result.best_iteration = trained->model->best_iteration;
  if (!o.register_name.empty()) {
    KILN_ASSIGN_OR_RETURN(registry::ModelVersion v,
                          RegisterRun(home, o.register_name, result.run_id,
                                      fmt::format("trained on {}", result.data), o.actor));
    result.registered_name = v.name;
    result.registered_version = v.version;
  }
  return result;
}

Result<EvalResult> Evaluate(Home& home, const EvalOptions& o, const ExecContext& ctx) {
  KILN_ASSIGN_OR_RETURN(auto model, LoadModelRef(home, o.model));
  KILN_ASSIGN_OR_RETURN(LoadedData d, LoadData(&home.datasets(), home.fs(), o.data, ctx));
  const auto t0 = Clock::now();
  EvalResult r;
  KILN_ASSIGN_OR_RETURN(r.metrics, ScoreModel(model, d.data, ctx));
  r.model = o.model;
  r.data = d.label;
  r.rows = d.data.num_rows();
  r.rows_per_second = static_cast<double>(r.rows) / Seconds(t0, Clock::now());
  return r;
}

// The drift reference of an imported model from the dataset version `data` (ImportOptions).
Status AttachReference(Home& home, model::TreeModel* m, const std::string& data,
                       const ExecContext& ctx) {
  auto ref = AsDatasetRef(data);
  if (!ref || ref->version == 0) {
    return InvalidArgumentError(fmt::format(
        "--reference-data must be a dataset version NAME@vN, not '{}'", Printable(data)));
  }
  KILN_ASSIGN_OR_RETURN(LoadedData d, LoadData(&home.datasets(), home.fs(), data, ctx));
  std::vector<size_t> columns;
  for (const auto& f : m->features) {
    auto i = d.data.schema.IndexOf(f.name);
    if (!i) {
      return InvalidArgumentError(fmt::format("{} has no column '{}' (a feature of the model)",
                                              d.label, Printable(f.name)));
    }
    columns.push_back(*i);
  }
  KILN_ASSIGN_OR_RETURN(learn::BinnedData x, learn::BinDataset(d.data, columns, 255, 200000, ctx));
  for (size_t i = 0; i < m->features.size(); ++i) {
    if (x.features[i].categorical != m->features[i].categorical) {
      return InvalidArgumentError(
          fmt::format("column '{}' of {} is {} but the model's is not", m->features[i].name,
                      d.label, x.features[i].categorical ? "categorical" : "numeric"));
    }
    if (!m->features[i].categorical) m->features[i].bin_edges = x.features[i].bin_edges;
  }
  const auto shared = std::shared_ptr<const model::TreeModel>(m, [](const model::TreeModel*) {});
  KILN_ASSIGN_OR_RETURN(std::vector<double> margins, Margins(shared, d.data, ctx));
  std::map<std::string, double> metrics;
  if (!m->target.empty() && d.data.schema.IndexOf(m->target)) {
    KILN_ASSIGN_OR_RETURN(metrics, ScoreModel(shared, d.data, ctx));
  }
  m->reference = learn::BuildReference(*m, x, margins, d.label, std::move(metrics));
  m->reference.data = d.label;
  return m->Validate();
}

Result<ImportResult> ImportModel(Home* home, const ImportOptions& o, const ExecContext& ctx) {
  if (o.out.empty() && o.register_name.empty()) {
    return InvalidArgumentError("model import: give --out FILE, --register NAME or both");
  }
  if (o.from != "xgboost") {
    return InvalidArgumentError(
        fmt::format("model import: unknown format '{}' (xgboost)", Printable(o.from)));
  }
  if (!o.register_name.empty()) {
    KILN_RETURN_IF_ERROR(ValidateName(o.register_name, "model name"));
    if (home == nullptr) return InvalidArgumentError("model import: --register needs a kiln home");
  }
  if (!o.reference_data.empty() && home == nullptr) {
    return InvalidArgumentError("model import: --reference-data needs a kiln home");
  }
  auto fs = NewPosixFileSystem();
  KILN_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(o.file, 1ull << 31));
  KILN_ASSIGN_OR_RETURN(model::TreeModel m, model::ImportXgboostJson(text, o.file));
  if (!o.reference_data.empty()) {
    KILN_RETURN_IF_ERROR(AttachReference(*home, &m, o.reference_data, ctx));
  }
  ImportResult r;
  r.trees = m.trees.size();
  r.objective = std::string(model::ObjectiveName(m.objective));
  if (!o.out.empty()) {
    KILN_RETURN_IF_ERROR(model::SaveModel(*fs, o.out, m));
    r.out = o.out;
  }
  if (o.register_name.empty()) return r;
  // The import is a run (experiment "import", the source file's SHA-256 as lineage) whose
  // artifact becomes a new version of the registered model.
  registry::RunRecord run;
  run.experiment = "import";
  run.params = {{"format", o.from}, {"source", o.file}};
  run.attributes.train_hash = Sha256Hex(text);
  if (!o.reference_data.empty()) run.params["reference_data"] = m.reference.data;
  KILN_ASSIGN_OR_RETURN(auto recorder, RunRecorder::Start(home, std::move(run)));
  KILN_RETURN_IF_ERROR(recorder->Finish(model::EncodeModel(m), {}).status());
  r.run_id = recorder->id();
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion v,
                        RegisterRun(*home, o.register_name, r.run_id,
                                    fmt::format("imported from {}", o.from), o.actor));
  r.registered_name = v.name;
  r.registered_version = v.version;
  return r;
}

}  // namespace kiln::pipeline
