// The SQLite driver of SqlCatalog (sql_db.h): meta.db in WAL mode, synchronous=FULL, foreign
// keys on, write transactions as BEGIN IMMEDIATE.
#include <sqlite3.h>

#include <fmt/format.h>

#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg =
      fmt::format("catalog {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return UnavailableError(std::move(msg));
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return DataLossError(std::move(msg));
  if (primary == SQLITE_FULL) return ResourceExhaustedError(std::move(msg));
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY)
    return FailedPreconditionError(std::move(msg));
  if (primary == SQLITE_CONSTRAINT) {
    // As the PostgreSQL driver maps SQLSTATE 23505 / 23xxx.
    const int ext = db ? sqlite3_extended_errcode(db) : rc;
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return AlreadyExistsError(std::move(msg));
    }
    return FailedPreconditionError(std::move(msg));
  }
  return InternalError(std::move(msg));
}

class SqliteStmt final : public SqlStmt {
 public:
  SqliteStmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~SqliteStmt() override { sqlite3_finalize(stmt_); }

  Status status() const override {
    return rc_ == SQLITE_OK ? Status::Ok() : SqliteError(db_, rc_, "prepare");
  }
  void BindText(int i, std::string_view v) override {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindInt(int i, int64_t v) override { sqlite3_bind_int64(stmt_, i, v); }
  void BindDouble(int i, double v) override { sqlite3_bind_double(stmt_, i, v); }
  void BindBlob(int i, std::string_view bytes) override {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  void BindNull(int i) override { sqlite3_bind_null(stmt_, i); }
  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, "query");
  }
  int64_t Int(int col) override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) override { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) override {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }
  std::string_view Blob(int col) override {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p),
                                static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

class SqliteDb final : public SqlDb {
 public:
  ~SqliteDb() override { sqlite3_close_v2(db_); }

  Status Open(const std::string& path, const SqliteOptions& options) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "open");
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    KILN_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    KILN_RETURN_IF_ERROR(
        Exec(options.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
    return Exec("PRAGMA foreign_keys=ON");
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  std::unique_ptr<SqlStmt> Prepare(const std::string& sql) override {
    return std::make_unique<SqliteStmt>(db_, sql);
  }
  Status Exec(const std::string& sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return SqliteError(nullptr, rc, msg);
    }
    return Status::Ok();
  }
  Status Transaction(const std::function<Status()>& body) override {
    KILN_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = body();
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) Exec("ROLLBACK").IgnoreError();
    return s;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenSqliteDb(const std::string& path, const SqliteOptions& options) {
  auto db = std::make_unique<SqliteDb>();
  KILN_RETURN_IF_ERROR(db->Open(path, options));
  return std::unique_ptr<SqlDb>(std::move(db));
}

}  // namespace kiln::registry
