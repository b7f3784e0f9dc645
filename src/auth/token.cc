#include "kiln/auth/token.h"

#include <openssl/rand.h>

#include <fmt/format.h>

#include "auth/hex.h"
#include "kiln/base/hash.h"
#include "kiln/base/names.h"

namespace kiln::auth {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kPredictor:
      return "predictor";
    case Role::kTrainer:
      return "trainer";
    case Role::kDeployer:
      return "deployer";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

Result<Role> ParseRole(std::string_view text) {
  for (Role r : {Role::kViewer, Role::kPredictor, Role::kTrainer, Role::kDeployer, Role::kAdmin}) {
    if (text == RoleName(r)) return r;
  }
  return InvalidArgumentError(fmt::format(
      "unknown role '{}' (viewer, predictor, trainer, deployer, admin)", Printable(text)));
}

std::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kPublic:
      return "public";
    case Permission::kRead:
      return "read";
    case Permission::kInfer:
      return "infer";
    case Permission::kSubmit:
      return "submit";
    case Permission::kDeploy:
      return "deploy";
    case Permission::kAdmin:
      return "admin";
  }
  return "admin";
}

Role MinimumRole(Permission permission) {
  switch (permission) {
    case Permission::kPublic:
    case Permission::kRead:
      return Role::kViewer;
    case Permission::kInfer:
      return Role::kPredictor;
    case Permission::kSubmit:
      return Role::kTrainer;
    case Permission::kDeploy:
      return Role::kDeployer;
    case Permission::kAdmin:
      return Role::kAdmin;
  }
  return Role::kAdmin;
}

Result<NewToken> GenerateToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return UnavailableError("the random source failed: no token was made");
  }
  NewToken t;
  t.secret = std::string(kTokenPrefix) + HexLower(bytes, sizeof bytes);
  t.hash = TokenHash(t.secret);
  return t;
}

std::string TokenHash(std::string_view secret) { return Sha256Hex(secret); }

bool LooksLikeToken(std::string_view text) {
  if (text.size() != kTokenLength || !text.starts_with(kTokenPrefix)) return false;
  for (char c : text.substr(kTokenPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace kiln::auth
