#include "kiln/registry/sqlite_catalog.h"

#include <sqlite3.h>

#include <chrono>

#include <fmt/format.h>

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
};

Status SqlError(sqlite3* db, int rc, std::string_view what) {
  std::string msg =
      fmt::format("catalog {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return UnavailableError(std::move(msg));
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return DataLossError(std::move(msg));
  if (rc == SQLITE_FULL) return ResourceExhaustedError(std::move(msg));
  if (rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY)
    return FailedPreconditionError(std::move(msg));
  return InternalError(std::move(msg));
}

// A prepared statement with bound parameters; finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status ok() const { return rc_ == SQLITE_OK ? Status::Ok() : SqlError(db_, rc_, "prepare"); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // true if a row is available, false when done.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db_, rc, "query");
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return SqlError(nullptr, rc, msg);
  }
  return Status::Ok();
}

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

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on any error.
template <typename F>
Status Transaction(sqlite3* db, F&& body) {
  KILN_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = Exec(db, "COMMIT");
  if (!s.ok()) Exec(db, "ROLLBACK").IgnoreError();
  return s;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct SqliteCatalog::Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

SqliteCatalog::SqliteCatalog(std::unique_ptr<Db> db) : db_(std::move(db)) {}
SqliteCatalog::~SqliteCatalog() = default;

Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Open(const std::string& path,
                                                           Options options) {
  auto db = std::make_unique<Db>();
  int rc =
      sqlite3_open_v2(path.c_str(), &db->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqlError(db->db, rc, "open");
  sqlite3_busy_timeout(db->db, options.busy_timeout_ms);
  KILN_RETURN_IF_ERROR(Exec(db->db, "PRAGMA journal_mode=WAL"));
  KILN_RETURN_IF_ERROR(Exec(db->db, "PRAGMA synchronous=FULL"));
  KILN_RETURN_IF_ERROR(Exec(db->db, "PRAGMA foreign_keys=ON"));
  auto catalog = std::unique_ptr<SqliteCatalog>(new SqliteCatalog(std::move(db)));
  KILN_RETURN_IF_ERROR(catalog->Migrate());
  return catalog;
}

Status SqliteCatalog::Migrate() {
  MutexLock lock(&mu_);
  sqlite3* db = db_->db;
  KILN_RETURN_IF_ERROR(
      Exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  return Transaction(db, [&]() -> Status {
    int64_t current = 0;
    {
      Stmt s(db, "SELECT MAX(version) FROM schema_version");
      KILN_RETURN_IF_ERROR(s.ok());
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) current = s.Int(0);
    }
    const int64_t target = static_cast<int64_t>(std::size(kMigrations));
    if (current > target) {
      return FailedPreconditionError(fmt::format(
          "meta.db schema version {} is newer than this kiln supports ({})", current, target));
    }
    for (int64_t v = current; v < target; ++v) {
      KILN_RETURN_IF_ERROR(Exec(db, kMigrations[v]));
      Stmt s(db, "INSERT INTO schema_version(version) VALUES (?)");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, v + 1);
      KILN_RETURN_IF_ERROR(s.Step().status());
    }
    return Status::Ok();
  });
}

Result<int64_t> SqliteCatalog::SchemaVersion() {
  MutexLock lock(&mu_);
  Stmt s(db_->db, "SELECT MAX(version) FROM schema_version");
  KILN_RETURN_IF_ERROR(s.ok());
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

Result<VersionRecord> SqliteCatalog::CommitVersion(const VersionRecord& record) {
  MutexLock lock(&mu_);
  sqlite3* db = db_->db;
  VersionRecord out = record;
  Status st = Transaction(db, [&]() -> Status {
    Stmt up(db,
            "INSERT INTO datasets(name, created_at_ms, last_version) VALUES (?1, ?2, 1) "
            "ON CONFLICT(name) DO UPDATE SET last_version = last_version + 1 "
            "RETURNING last_version");
    KILN_RETURN_IF_ERROR(up.ok());
    up.Bind(1, record.name).Bind(2, record.created_at_ms);
    KILN_ASSIGN_OR_RETURN(bool row, up.Step());
    if (!row) return InternalError("no version number returned");
    out.version = up.Int(0);
    KILN_RETURN_IF_ERROR(up.Step().status());
    Stmt ins(db,
             "INSERT INTO dataset_versions(name, version, manifest, content_hash, rows, parent, "
             "message, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    KILN_RETURN_IF_ERROR(ins.ok());
    ins.Bind(1, out.name).Bind(2, out.version).Bind(3, out.manifest).Bind(4, out.content_hash);
    ins.Bind(5, out.rows).Bind(6, out.parent).Bind(7, out.message).Bind(8, out.created_at_ms);
    return ins.Step().status();
  });
  if (!st.ok()) return st;
  return out;
}

Result<VersionRecord> SqliteCatalog::GetVersion(const std::string& name, int64_t version) {
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
  Stmt s(db_->db, sql.c_str());
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  if (version != 0) s.Bind(2, version);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError(fmt::format("dataset '{}' version {} not found", name, version));
  return ReadRecord(s);
}

Result<std::vector<VersionRecord>> SqliteCatalog::ListVersions(const std::string& name) {
  MutexLock lock(&mu_);
  const std::string sql = fmt::format(
      "SELECT {} FROM dataset_versions WHERE name = ?1 AND deleted_at_ms IS NULL ORDER BY version",
      kVersionColumns);
  Stmt s(db_->db, sql.c_str());
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, name);
  return ReadRecords(s);
}

Result<std::vector<VersionRecord>> SqliteCatalog::ListDatasets() {
  MutexLock lock(&mu_);
  const std::string sql = fmt::format(
      "SELECT {} FROM dataset_versions v WHERE deleted_at_ms IS NULL AND version = (SELECT "
      "MAX(version) FROM dataset_versions w WHERE w.name = v.name AND w.deleted_at_ms IS NULL) "
      "ORDER BY name",
      kVersionColumns);
  Stmt s(db_->db, sql.c_str());
  KILN_RETURN_IF_ERROR(s.ok());
  return ReadRecords(s);
}

Status SqliteCatalog::DeleteVersion(const std::string& name, int64_t version) {
  MutexLock lock(&mu_);
  sqlite3* db = db_->db;
  return Transaction(db, [&]() -> Status {
    Stmt s(db,
           "UPDATE dataset_versions SET deleted_at_ms = ?3 "
           "WHERE name = ?1 AND version = ?2 AND deleted_at_ms IS NULL");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, name).Bind(2, version).Bind(3, NowMs());
    KILN_RETURN_IF_ERROR(s.Step().status());
    if (sqlite3_changes(db) == 0) {
      return NotFoundError(fmt::format("dataset '{}' has no version {}", name, version));
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> SqliteCatalog::LiveManifests() {
  MutexLock lock(&mu_);
  Stmt s(db_->db, "SELECT manifest FROM dataset_versions WHERE deleted_at_ms IS NULL");
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<std::string> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

}  // namespace kiln::registry
