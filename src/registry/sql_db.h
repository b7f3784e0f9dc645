// The SQL connection under SqlCatalog: one small interface with two drivers, SQLite (the
// embedded meta.db) and PostgreSQL (libpqxx). The catalog's statements are written once, with
// SQLite-style `?N` parameters (the PostgreSQL driver turns them into `$N`), and every value is
// bound, never pasted. Private to the registry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/status.h"
#include "kiln/registry/sql_catalog.h"
#include "registry/run_filter.h"

namespace kiln::registry {

// One statement with its bound parameters; `Step` runs it (the first call) and walks the rows.
class SqlStmt {
 public:
  virtual ~SqlStmt() = default;
  virtual Status status() const = 0;  // a prepare error, surfaced before binding
  virtual void BindText(int i, std::string_view v) = 0;
  virtual void BindInt(int i, int64_t v) = 0;
  virtual void BindDouble(int i, double v) = 0;
  virtual void BindBlob(int i, std::string_view bytes) = 0;
  virtual void BindNull(int i) = 0;
  // true if a row is available, false when done.
  virtual Result<bool> Step() = 0;
  virtual int64_t Int(int col) = 0;  // NULL reads as 0
  virtual double Double(int col) = 0;
  virtual bool IsNull(int col) = 0;
  virtual std::string Text(int col) = 0;  // NULL reads as ""
  // Valid until the next Step.
  virtual std::string_view Blob(int col) = 0;
};

class SqlDb {
 public:
  virtual ~SqlDb() = default;
  virtual SqlDialect dialect() const = 0;
  virtual std::unique_ptr<SqlStmt> Prepare(const std::string& sql) = 0;
  // Runs `sql` (no parameters; may hold several statements).
  virtual Status Exec(const std::string& sql) = 0;
  // Runs `body` as one transaction that excludes every other writer of the catalog (SQLite:
  // BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), committing if it returns
  // OK and rolling back otherwise. Not nestable.
  virtual Status Transaction(const std::function<Status()>& body) = 0;
};

Result<std::unique_ptr<SqlDb>> OpenSqliteDb(const std::string& path, const SqliteOptions& options);
Result<std::unique_ptr<SqlDb>> OpenPostgresDb(const std::string& url);

// A statement handle with chainable binds (Stmt s(db, "..."); s.Bind(1, x).Bind(2, y)).
class Stmt {
 public:
  Stmt(SqlDb* db, const std::string& sql) : s_(db->Prepare(sql)) {}
  Status ok() const { return s_->status(); }
  Stmt& Bind(int i, const std::string& v) {
    s_->BindText(i, v);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    s_->BindInt(i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    s_->BindDouble(i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const void* data, size_t size) {
    s_->BindBlob(i, std::string_view(static_cast<const char*>(data), size));
    return *this;
  }
  // Text, or NULL for "" (optional text columns).
  Stmt& BindOptional(int i, const std::string& v) {
    if (v.empty()) {
      s_->BindNull(i);
      return *this;
    }
    return Bind(i, v);
  }
  Stmt& BindNull(int i) {
    s_->BindNull(i);
    return *this;
  }
  Result<bool> Step() { return s_->Step(); }
  int64_t Int(int col) { return s_->Int(col); }
  double Double(int col) { return s_->Double(col); }
  bool IsNull(int col) { return s_->IsNull(col); }
  std::string_view Blob(int col) { return s_->Blob(col); }
  std::string Text(int col) { return s_->Text(col); }

 private:
  std::unique_ptr<SqlStmt> s_;
};

inline Status Exec(SqlDb* db, const std::string& sql) { return db->Exec(sql); }

template <typename F>
Status Transaction(SqlDb* db, F&& body) {
  return db->Transaction(std::function<Status()>(std::forward<F>(body)));
}

inline int64_t NowMs() { return UnixMillis(); }

// Runs a statement that returns one integer (`INSERT ... RETURNING id`) to its end; the value.
inline Result<int64_t> ReturnedId(Stmt& s, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return InternalError(fmt::format("no {} returned", what));
  const int64_t id = s.Int(0);
  KILN_RETURN_IF_ERROR(s.Step().status());
  return id;
}

// Bumps and returns the version counter of `name` (creating it at 1) in `table`, which has
// columns (name, <created_column>, last_version): datasets and models. Inside a transaction.
inline Result<int64_t> NextVersion(SqlDb* db, const char* table, const char* created_column,
                                   const std::string& name, int64_t created_ms) {
  const std::string sql = fmt::format(
      "INSERT INTO {0}(name, {1}, last_version) VALUES (?1, ?2, 1) ON CONFLICT(name) DO UPDATE "
      "SET last_version = {0}.last_version + 1 RETURNING last_version",
      table, created_column);
  Stmt up(db, sql);
  KILN_RETURN_IF_ERROR(up.ok());
  up.Bind(1, name).Bind(2, created_ms);
  return ReturnedId(up, "version number");
}

// The first column of every row `sql` (no parameters) selects, as text.
inline Result<std::vector<std::string>> ReadTexts(SqlDb* db, const std::string& sql) {
  Stmt s(db, sql);
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<std::string> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(s.Text(0));
  }
}

}  // namespace kiln::registry
