// SQLite helpers shared by the catalog's parts: error mapping, a prepared statement that
// finalizes itself, exec, and BEGIN IMMEDIATE transactions. Private to the registry.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/status.h"
#include "kiln/registry/sqlite_catalog.h"

namespace kiln::registry {

inline Status SqlError(sqlite3* db, int rc, std::string_view what) {
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
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const void* data, size_t size) {
    sqlite3_bind_blob(stmt_, i, data, static_cast<int>(size), SQLITE_TRANSIENT);
    return *this;
  }
  // Text, or NULL for "" (optional text columns).
  Stmt& BindOptional(int i, const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
      return *this;
    }
    return Bind(i, v);
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
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
  double Double(int col) { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string_view Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p),
                                static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::string Text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

inline Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return SqlError(nullptr, rc, msg);
  }
  return Status::Ok();
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

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Bumps and returns the version counter of `name` (creating it at 1) in `table`, which has
// columns (name, <created_column>, last_version): datasets and models. Inside a transaction.
inline Result<int64_t> NextVersion(sqlite3* db, const char* table, const char* created_column,
                                   const std::string& name, int64_t created_ms) {
  const std::string sql = fmt::format(
      "INSERT INTO {}(name, {}, last_version) VALUES (?1, ?2, 1) ON CONFLICT(name) DO UPDATE "
      "SET last_version = last_version + 1 RETURNING last_version",
      table, created_column);
  Stmt up(db, sql.c_str());
  KILN_RETURN_IF_ERROR(up.ok());
  up.Bind(1, name).Bind(2, created_ms);
  KILN_ASSIGN_OR_RETURN(bool row, up.Step());
  if (!row) return InternalError("no version number returned");
  const int64_t version = up.Int(0);
  KILN_RETURN_IF_ERROR(up.Step().status());
  return version;
}

// The first column of every row `sql` (no parameters) selects, as text.
inline Result<std::vector<std::string>> ReadTexts(sqlite3* db, const char* sql) {
  Stmt s(db, sql);
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<std::string> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(s.Text(0));
  }
}

// Appends the (key, value) text rows `sql` selects (one bound integer ?1) to `out`.
template <typename Map>
Status ReadKeyValues(sqlite3* db, const char* sql, int64_t id, Map* out) {
  Stmt s(db, sql);
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, id);
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::Ok();
    if constexpr (std::is_same_v<typename Map::mapped_type, double>) {
      (*out)[s.Text(0)] = s.Double(1);
    } else {
      (*out)[s.Text(0)] = s.Text(1);
    }
  }
}

// The connection behind a SqliteCatalog (its parts live in several files).
struct SqliteCatalog::Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

}  // namespace kiln::registry
