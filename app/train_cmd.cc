// `kiln train`, `kiln predict`, `kiln eval`, `kiln model inspect`: flag parsing and wiring.
#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "kiln/jobs/operations.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "kiln/model/shap.h"
#include "kiln/pipeline/batch_predict.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/train.h"

namespace kiln::app {

using nlohmann::json;

namespace {

struct TrainArgs {
  pipeline::TrainOptions train;
  std::vector<std::string> tags;
  std::string model, data, pred_out, kind = "probability";
  pipeline::ImportOptions import;
  bool no_curves = false;
  bool json = false;
  bool explain = false;
  bool drift = false;
  bool trees = false;
};

// "k=v" flags -> a map; InvalidArgument naming the flag.
Result<std::map<std::string, std::string>> KeyValues(const std::vector<std::string>& kvs,
                                                     const std::string& flag) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgumentError(fmt::format("{} expects KEY=VALUE, not '{}'", flag, kv));
    }
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// The options of `kiln train` as given on the command line.
Result<pipeline::TrainOptions> TrainOptionsOf(const TrainArgs& a) {
  pipeline::TrainOptions o = a.train;
  KILN_ASSIGN_OR_RETURN(o.tags, KeyValues(a.tags, "--tag"));
  o.record_curves = !a.no_curves;
  return o;
}

std::string TrainText(const pipeline::TrainResult& r) {
  std::string text = fmt::format("trained {} trees on {} (run {})", r.trees, r.data, r.run_id);
  if (!r.out.empty()) text += fmt::format(" -> {}", r.out);
  text += fmt::format("\n  objective {}, best iteration {}, {:.2f} s binning, {:.2f} s training",
                      r.objective, r.best_iteration + 1, r.binning_seconds, r.train_seconds);
  for (const auto& [set, metrics] :
       {std::pair{"train", &r.train_metrics}, std::pair{"valid", &r.valid_metrics}}) {
    for (const auto& [k, v] : *metrics) text += fmt::format("\n  {}.{:<10} {:.6f}", set, k, v);
  }
  if (r.registered_version > 0) {
    text += fmt::format("\nregistered {} version {}", r.registered_name, r.registered_version);
  }
  return text;
}

Result<ExitCode> Train(const GlobalOptions& g, const TrainArgs& a) {
  KILN_ASSIGN_OR_RETURN(pipeline::TrainOptions o, TrainOptionsOf(a));
  o.actor = pipeline::Actor();
  if (!a.json) {
    o.on_iteration = [](const learn::IterationLog& log) {
      std::string line = fmt::format("[{:4}]", log.iteration + 1);
      if (log.valid) {
        line += fmt::format("  valid {} {:.6f}  (best [{}])", log.metric, *log.valid,
                            log.best_iteration + 1);
      }
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  // `--out -`: the model goes to stdout, the summary to stderr.
  const bool to_stdout = o.out == "-";
  if (to_stdout) o.out.clear();
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(pipeline::TrainResult r, pipeline::Train(*home, o, ctx));
  for (const auto& s : r.skipped_columns) {
    std::fprintf(stderr, "note: skipping string column '%s'\n", s.c_str());
  }
  if (to_stdout) {
    KILN_ASSIGN_OR_RETURN(std::string model, home->datasets().blobs().Read(
                                                 r.artifact, Limits::Default().max_model_bytes));
    std::fwrite(model.data(), 1, model.size(), stdout);
    std::fflush(stdout);
    const std::string summary = a.json ? pipeline::TrainResultJson(r) : TrainText(r);
    std::fprintf(stderr, "%s\n", summary.c_str());
    return 0;
  }
  if (a.json) {
    PrintJson(pipeline::TrainResultJson(r));
  } else {
    Print(TrainText(r));
  }
  return 0;
}

Result<ExitCode> Eval(const GlobalOptions& g, const TrainArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(pipeline::EvalResult r, pipeline::Evaluate(*home, {a.model, a.data}, ctx));
  if (a.json) {
    PrintJson(pipeline::EvalResultJson(r));
    return 0;
  }
  std::string text = fmt::format("{} on {} ({} rows)\n", r.model, r.data, r.rows);
  for (const auto& [k, v] : r.metrics) text += fmt::format("  {:<10} {:.6f}\n", k, v);
  Print(text);
  return 0;
}

Result<ExitCode> Predict(const GlobalOptions& g, const TrainArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(pipeline::BatchPredictResult r,
                        pipeline::BatchPredict(
                            *home, {a.model, a.data, a.pred_out, a.kind, a.explain, a.drift}, ctx));
  if (a.json) {
    PrintJson(pipeline::BatchPredictResultJson(r, a.pred_out));
    return 0;
  }
  Print(fmt::format("wrote {} predictions to {}", r.rows, a.pred_out));
  if (a.drift) {
    Print(r.drift ? "drift against the model's training reference:\n" +
                        DriftReportText(pipeline::DriftReportJson(*r.drift))
                  : std::string("no drift: the model carries no reference (retrain it with kiln "
                                "train)"));
  }
  return 0;
}

// `model inspect --json`: the summary, and with --trees every node.
json InspectJson(const model::TreeModel& m, const std::vector<model::Importance>& importance,
                 bool trees_too) {
  json features = json::array();
  for (size_t i = 0; i < m.features.size(); ++i) {
    const auto& f = m.features[i];
    features.push_back({{"name", f.name},
                        {"categorical", f.categorical},
                        {"bins", f.categorical ? f.categories.size() : f.bin_edges.size()},
                        {"importance",
                         {{"gain", importance[i].gain},
                          {"splits", importance[i].splits},
                          {"cover", importance[i].cover}}}});
  }
  size_t nodes = 0;
  for (const auto& t : m.trees) nodes += t.nodes.size();
  json trees = json::array();
  for (size_t t = 0; trees_too && t < m.trees.size(); ++t) {
    const model::Tree& tree = m.trees[t];
    json tree_nodes = json::array();
    for (const model::Node& n : tree.nodes) {
      if (n.is_leaf()) {
        tree_nodes.push_back({{"leaf", n.value}, {"cover", n.cover}});
        continue;
      }
      json node = {{"feature", m.features[n.feature].name}, {"left", n.left}, {"right", n.right},
                   {"default_left", n.default_left},        {"gain", n.gain}, {"cover", n.cover}};
      if (n.categorical) {
        json cats = json::array();
        for (uint32_t k = n.cat_begin; k < n.cat_end; ++k) {
          cats.push_back(m.features[n.feature].categories[tree.categories[k]]);
        }
        node["categories_left"] = std::move(cats);
      } else {
        node["threshold"] = n.threshold;
      }
      tree_nodes.push_back(std::move(node));
    }
    trees.push_back({{"class_index", tree.class_index}, {"nodes", std::move(tree_nodes)}});
  }
  json out = {{"objective", model::ObjectiveName(m.objective)},
              {"num_classes", m.num_classes},
              {"classes", m.class_labels},
              {"target", m.target},
              {"trees", m.trees.size()},
              {"nodes", nodes},
              {"best_iteration", m.best_iteration},
              {"base_score", m.base_score},
              {"features", features},
              {"params", json::parse(m.params_json, nullptr, false)}};
  if (!m.reference.empty()) {
    const auto& r = m.reference;
    out["reference"] = {{"data", r.data},
                        {"rows", r.rows},
                        {"score_data", r.score_data},
                        {"score_counts", r.score_counts},
                        {"valid_metrics", r.valid_metrics}};
  }
  if (trees_too) out["trees_json"] = std::move(trees);
  return out;
}

std::string InspectText(const std::string& file, const model::TreeModel& m,
                        const std::vector<model::Importance>& importance) {
  size_t nodes = 0;
  for (const auto& t : m.trees) nodes += t.nodes.size();
  std::string classes;
  for (const auto& c : m.class_labels) classes += (classes.empty() ? "" : ", ") + c;
  std::string text = fmt::format(
      "{}: {}{}, target {}\n{} trees, {} nodes, best iteration {}, base score {:.6g}\n", file,
      model::ObjectiveName(m.objective),
      classes.empty() ? "" : fmt::format(" ({} classes: {})", m.class_labels.size(), classes),
      m.target.empty() ? "-" : m.target, m.trees.size(), nodes, m.best_iteration,
      fmt::join(m.base_score, ", "));
  std::vector<size_t> order(m.features.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return importance[x].gain > importance[y].gain; });
  text += fmt::format("{:<24}  {:<11}  {:>5}  {:>12}  {:>6}\n", "FEATURE (by gain)", "TYPE", "BINS",
                      "GAIN", "SPLITS");
  for (size_t i : order) {
    const auto& f = m.features[i];
    text += fmt::format("{:<24}  {:<11}  {:>5}  {:>12.6g}  {:>6}\n", f.name,
                        f.categorical ? "categorical" : "numeric",
                        f.categorical ? f.categories.size() : f.bin_edges.size(),
                        importance[i].gain, importance[i].splits);
  }
  if (m.reference.empty()) {
    text += "no drift reference (an imported or older model)\n";
  } else {
    std::string metrics;
    for (const auto& [k, v] : m.reference.valid_metrics) metrics += fmt::format(" {}={:.4g}", k, v);
    text += fmt::format("drift reference: {} rows of {}{}\n", m.reference.rows,
                        m.reference.data.empty() ? "the training data" : m.reference.data,
                        metrics.empty() ? "" : ", validation" + metrics);
  }
  return text + "parameters and every tree: --json [--trees]";
}

Result<ExitCode> Inspect(const GlobalOptions& g, const TrainArgs& a) {
  auto fs = NewPosixFileSystem();
  (void)g;
  KILN_ASSIGN_OR_RETURN(auto m, model::LoadModel(*fs, a.model));
  auto pred = model::Predictor::Create(m);
  const auto importance = model::FeatureImportances(*m, pred.ok() ? (*pred)->used_trees() : 0);
  if (a.json || a.trees) {
    Print(InspectJson(*m, importance, a.trees).dump(2));
  } else {
    Print(InspectText(a.model, *m, importance));
  }
  return 0;
}

Result<ExitCode> Import(const GlobalOptions& g, const TrainArgs& a) {
  pipeline::ImportOptions o = a.import;
  o.file = a.model;
  o.actor = pipeline::Actor();
  std::unique_ptr<pipeline::Home> home;
  if (!o.register_name.empty() || !o.reference_data.empty()) {
    KILN_ASSIGN_OR_RETURN(home, OpenHome(g));
  }
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(pipeline::ImportResult r, pipeline::ImportModel(home.get(), o, ctx));
  if (a.json) {
    PrintJson(pipeline::ImportResultJson(r));
    return 0;
  }
  std::string said = fmt::format("imported {} trees ({}) from {}", r.trees, r.objective, o.file);
  if (!r.out.empty()) said += " -> " + r.out;
  if (r.registered_version > 0) {
    said += fmt::format("; registered {} version {} (run {})", r.registered_name,
                        r.registered_version, r.run_id);
  }
  Print(said);
  return 0;
}

CLI::App* TrainVerb(CLI::App& parent, TrainArgs* a) {
  CLI::App* train = parent.add_subcommand("train", "train a gradient-boosted tree model");
  train->add_option("--data", a->train.data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  train->add_option("--target", a->train.target, "label column")->required();
  train->add_option("--task", a->train.task, "binary|multiclass|regression (default: inferred)")
      ->check(CLI::IsMember({"binary", "multiclass", "regression"}));
  train->add_option("--param", a->train.params, "k=v training parameter (repeatable)");
  train->add_option("--feature", a->train.features,
                    "train on exactly these columns (repeatable; default: every usable column)");
  train->add_option("--experiment", a->train.experiment, "experiment the run belongs to")
      ->default_val("default");
  train->add_option("--run-name", a->train.run_name, "a name for the run (free text)");
  train->add_option("--metric", a->train.metric,
                    "validation / early-stopping metric (default: auc, mlogloss, rmse or mae)");
  train->add_flag("--no-curves", a->no_curves,
                  "record no per-iteration curves in the run (final metrics only)");
  train->add_option("--valid", a->train.valid, "validation dataset NAME[@vN] or file");
  train->add_option("--valid-frac", a->train.valid_frac,
                    "hold out this fraction (seeded) for validation");
  train->add_option("--out", a->train.out,
                    "also write the model to this file, '-' for stdout (it is always kept in the "
                    "run)");
  train->add_option("--register", a->train.register_name,
                    "register the model as a new version of this registered model");
  train->add_option("--tag", a->tags, "k=v tag recorded on the run (repeatable)");
  train->add_option("--init-model", a->train.init_model,
                    "continue boosting from this model (warm start)");
  train
      ->add_option("--checkpoint-every", a->train.checkpoint_every,
                   "checkpoint to the kiln home every N iterations (0 = never; default 10)")
      ->check(CLI::Range(0, 1000000));
  train->add_flag("--resume", a->train.resume,
                  "continue an interrupted run of the same command from its last checkpoint");
  train->add_flag("--json", a->json, "machine-readable output");
  return train;
}

CLI::App* EvalVerb(CLI::App& parent, TrainArgs* a) {
  CLI::App* eval =
      parent.add_subcommand("eval", "evaluate a model on a dataset with the target column");
  eval->add_option("--model", a->model, "model file, NAME@ALIAS, NAME:VERSION or a run id")
      ->required();
  eval->add_option("--data", a->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  eval->add_flag("--json", a->json, "machine-readable output");
  return eval;
}

CLI::App* PredictVerb(CLI::App& parent, TrainArgs* a) {
  CLI::App* predict =
      parent.add_subcommand("predict", "score a dataset with a model into a CSV file");
  predict->add_option("--model", a->model, "model file, NAME@ALIAS, NAME:VERSION or a run id")
      ->required();
  predict->add_option("--data", a->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  predict->add_option("--out", a->pred_out, "predictions CSV")->required();
  predict
      ->add_option("--kind", a->kind,
                   "what to write besides `prediction`: probability (default; regression: none), "
                   "margin (raw scores) or leaf (the leaf index in every tree)")
      ->check(CLI::IsMember({"probability", "margin", "leaf"}));
  predict->add_flag("--explain", a->explain,
                    "add TreeSHAP columns shap_<feature> and shap_bias (margin contributions)");
  predict->add_flag("--drift", a->drift,
                    "also measure the rows' drift against the model's training reference");
  predict->add_flag("--json", a->json, "machine-readable output");
  return predict;
}

}  // namespace

void AddTrainCommands(CLI::App& app, const GlobalOptions& g,
                      std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<TrainArgs>();
  auto bind = [run, &g, args](auto handler) {
    return [run, &g, args, handler] { *run = [&g, args, handler] { return handler(g, *args); }; };
  };
  TrainVerb(app, args.get())->callback(bind(Train));
  EvalVerb(app, args.get())->callback(bind(Eval));
  PredictVerb(app, args.get())->callback(bind(Predict));

  CLI::App* model_cmd = app.add_subcommand("model", "inspect model files");
  model_cmd->require_subcommand(1);
  CLI::App* inspect = model_cmd->add_subcommand("inspect", "summary of a model file");
  inspect->add_option("file", args->model, "model file")->required();
  inspect->add_flag("--json", args->json, "machine-readable output (with the parameters)");
  inspect->add_flag(
      "--trees", args->trees,
      "also dump every tree (nodes with feature, threshold or categories, children, "
      "gain, cover; leaves with their value): a JSON export of the model (implies --json)");
  inspect->callback(bind(Inspect));
  CLI::App* import = model_cmd->add_subcommand("import", "convert an XGBoost JSON model to kiln");
  import->add_option("file", args->model, "XGBoost model saved with save_model(\"m.json\")")
      ->required();
  import->add_option("--from", args->import.from, "source format")
      ->check(CLI::IsMember({"xgboost"}));
  import->add_option("--out", args->import.out, "kiln model file");
  import->add_option("--reference-data", args->import.reference_data,
                     "dataset version NAME@vN to take the drift reference from (the rows the "
                     "model was trained on, or like them)");
  import->add_option("--register", args->import.register_name,
                     "also record the import as a run and register it as a new version of this "
                     "model");
  import->add_flag("--json", args->json, "machine-readable output");
  import->callback(bind(Import));
}

void AddTrainJobVerbs(CLI::App& parent, Runner* run, const JobSink& sink) {
  auto args = std::make_shared<TrainArgs>();
  TrainVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args]() -> Result<ExitCode> {
      KILN_ASSIGN_OR_RETURN(pipeline::TrainOptions o, TrainOptionsOf(*args));
      if (o.resume) return InvalidArgumentError("a train job resumes by itself: drop --resume");
      if (o.out == "-") return InvalidArgumentError("a job has no stdout: give --out a file");
      for (std::string* path : {&o.data, &o.valid, &o.init_model, &o.out}) {
        *path = AbsolutePath(*path);
      }
      return sink("train", jobs::Payload(o), args->json);
    };
  });
  EvalVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args] {
      return sink(
          "eval",
          jobs::Payload(pipeline::EvalOptions{AbsolutePath(args->model), AbsolutePath(args->data)}),
          args->json);
    };
  });
  PredictVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args] {
      pipeline::BatchPredictOptions o{AbsolutePath(args->model),
                                      AbsolutePath(args->data),
                                      AbsolutePath(args->pred_out),
                                      args->kind,
                                      args->explain,
                                      args->drift};
      return sink("predict", jobs::Payload(o), args->json);
    };
  });
}

}  // namespace kiln::app
