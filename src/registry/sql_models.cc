// SqlCatalog: the model registry — versions, aliases and their history, gate reports.
#include <algorithm>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/registry/sql_catalog.h"
#include "registry/sql_audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

constexpr size_t kMaxTextBytes = 64 * 1024;

Status CheckModelRef(const std::string& name, int64_t version) {
  KILN_RETURN_IF_ERROR(ValidateName(name, "model name"));
  if (version < 0) return InvalidArgumentError("model version must be positive");
  return Status::Ok();
}

Status CheckText(const char* what, const std::string& v) {
  if (v.size() > kMaxTextBytes) {
    return InvalidArgumentError(fmt::format("{} longer than {} bytes", what, kMaxTextBytes));
  }
  return Status::Ok();
}

// The alias of `name` currently points to (0 = unset).
Result<int64_t> CurrentAlias(SqlDb* db, const std::string& name, const std::string& alias) {
  Stmt s(db, "SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name).Bind(2, alias);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

}  // namespace

Result<ModelVersion> SqlCatalog::RegisterModel(const ModelVersion& mv) {
  KILN_RETURN_IF_ERROR(CheckModelRef(mv.name, 0));
  if (!IsRunId(mv.run_id)) {
    return InvalidArgumentError(fmt::format("'{}' is not a run id", mv.run_id.substr(0, 64)));
  }
  KILN_RETURN_IF_ERROR(CheckText("description", mv.description));
  KILN_RETURN_IF_ERROR(CheckText("actor", mv.actor));
  for (const auto& [k, v] : mv.tags) {
    if (k.empty() || k.size() > 250) return InvalidArgumentError("tag key must be 1..250 bytes");
    KILN_RETURN_IF_ERROR(CheckText("tag value", v));
  }
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  ModelVersion out = mv;
  out.created_ms = NowMs();
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    {
      Stmt run(db, "SELECT artifact, status FROM runs WHERE id = ?1");
      KILN_RETURN_IF_ERROR(run.ok());
      run.Bind(1, mv.run_id);
      KILN_ASSIGN_OR_RETURN(bool row, run.Step());
      if (!row) return NotFoundError(fmt::format("run {} not found", mv.run_id));
      out.artifact = run.Text(0);
      if (out.artifact.empty()) {
        return FailedPreconditionError(
            fmt::format("run {} has no model artifact (status {})", mv.run_id, run.Text(1)));
      }
    }
    KILN_ASSIGN_OR_RETURN(out.version,
                          NextVersion(db, "models", "created_ms", mv.name, out.created_ms));
    Stmt ins(db,
             "INSERT INTO model_versions(name, version, run_id, artifact, description, actor, "
             "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    KILN_RETURN_IF_ERROR(ins.ok());
    ins.Bind(1, out.name).Bind(2, out.version).Bind(3, out.run_id).Bind(4, out.artifact);
    ins.Bind(5, out.description).Bind(6, out.actor).Bind(7, out.created_ms);
    KILN_RETURN_IF_ERROR(ins.Step().status());
    for (const auto& [k, v] : out.tags) {
      Stmt t(db,
             "INSERT INTO model_version_tags(name, version, key, value) VALUES (?1, ?2, ?3, ?4)");
      KILN_RETURN_IF_ERROR(t.ok());
      t.Bind(1, out.name).Bind(2, out.version).Bind(3, k).Bind(4, v);
      KILN_RETURN_IF_ERROR(t.Step().status());
    }
    return RecordAudit(db, audit_key_, "model.register",
                       fmt::format("{}:{}", out.name, out.version), "ok",
                       fmt::format("run {}", out.run_id));
  }));
  return out;
}

Result<ModelVersion> SqlCatalog::ReadModelVersion(const std::string& name, int64_t version) {
  SqlDb* db = db_.get();
  Stmt s(db,
         "SELECT run_id, artifact, description, actor, created_ms FROM model_versions "
         "WHERE name = ?1 AND version = ?2");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name).Bind(2, version);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError(fmt::format("model {} has no version {}", name, version));
  ModelVersion mv;
  mv.name = name;
  mv.version = version;
  mv.run_id = s.Text(0);
  mv.artifact = s.Text(1);
  mv.description = s.Text(2);
  mv.actor = s.Text(3);
  mv.created_ms = s.Int(4);
  Stmt t(db, "SELECT key, value FROM model_version_tags WHERE name = ?1 AND version = ?2");
  KILN_RETURN_IF_ERROR(t.ok());
  t.Bind(1, name).Bind(2, version);
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool more, t.Step());
    if (!more) break;
    mv.tags[t.Text(0)] = t.Text(1);
  }
  Stmt a(db, "SELECT alias FROM model_aliases WHERE name = ?1 AND version = ?2 ORDER BY alias");
  KILN_RETURN_IF_ERROR(a.ok());
  a.Bind(1, name).Bind(2, version);
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool more, a.Step());
    if (!more) break;
    mv.aliases.push_back(a.Text(0));
  }
  return mv;
}

