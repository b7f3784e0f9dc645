// `kiln models promote NAME K --to ALIAS --gate EXPR --on DATA`: score the challenger (version K)
// and the alias's current version (the champion) on the same dataset version with the same
// predictor, check the gate, move the alias only if it holds (compare-and-set against the
// champion, so a concurrent move is never overwritten), and store the report either way.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/home.h"
#include "app/model_ops.h"
#include "app/promote.h"
#include "app/training_data.h"
#include "kiln/api/control_plane.h"
#include "kiln/base/names.h"
#include "kiln/registry/gate.h"

namespace kiln::app {

using nlohmann::json;

namespace {

struct PromoteArgs {
  api::PromoteRequest request;
  bool json = false;
};

// The promotion itself, with its report (JSON) and a summary for people.
struct Promotion {
  json report;
  std::string text;
  bool moved = false;
};

Result<Promotion> RunPromotion(KilnHome& home, const api::PromoteRequest& a,
                               const ExecContext& ctx) {
  KILN_RETURN_IF_ERROR(ValidateName(a.name, "model name"));
  KILN_RETURN_IF_ERROR(ValidateName(a.to, "alias"));
  KILN_RETURN_IF_ERROR(registry::ValidateGate(a.gate));
  if (a.version <= 0) return InvalidArgumentError("the version to promote must be positive");
  auto& catalog = home.catalog();
  // The champion: the version the alias points to now (none on a first promotion).
  int64_t champion = 0;
  if (auto current = catalog.ResolveAlias(a.name, a.to); current.ok()) {
    champion = *current;
  } else if (current.status().code() != StatusCode::kNotFound) {
    return current.status();
  }
  if (champion == a.version) {
    return FailedPreconditionError(
        fmt::format("{}@{} is already version {}", a.name, a.to, a.version));
  }
  KILN_ASSIGN_OR_RETURN(auto challenger_model, LoadRegisteredModel(home, a.name, a.version));
  std::shared_ptr<const model::TreeModel> champion_model;
  if (champion != 0) {
    KILN_ASSIGN_OR_RETURN(champion_model, LoadRegisteredModel(home, a.name, champion));
    if (champion_model->target != challenger_model->target ||
        champion_model->objective != challenger_model->objective) {
      return FailedPreconditionError(fmt::format(
          "{} version {} and version {} predict different things (target or objective differ)",
          a.name, a.version, champion));
    }
  }
  KILN_ASSIGN_OR_RETURN(LoadedData data, LoadData(&home.datasets(), home.fs(), a.on, ctx));
  KILN_ASSIGN_OR_RETURN(registry::MetricMap challenger_metrics,
                        ScoreModel(challenger_model, data.data, ctx));
  std::optional<registry::MetricMap> champion_metrics;
  if (champion_model) {
    KILN_ASSIGN_OR_RETURN(champion_metrics, ScoreModel(champion_model, data.data, ctx));
  }
  KILN_ASSIGN_OR_RETURN(registry::GateResult result,
                        registry::EvaluateGate(a.gate, challenger_metrics, champion_metrics));
  Promotion p;
  std::string outcome;
  if (result.passed) {
    const std::string reason =
        a.reason.empty() ? fmt::format("promote: gate '{}' on {}", a.gate, data.label) : a.reason;
    auto ev = catalog.SetAlias(a.name, a.to, a.version, a.actor, reason, champion);
    p.moved = ev.ok();
    outcome = p.moved ? "promoted" : ev.status().ToString();
  } else {
    outcome = "gate failed";
  }
  json clauses = json::array();
  for (const auto& c : result.clauses) {
    clauses.push_back({{"clause", c.text},
                       {"left", c.left},
                       {"right", c.right},
                       {"passed", c.passed},
                       {"skipped", c.skipped}});
  }
  p.report = {
      {"name", a.name},
      {"alias", a.to},
      {"gate", a.gate},
      {"data", data.label},
      {"data_hash", data.content_hash},
      {"rows", data.data.num_rows()},
      {"challenger", {{"version", a.version}, {"metrics", challenger_metrics}}},
      {"champion",
       champion == 0 ? json(nullptr) : json{{"version", champion}, {"metrics", *champion_metrics}}},
      {"clauses", clauses},
      {"passed", result.passed},
      {"moved", p.moved},
      {"outcome", outcome}};
  registry::GateReport stored;
  stored.name = a.name;
  stored.challenger = a.version;
  stored.champion = champion;
  stored.alias = a.to;
  stored.gate = a.gate;
  stored.data = data.label;
  stored.passed = result.passed;
  stored.report_json = p.report.dump();
  stored.actor = a.actor;
  KILN_ASSIGN_OR_RETURN(stored, catalog.StoreGateReport(stored));
  p.report["report_id"] = stored.id;
  p.text = fmt::format("{} version {} -> {} on {} ({} rows), champion: {}\n", a.name, a.version,
                       a.to, data.label, data.data.num_rows(),
                       champion == 0 ? "none" : fmt::format("version {}", champion));
  for (const auto& c : result.clauses) {
    p.text += c.skipped ? fmt::format("  skip  {}  (no champion)\n", c.text)
                        : fmt::format("  {}  {}  ({:.6g} vs {:.6g})\n", c.passed ? "pass" : "FAIL",
                                      c.text, c.left, c.right);
  }
  p.text += p.moved ? fmt::format("{}@{} -> version {} (was {})", a.name, a.to, a.version,
                                  champion == 0 ? "unset" : fmt::format("version {}", champion))
                    : fmt::format("not promoted: {}", outcome);
  return p;
}

Result<ExitCode> Promote(const GlobalOptions& g, const PromoteArgs& a) {
  auto ctx = Context(g, 0);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  api::PromoteRequest request = a.request;
  request.actor = Actor();
  KILN_ASSIGN_OR_RETURN(Promotion p, RunPromotion(*home, request, *ctx));
  Print(a.json ? p.report.dump(2) : p.text);
  return p.moved ? 0 : 1;
}

}  // namespace

api::PromoteHook PromoteHookFor(KilnHome* home, const ExecContext* ctx) {
  return [home, ctx](const api::PromoteRequest& request) -> Result<std::string> {
    // Over the API only a dataset version names the data, never a file path (BI-27).
    KILN_RETURN_IF_ERROR(ParseDatasetRef(request.on).status());
    if (request.on.find_first_of("/.") != std::string::npos) {
      return InvalidArgumentError("'on' must be a dataset version NAME@vN, not a path");
    }
    KILN_ASSIGN_OR_RETURN(Promotion p, RunPromotion(*home, request, *ctx));
    return p.report.dump();
  };
}

void AddPromoteCommand(CLI::App* models, const GlobalOptions& g,
                       std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<PromoteArgs>();
  CLI::App* p = models->add_subcommand(
      "promote", "move an alias to a version if it passes a gate against the current one");
  p->add_option("name", args->request.name, "model name")->required();
  p->add_option("version", args->request.version, "the challenger version")->required();
  p->add_option("--to", args->request.to, "alias to move (default production)");
  p->add_option("--gate", args->request.gate,
                "e.g. \"auc >= champion.auc - 0.001 and logloss <= champion.logloss\"")
      ->required();
  p->add_option("--on", args->request.on, "dataset NAME@vN both versions are scored on")
      ->required();
  p->add_option("--reason", args->request.reason, "recorded in the alias history");
  p->add_flag("--json", args->json, "machine-readable report");
  p->callback([&g, run, args] { *run = [&g, args] { return Promote(g, *args); }; });
}

}  // namespace kiln::app
