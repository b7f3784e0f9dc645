// API tokens of a kiln home: `kiln auth token create|list|revoke` and the authenticator
// `kiln serve` checks requests with (auth/token.h, docs/security.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/auth/authenticator.h"
#include "kiln/auth/token.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

struct CreatedToken {
  auth::TokenRecord record;
  std::string secret;  // shown once, stored nowhere
};

// A new token `name` with `role`, valid for `expires_in_ms` (0: no expiry). AlreadyExists if
// an unrevoked token has that name.
Result<CreatedToken> CreateToken(Home& home, const std::string& name, auth::Role role,
                                 int64_t expires_in_ms);
// Every token, revoked ones included, oldest first (never the tokens themselves).
Result<std::vector<auth::TokenRecord>> ListTokens(Home& home);
// NotFound if no unrevoked token has that name.
Result<auth::TokenRecord> RevokeToken(Home& home, const std::string& name);
// "active", "expired" or "revoked" at `now_ms`.
std::string TokenState(const auth::TokenRecord& token, int64_t now_ms);
// An authenticator over the home's catalog; `home` must outlive it.
Result<std::unique_ptr<auth::Authenticator>> OpenAuthenticator(Home& home);

}  // namespace kiln::pipeline
