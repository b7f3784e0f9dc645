// `kiln runs ...` and `kiln models ...`: the tracking and registry verbs, and RunRecorder.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/home.h"
#include "app/model_ops.h"
#include "app/run_recorder.h"
#include "kiln/base/file_lock.h"
#include "kiln/base/names.h"

namespace kiln::app {

using nlohmann::json;
using registry::RunRecord;
using registry::RunStatus;

// --- RunRecorder ---

Result<std::unique_ptr<RunRecorder>> RunRecorder::Start(KilnHome* home, RunRecord run) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  run.attributes.host = host;
  run.attributes.kiln_version = KILN_VERSION;
  run.attributes.build_commit = KILN_GIT_COMMIT;
  KILN_ASSIGN_OR_RETURN(RunRecord created, home->catalog().CreateRun(run));
  return std::unique_ptr<RunRecorder>(new RunRecorder(home, std::move(created)));
}

RunRecorder::~RunRecorder() {
  if (ended_) return;
  home_->catalog()
      .FinishRun(run_.id, RunStatus::kFailed, {}, {}, ResourceUse())
      .IgnoreError();  // best effort: the job's own error is what gets reported
}

void RunRecorder::AddPoint(const std::string& key, int64_t step, double value) {
  registry::Curve& c = curves_[key];
  c.key = key;
  c.steps.push_back(step);
  c.values.push_back(value);
}

registry::RunAttributes RunRecorder::ResourceUse() const {
  registry::RunAttributes a = run_.attributes;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    a.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    a.peak_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  }
  return a;
}

Result<std::string> RunRecorder::Finish(std::string_view artifact,
                                        const std::map<std::string, double>& metrics) {
  // Shared home lock from publishing the object to recording it: GC cannot run in between.
  KILN_ASSIGN_OR_RETURN(auto lock, home_->datasets().Lock(LockMode::kShared));
  std::string object;
  if (!artifact.empty()) {
    KILN_ASSIGN_OR_RETURN(object, home_->datasets().blobs().Put(artifact));
  }
  registry::RunAttributes a = ResourceUse();
  a.artifact = object;
  std::vector<registry::Curve> curves;
  for (auto& [k, c] : curves_) curves.push_back(c);
  KILN_RETURN_IF_ERROR(
      home_->catalog().FinishRun(run_.id, RunStatus::kFinished, metrics, curves, a));
  ended_ = true;
  return object;
}

Status RunRecorder::SetTags(const std::map<std::string, std::string>& tags) {
  return home_->catalog().SetRunTags(run_.id, tags);
}

namespace {

struct RunsArgs {
  std::string experiment, filter, order_by, run, name, description, alias, reason, ref;
  std::string set_alias;
  int64_t limit = 50;
  int64_t version = 0;
  bool json = false;
};

std::string Time(int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

json RunJson(const RunRecord& r) {
  const auto& a = r.attributes;
  return {{"run_id", r.id},
          {"experiment", r.experiment},
          {"name", r.name},
          {"status", registry::RunStatusName(r.status)},
          {"start_ms", r.start_ms},
          {"end_ms", r.end_ms},
          {"params", r.params},
          {"metrics", r.metrics},
          {"tags", r.tags},
          {"attributes",
           {{"train_data", a.train_data},
            {"train_hash", a.train_hash},
            {"valid_data", a.valid_data},
            {"valid_hash", a.valid_hash},
            {"artifact", a.artifact},
            {"kiln_version", a.kiln_version},
            {"build_commit", a.build_commit},
            {"host", a.host},
            {"parent_id", a.parent_id},
            {"cpu_seconds", a.cpu_seconds},
            {"peak_rss_bytes", a.peak_rss_bytes}}}};
}

json VersionJson(const registry::ModelVersion& v) {
  return {{"name", v.name},         {"version", v.version},         {"run_id", v.run_id},
          {"artifact", v.artifact}, {"description", v.description}, {"tags", v.tags},
          {"actor", v.actor},       {"created_ms", v.created_ms},   {"aliases", v.aliases}};
}

Result<ExitCode> RunsList(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto runs,
                        home->catalog().SearchRuns({a.experiment, a.filter, a.order_by, a.limit}));
  if (a.json) {
    json out = json::array();
    for (const auto& r : runs) out.push_back(RunJson(r));
    Print(out.dump(2));
    return 0;
  }
  std::string text = fmt::format("{:<32}  {:<12}  {:<9}  {:<19}  {}\n", "RUN", "EXPERIMENT",
                                 "STATUS", "STARTED (UTC)", "METRICS");
  for (const auto& r : runs) {
    std::string metrics;
    for (const auto& [k, v] : r.metrics) metrics += fmt::format("{}={:.4f} ", k, v);
    text += fmt::format("{:<32}  {:<12}  {:<9}  {:<19}  {}\n", r.id, r.experiment,
                        registry::RunStatusName(r.status), Time(r.start_ms), metrics);
  }
  Print(text + fmt::format("{} run(s)", runs.size()));
  return 0;
}

Result<ExitCode> RunsShow(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(RunRecord r, home->catalog().GetRun(a.run));
  KILN_ASSIGN_OR_RETURN(auto curves, home->catalog().GetCurves(a.run, ""));
  json out = RunJson(r);
  json cj = json::object();
  for (const auto& c : curves) cj[c.key] = {{"steps", c.steps}, {"values", c.values}};
  out["curves"] = cj;
  Print(out.dump(2));
  return 0;
}

Result<ExitCode> RunsDelete(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_RETURN_IF_ERROR(home->catalog().DeleteRun(a.run));
  Print(a.json ? json{{"deleted", a.run}}.dump(2) : fmt::format("deleted run {}", a.run));
  return 0;
}

Result<ExitCode> ModelsRegister(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  registry::ModelVersion mv;
  mv.name = a.name;
  mv.run_id = a.run;
  mv.description = a.description;
  mv.actor = Actor();
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion out, home->catalog().RegisterModel(mv));
  Print(a.json ? VersionJson(out).dump(2)
               : fmt::format("registered {} version {} (run {})", out.name, out.version, a.run));
  return 0;
}

