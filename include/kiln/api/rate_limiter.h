// RateLimiter: token buckets by key — a token's name or a client address — for kiln serve's
// rate limits (kiln.yaml `serving.rate_limit`, docs/security.md; SC-06).
//
//   RateLimiter per_token({.rate = 100, .burst = 200});  // 100 requests/s, bursts of 200
//   if (int64_t wait = per_token.Take("token:ci"); wait > 0) -> 429, Retry-After: wait
//
// Each key's bucket holds up to `burst` requests and refills at `rate` per second. Buckets live
// in shards with a lock each; a shard holding more than its share of `max_keys` forgets the
// buckets that have refilled completely (they would behave exactly like new ones), and if more
// than half its share are still active, all of them: a flood of new addresses can neither grow
// memory without bound nor make each new key cost a scan.
// Thread-safety: Take() from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kiln/base/mutex.h"

namespace kiln::api {

class RateLimiter {
 public:
  struct Options {
    double rate = 0;   // requests per second; 0: no limit
    double burst = 0;  // bucket size; 0: max(1, 2 × rate)
    size_t max_keys = 100000;
  };
  explicit RateLimiter(Options options);

  bool enabled() const { return options_.rate > 0; }
  // Takes one request from `key`'s bucket: 0 if it had one, else the whole seconds until it
  // will (at least 1), for Retry-After.
  int64_t Take(std::string_view key,
               std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  // Lookups by string_view: a key already tracked costs no allocation.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>()(k); }
  };
  struct Shard {
    Mutex mu;
    std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets KILN_GUARDED_BY(mu);
  };
  void Forget(Shard& shard, std::chrono::steady_clock::time_point now) KILN_REQUIRES(shard.mu);

  Options options_;
  std::array<Shard, 16> shards_;
};

}  // namespace kiln::api
