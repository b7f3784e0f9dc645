#include "kiln/registry/sql_catalog.h"

#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "registry/sql_audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

using storage::VersionRecord;

namespace {

// Schema migrations, applied in order; entry i brings the database to version i + 1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE datasets (
  name TEXT PRIMARY KEY,
  created_at_ms INTEGER NOT NULL,
  last_version INTEGER NOT NULL
);
CREATE TABLE dataset_versions (
  name TEXT NOT NULL REFERENCES datasets(name),
  version INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  rows INTEGER NOT NULL,
  parent INTEGER NOT NULL,
  message TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  deleted_at_ms INTEGER,
  PRIMARY KEY (name, version)
);
)sql",
    // 2: experiments and runs, the model registry.
    R"sql(
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  experiment TEXT NOT NULL,
  name TEXT,
  status TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER,
  train_data TEXT, train_hash TEXT, valid_data TEXT, valid_hash TEXT, artifact TEXT,
  kiln_version TEXT, build_commit TEXT, host TEXT, parent_id TEXT,
  cpu_seconds REAL, peak_rss_bytes INTEGER
);
CREATE INDEX runs_experiment ON runs(experiment, start_ms);
CREATE INDEX runs_start ON runs(start_ms);
CREATE INDEX runs_parent ON runs(parent_id);
CREATE TABLE run_params (
  run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL, num REAL,
  PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
CREATE INDEX run_params_num ON run_params(key, num);
CREATE INDEX run_params_text ON run_params(key, value);
CREATE TABLE run_metrics (
  run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
CREATE INDEX run_metrics_value ON run_metrics(key, value);
CREATE TABLE run_tags (
  run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
CREATE INDEX run_tags_value ON run_tags(key, value);
CREATE TABLE run_curves (
  run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, steps BLOB NOT NULL, vals BLOB NOT NULL,
  PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
CREATE TABLE models (
  name TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  last_version INTEGER NOT NULL
);
CREATE TABLE model_versions (
  name TEXT NOT NULL REFERENCES models(name),
  version INTEGER NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  artifact TEXT NOT NULL,
  description TEXT NOT NULL,
  actor TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions(run_id);
CREATE TABLE model_version_tags (
  name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (name, version, key),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE model_aliases (
  name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE alias_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, previous INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX alias_history_name ON alias_history(name, seq);
CREATE TABLE gate_reports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL, challenger INTEGER NOT NULL, champion INTEGER NOT NULL,
  alias TEXT NOT NULL, gate TEXT NOT NULL, data TEXT NOT NULL, passed INTEGER NOT NULL,
  report TEXT NOT NULL, at_ms INTEGER NOT NULL, actor TEXT NOT NULL
);
)sql",
    // 3: curves in a rowid table. In a WITHOUT ROWID table a row over ~1 KB spills into its own
    // overflow page, so each 100-step curve took ~5 KB on disk; here it stays on the leaf page.
    R"sql(
CREATE TABLE run_curves_v3 (
  run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, steps BLOB NOT NULL, vals BLOB NOT NULL,
  UNIQUE (run_seq, key)
);
INSERT INTO run_curves_v3(run_seq, key, steps, vals)
  SELECT run_seq, key, steps, vals FROM run_curves;
DROP TABLE run_curves;
ALTER TABLE run_curves_v3 RENAME TO run_curves;
)sql",
    // 4: the filter indexes name run_seq, so a filter term is answered from the index alone.
    // SQLite already appended the primary key to them; PostgreSQL read every matching row from
    // the table (a 100k-run `runs list` spent most of its time there).
    R"sql(
DROP INDEX run_params_num;
DROP INDEX run_params_text;
DROP INDEX run_metrics_value;
DROP INDEX run_tags_value;
CREATE INDEX run_params_num ON run_params(key, num, run_seq);
CREATE INDEX run_params_text ON run_params(key, value, run_seq);
CREATE INDEX run_metrics_value ON run_metrics(key, value, run_seq);
CREATE INDEX run_tags_value ON run_tags(key, value, run_seq);
)sql",
    // 5: the job queue (registry/job_queue.h): jobs, their attempts and logs, schedules.
    R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  verb TEXT NOT NULL, payload TEXT NOT NULL, queue TEXT NOT NULL,
  idempotency_key TEXT UNIQUE, max_attempts INTEGER NOT NULL, schedule TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  run_after_ms INTEGER NOT NULL, worker TEXT NOT NULL, lease_expires_ms INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL, result TEXT NOT NULL, produced TEXT NOT NULL,
  error TEXT NOT NULL, end_ms INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs(queue, state, run_after_ms, id);
CREATE INDEX jobs_state ON jobs(state, id);
CREATE TABLE job_attempts (
  job_id INTEGER NOT NULL, number INTEGER NOT NULL, worker TEXT NOT NULL,
  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL,
  PRIMARY KEY (job_id, number)
);
CREATE TABLE job_logs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL, line TEXT NOT NULL
);
CREATE INDEX job_logs_job ON job_logs(job_id, seq);
CREATE TABLE job_schedules (
  name TEXT PRIMARY KEY, every TEXT NOT NULL, cron TEXT NOT NULL, verb TEXT NOT NULL,
  payload TEXT NOT NULL, queue TEXT NOT NULL, max_attempts INTEGER NOT NULL,
  next_run_ms INTEGER NOT NULL, last_run_ms INTEGER NOT NULL, last_job INTEGER NOT NULL
);
)sql",
    // 6: alert events of kiln serve's alert rules.
    R"sql(
CREATE TABLE alert_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  rule TEXT NOT NULL, model TEXT NOT NULL, version INTEGER NOT NULL, severity TEXT NOT NULL,
  state TEXT NOT NULL, time_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL, detail TEXT NOT NULL
);
)sql",
    // 7: API tokens (only their SHA-256; a revoked token's row stays, its name may be reused).
    R"sql(
