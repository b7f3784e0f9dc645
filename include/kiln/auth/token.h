// Tokens, roles and permissions: who may do what to a kiln server (docs/security.md).
//
// A token is "kiln_" followed by 64 hex digits (256 bits from the operating system's random
// source). It is shown once, when it is made; the catalog keeps only its SHA-256.
//
// Roles, least privilege first; each has every permission of the roles before it:
//   viewer     read      metadata, runs, models, metrics, monitoring
//   predictor  infer     + inference, feedback
//   trainer    submit    + ingest / train / tune / predict / eval jobs, registration
//   deployer   deploy    + aliases, promotion, rollback, routing, repository load / unload,
//                          promote and retrain jobs
//   admin      admin     + tokens, configuration, deletion, garbage collection
// Permission::kPublic needs no token at all (the health endpoints).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/base/status.h"

namespace kiln::auth {

enum class Role { kViewer, kPredictor, kTrainer, kDeployer, kAdmin };
enum class Permission { kPublic, kRead, kInfer, kSubmit, kDeploy, kAdmin };

// "viewer", "predictor", "trainer", "deployer", "admin".
std::string_view RoleName(Role role);
// InvalidArgument naming the roles for anything else.
Result<Role> ParseRole(std::string_view text);
// "public", "read", "infer", "submit", "deploy", "admin".
std::string_view PermissionName(Permission permission);
// The least role that has `permission` (viewer for kPublic).
Role MinimumRole(Permission permission);
inline bool Allows(Role role, Permission permission) {
  return permission == Permission::kPublic || role >= MinimumRole(permission);
}

// A token as the catalog keeps it: never the token itself.
struct TokenRecord {
  int64_t id = 0;
  std::string name;
  Role role = Role::kViewer;
  std::string hash;          // lower-case hex SHA-256 of the token
  int64_t created_ms = 0;    // Unix time
  int64_t expires_ms = 0;    // 0: never
  int64_t revoked_ms = 0;    // 0: not revoked
  int64_t last_used_ms = 0;  // 0: never used (kept to about a second by the servers)
};

inline constexpr std::string_view kTokenPrefix = "kiln_";
inline constexpr size_t kTokenLength = 5 + 64;

struct NewToken {
  std::string secret;  // shown once
  std::string hash;    // TokenHash(secret)
};
// Unavailable if the random source fails.
Result<NewToken> GenerateToken();
// Lower-case hex SHA-256 of `secret`.
std::string TokenHash(std::string_view secret);
// Whether `text` has a token's shape ("kiln_" and 64 lower-case hex digits).
bool LooksLikeToken(std::string_view text);

}  // namespace kiln::auth
