// The PostgreSQL driver of SqlCatalog (sql_db.h), on libpqxx. Statements arrive with SQLite's
// `?N` parameters and are sent as `$N` with every value bound (text format; bytea as hex).
// Write transactions take one transaction-scoped advisory lock, so catalog writers serialize as
// they do on SQLite; reads outside a transaction run on their own (autocommit).
#include <cmath>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

// The advisory lock key of catalog writers ("kiln").
constexpr int64_t kWriterLock = 0x6B696C6E;

Status PgError(std::string_view what, const std::exception& e) {
  std::string msg = fmt::format("catalog {}: {}", what, e.what());
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return UnavailableError(std::move(msg));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (state.starts_with("08") || state.starts_with("40") || state.starts_with("57") ||
        state == "55P03") {
      return UnavailableError(std::move(msg));  // connection, rollback, shutdown, lock timeout
    }
    if (state.starts_with("53")) return ResourceExhaustedError(std::move(msg));
    if (state == "23505") return AlreadyExistsError(std::move(msg));
    if (state.starts_with("23")) return FailedPreconditionError(std::move(msg));
    if (state.starts_with("XX")) return DataLossError(std::move(msg));
  }
  return InternalError(std::move(msg));
}

// `?N` (outside quoted literals) -> `$N`.
std::string ToDollarParams(const std::string& sql) {
  std::string out;
  out.reserve(sql.size());
  bool quoted = false;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') quoted = !quoted;
    if (!quoted && c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '$';
    } else {
      out += c;
    }
  }
  return out;
}

std::string DoubleText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", v);
}

class PostgresDb;

class PostgresStmt final : public SqlStmt {
 public:
  PostgresStmt(PostgresDb* db, std::string sql) : db_(db), sql_(std::move(sql)) {}

  Status status() const override { return Status::Ok(); }
  void BindText(int i, std::string_view v) override { Set(i, std::string(v)); }
  void BindInt(int i, int64_t v) override { Set(i, std::to_string(v)); }
  void BindDouble(int i, double v) override { Set(i, DoubleText(v)); }
  void BindBlob(int i, std::string_view bytes) override {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex = "\\x";
    hex.reserve(2 + 2 * bytes.size());
    for (unsigned char c : bytes) {
      hex += kHex[c >> 4];
      hex += kHex[c & 15];
    }
    Set(i, std::move(hex));
  }
  void BindNull(int i) override { Set(i, std::nullopt); }

  Result<bool> Step() override;

  int64_t Int(int col) override {
    const auto& f = Field(col);
    return f.is_null() ? 0 : std::strtoll(f.c_str(), nullptr, 10);
  }
  double Double(int col) override {
    const auto& f = Field(col);
    return f.is_null() ? 0 : std::strtod(f.c_str(), nullptr);
  }
  bool IsNull(int col) override { return Field(col).is_null(); }
  std::string Text(int col) override {
    const auto& f = Field(col);
    return f.is_null() ? std::string() : std::string(f.c_str(), f.size());
  }
  std::string_view Blob(int col) override {
    const auto& f = Field(col);
    if (blobs_.size() <= static_cast<size_t>(col)) blobs_.resize(static_cast<size_t>(col) + 1);
    std::string& blob = blobs_[static_cast<size_t>(col)];
    blob.clear();
    const std::string_view hex(f.c_str(), f.size());
    if (f.is_null() || !hex.starts_with("\\x")) return blob;
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    blob.reserve((hex.size() - 2) / 2);
    for (size_t i = 2; i + 1 < hex.size(); i += 2) {
      blob += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
    }
    return blob;
  }

 private:
  void Set(int i, std::optional<std::string> v) {
    if (i < 1) return;
    if (params_.size() < static_cast<size_t>(i)) params_.resize(static_cast<size_t>(i));
    params_[static_cast<size_t>(i) - 1] = std::move(v);
  }
  pqxx::field Field(int col) const {
    return result_[static_cast<pqxx::result::size_type>(row_)][col];
  }

  PostgresDb* db_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  bool executed_ = false;
  pqxx::result result_;
  int64_t row_ = -1;
  std::vector<std::string> blobs_;  // decoded bytea per column, for Blob's views
};

class PostgresDb final : public SqlDb {
 public:
  Status Open(const std::string& url) {
    try {
      conn_ = std::make_unique<pqxx::connection>(url);
      quiet_ = std::make_unique<pqxx::quiet_errorhandler>(*conn_);
      pqxx::nontransaction n(*conn_);
      n.exec("SET client_min_messages TO warning");
      // Catalog statements are short index lookups: compiling them costs more than it saves.
      n.exec("SET jit = off");
      return Status::Ok();
    } catch (const std::exception& e) {
      return PgError("connect", e);
    }
  }
  ~PostgresDb() override {
    quiet_.reset();
    conn_.reset();
  }

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  std::unique_ptr<SqlStmt> Prepare(const std::string& sql) override {
    return std::make_unique<PostgresStmt>(this, ToDollarParams(sql));
  }
  Status Exec(const std::string& sql) override {
    try {
      if (txn_ != nullptr) {
        txn_->exec(sql);
      } else {
        pqxx::nontransaction n(*conn_);
        n.exec(sql);
      }
      return Status::Ok();
    } catch (const std::exception& e) {
      return PgError("exec", e);
    }
  }
  Status Transaction(const std::function<Status()>& body) override {
    if (txn_ != nullptr) return InternalError("catalog transactions do not nest");
    try {
      pqxx::work w(*conn_);
      txn_ = &w;
      w.exec(fmt::format("SELECT pg_advisory_xact_lock({})", kWriterLock));
      Status s = body();
      txn_ = nullptr;
      if (!s.ok()) {
        w.abort();
        return s;
      }
      w.commit();
      return Status::Ok();
    } catch (const std::exception& e) {
      txn_ = nullptr;
      return PgError("transaction", e);
    }
  }

  // Runs `sql` with `params` in the open transaction, or on its own.
  pqxx::result Run(const std::string& sql, const std::vector<const char*>& params) {
    auto dyn = pqxx::prepare::make_dynamic_params(params);
    if (txn_ != nullptr) return txn_->exec_params(sql, dyn);
    pqxx::nontransaction n(*conn_);
    return n.exec_params(sql, dyn);
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::quiet_errorhandler> quiet_;
  pqxx::work* txn_ = nullptr;
};

Result<bool> PostgresStmt::Step() {
  if (!executed_) {
    executed_ = true;
    std::vector<const char*> values;
    values.reserve(params_.size());
    for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
    try {
      result_ = db_->Run(sql_, values);
    } catch (const std::exception& e) {
      return PgError("query", e);
    }
  }
  ++row_;
  return row_ < static_cast<int64_t>(result_.size());
}

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenPostgresDb(const std::string& url) {
  auto db = std::make_unique<PostgresDb>();
  KILN_RETURN_IF_ERROR(db->Open(url));
  return std::unique_ptr<SqlDb>(std::move(db));
}

}  // namespace kiln::registry