Result<ModelVersion> SqlCatalog::GetModelVersion(const std::string& name, int64_t version) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, version));
  MutexLock lock(&mu_);
  if (version == 0) {
    Stmt s(db_.get(), "SELECT MAX(version) FROM model_versions WHERE name = ?1");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, name);
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.IsNull(0)) return NotFoundError(fmt::format("model {} not found", name));
    version = s.Int(0);
  }
  return ReadModelVersion(name, version);
}

Result<std::vector<ModelVersion>> SqlCatalog::ListModelVersions(const std::string& name) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, 0));
  MutexLock lock(&mu_);
  Stmt s(db_.get(), "SELECT version FROM model_versions WHERE name = ?1 ORDER BY version");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  std::vector<int64_t> versions;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    versions.push_back(s.Int(0));
  }
  if (versions.empty()) return NotFoundError(fmt::format("model {} not found", name));
  std::vector<ModelVersion> out;
  for (int64_t v : versions) {
    KILN_ASSIGN_OR_RETURN(ModelVersion mv, ReadModelVersion(name, v));
    out.push_back(std::move(mv));
  }
  return out;
}

Result<std::vector<ModelSummary>> SqlCatalog::ListModels() {
  MutexLock lock(&mu_);
  Stmt s(db_.get(),
         "SELECT m.name, m.last_version, (SELECT COUNT(*) FROM model_versions v WHERE v.name = "
         "m.name) FROM models m ORDER BY m.name");
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<ModelSummary> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Text(0), s.Int(1), s.Int(2), {}});
  }
  // Both queries are ordered by name: walk the aliases alongside the models.
  Stmt a(db_.get(), "SELECT name, alias, version FROM model_aliases ORDER BY name, alias");
  KILN_RETURN_IF_ERROR(a.ok());
  auto m = out.begin();
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, a.Step());
    if (!row) break;
    const std::string name = a.Text(0);
    while (m != out.end() && m->name < name) ++m;
    if (m != out.end() && m->name == name) m->aliases[a.Text(1)] = a.Int(2);
  }
  return out;
}

Result<AliasEvent> SqlCatalog::SetAlias(const std::string& name, const std::string& alias,
                                        int64_t version, const std::string& actor,
                                        const std::string& reason,
                                        std::optional<int64_t> expected_current) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, version));
  KILN_RETURN_IF_ERROR(ValidateName(alias, "alias"));
  KILN_RETURN_IF_ERROR(CheckText("actor", actor));
  KILN_RETURN_IF_ERROR(CheckText("reason", reason));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  AliasEvent ev{0, name, alias, version, 0, NowMs(), actor, reason};
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(ev.previous, CurrentAlias(db, name, alias));
    if (expected_current && *expected_current != ev.previous) {
      return FailedPreconditionError(
          fmt::format("alias {}@{} moved meanwhile (now version {}, expected {})", name, alias,
                      ev.previous, *expected_current));
    }
    if (version == 0) {
      if (ev.previous == 0)
        return NotFoundError(fmt::format("model {} has no alias '{}'", name, alias));
      Stmt d(db, "DELETE FROM model_aliases WHERE name = ?1 AND alias = ?2");
      KILN_RETURN_IF_ERROR(d.ok());
      d.Bind(1, name).Bind(2, alias);
      KILN_RETURN_IF_ERROR(d.Step().status());
    } else {
      Stmt exists(db, "SELECT 1 FROM model_versions WHERE name = ?1 AND version = ?2");
      KILN_RETURN_IF_ERROR(exists.ok());
      exists.Bind(1, name).Bind(2, version);
      KILN_ASSIGN_OR_RETURN(bool row, exists.Step());
      if (!row) return NotFoundError(fmt::format("model {} has no version {}", name, version));
      Stmt up(db,
              "INSERT INTO model_aliases(name, alias, version) VALUES (?1, ?2, ?3) "
              "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version");
      KILN_RETURN_IF_ERROR(up.ok());
      up.Bind(1, name).Bind(2, alias).Bind(3, version);
      KILN_RETURN_IF_ERROR(up.Step().status());
    }
    Stmt h(db,
           "INSERT INTO alias_history(name, alias, version, previous, at_ms, actor, reason) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq");
    KILN_RETURN_IF_ERROR(h.ok());
    h.Bind(1, name).Bind(2, alias).Bind(3, version).Bind(4, ev.previous).Bind(5, ev.at_ms);
    h.Bind(6, actor).Bind(7, reason);
    KILN_ASSIGN_OR_RETURN(ev.seq, ReturnedId(h, "history sequence"));
    return RecordAudit(db, audit_key_, "alias.set", fmt::format("{}@{}", name, alias), "ok",
                       fmt::format("v{} -> v{} by {}: {}", ev.previous, version, actor, reason));
  }));
  return ev;
}

