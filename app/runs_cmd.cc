// `kiln runs ...` and `kiln models ...`: the tracking and registry verbs.
#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/curve_plot.h"
#include "app/data_output.h"
#include "kiln/api/control_plane.h"
#include "kiln/pipeline/home.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/run_recorder.h"

namespace kiln::app {

using nlohmann::json;
using registry::RunRecord;
using registry::RunStatus;

namespace {

struct RunsArgs {
  std::string experiment, filter, order_by, run, name, description, alias, reason, ref;
  std::string set_alias, plot;
  std::vector<std::string> runs, curves;
  int64_t points = 10;
  int64_t limit = 50;
  int64_t version = 0;
  bool json = false;
};

Result<ExitCode> RunsList(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  pipeline::ReapKilledRuns(home.get()).status().IgnoreError();  // best effort: listing still works
  const registry::RunQuery query{a.experiment, a.filter, a.order_by, a.limit};
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string listed, api::ListRuns(home->catalog(), query));
    PrintJson(listed);
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto runs, home->catalog().SearchRuns(query));
  std::string text = fmt::format("{:<32}  {:<12}  {:<9}  {:<20}  {}\n", "RUN", "EXPERIMENT",
                                 "STATUS", "STARTED (UTC)", "METRICS");
  for (const auto& r : runs) {
    std::string metrics;
    for (const auto& [k, v] : r.metrics) metrics += fmt::format("{}={:.4f} ", k, v);
    text += fmt::format("{:<32}  {:<12}  {:<9}  {:<20}  {}\n", r.id, r.experiment,
                        registry::RunStatusName(r.status), TimeText(r.start_ms), metrics);
  }
  Print(text + fmt::format("{} run(s)", runs.size()));
  return 0;
}

// "  key  value" lines, keys aligned; "" when the map is empty.
template <typename Map, typename Format>
std::string Block(std::string_view title, const Map& m, Format value) {
  if (m.empty()) return "";
  size_t width = 0;
  for (const auto& [k, v] : m) width = std::max(width, k.size());
  std::string text = fmt::format("{}:\n", title);
  for (const auto& [k, v] : m) text += fmt::format("  {:<{}}  {}\n", k, width, value(v));
  return text;
}

std::string RunText(const RunRecord& r, const std::vector<registry::Curve>& curves) {
  const auto& at = r.attributes;
  std::string text = fmt::format("run {}{}  experiment {}  {}\n", r.id,
                                 r.name.empty() ? "" : fmt::format(" ({})", r.name), r.experiment,
                                 registry::RunStatusName(r.status));
  text += fmt::format("started {}  ended {}", TimeText(r.start_ms), TimeText(r.end_ms));
  if (r.end_ms >= r.start_ms && r.end_ms != 0) {
    text += fmt::format("  ({:.1f} s, {:.1f} s CPU, peak {:.0f} MiB)",
                        static_cast<double>(r.end_ms - r.start_ms) / 1000, at.cpu_seconds,
                        static_cast<double>(at.peak_rss_bytes) / (1 << 20));
  }
  text += "\n";
  std::map<std::string, std::string> lineage;
  if (!at.train_data.empty()) lineage["train"] = at.train_data;
  if (!at.valid_data.empty()) lineage["valid"] = at.valid_data;
  if (!at.parent_id.empty()) lineage["parent run"] = at.parent_id;
  if (!at.artifact.empty()) lineage["model"] = at.artifact.substr(0, 16);
  if (!at.host.empty())
    lineage["built on"] = fmt::format("{} by kiln {}", at.host, at.kiln_version);
  auto same = [](const std::string& v) { return v; };
  text += Block("lineage", lineage, same);
  text += Block("params", r.params, same);
  text += Block("metrics", r.metrics, [](double v) { return fmt::format("{:.6g}", v); });
  text += Block("tags", r.tags, same);
  std::map<std::string, std::string> curve_text;
  for (const auto& c : curves) {
    curve_text[c.key] =
        c.values.empty() ? "no points"
                         : fmt::format("{} points, last {:.6g}", c.values.size(), c.values.back());
  }
  text += Block("curves", curve_text, same);
  return text.substr(0, text.size() - 1);
}