void PrintAliasMove(const registry::AliasEvent& ev, bool as_json) {
  if (as_json) {
    Print(json{
        {"name", ev.name}, {"alias", ev.alias}, {"version", ev.version}, {"previous", ev.previous}}
              .dump(2));
    return;
  }
  const auto version = [](int64_t v) {
    return v == 0 ? std::string("unset") : fmt::format("version {}", v);
  };
  Print(fmt::format("{}@{} -> {} (was {})", ev.name, ev.alias, version(ev.version),
                    version(ev.previous)));
}

Result<ExitCode> ModelsAlias(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto ev, home->catalog().SetAlias(a.name, a.set_alias, a.version, Actor(),
                                                          a.reason, std::nullopt));
  PrintAliasMove(ev, a.json);
  return 0;
}

Result<ExitCode> ModelsRollback(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  auto& c = home->catalog();
  KILN_ASSIGN_OR_RETURN(int64_t current, c.ResolveAlias(a.name, a.alias));
  KILN_ASSIGN_OR_RETURN(auto history, c.AliasHistory(a.name));
  // The version the alias pointed to before it came to `current`.
  int64_t target = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->alias == a.alias && it->version == current) {
      target = it->previous;
      break;
    }
  }
  if (target == 0) {
    return FailedPreconditionError(
        fmt::format("{}@{} has no earlier version to roll back to", a.name, a.alias));
  }
  const std::string reason = a.reason.empty() ? "rollback" : a.reason;
  KILN_ASSIGN_OR_RETURN(auto ev, c.SetAlias(a.name, a.alias, target, Actor(), reason, current));
  PrintAliasMove(ev, a.json);
  return 0;
}

Result<ExitCode> ModelsList(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto models, home->catalog().ListModels());
  if (a.json) {
    json out = json::array();
    for (const auto& m : models) {
      out.push_back({{"name", m.name},
                     {"latest_version", m.latest_version},
                     {"versions", m.versions},
                     {"aliases", m.aliases}});
    }
    Print(out.dump(2));
    return 0;
  }
  std::string text = fmt::format("{:<24}  {:>7}  {}\n", "MODEL", "LATEST", "ALIASES");
  for (const auto& m : models) {
    std::string aliases;
    for (const auto& [k, v] : m.aliases) aliases += fmt::format("{}=v{} ", k, v);
    text += fmt::format("{:<24}  {:>7}  {}\n", m.name, m.latest_version, aliases);
  }
  Print(text + fmt::format("{} model(s)", models.size()));
  return 0;
}

Result<ExitCode> ModelsShow(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  auto& c = home->catalog();
  KILN_ASSIGN_OR_RETURN(auto ref, ResolveModelRef(c, a.ref));
  if (ref.second == 0) {  // a bare name: every version
    KILN_ASSIGN_OR_RETURN(auto versions, c.ListModelVersions(ref.first));
    json out = json::array();
    for (const auto& v : versions) out.push_back(VersionJson(v));
    KILN_ASSIGN_OR_RETURN(auto gates, c.GateReports(ref.first));
    json reports = json::array();
    for (const auto& r : gates) {
      json report = json::parse(r.report_json, nullptr, false);
      report["report_id"] = r.id;
      report["at_ms"] = r.at_ms;
      report["actor"] = r.actor;
      reports.push_back(std::move(report));
    }
    Print(json{{"name", ref.first}, {"versions", out}, {"gate_reports", reports}}.dump(2));
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto v, c.GetModelVersion(ref.first, ref.second));
  Print(VersionJson(v).dump(2));
  return 0;
}