Result<int64_t> SqlCatalog::ResolveAlias(const std::string& name, const std::string& alias) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, 0));
  KILN_RETURN_IF_ERROR(ValidateName(alias, "alias"));
  MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(int64_t v, CurrentAlias(db_.get(), name, alias));
  if (v == 0) return NotFoundError(fmt::format("model {} has no alias '{}'", name, alias));
  return v;
}

Result<std::vector<AliasEvent>> SqlCatalog::AliasHistory(const std::string& name) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, 0));
  MutexLock lock(&mu_);
  Stmt s(db_.get(),
         "SELECT seq, alias, version, previous, at_ms, actor, reason FROM alias_history "
         "WHERE name = ?1 ORDER BY seq");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  std::vector<AliasEvent> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Int(0), name, s.Text(1), s.Int(2), s.Int(3), s.Int(4), s.Text(5), s.Text(6)});
  }
  return out;
}

Result<int64_t> SqlCatalog::LastAliasChange() {
  MutexLock lock(&mu_);
  Stmt s(db_.get(), "SELECT COALESCE(MAX(seq), 0) FROM alias_history");
  KILN_RETURN_IF_ERROR(s.ok());
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

Result<GateReport> SqlCatalog::StoreGateReport(const GateReport& report) {
  KILN_RETURN_IF_ERROR(CheckModelRef(report.name, report.challenger));
  KILN_RETURN_IF_ERROR(CheckText("gate", report.gate));
  KILN_RETURN_IF_ERROR(CheckText("report", report.report_json));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  GateReport out = report;
  if (out.at_ms == 0) out.at_ms = NowMs();
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    Stmt s(db,
           "INSERT INTO gate_reports(name, challenger, champion, alias, gate, data, passed, "
           "report, at_ms, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, out.name).Bind(2, out.challenger).Bind(3, out.champion).Bind(4, out.alias);
    s.Bind(5, out.gate).Bind(6, out.data).Bind(7, static_cast<int64_t>(out.passed ? 1 : 0));
    s.Bind(8, out.report_json).Bind(9, out.at_ms).Bind(10, out.actor);
    KILN_ASSIGN_OR_RETURN(out.id, ReturnedId(s, "report id"));
    return RecordAudit(db, audit_key_, "promote.gate",
                       fmt::format("{}:{}", out.name, out.challenger),
                       out.passed ? "passed" : "rejected",
                       fmt::format("{} on {} for {}", out.gate, out.data, out.alias));
  }));
  return out;
}

Result<std::vector<GateReport>> SqlCatalog::GateReports(const std::string& name) {
  KILN_RETURN_IF_ERROR(CheckModelRef(name, 0));
  MutexLock lock(&mu_);
  Stmt s(db_.get(),
         "SELECT id, challenger, champion, alias, gate, data, passed, report, at_ms, actor "
         "FROM gate_reports WHERE name = ?1 ORDER BY id");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  std::vector<GateReport> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Int(0), name, s.Int(1), s.Int(2), s.Text(3), s.Text(4), s.Text(5),
                   s.Int(6) != 0, s.Text(7), s.Int(8), s.Text(9)});
  }
  return out;
}

Result<AlertEventRecord> SqlCatalog::RecordAlertEvent(const AlertEventRecord& event) {
  KILN_RETURN_IF_ERROR(CheckModelRef(event.model, event.version));
  KILN_RETURN_IF_ERROR(CheckText("alert rule", event.rule));
  KILN_RETURN_IF_ERROR(CheckText("alert detail", event.detail));
  if (event.state != "firing" && event.state != "resolved") {
    return InvalidArgumentError("alert state must be firing or resolved");
  }
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  AlertEventRecord out = event;
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    Stmt s(db,
           "INSERT INTO alert_events(rule, model, version, severity, state, time_ms, since_ms, "
           "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, out.rule).Bind(2, out.model).Bind(3, out.version).Bind(4, out.severity);
    s.Bind(5, out.state).Bind(6, out.time_ms).Bind(7, out.since_ms).Bind(8, out.detail);
    KILN_ASSIGN_OR_RETURN(out.id, ReturnedId(s, "alert event id"));
    return RecordAudit(db, audit_key_, "alert." + out.state,
                       fmt::format("{}:{}", out.model, out.version), "ok", out.rule);
  }));
  return out;
}

Result<std::vector<AlertEventRecord>> SqlCatalog::AlertEvents(int64_t limit) {
  MutexLock lock(&mu_);
  Stmt s(db_.get(),
         "SELECT id, rule, model, version, severity, state, time_ms, since_ms, detail "
         "FROM alert_events ORDER BY id DESC LIMIT ?1");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, std::max<int64_t>(0, limit));
  std::vector<AlertEventRecord> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Int(3), s.Text(4), s.Text(5), s.Int(6),
                   s.Int(7), s.Text(8)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<std::string>> SqlCatalog::LiveArtifacts() {
  MutexLock lock(&mu_);
  return ReadTexts(db_.get(),
                   "SELECT artifact FROM runs WHERE artifact IS NOT NULL UNION "
                   "SELECT artifact FROM model_versions");
}

}  // namespace kiln::registry