Result<ExitCode> RunsShow(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  pipeline::ReapKilledRuns(home.get()).status().IgnoreError();  // best effort: listing still works
  KILN_ASSIGN_OR_RETURN(std::string run, registry::ResolveRunRef(home->catalog(), a.run));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string shown, api::ShowRun(home->catalog(), run));
    PrintJson(shown);
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(RunRecord r, home->catalog().GetRun(run));
  KILN_ASSIGN_OR_RETURN(auto curves, home->catalog().GetCurves(run, ""));
  Print(RunText(r, curves));
  return 0;
}

// --- runs compare ---

constexpr size_t kMaxCompared = 16;

constexpr size_t kLabelWidth = 22, kCellWidth = 24;

// `s` cut to `width` characters, "~" marking a cut.
std::string Cell(std::string s, size_t width) {
  if (s.size() > width) s = s.substr(0, width - 1) + "~";
  return s;
}

std::string ShortId(const RunRecord& r) { return r.id.substr(0, 8); }

std::string MetricText(double v) { return fmt::format("{:.6g}", v); }

// One row of a side-by-side table: the label, then one column per run.
std::string Row(const std::string& mark, const std::string& label,
                const std::vector<std::string>& cells) {
  std::string line = fmt::format("{:<2}{:<{}}", mark, Cell(label, kLabelWidth), kLabelWidth);
  for (const auto& c : cells) line += fmt::format("  {:<{}}", Cell(c, kCellWidth), kCellWidth);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

// Rows for one key space (params or metrics): every key any run has, `*` where runs differ.
template <typename Map, typename F>
std::string KeyRows(const std::vector<RunRecord>& runs, Map RunRecord::*field, F&& text) {
  std::set<std::string> keys;
  for (const auto& r : runs) {
    for (const auto& [k, v] : r.*field) keys.insert(k);
  }
  std::string out;
  for (const auto& k : keys) {
    std::vector<std::string> cells;
    for (const auto& r : runs) {
      auto it = (r.*field).find(k);
      cells.push_back(it == (r.*field).end() ? "-" : text(it->second));
    }
    const bool differs =
        std::adjacent_find(cells.begin(), cells.end(), std::not_equal_to<>()) != cells.end();
    out += Row(differs ? "*" : "", k, cells);
  }
  return out;
}

// Up to `points` steps spread evenly over the union of the runs' steps for one curve key,
// the first and last always included.
std::vector<int64_t> SampleSteps(const std::vector<const registry::Curve*>& curves, size_t points) {
  std::set<int64_t> all;
  for (const auto* c : curves) {
    if (c) all.insert(c->steps.begin(), c->steps.end());
  }
  std::vector<int64_t> steps(all.begin(), all.end());
  if (steps.size() <= points) return steps;
  std::vector<int64_t> out;
  for (size_t i = 0; i < points; ++i) out.push_back(steps[i * (steps.size() - 1) / (points - 1)]);
  return out;
}

// The runs being compared and their curves (only those --curve names, if any).
struct Compared {
  std::vector<RunRecord> runs;
  std::vector<std::map<std::string, registry::Curve>> curves;  // per run, by key
  std::set<std::string> keys;
  // The curves of one key across the runs (null where a run lacks it).
  std::vector<const registry::Curve*> Across(const std::string& key) const {
    std::vector<const registry::Curve*> out;
    for (const auto& m : curves) {
      auto it = m.find(key);
      out.push_back(it == m.end() ? nullptr : &it->second);
    }
    return out;
  }
};

Result<Compared> LoadCompared(pipeline::Home& home, const RunsArgs& a) {
  Compared c;
  c.curves.resize(a.runs.size());
  for (size_t i = 0; i < a.runs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(RunRecord r, home.catalog().GetRun(a.runs[i]));
    KILN_ASSIGN_OR_RETURN(auto got, home.catalog().GetCurves(a.runs[i], ""));
    for (auto& curve : got) {
      if (!a.curves.empty() &&
          std::find(a.curves.begin(), a.curves.end(), curve.key) == a.curves.end()) {
        continue;
      }
      c.keys.insert(curve.key);
      c.curves[i][curve.key] = std::move(curve);
    }
    c.runs.push_back(std::move(r));
  }
  for (const auto& k : a.curves) {
    if (!c.keys.count(k)) {
      return NotFoundError(fmt::format("none of the runs has a curve '{}'", k.substr(0, 64)));
    }
  }
  return c;
}

Status WritePlot(pipeline::Home& home, const Compared& c, const std::string& path,
                 PlotFormat format) {
  std::vector<PlotPanel> panels;
  for (const auto& key : c.keys) {
    PlotPanel p{key, {}};
    const auto cs = c.Across(key);
    for (size_t i = 0; i < c.runs.size(); ++i) {
      const std::string label =
          ShortId(c.runs[i]) + (c.runs[i].name.empty() ? "" : " " + c.runs[i].name);
      p.series.push_back({label, cs[i]});
    }
    panels.push_back(std::move(p));
  }
  KILN_ASSIGN_OR_RETURN(std::string bytes, RenderCurvePlot(panels, format));
  return AtomicWriteFile(home.fs(), path, bytes);
}

// The runs side by side: who they are, params, metrics, then each curve at sampled steps.
std::string CompareText(const Compared& c, int64_t points) {
  auto column = [&](const std::function<std::string(const RunRecord&)>& f) {
    std::vector<std::string> cells;
    for (const auto& r : c.runs) cells.push_back(f(r));
    return cells;
  };
  const std::pair<const char*, std::function<std::string(const RunRecord&)>> header[] = {
      {"run", ShortId},
      {"name", [](const RunRecord& r) { return r.name.empty() ? "-" : r.name; }},
      {"experiment", [](const RunRecord& r) { return r.experiment; }},
      {"status", [](const RunRecord& r) { return std::string(registry::RunStatusName(r.status)); }},
      {"started (UTC)", [](const RunRecord& r) { return TimeText(r.start_ms); }},
      {"duration",
       [](const RunRecord& r) {
         return r.end_ms ? fmt::format("{:.2f} s", (r.end_ms - r.start_ms) / 1000.0)
                         : std::string("-");
       }},
      {"train data",
       [](const RunRecord& r) {
         return r.attributes.train_data.empty() ? "-" : r.attributes.train_data;
       }},
  };
  std::string text;
  for (const auto& [label, field] : header) text += Row("", label, column(field));
  text += "\nparams (* = differs)\n";
  text += KeyRows(c.runs, &RunRecord::params, [](const std::string& v) { return v; });
  text += "\nmetrics\n";
  text += KeyRows(c.runs, &RunRecord::metrics, MetricText);
  for (const auto& key : c.keys) {
    const auto cs = c.Across(key);
    text += fmt::format("\ncurve {}\n", key);
    text += Row("", "step", column(ShortId));
    for (int64_t step : SampleSteps(cs, static_cast<size_t>(points))) {
      std::vector<std::string> cells;
      for (const auto* curve : cs) {
        std::string cell = "-";
        if (curve) {
          auto it = std::find(curve->steps.begin(), curve->steps.end(), step);
          if (it != curve->steps.end()) {
            cell = MetricText(curve->values[static_cast<size_t>(it - curve->steps.begin())]);
          }
        }
        cells.push_back(cell);
      }
      text += Row("", std::to_string(step), cells);
    }
  }
  return text;
}

Result<ExitCode> RunsCompare(const GlobalOptions& g, const RunsArgs& a) {
  if (a.runs.empty() || a.runs.size() > kMaxCompared) {
    return InvalidArgumentError(fmt::format("compare takes 1 to {} runs", kMaxCompared));
  }
  if (a.points < 2 || a.points > 1000) return InvalidArgumentError("--points must be 2..1000");
  std::optional<PlotFormat> format;
  if (!a.plot.empty()) {
    KILN_ASSIGN_OR_RETURN(format, PlotFormatFor(a.plot));
  }
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  pipeline::ReapKilledRuns(home.get()).status().IgnoreError();  // best effort: listing still works
  RunsArgs resolved = a;
  for (auto& r : resolved.runs) {
    KILN_ASSIGN_OR_RETURN(r, registry::ResolveRunRef(home->catalog(), r));
  }
  KILN_ASSIGN_OR_RETURN(Compared c, LoadCompared(*home, resolved));
  if (format) KILN_RETURN_IF_ERROR(WritePlot(*home, c, a.plot, *format));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string compared,
                          api::CompareRuns(home->catalog(), resolved.runs, a.curves));
    PrintJson(format ? WithFields(compared, R"("plot":)" + JsonQuote(a.plot)) : compared);
    return 0;
  }
  std::string text = CompareText(c, a.points);
  if (format) text += fmt::format("\nplot written to {}\n", a.plot);
  text.pop_back();
  Print(text);
  return 0;
}

