// `kiln tune` (pipeline/tune.h): flags, the call, the summary.
#include <cstdio>

#include <fmt/format.h>

#include "app/cli.h"
#include "kiln/jobs/operations.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/tune.h"

namespace kiln::app {

namespace {

constexpr uint64_t kMaxSpaceBytes = 1 << 20;

struct TuneArgs {
  pipeline::TuneOptions o;
  std::string space_file;
  bool json = false;
};

std::string TuneText(const pipeline::TuneResult& r) {
  std::string text =
      fmt::format("best trial: run {}  {} {:.6f}\n", r.best_run, r.metric, r.best_score);
  for (const auto& name : r.tuned) {
    auto it = r.best_params.find(name);
    text += fmt::format("  {:<20} {}\n", name, it == r.best_params.end() ? "" : it->second);
  }
  text += fmt::format("{} trials ({} resumed), {} boosting rounds; tune run {}",
                      r.trials_resumed + r.trials_run, r.trials_resumed, r.rounds, r.run_id);
  if (r.registered_version > 0) {
    text += fmt::format("\nregistered {} version {} (run {})", r.registered_name,
                        r.registered_version, r.model_run);
  }
  return text;
}

Result<ExitCode> Tune(const GlobalOptions& g, const TuneArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  pipeline::TuneOptions o = a.o;
  o.actor = pipeline::Actor();
  if (o.resume.empty() && !a.space_file.empty()) {
    KILN_ASSIGN_OR_RETURN(o.settings.space, home->fs().ReadFile(a.space_file, kMaxSpaceBytes));
  }
  if (!a.json) {
    o.on_start = [](const std::string& run) { std::fprintf(stderr, "tune run %s\n", run.c_str()); };
    o.on_trial = [](const pipeline::TrialReport& t) {
      const std::string stopped =
          t.stopped_at > 0 ? fmt::format("  stopped at {}", t.stopped_at) : "";
      std::fprintf(stderr, "trial %3d  %s %.6f  rounds %4d%s  (run %s)\n", t.index,
                   t.metric.c_str(), t.score, t.rounds, stopped.c_str(), t.run_id.c_str());
    };
  }
  KILN_ASSIGN_OR_RETURN(pipeline::TuneResult r, pipeline::Tune(*home, o, ctx));
  if (a.json) {
    PrintJson(pipeline::TuneResultJson(r));
  } else {
    Print(TuneText(r));
  }
  return 0;
}

CLI::App* TuneVerb(CLI::App& parent, TuneArgs* a) {
  CLI::App* t = parent.add_subcommand("tune", "hyperparameter search (TPE or random, ASHA, CV)");
  t->add_option("--data", a->o.settings.data, "dataset NAME[@vN] or a CSV/JSONL file");
  t->add_option("--target", a->o.settings.target, "label column");
  t->add_option("--task", a->o.settings.task, "binary|multiclass|regression (default: inferred)");
  t->add_option("--space", a->space_file,
                "space.yaml: parameter -> {type, low, high, log, values}");
  t->add_option("--trials", a->o.settings.trials, "trials in all (default 20)");
  t->add_option("--parallel", a->o.parallel, "trials at a time (default 1)");
  t->add_option("--sampler", a->o.settings.sampler, "tpe (default) or random");
  t->add_option("--scheduler", a->o.settings.scheduler,
                "asha (default: stop weak trials early) or random (every trial runs in full)");
  t->add_option("--startup", a->o.settings.startup, "random trials before TPE models (default 10)");
  t->add_option("--grace", a->o.settings.grace, "ASHA: rounds of the first rung (default 10)");
  t->add_option("--eta", a->o.settings.eta, "ASHA: reduction factor (default 3)");
  t->add_option("--cv", a->o.settings.cv, "K-fold cross-validation (default: one hold-out split)");
  t->add_option("--valid-frac", a->o.settings.valid_frac,
                "hold-out fraction without --cv (default 0.2)");
  t->add_option("--metric", a->o.settings.metric,
                "metric to optimise (default: auc, mlogloss or rmse)");
  t->add_option("--param", a->o.settings.params, "k=v fixed training parameter (repeatable)");
  t->add_option("--seed", a->o.settings.seed, "seed of samplers and splits (default 42)");
  t->add_option("--experiment", a->o.experiment, "experiment of the runs (default tune)");
  t->add_option("--resume", a->o.resume, "continue the interrupted tune run RUN");
  t->add_option("--register", a->o.register_name, "register the best model under this name");
  t->add_flag("--json", a->json, "machine-readable output");
  return t;
}

}  // namespace

void AddTuneCommand(CLI::App& app, const GlobalOptions& g, std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<TuneArgs>();
  TuneVerb(app, args.get())->callback([&g, run, args] {
    *run = [&g, args] { return Tune(g, *args); };
  });
}

void AddTuneJobVerb(CLI::App& parent, Runner* run, const JobSink& sink) {
  auto args = std::make_shared<TuneArgs>();
  TuneVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args]() -> Result<ExitCode> {
      pipeline::TuneOptions o = args->o;
      // The space travels in the job: the worker may not see this file.
      if (!args->space_file.empty()) {
        auto fs = NewPosixFileSystem();
        KILN_ASSIGN_OR_RETURN(o.settings.space, fs->ReadFile(args->space_file, kMaxSpaceBytes));
      }
      o.settings.data = AbsolutePath(o.settings.data);
      return sink("tune", jobs::Payload(o), args->json);
    };
  });
}

}  // namespace kiln::app