CREATE TABLE auth_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL
);
)sql",
    // 8: the audit log, a hash chain with signed checkpoints (auth/audit.h).
    R"sql(
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
  outcome TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log(time_ms);
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, mac TEXT NOT NULL, time_ms INTEGER NOT NULL
);
)sql",
    // 9: dataset versions checked against rules files (train.require_validated).
    R"sql(
CREATE TABLE dataset_validations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL, version INTEGER NOT NULL, rules_hash TEXT NOT NULL,
  checks INTEGER NOT NULL, passed INTEGER NOT NULL, failed TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE INDEX dataset_validations_version ON dataset_validations(name, version);
)sql",
};

constexpr const char* kVersionColumns =
    "name, version, manifest, content_hash, rows, parent, message, created_at_ms";

VersionRecord ReadRecord(Stmt& s) {
  VersionRecord r;
  r.name = s.Text(0);
  r.version = s.Int(1);
  r.manifest = s.Text(2);
  r.content_hash = s.Text(3);
  r.rows = s.Int(4);
  r.parent = s.Int(5);
  r.message = s.Text(6);
  r.created_at_ms = s.Int(7);
  return r;
}

Result<std::vector<VersionRecord>> ReadRecords(Stmt& s) {
  std::vector<VersionRecord> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadRecord(s));
  }
  return out;
}

}  // namespace

SqlCatalog::SqlCatalog(std::unique_ptr<SqlDb> db) : db_(std::move(db)) {}
SqlCatalog::~SqlCatalog() = default;

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::OpenSqlite(const std::string& path,
                                                           SqliteOptions options) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SqlDb> db, OpenSqliteDb(path, options));
  auto catalog = std::unique_ptr<SqlCatalog>(new SqlCatalog(std::move(db)));
  KILN_RETURN_IF_ERROR(catalog->Migrate());
  return catalog;
}

bool SqlCatalog::IsPostgresUrl(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::OpenPostgres(const std::string& url) {
  if (!IsPostgresUrl(url)) {
    return InvalidArgumentError("a PostgreSQL catalog URL starts with postgresql://");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SqlDb> db, OpenPostgresDb(url));
  auto catalog = std::unique_ptr<SqlCatalog>(new SqlCatalog(std::move(db)));
  KILN_RETURN_IF_ERROR(catalog->Migrate());
  return catalog;
}

namespace {

// The migrations are written for SQLite; PostgreSQL gets the same schema with its type names.
std::string PostgresDdl(std::string ddl) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
      {"INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"},
      {"INTEGER", "BIGINT"},
      {"REAL", "DOUBLE PRECISION"},
      {"BLOB", "BYTEA"},
      {") WITHOUT ROWID", ")"},
  };
  for (const auto& [from, to] : kTypes) {
    std::string out;
    size_t pos = 0;
    while (true) {
      const size_t hit = ddl.find(from, pos);
      if (hit == std::string::npos) break;
      out.append(ddl, pos, hit - pos).append(to);
      pos = hit + from.size();
    }
    out.append(ddl, pos, std::string::npos);
    ddl = std::move(out);
  }
  return ddl;
}

}  // namespace

