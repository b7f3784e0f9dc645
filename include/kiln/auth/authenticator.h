// Authenticator: checks the credentials of a request against the tokens of a kiln home.
//
//   auto a = Authenticator::Create(load, touch);       // load: the catalog's tokens
//   auto who = (*a)->Check("Bearer kiln_…", Permission::kInfer);
//   // Unauthenticated: missing, malformed, unknown, expired or revoked token
//   // PermissionDenied: a valid token whose role lacks the permission
//   (*a)->Refresh();                                   // every second, off the request path
//
// Check() works on an in-memory snapshot: the token's SHA-256 is compared with every known
// hash in constant time (CRYPTO_memcmp, no early exit), so neither the answer's timing nor its
// path depends on how much of a hash matched. Refresh() loads the tokens again (new ones,
// revocations) and writes back when each was last used, so a revocation takes effect within one
// refresh interval.
//
// Thread-safety: Check() from any number of threads; Refresh() from one at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/auth/token.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln::auth {

// Who made a request.
struct Principal {
  std::string name;  // the token's name
  Role role = Role::kViewer;
};

class Authenticator {
 public:
  // Every token, revoked and expired ones included.
  using Load = std::function<Result<std::vector<TokenRecord>>()>;
  // (hash, last used ms) of the tokens used since the last refresh.
  using Touch = std::function<Status(const std::vector<std::pair<std::string, int64_t>>&)>;

  // Loads the tokens once; the error of `load` if that fails.
  static Result<std::unique_ptr<Authenticator>> Create(Load load, Touch touch);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // `authorization`: the request's Authorization header (or gRPC `authorization` metadata)
  // value, "" when it sent none. A kPublic permission is granted without looking at it.
  Result<Principal> Check(std::string_view authorization, Permission needed) const;
  // Writes back last-used times, then loads the tokens again. On an error the old snapshot
  // stays in force.
  Status Refresh();
  // Tokens that can be used now (not revoked, not expired).
  size_t active() const;

 private:
  struct Snapshot;
  Authenticator(Load load, Touch touch);
  std::shared_ptr<const Snapshot> Current() const;

  Load load_;
  Touch touch_;
  mutable Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::auth