Result<ExitCode> RunsDelete(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(std::string run, registry::ResolveRunRef(home->catalog(), a.run));
  KILN_RETURN_IF_ERROR(home->catalog().DeleteRun(run));
  Print(a.json ? json{{"deleted", run}}.dump(2) : fmt::format("deleted run {}", run));
  return 0;
}

Result<ExitCode> ModelsRegister(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  registry::ModelVersion mv;
  mv.name = a.name;
  KILN_ASSIGN_OR_RETURN(mv.run_id, registry::ResolveRunRef(home->catalog(), a.run));
  mv.description = a.description;
  mv.actor = pipeline::Actor();
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion out, home->catalog().RegisterModel(mv));
  if (a.json) {
    PrintJson(api::ModelVersionJson(out));
  } else {
    Print(fmt::format("registered {} version {} (run {})", out.name, out.version, out.run_id));
  }
  return 0;
}

void PrintAliasMove(const registry::AliasEvent& ev, bool as_json) {
  if (as_json) {
    PrintJson(api::AliasMoveJson(ev));
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
  KILN_ASSIGN_OR_RETURN(registry::AliasEvent e,
                        home->catalog().SetAlias(a.name, a.set_alias, a.version, pipeline::Actor(),
                                                 a.reason, std::nullopt));
  PrintAliasMove(e, a.json);
  return 0;
}

Result<ExitCode> ModelsRollback(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(
      registry::AliasEvent e,
      registry::RollbackAlias(home->catalog(), a.name, a.alias, pipeline::Actor(), a.reason));
  PrintAliasMove(e, a.json);
  return 0;
}

Result<ExitCode> ModelsList(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string listed, api::ListModels(home->catalog()));
    PrintJson(listed);
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto models, home->catalog().ListModels());
  std::string text = fmt::format("{:<24}  {:>7}  {}\n", "MODEL", "LATEST", "ALIASES");
  for (const auto& m : models) {
    std::string aliases;
    for (const auto& [k, v] : m.aliases) aliases += fmt::format("{}=v{} ", k, v);
    text += fmt::format("{:<24}  {:>7}  {}\n", m.name, m.latest_version, aliases);
  }
  Print(text + fmt::format("{} model(s)", models.size()));
  return 0;
}

