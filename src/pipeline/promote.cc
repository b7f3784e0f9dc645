#include "kiln/pipeline/promote.h"

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/training_data.h"

namespace kiln::pipeline {

namespace {

Status CheckOptions(const PromoteOptions& o) {
  KILN_RETURN_IF_ERROR(ValidateName(o.name, "model name"));
  KILN_RETURN_IF_ERROR(ValidateName(o.to, "alias"));
  KILN_RETURN_IF_ERROR(registry::ValidateGate(o.gate));
  if (o.version <= 0) return InvalidArgumentError("the version to promote must be positive");
  if (o.dataset_only) {
    KILN_RETURN_IF_ERROR(ParseDatasetRef(o.on).status());
    if (!AsDatasetRef(o.on)) {
      return InvalidArgumentError("'on' must be a dataset version NAME@vN, not a path");
    }
  }
  return Status::Ok();
}

// The version the alias points to now (0: none, on a first promotion).
Result<int64_t> Champion(registry::CatalogStore& catalog, const PromoteOptions& o) {
  auto current = catalog.ResolveAlias(o.name, o.to);
  if (current.ok()) return *current;
  if (current.status().code() == StatusCode::kNotFound) return int64_t{0};
  return current.status();
}

// Scores both versions on the data and evaluates the gate into `p`.
Status ScoreBoth(Home& home, const PromoteOptions& o, const ExecContext& ctx, PromoteResult* p) {
  KILN_ASSIGN_OR_RETURN(auto challenger, LoadRegisteredModel(home, o.name, o.version));
  std::shared_ptr<const model::TreeModel> champion;
  if (p->champion != 0) {
    KILN_ASSIGN_OR_RETURN(champion, LoadRegisteredModel(home, o.name, p->champion));
    if (champion->target != challenger->target || champion->objective != challenger->objective) {
      return FailedPreconditionError(fmt::format(
          "{} version {} and version {} predict different things (target or objective differ)",
          o.name, o.version, p->champion));
    }
  }
  KILN_ASSIGN_OR_RETURN(LoadedData data, LoadData(&home.datasets(), home.fs(), o.on, ctx));
  p->data = data.label;
  p->data_hash = data.content_hash;
  p->rows = data.data.num_rows();
  KILN_ASSIGN_OR_RETURN(p->challenger_metrics, ScoreModel(challenger, data.data, ctx));
  if (champion) {
    KILN_ASSIGN_OR_RETURN(p->champion_metrics, ScoreModel(champion, data.data, ctx));
  }
  KILN_ASSIGN_OR_RETURN(registry::GateResult gate,
                        registry::EvaluateGate(o.gate, p->challenger_metrics, p->champion_metrics));
  p->passed = gate.passed;
  p->clauses = std::move(gate.clauses);
  return Status::Ok();
}

}  // namespace

Result<PromoteResult> Promote(Home& home, const PromoteOptions& o, const ExecContext& ctx) {
  KILN_RETURN_IF_ERROR(CheckOptions(o));
  auto& catalog = home.catalog();
  PromoteResult p;
  p.name = o.name;
  p.alias = o.to;
  p.gate = o.gate;
  p.challenger = o.version;
  KILN_ASSIGN_OR_RETURN(p.champion, Champion(catalog, o));
  if (p.champion == o.version) {
    return FailedPreconditionError(
        fmt::format("{}@{} is already version {}", o.name, o.to, o.version));
  }
  KILN_RETURN_IF_ERROR(ScoreBoth(home, o, ctx, &p));
  if (p.passed) {
    const std::string reason =
        o.reason.empty() ? fmt::format("promote: gate '{}' on {}", o.gate, p.data) : o.reason;
    auto ev = catalog.SetAlias(o.name, o.to, o.version, o.actor, reason, p.champion);
    p.moved = ev.ok();
    p.outcome = p.moved ? "promoted" : ev.status().ToString();
  } else {
    p.outcome = "gate failed";
  }
  registry::GateReport stored;
  stored.name = o.name;
  stored.challenger = o.version;
  stored.champion = p.champion;
  stored.alias = o.to;
  stored.gate = o.gate;
  stored.data = p.data;
  stored.passed = p.passed;
  stored.report_json = PromoteResultJson(p);
  stored.actor = o.actor;
  KILN_ASSIGN_OR_RETURN(stored, catalog.StoreGateReport(stored));
  p.report_id = stored.id;
  return p;
}

}  // namespace kiln::pipeline