Result<ExitCode> ModelsHistory(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto history, home->catalog().AliasHistory(a.name));
  if (a.json) {
    json out = json::array();
    for (const auto& e : history) {
      out.push_back({{"seq", e.seq},
                     {"alias", e.alias},
                     {"version", e.version},
                     {"previous", e.previous},
                     {"at_ms", e.at_ms},
                     {"actor", e.actor},
                     {"reason", e.reason}});
    }
    Print(out.dump(2));
    return 0;
  }
  std::string text;
  for (const auto& e : history) {
    text += fmt::format("{}  {:<12} v{} -> {}  by {}  {}\n", Time(e.at_ms), e.alias, e.previous,
                        e.version == 0 ? std::string("(removed)") : "v" + std::to_string(e.version),
                        e.actor, e.reason);
  }
  Print(text + fmt::format("{} alias move(s)", history.size()));
  return 0;
}

}  // namespace

void AddRunsCommands(CLI::App& app, const GlobalOptions& g,
                     std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<RunsArgs>();
  auto bind = [&g, run, args](Result<ExitCode> (*fn)(const GlobalOptions&, const RunsArgs&)) {
    return [&g, run, args, fn] { *run = [&g, args, fn] { return fn(g, *args); }; };
  };
  CLI::App* runs = app.add_subcommand("runs", "experiment runs: list, show, delete");
  runs->require_subcommand(1);
  CLI::App* list = runs->add_subcommand("list", "list runs, newest first");
  list->add_option("--experiment", args->experiment, "only this experiment");
  list->add_option("--filter", args->filter,
                   "e.g. \"metrics.auc > 0.8 and (params.max_depth in (6, 8) or tags.team = "
                   "'risk')\"");
  list->add_option("--order-by", args->order_by, "e.g. \"metrics.auc desc\"");
  list->add_option("--limit", args->limit, "at most this many runs (default 50)");
  list->add_flag("--json", args->json, "machine-readable output");
  list->callback(bind(RunsList));
  CLI::App* show = runs->add_subcommand("show", "one run: params, metrics, curves, lineage (JSON)");
  show->add_option("run", args->run, "run id")->required();
  show->callback(bind(RunsShow));
  CLI::App* del = runs->add_subcommand("delete", "delete a run (not one a model version uses)");
  del->add_option("run", args->run, "run id")->required();
  del->add_flag("--json", args->json, "machine-readable output");
  del->callback(bind(RunsDelete));

  CLI::App* models = app.add_subcommand("models", "the model registry");
  models->require_subcommand(1);
  CLI::App* reg = models->add_subcommand("register", "register a run's model as a new version");
  reg->add_option("run", args->run, "run id")->required();
  reg->add_option("--name", args->name, "model name")->required();
  reg->add_option("--description", args->description, "free text");
  reg->add_flag("--json", args->json, "machine-readable output");
  reg->callback(bind(ModelsRegister));
  CLI::App* alias = models->add_subcommand("alias", "point an alias at a version (0 removes it)");
  alias->add_option("name", args->name, "model name")->required();
  alias->add_option("version", args->version, "version number")->required();
  alias->add_option("--set", args->set_alias, "alias: production, staging, canary, ...")
      ->required();
  alias->add_option("--reason", args->reason, "recorded in the alias history");
  alias->add_flag("--json", args->json, "machine-readable output");
  alias->callback(bind(ModelsAlias));
  CLI::App* rollback =
      models->add_subcommand("rollback", "move an alias back to its previous version");
  rollback->add_option("name", args->name, "model name")->required();
  rollback->add_option("--alias", args->alias, "alias (default production)")
      ->default_val("production");
  rollback->add_option("--reason", args->reason, "recorded in the alias history");
  rollback->add_flag("--json", args->json, "machine-readable output");
  rollback->callback(bind(ModelsRollback));
  CLI::App* mlist = models->add_subcommand("list", "registered models with their aliases");
  mlist->add_flag("--json", args->json, "machine-readable output");
  mlist->callback(bind(ModelsList));
  CLI::App* mshow = models->add_subcommand("show", "NAME (all versions), NAME:k or NAME@alias");
  mshow->add_option("ref", args->ref, "model reference")->required();
  mshow->callback(bind(ModelsShow));
  CLI::App* hist = models->add_subcommand("history", "every alias move of a model");
  hist->add_option("name", args->name, "model name")->required();
  hist->add_flag("--json", args->json, "machine-readable output");
  hist->callback(bind(ModelsHistory));
  AddPromoteCommand(models, g, run);
}

}  // namespace kiln::app