std::string VersionText(const registry::ModelVersion& v) {
  std::string aliases;
  for (const auto& al : v.aliases) aliases += (aliases.empty() ? "" : ", ") + al;
  return fmt::format("{}:{}  run {}  registered {} by {}{}{}", v.name, v.version, v.run_id,
                     TimeText(v.created_ms), v.actor,
                     aliases.empty() ? "" : fmt::format("  [{}]", aliases),
                     v.description.empty() ? "" : fmt::format("\n  {}", v.description));
}

Result<ExitCode> ModelsShow(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string shown, api::ShowModel(home->catalog(), a.ref));
    PrintJson(shown);
    return 0;
  }
  registry::CatalogStore& c = home->catalog();
  KILN_ASSIGN_OR_RETURN(auto resolved, registry::ResolveModelRef(c, a.ref));
  if (resolved.second != 0) {
    KILN_ASSIGN_OR_RETURN(auto v, c.GetModelVersion(resolved.first, resolved.second));
    KILN_ASSIGN_OR_RETURN(RunRecord r, c.GetRun(v.run_id));
    std::string text = VersionText(v) + "\n";
    text += Block("metrics", r.metrics, [](double m) { return fmt::format("{:.6g}", m); });
    Print(text + fmt::format("artifact {}", v.artifact));
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto versions, c.ListModelVersions(resolved.first));
  KILN_ASSIGN_OR_RETURN(auto gates, c.GateReports(resolved.first));
  std::string text;
  for (const auto& v : versions) text += VersionText(v) + "\n";
  Print(text + fmt::format("{} version(s), {} gate report(s) (--json shows them)", versions.size(),
                           gates.size()));
  return 0;
}