Status SqlCatalog::Migrate() {
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  const bool pg = db->dialect() == SqlDialect::kPostgres;
  const int64_t target = static_cast<int64_t>(std::size(kMigrations));
  {
    // Most opens find the schema current: check that without the writer lock, so a reader never
    // waits behind a writer here. (No table yet is an error: then migrate.)
    Stmt s(db, "SELECT MAX(version) FROM schema_version");
    if (s.ok().ok()) {
      auto row = s.Step();
      if (row.ok() && *row && s.Int(0) == target) return Status::Ok();
    }
  }
  return Transaction(db, [&]() -> Status {
    KILN_RETURN_IF_ERROR(
        Exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    int64_t current = 0;
    {
      Stmt s(db, "SELECT MAX(version) FROM schema_version");
      KILN_RETURN_IF_ERROR(s.ok());
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) current = s.Int(0);
    }
    if (current > target) {
      return FailedPreconditionError(fmt::format(
          "meta.db schema version {} is newer than this kiln supports ({})", current, target));
    }
    for (int64_t v = current; v < target; ++v) {
      KILN_RETURN_IF_ERROR(Exec(db, pg ? PostgresDdl(kMigrations[v]) : kMigrations[v]));
      Stmt s(db, "INSERT INTO schema_version(version) VALUES (?1)");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, v + 1);
      KILN_RETURN_IF_ERROR(s.Step().status());
    }
    return Status::Ok();
  });
}

Result<int64_t> SqlCatalog::SchemaVersion() {
  MutexLock lock(&mu_);
  Stmt s(db_.get(), "SELECT MAX(version) FROM schema_version");
  KILN_RETURN_IF_ERROR(s.ok());
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

Result<VersionRecord> SqlCatalog::CommitVersion(const VersionRecord& record) {
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  VersionRecord out = record;
  Status st = Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(out.version, NextVersion(db, "datasets", "created_at_ms", record.name,
                                                   record.created_at_ms));
    Stmt ins(db,
             "INSERT INTO dataset_versions(name, version, manifest, content_hash, rows, parent, "
             "message, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    KILN_RETURN_IF_ERROR(ins.ok());
    ins.Bind(1, out.name).Bind(2, out.version).Bind(3, out.manifest).Bind(4, out.content_hash);
    ins.Bind(5, out.rows).Bind(6, out.parent).Bind(7, out.message).Bind(8, out.created_at_ms);
    KILN_RETURN_IF_ERROR(ins.Step().status());
    return RecordAudit(db, audit_key_, "dataset.commit",
                       fmt::format("{}@v{}", out.name, out.version), "ok",
                       fmt::format("{} rows: {}", out.rows, out.message));
  });
  if (!st.ok()) return st;
  return out;
}

Result<VersionRecord> SqlCatalog::GetVersion(const std::string& name, int64_t version) {
  MutexLock lock(&mu_);
  const std::string sql =
      version == 0 ? fmt::format(
                         "SELECT {} FROM dataset_versions WHERE name = ?1 AND deleted_at_ms IS "
                         "NULL ORDER BY version DESC LIMIT 1",
                         kVersionColumns)
                   : fmt::format(
                         "SELECT {} FROM dataset_versions WHERE name = ?1 AND version = ?2 AND "
                         "deleted_at_ms IS NULL",
                         kVersionColumns);
  Stmt s(db_.get(), sql);
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  if (version != 0) s.Bind(2, version);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError(fmt::format("dataset '{}' version {} not found", name, version));
  return ReadRecord(s);
}

Result<std::vector<VersionRecord>> SqlCatalog::ListVersions(const std::string& name) {
  MutexLock lock(&mu_);
  const std::string sql = fmt::format(
      "SELECT {} FROM dataset_versions WHERE name = ?1 AND deleted_at_ms IS NULL ORDER BY version",
      kVersionColumns);
  Stmt s(db_.get(), sql);
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  return ReadRecords(s);
}

Result<std::vector<VersionRecord>> SqlCatalog::ListDatasets() {
  MutexLock lock(&mu_);
  const std::string sql = fmt::format(
      "SELECT {} FROM dataset_versions v WHERE deleted_at_ms IS NULL AND version = (SELECT "
      "MAX(version) FROM dataset_versions w WHERE w.name = v.name AND w.deleted_at_ms IS NULL) "
      "ORDER BY name",
      kVersionColumns);
  Stmt s(db_.get(), sql);
  KILN_RETURN_IF_ERROR(s.ok());
  return ReadRecords(s);
}

