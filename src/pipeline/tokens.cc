#include "kiln/pipeline/tokens.h"

#include <chrono>

#include "kiln/base/clock.h"
#include "kiln/base/names.h"

namespace kiln::pipeline {

namespace {}  // namespace

Result<CreatedToken> CreateToken(Home& home, const std::string& name, auth::Role role,
                                 int64_t expires_in_ms) {
  KILN_RETURN_IF_ERROR(ValidateName(name, "token name"));
  if (expires_in_ms < 0) return InvalidArgumentError("a token's lifetime must not be negative");
  KILN_ASSIGN_OR_RETURN(auth::NewToken made, auth::GenerateToken());
  auth::TokenRecord r;
  r.name = name;
  r.role = role;
  r.hash = made.hash;
  r.created_ms = UnixMillis();
  r.expires_ms = expires_in_ms == 0 ? 0 : r.created_ms + expires_in_ms;
  KILN_ASSIGN_OR_RETURN(r, home.catalog().CreateToken(r));
  return CreatedToken{std::move(r), std::move(made.secret)};
}

Result<std::vector<auth::TokenRecord>> ListTokens(Home& home) {
  return home.catalog().ListTokens();
}

Result<auth::TokenRecord> RevokeToken(Home& home, const std::string& name) {
  return home.catalog().RevokeToken(name, UnixMillis());
}

std::string TokenState(const auth::TokenRecord& token, int64_t now_ms) {
  if (token.revoked_ms != 0) return "revoked";
  if (token.expires_ms != 0 && now_ms >= token.expires_ms) return "expired";
  return "active";
}

Result<std::unique_ptr<auth::Authenticator>> OpenAuthenticator(Home& home) {
  registry::CatalogStore* catalog = &home.catalog();
  return auth::Authenticator::Create(
      [catalog] { return catalog->ListTokens(); },
      [catalog](const std::vector<std::pair<std::string, int64_t>>& used) {
        return catalog->TouchTokens(used);
      });
}

}  // namespace kiln::pipeline