Result<ExitCode> ModelsHistory(const GlobalOptions& g, const RunsArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string listed, api::AliasHistory(home->catalog(), a.name));
    PrintJson(listed);
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto history, home->catalog().AliasHistory(a.name));
  std::string text;
  for (const auto& e : history) {
    text += fmt::format("{}  {:<12} v{} -> {}  by {}  {}\n", TimeText(e.at_ms), e.alias, e.previous,
                        e.version == 0 ? std::string("(removed)") : fmt::format("v{}", e.version),
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
  CLI::App* runs = app.add_subcommand("runs", "experiment runs: list, show, compare, delete");
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
  CLI::App* show = runs->add_subcommand("show", "one run: params, metrics, curves, lineage");
  show->add_option("run", args->run, "run id, a unique prefix of one, or a run name")->required();
  show->add_flag("--json", args->json, "machine-readable output (with the full curves)");
  show->callback(bind(RunsShow));
  CLI::App* cmp = runs->add_subcommand(
      "compare", "runs side by side: params, metrics and curves (table, or --plot a chart)");
  cmp->add_option("runs", args->runs, "runs (ids, unique id prefixes or names; 1 to 16)")
      ->required();
  cmp->add_option("--curve", args->curves, "only these curve keys (repeatable)");
  cmp->add_option("--points", args->points, "curve steps shown per table (default 10)");
  cmp->add_option("--plot", args->plot, "also draw the curves into FILE.svg or FILE.png");
  cmp->add_flag("--json", args->json, "machine-readable output (full curves)");
  cmp->callback(bind(RunsCompare));
  CLI::App* del = runs->add_subcommand("delete", "delete a run (not one a model version uses)");
  del->add_option("run", args->run, "run id, a unique prefix of one, or a run name")->required();
  del->add_flag("--json", args->json, "machine-readable output");
  del->callback(bind(RunsDelete));

  CLI::App* models = app.add_subcommand("models", "the model registry");
  models->require_subcommand(1);
  CLI::App* reg = models->add_subcommand("register", "register a run's model as a new version");
  reg->add_option("run", args->run, "run id, a unique prefix of one, or a run name")->required();
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
  mshow->add_flag("--json", args->json, "machine-readable output (with the full curves)");
  mshow->callback(bind(ModelsShow));
  CLI::App* hist = models->add_subcommand("history", "every alias move of a model");
  hist->add_option("name", args->name, "model name")->required();
  hist->add_flag("--json", args->json, "machine-readable output");
  hist->callback(bind(ModelsHistory));
  AddPromoteCommand(models, g, run);
}

}  // namespace kiln::app
