// SqlCatalog: API tokens — their SHA-256, role, expiry, revocation and last use.
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/registry/sql_catalog.h"
#include "registry/sql_audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

constexpr const char* kTokenColumns =
    "id, name, role, hash, created_ms, expires_ms, revoked_ms, last_used_ms";

Result<auth::TokenRecord> ReadToken(Stmt& s) {
  auth::TokenRecord t;
  t.id = s.Int(0);
  t.name = s.Text(1);
  KILN_ASSIGN_OR_RETURN(t.role, auth::ParseRole(s.Text(2)));
  t.hash = s.Text(3);
  t.created_ms = s.Int(4);
  t.expires_ms = s.Int(5);
  t.revoked_ms = s.Int(6);
  t.last_used_ms = s.Int(7);
  return t;
}

}  // namespace

Result<auth::TokenRecord> SqlCatalog::CreateToken(const auth::TokenRecord& token) {
  KILN_RETURN_IF_ERROR(ValidateName(token.name, "token name"));
  if (token.hash.size() != 64) return InvalidArgumentError("a token hash is 64 hex digits");
  if (token.expires_ms < 0) return InvalidArgumentError("token expiry must not be negative");
  auth::TokenRecord out = token;
  if (out.created_ms == 0) out.created_ms = NowMs();
  out.revoked_ms = 0;
  out.last_used_ms = 0;
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    Stmt taken(db, "SELECT 1 FROM auth_tokens WHERE (name = ?1 AND revoked_ms = 0) OR hash = ?2");
    KILN_RETURN_IF_ERROR(taken.ok());
    taken.Bind(1, out.name).Bind(2, out.hash);
    KILN_ASSIGN_OR_RETURN(bool exists, taken.Step());
    if (exists) {
      return AlreadyExistsError(
          fmt::format("a token named '{}' exists: revoke it first (kiln auth token revoke {})",
                      out.name, out.name));
    }
    Stmt s(db,
           "INSERT INTO auth_tokens(name, role, hash, created_ms, expires_ms, revoked_ms, "
           "last_used_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0) RETURNING id");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, out.name).Bind(2, std::string(auth::RoleName(out.role))).Bind(3, out.hash);
    s.Bind(4, out.created_ms).Bind(5, out.expires_ms);
    KILN_ASSIGN_OR_RETURN(out.id, ReturnedId(s, "token id"));
    return RecordAudit(db, audit_key_, "token.create", out.name, "ok",
                       fmt::format("role {}", auth::RoleName(out.role)));
  }));
  return out;
}

Result<std::vector<auth::TokenRecord>> SqlCatalog::ListTokens() {
  MutexLock lock(&mu_);
  Stmt s(db_.get(), fmt::format("SELECT {} FROM auth_tokens ORDER BY id", kTokenColumns));
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<auth::TokenRecord> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    KILN_ASSIGN_OR_RETURN(auto t, ReadToken(s));
    out.push_back(std::move(t));
  }
  return out;
}

Result<auth::TokenRecord> SqlCatalog::RevokeToken(const std::string& name, int64_t at_ms) {
  KILN_RETURN_IF_ERROR(ValidateName(name, "token name"));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  std::optional<auth::TokenRecord> out;
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    Stmt s(db, fmt::format("UPDATE auth_tokens SET revoked_ms = ?2 WHERE name = ?1 AND "
                           "revoked_ms = 0 RETURNING {}",
                           kTokenColumns));
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, name).Bind(2, std::max<int64_t>(1, at_ms));
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFoundError(fmt::format("no active token named '{}'", name));
    KILN_ASSIGN_OR_RETURN(out, ReadToken(s));
    KILN_RETURN_IF_ERROR(s.Step().status());
    return RecordAudit(db, audit_key_, "token.revoke", name, "ok", "");
  }));
  return std::move(*out);
}

Status SqlCatalog::TouchTokens(const std::vector<std::pair<std::string, int64_t>>& last_used) {
  if (last_used.empty()) return Status::Ok();
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    for (const auto& [hash, ms] : last_used) {
      Stmt s(db, "UPDATE auth_tokens SET last_used_ms = ?2 WHERE hash = ?1 AND last_used_ms < ?2");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, hash).Bind(2, ms);
      KILN_RETURN_IF_ERROR(s.Step().status());
    }
    return Status::Ok();
  });
}

}  // namespace kiln::registry
