#include "kiln/auth/authenticator.h"

#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "kiln/base/clock.h"

namespace kiln::auth {

struct Authenticator::Snapshot {
  struct Entry {
    TokenRecord record;
    mutable std::atomic<int64_t> used_ms{0};  // when a request last presented it
  };
  std::vector<std::unique_ptr<Entry>> entries;
};

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The token of "Bearer <token>" (the scheme in any case); "" when the value is not that.
std::string_view BearerToken(std::string_view value) {
  while (!value.empty() && IsSpace(value.front())) value.remove_prefix(1);
  while (!value.empty() && IsSpace(value.back())) value.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !IsSpace(value[kScheme.size()])) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != kScheme[i]) return {};
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && IsSpace(value.front())) value.remove_prefix(1);
  return value;
}

}  // namespace

Authenticator::Authenticator(Load load, Touch touch)
    : load_(std::move(load)), touch_(std::move(touch)) {}
Authenticator::~Authenticator() = default;

Result<std::unique_ptr<Authenticator>> Authenticator::Create(Load load, Touch touch) {
  auto a = std::unique_ptr<Authenticator>(new Authenticator(std::move(load), std::move(touch)));
  {
    MutexLock lock(&a->mu_);
    a->snapshot_ = std::make_shared<const Snapshot>();
  }
  KILN_RETURN_IF_ERROR(a->Refresh());
  return a;
}

std::shared_ptr<const Authenticator::Snapshot> Authenticator::Current() const {
  MutexLock lock(&mu_);
  return snapshot_;
}

Result<Principal> Authenticator::Check(std::string_view authorization, Permission needed) const {
  if (needed == Permission::kPublic) return Principal{};
  if (authorization.empty()) {
    return UnauthenticatedError("missing credentials: send 'Authorization: Bearer <token>'");
  }
  const std::string_view token = BearerToken(authorization);
  if (!LooksLikeToken(token)) {
    return UnauthenticatedError("malformed credentials: expected 'Authorization: Bearer kiln_...'");
  }
  const std::string hash = TokenHash(token);
  const auto snapshot = Current();
  // Every hash is compared in full, whatever matched before it.
  const Snapshot::Entry* found = nullptr;
  for (const auto& e : snapshot->entries) {
    const bool same = e->record.hash.size() == hash.size() &&
                      CRYPTO_memcmp(e->record.hash.data(), hash.data(), hash.size()) == 0;
    found = same ? e.get() : found;
  }
  if (found == nullptr) return UnauthenticatedError("invalid token");
  const TokenRecord& r = found->record;
  const int64_t now = UnixMillis();
  if (r.revoked_ms != 0) {
    return UnauthenticatedError(fmt::format("token '{}' was revoked", r.name));
  }
  if (r.expires_ms != 0 && now >= r.expires_ms) {
    return UnauthenticatedError(fmt::format("token '{}' expired", r.name));
  }
  found->used_ms.store(now, std::memory_order_relaxed);
  if (!Allows(r.role, needed)) {
    return PermissionDeniedError(
        fmt::format("token '{}' has role {}: this needs the '{}' permission ({} or above)", r.name,
                    RoleName(r.role), PermissionName(needed), RoleName(MinimumRole(needed))));
  }
  return Principal{r.name, r.role};
}

Status Authenticator::Refresh() {
  const auto old = Current();
  std::vector<std::pair<std::string, int64_t>> used;
  std::map<std::string, int64_t> used_by_hash;
  for (const auto& e : old->entries) {
    const int64_t u = e->used_ms.load(std::memory_order_relaxed);
    if (u > e->record.last_used_ms) {
      used.emplace_back(e->record.hash, u);
      used_by_hash[e->record.hash] = u;
    }
  }
  Status touched = Status::Ok();
  if (!used.empty() && touch_) touched = touch_(used);
  KILN_ASSIGN_OR_RETURN(auto records, load_());
  auto next = std::make_shared<Snapshot>();
  next->entries.reserve(records.size());
  for (auto& r : records) {
    auto e = std::make_unique<Snapshot::Entry>();
    // Uses not written back (a failed touch) are kept for the next refresh.
    if (auto it = used_by_hash.find(r.hash); it != used_by_hash.end() && !touched.ok()) {
      e->used_ms.store(it->second, std::memory_order_relaxed);
    }
    e->record = std::move(r);
    next->entries.push_back(std::move(e));
  }
  {
    MutexLock lock(&mu_);
    snapshot_ = std::move(next);
  }
  return touched;
}

size_t Authenticator::active() const {
  const auto snapshot = Current();
  const int64_t now = UnixMillis();
  size_t n = 0;
  for (const auto& e : snapshot->entries) {
    const TokenRecord& r = e->record;
    n += r.revoked_ms == 0 && (r.expires_ms == 0 || now < r.expires_ms);
  }
  return n;
}

}  // namespace kiln::auth