Status SqlCatalog::DeleteVersion(const std::string& name, int64_t version) {
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    Stmt s(db,
           "UPDATE dataset_versions SET deleted_at_ms = ?3 "
           "WHERE name = ?1 AND version = ?2 AND deleted_at_ms IS NULL RETURNING version");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, name).Bind(2, version).Bind(3, NowMs());
    KILN_ASSIGN_OR_RETURN(bool changed, s.Step());
    if (changed) KILN_RETURN_IF_ERROR(s.Step().status());
    if (!changed) {
      return NotFoundError(fmt::format("dataset '{}' has no version {}", name, version));
    }
    return RecordAudit(db, audit_key_, "dataset.rm", fmt::format("{}@v{}", name, version), "ok",
                       "");
  });
}

void SqlCatalog::SetAuditKey(std::string key) { audit_key_ = std::move(key); }

Result<ValidationRecord> SqlCatalog::RecordValidation(const ValidationRecord& v) {
  KILN_RETURN_IF_ERROR(ValidateName(v.name, "dataset name"));
  ValidationRecord out = v;
  out.at_ms = NowMs();
  out.failed = out.failed.substr(0, 4096);
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    Stmt live(db,
              "SELECT 1 FROM dataset_versions WHERE name = ?1 AND version = ?2 AND deleted_at_ms "
              "IS NULL");
    KILN_RETURN_IF_ERROR(live.ok());
    live.Bind(1, out.name).Bind(2, out.version);
    KILN_ASSIGN_OR_RETURN(bool row, live.Step());
    if (!row) {
      return NotFoundError(fmt::format("dataset '{}' has no version {}", out.name, out.version));
    }
    KILN_RETURN_IF_ERROR(live.Step().status());
    Stmt s(db,
           "INSERT INTO dataset_validations(name, version, rules_hash, checks, passed, failed, "
           "at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, out.name).Bind(2, out.version).Bind(3, out.rules_hash).Bind(4, out.checks);
    s.Bind(5, static_cast<int64_t>(out.passed ? 1 : 0)).Bind(6, out.failed).Bind(7, out.at_ms);
    KILN_ASSIGN_OR_RETURN(out.id, ReturnedId(s, "validation id"));
    return RecordAudit(db, audit_key_, "dataset.validate",
                       fmt::format("{}@v{}", out.name, out.version),
                       out.passed ? "passed" : "failed",
                       fmt::format("rules {} ({} checks){}", out.rules_hash.substr(0, 12),
                                   out.checks, out.failed.empty() ? "" : ": " + out.failed));
  }));
  return out;
}

Result<std::vector<ValidationRecord>> SqlCatalog::Validations(const std::string& name,
                                                              int64_t version) {
  MutexLock lock(&mu_);
  Stmt s(db_.get(),
         "SELECT id, rules_hash, checks, passed, failed, at_ms FROM dataset_validations WHERE "
         "name = ?1 AND version = ?2 ORDER BY id");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name).Bind(2, version);
  std::vector<ValidationRecord> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(
        {s.Int(0), name, version, s.Text(1), s.Int(2), s.Int(3) != 0, s.Text(4), s.Int(5)});
  }
  return out;
}

Status SqlCatalog::AppendAudit(const std::string& action, const std::string& target,
                               const std::string& outcome, const std::string& detail) {
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(
      db, [&]() -> Status { return RecordAudit(db, audit_key_, action, target, outcome, detail); });
}

Result<std::vector<auth::AuditRecord>> SqlCatalog::AuditLog(int64_t since_ms,
                                                            const std::string& actor,
                                                            int64_t limit) {
  MutexLock lock(&mu_);
  return ReadAudit(db_.get(), since_ms, actor, std::max<int64_t>(0, limit));
}

Result<std::vector<auth::AuditCheckpoint>> SqlCatalog::AuditCheckpoints() {
  MutexLock lock(&mu_);
  return ReadCheckpoints(db_.get());
}

Result<std::vector<std::string>> SqlCatalog::LiveManifests() {
  MutexLock lock(&mu_);
  return ReadTexts(db_.get(), "SELECT manifest FROM dataset_versions WHERE deleted_at_ms IS NULL");
}

}  // namespace kiln::registry
