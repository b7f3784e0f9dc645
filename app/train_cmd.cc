// `kiln train`, `kiln predict`, `kiln eval`, `kiln model inspect`: flag parsing and wiring.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/batch_predict.h"
#include "app/cli.h"
#include "app/home.h"
#include "app/model_ops.h"
#include "app/run_recorder.h"
#include "app/training_data.h"
#include "kiln/base/hash.h"
#include "kiln/base/names.h"
#include "kiln/base/thread_pool.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "kiln/model/shap.h"
#include "kiln/model/xgboost_import.h"

namespace kiln::app {

using nlohmann::json;

namespace {

// The training curve is the loss over this many training rows (a fixed seeded sample): its
// standard error is about 1% of the loss, and evaluating it costs about 1% of an iteration.
constexpr size_t kTrainCurveRows = 10000;

struct TrainArgs {
  std::string data, valid, target, task, out = "model.kiln", model, pred_out, from = "xgboost";
  std::string init_model, kind = "probability", experiment = "default", run_name, metric;
  std::string register_name, import_out;
  int checkpoint_every = 10;
  bool no_curves = false;
  bool resume = false;
  std::vector<std::string> params;
  double valid_frac = 0;
  bool json = false;
  bool explain = false;
  bool trees = false;
};

bool HasBinEdges(const model::TreeModel& m) {
  for (const auto& f : m.features) {
    if (!f.categorical && f.bin_edges.size() < 2) return false;  // e.g. an imported model
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

Result<ExitCode> Train(const GlobalOptions& g, const TrainArgs& a) {
  KILN_ASSIGN_OR_RETURN(learn::GbdtParams params, ParseParams(a.params));
  if (a.valid_frac < 0 || a.valid_frac >= 1)
    return InvalidArgumentError("--valid-frac must be in [0, 1)");
  auto ctx = Context(g, params.threads);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(LoadedData train, LoadData(&home->datasets(), home->fs(), a.data, *ctx));
  KILN_ASSIGN_OR_RETURN(Labels labels, MakeLabels(train.data, a.target, a.task));
  if (params.objective) labels.objective = *params.objective;
  std::vector<std::string> skipped;
  const std::vector<size_t> features = FeatureColumns(train.data, a.target, &skipped);
  if (features.empty()) return InvalidArgumentError("no usable feature columns");
  for (const auto& s : skipped)
    std::fprintf(stderr, "note: skipping string column '%s'\n", s.c_str());

  data::Dataset train_rows = std::move(train.data), valid_rows;
  std::vector<float> train_labels = labels.values, valid_labels;
  if (!a.valid.empty()) {
    KILN_ASSIGN_OR_RETURN(LoadedData v, LoadData(&home->datasets(), home->fs(), a.valid, *ctx));
    const bool classes = !labels.class_labels.empty();
    KILN_ASSIGN_OR_RETURN(Labels vl, MakeLabels(v.data, a.target, classes ? a.task : "regression",
                                                classes ? &labels.class_labels : nullptr));
    valid_rows = std::move(v.data);
    valid_labels = std::move(vl.values);
  } else if (a.valid_frac > 0) {
    auto [tr, va] = SplitRows(train_rows.num_rows(), a.valid_frac, params.seed);
    valid_rows = data::TakeRows(train_rows, va);
    train_rows = data::TakeRows(train_rows, tr);
    valid_labels.clear();
    std::vector<float> t2;
    for (auto r : va) valid_labels.push_back(labels.values[r]);
    for (auto r : tr) t2.push_back(labels.values[r]);
    train_labels = std::move(t2);
  }
  // The run: params as given and as resolved, the data lineage.
  registry::RunRecord run;
  run.experiment = a.experiment;
  run.name = a.run_name;
  run.params = RunParams(params);
  run.params["target"] = a.target;
  run.params["objective"] = std::string(model::ObjectiveName(labels.objective));
  if (a.valid_frac > 0) run.params["valid_frac"] = fmt::format("{}", a.valid_frac);
  if (!a.init_model.empty()) run.tags["init_model"] = a.init_model;
  run.attributes.train_data = train.label;
  run.attributes.train_hash = train.content_hash;
  run.attributes.valid_data = a.valid;
  KILN_ASSIGN_OR_RETURN(auto recorder, RunRecorder::Start(home.get(), std::move(run)));
  const auto t0 = std::chrono::steady_clock::now();
  // Warm start or resume: continue from a model; its bin edges and dictionaries bin the data.
  const std::string checkpoint = JoinPath(
      JoinPath(home->path(), "checkpoints"),
      Sha256Hex(fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", train.label, train.content_hash, a.target,
                            a.task, params.ToJson(), a.valid, a.valid_frac, a.init_model))
              .substr(0, 32) +
          ".kiln");
  std::shared_ptr<const model::TreeModel> init;
  bool resuming = false;
  if (a.resume && *home->fs().Exists(checkpoint)) {
    KILN_ASSIGN_OR_RETURN(init, model::LoadModel(home->fs(), checkpoint));
    resuming = true;
  } else if (!a.init_model.empty()) {
    KILN_ASSIGN_OR_RETURN(init, model::LoadModel(home->fs(), a.init_model));
  }
  learn::BinnedData x;
  if (init && HasBinEdges(*init)) {
    KILN_ASSIGN_OR_RETURN(x, learn::ApplyBins(train_rows, init->features, *ctx));
  } else {
    KILN_ASSIGN_OR_RETURN(x, learn::BinDataset(train_rows, features, params.max_bin, 200000, *ctx));
  }
  std::optional<learn::BinnedData> vx;
  if (valid_rows.num_rows() > 0) {
    KILN_ASSIGN_OR_RETURN(vx, learn::ApplyBins(valid_rows, x.features, *ctx));
  }
  const auto t1 = std::chrono::steady_clock::now();
  learn::TrainOptions o = TrainOptionsFor(params, labels, a.target);
  const bool progress = !a.json;
  o.eval_metric = a.metric;
  o.train_curve_rows = a.no_curves ? 0 : kTrainCurveRows;
  o.on_iteration = [&](const learn::IterationLog& log) {
    if (!a.no_curves) {
      if (log.valid) recorder->AddPoint("valid." + log.metric, log.iteration, *log.valid);
      if (log.train) recorder->AddPoint("train." + log.train_metric, log.iteration, *log.train);
    }
    if (!progress) return;
    std::string line = fmt::format("[{:4}]", log.iteration + 1);
    if (log.valid)
      line += fmt::format("  valid {} {:.6f}  (best [{}])", log.metric, *log.valid,
                          log.best_iteration + 1);
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  learn::TrainInput tin{&x, train_labels, {}};
  learn::TrainInput vin{vx ? &*vx : nullptr, valid_labels, {}};
  if (init) {
    o.init = init.get();
    o.resume = resuming;
    KILN_ASSIGN_OR_RETURN(tin.init_margins, Margins(init, train_rows, *ctx));
    if (vx) {
      KILN_ASSIGN_OR_RETURN(vin.init_margins, Margins(init, valid_rows, *ctx));
    }
  }
  // The bins stand for the data when every split of the final model is at a bin edge: always,
  // except on top of an init model binned without its edges (an XGBoost import). Then the
  // final metrics are computed from the rows; otherwise free the columns before training.
  const bool bins_exact = !init || HasBinEdges(*init);
  if (bins_exact) {
    train_rows = data::Dataset{};
    valid_rows = data::Dataset{};
  }
  o.checkpoint_every = a.checkpoint_every;
  o.on_checkpoint = [&](const model::TreeModel& partial) -> Status {
    KILN_RETURN_IF_ERROR(home->fs().CreateDirs(DirName(checkpoint)));
    return model::SaveModel(home->fs(), checkpoint, partial);
  };
  KILN_ASSIGN_OR_RETURN(model::TreeModel m, learn::TrainGbdt(tin, vx ? &vin : nullptr, o, *ctx));
  const auto t2 = std::chrono::steady_clock::now();
  const std::string model_bytes = model::EncodeModel(m);
  KILN_RETURN_IF_ERROR(AtomicWriteFile(home->fs(), a.out, model_bytes));
  if (*home->fs().Exists(checkpoint)) home->fs().Remove(checkpoint).IgnoreError();
  auto shared = std::make_shared<const model::TreeModel>(std::move(m));
  KILN_ASSIGN_OR_RETURN(auto pred, model::Predictor::Create(shared));
  json result = {{"model", a.out},
                 {"data", train.label},
                 {"objective", model::ObjectiveName(shared->objective)},
                 {"trees", shared->trees.size()},
                 {"best_iteration", shared->best_iteration},
                 {"binning_seconds", std::chrono::duration<double>(t1 - t0).count()},
                 {"train_seconds", std::chrono::duration<double>(t2 - t1).count()}};
  auto final_margins = [&](const learn::BinnedData& bins, const data::Dataset& rows) {
    return bins_exact ? learn::PredictBinned(*pred, bins, *ctx) : Margins(shared, rows, *ctx);
  };
  // The run's final metrics: train.<m>, valid.<m> and the timings.
  std::map<std::string, double> metrics = {{"train_seconds", result["train_seconds"]},
                                           {"binning_seconds", result["binning_seconds"]}};
  KILN_ASSIGN_OR_RETURN(auto train_margins, final_margins(x, train_rows));
  const auto train_metrics = MetricsFromMargins(*shared, train_margins, train_labels);
  result["train_metrics"] = train_metrics;
  for (const auto& [k, v] : train_metrics) metrics["train." + k] = v;
  if (vx) {
    KILN_ASSIGN_OR_RETURN(auto valid_margins, final_margins(*vx, valid_rows));
    const auto valid_metrics = MetricsFromMargins(*shared, valid_margins, valid_labels);
    result["valid_metrics"] = valid_metrics;
    for (const auto& [k, v] : valid_metrics) metrics["valid." + k] = v;
  }
  KILN_ASSIGN_OR_RETURN(std::string artifact, recorder->Finish(model_bytes, metrics));
  result["run_id"] = recorder->id();
  result["experiment"] = a.experiment;
  result["artifact"] = artifact;
  Print(a.json ? result.dump(2)
               : fmt::format("trained {} trees -> {} (run {})\n{}", shared->trees.size(), a.out,
                             recorder->id(), result.dump(2)));
  return 0;
}

// What eval and predict both need: the context, the home, the model, its predictor, the data.
struct Scoring {
  std::unique_ptr<ExecContext> ctx;
  std::unique_ptr<KilnHome> home;
  std::shared_ptr<const model::TreeModel> model;
  std::unique_ptr<model::Predictor> predictor;
  LoadedData data;
};

Result<Scoring> OpenScoring(const GlobalOptions& g, const TrainArgs& a) {
  Scoring s;
  s.ctx = Context(g, 0);
  KILN_ASSIGN_OR_RETURN(s.home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(s.model, LoadModelRef(*s.home, a.model));
  KILN_ASSIGN_OR_RETURN(s.predictor, model::Predictor::Create(s.model));
  KILN_ASSIGN_OR_RETURN(s.data, LoadData(&s.home->datasets(), s.home->fs(), a.data, *s.ctx));
  return s;
}

Result<ExitCode> Eval(const GlobalOptions& g, const TrainArgs& a) {
  KILN_ASSIGN_OR_RETURN(Scoring sc, OpenScoring(g, a));
  const LoadedData& d = sc.data;
  const auto t0 = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(auto scores, ScoreModel(sc.model, d.data, *sc.ctx));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const json metrics = scores;
  json out = {{"model", a.model},
              {"data", d.label},
              {"rows", d.data.num_rows()},
              {"metrics", metrics},
              {"predict_rows_per_second", static_cast<double>(d.data.num_rows()) / seconds}};
  if (a.json) {
    Print(out.dump(2));
  } else {
    std::string text = fmt::format("{} on {} ({} rows)\n", a.model, d.label, d.data.num_rows());
    for (auto& [k, v] : metrics.items())
      text += fmt::format("  {:<10} {:.6f}\n", k, v.get<double>());
    Print(text);
  }
  return 0;
}

Result<ExitCode> Predict(const GlobalOptions& g, const TrainArgs& a) {
  auto ctx = Context(g, 0);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(
      BatchPredictResult r,
      BatchPredict(*home, {a.model, a.data, a.pred_out, a.kind, a.explain}, *ctx));
  Print(a.json ? json{{"rows", r.rows}, {"out", a.pred_out}, {"data", r.data}, {"parts", r.parts}}
                     .dump(2)
               : fmt::format("wrote {} predictions to {}", r.rows, a.pred_out));
  return 0;
}

Result<ExitCode> Inspect(const GlobalOptions& g, const TrainArgs& a) {
  auto fs = NewPosixFileSystem();
  (void)g;
  KILN_ASSIGN_OR_RETURN(auto m, model::LoadModel(*fs, a.model));
  json features = json::array();
  auto pred = model::Predictor::Create(m);
  const auto importance = model::FeatureImportances(*m, pred.ok() ? (*pred)->used_trees() : 0);
  for (size_t i = 0; i < m->features.size(); ++i) {
    const auto& f = m->features[i];
    features.push_back({{"name", f.name},
                        {"categorical", f.categorical},
                        {"bins", f.categorical ? f.categories.size() : f.bin_edges.size()},
                        {"importance",
                         {{"gain", importance[i].gain},
                          {"splits", importance[i].splits},
                          {"cover", importance[i].cover}}}});
  }
  size_t nodes = 0;
  for (const auto& t : m->trees) nodes += t.nodes.size();
  json trees = json::array();
  for (size_t t = 0; a.trees && t < m->trees.size(); ++t) {
    const model::Tree& tree = m->trees[t];
    json tree_nodes = json::array();
    for (const model::Node& n : tree.nodes) {
      if (n.is_leaf()) {
        tree_nodes.push_back({{"leaf", n.value}, {"cover", n.cover}});
        continue;
      }
      json node = {{"feature", m->features[n.feature].name}, {"left", n.left}, {"right", n.right},
                   {"default_left", n.default_left},         {"gain", n.gain}, {"cover", n.cover}};
      if (n.categorical) {
        json cats = json::array();
        for (uint32_t k = n.cat_begin; k < n.cat_end; ++k) {
          cats.push_back(m->features[n.feature].categories[tree.categories[k]]);
        }
        node["categories_left"] = std::move(cats);
      } else {
        node["threshold"] = n.threshold;
      }
      tree_nodes.push_back(std::move(node));
    }
    trees.push_back({{"class_index", tree.class_index}, {"nodes", std::move(tree_nodes)}});
  }
  json out = {{"objective", model::ObjectiveName(m->objective)},
              {"num_classes", m->num_classes},
              {"classes", m->class_labels},
              {"target", m->target},
              {"trees", m->trees.size()},
              {"nodes", nodes},
              {"best_iteration", m->best_iteration},
              {"base_score", m->base_score},
              {"features", features},
              {"params", json::parse(m->params_json, nullptr, false)}};
  if (a.trees) out["trees_json"] = std::move(trees);
  Print(out.dump(2));
  return 0;
}

Result<ExitCode> Import(const GlobalOptions& g, const TrainArgs& a) {
  if (a.import_out.empty() && a.register_name.empty()) {
    return InvalidArgumentError("model import: give --out FILE, --register NAME or both");
  }
  auto fs = NewPosixFileSystem();
  KILN_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(a.model, 1ull << 31));
  KILN_ASSIGN_OR_RETURN(model::TreeModel m, model::ImportXgboostJson(text, a.model));
  if (!a.import_out.empty()) KILN_RETURN_IF_ERROR(model::SaveModel(*fs, a.import_out, m));
  json out{{"trees", m.trees.size()}, {"objective", model::ObjectiveName(m.objective)}};
  std::string said = fmt::format("imported {} trees ({}) from {}", m.trees.size(),
                                 model::ObjectiveName(m.objective), a.model);
  if (!a.import_out.empty()) {
    out["model"] = a.import_out;
    said += " -> " + a.import_out;
  }
  if (!a.register_name.empty()) {
    // The import is a run (experiment "import", the source file's SHA-256 as lineage) whose
    // artifact becomes a new version of the registered model.
    KILN_RETURN_IF_ERROR(ValidateName(a.register_name, "model name"));
    KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
    registry::RunRecord run;
    run.experiment = "import";
    run.params = {{"format", a.from}, {"source", a.model}};
    run.attributes.train_hash = Sha256Hex(text);
    KILN_ASSIGN_OR_RETURN(auto recorder, RunRecorder::Start(home.get(), std::move(run)));
    KILN_RETURN_IF_ERROR(recorder->Finish(model::EncodeModel(m), {}).status());
    registry::ModelVersion mv;
    mv.name = a.register_name;
    mv.run_id = recorder->id();
    mv.description = fmt::format("imported from {}", a.from);
    mv.actor = Actor();
    KILN_ASSIGN_OR_RETURN(registry::ModelVersion v, home->catalog().RegisterModel(mv));
    out["run_id"] = recorder->id();
    out["registered"] = {{"name", v.name}, {"version", v.version}};
    said += fmt::format("; registered {} version {} (run {})", v.name, v.version, recorder->id());
  }
  Print(a.json ? out.dump(2) : said);
  return 0;
}

}  // namespace

void AddTrainCommands(CLI::App& app, const GlobalOptions& g,
                      std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<TrainArgs>();
  auto bind = [run, &g, args](auto handler) {
    return [run, &g, args, handler] { *run = [&g, args, handler] { return handler(g, *args); }; };
  };
  CLI::App* train = app.add_subcommand("train", "train a gradient-boosted tree model");
  train->add_option("--data", args->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  train->add_option("--target", args->target, "label column")->required();
  train->add_option("--task", args->task, "binary|multiclass|regression (default: inferred)")
      ->check(CLI::IsMember({"binary", "multiclass", "regression"}));
  train->add_option("--param", args->params, "k=v training parameter (repeatable)");
  train->add_option("--experiment", args->experiment, "experiment the run belongs to")
      ->default_val("default");
  train->add_option("--run-name", args->run_name, "a name for the run (free text)");
  train->add_option("--metric", args->metric,
                    "validation / early-stopping metric (default: auc, mlogloss, rmse or mae)");
  train->add_flag("--no-curves", args->no_curves,
                  "record no per-iteration curves in the run (final metrics only)");
  train->add_option("--valid", args->valid, "validation dataset NAME[@vN] or file");
  train->add_option("--valid-frac", args->valid_frac,
                    "hold out this fraction (seeded) for validation");
  train->add_option("--out", args->out, "model file (default model.kiln)");
  train->add_option("--init-model", args->init_model,
                    "continue boosting from this model (warm start)");
  train
      ->add_option("--checkpoint-every", args->checkpoint_every,
                   "checkpoint to the kiln home every N iterations (0 = never; default 10)")
      ->check(CLI::Range(0, 1000000));
  train->add_flag("--resume", args->resume,
                  "continue an interrupted run of the same command from its last checkpoint");
  train->add_flag("--json", args->json, "machine-readable output");
  train->callback(bind(Train));

  CLI::App* eval =
      app.add_subcommand("eval", "evaluate a model on a dataset with the target column");
  eval->add_option("--model", args->model, "model file")->required();
  eval->add_option("--data", args->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  eval->add_flag("--json", args->json, "machine-readable output");
  eval->callback(bind(Eval));

  CLI::App* predict = app.add_subcommand("predict", "score a dataset with a model into a CSV file");
  predict->add_option("--model", args->model, "model file")->required();
  predict->add_option("--data", args->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  predict->add_option("--out", args->pred_out, "predictions CSV")->required();
  predict
      ->add_option("--kind", args->kind,
                   "what to write besides `prediction`: probability (default; regression: none), "
                   "margin (raw scores) or leaf (the leaf index in every tree)")
      ->check(CLI::IsMember({"probability", "margin", "leaf"}));
  predict->add_flag("--explain", args->explain,
                    "add TreeSHAP columns shap_<feature> and shap_bias (margin contributions)");
  predict->add_flag("--json", args->json, "machine-readable output");
  predict->callback(bind(Predict));

  CLI::App* model_cmd = app.add_subcommand("model", "inspect model files");
  model_cmd->require_subcommand(1);
  CLI::App* inspect = model_cmd->add_subcommand("inspect", "summary of a model file (JSON)");
  inspect->add_option("file", args->model, "model file")->required();
  inspect->add_flag("--json", args->json, "JSON output (the default)");
  inspect->add_flag("--trees", args->trees,
                    "also dump every tree (nodes with feature, threshold or categories, children, "
                    "gain, cover; leaves with their value): a JSON export of the model");
  inspect->callback(bind(Inspect));
  CLI::App* import = model_cmd->add_subcommand("import", "convert an XGBoost JSON model to kiln");
  import->add_option("file", args->model, "XGBoost model saved with save_model(\"m.json\")")
      ->required();
  import->add_option("--from", args->from, "source format")->check(CLI::IsMember({"xgboost"}));
  import->add_option("--out", args->import_out, "kiln model file");
  import->add_option("--register", args->register_name,
                     "also record the import as a run and register it as a new version of this "
                     "model");
  import->add_flag("--json", args->json, "machine-readable output");
  import->callback(bind(Import));
}

}  // namespace kiln::app
