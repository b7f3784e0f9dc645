#include "kiln/api/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace kiln::api {

RateLimiter::RateLimiter(Options options) : options_(options) {
  if (options_.burst <= 0) options_.burst = std::max(1.0, 2 * options_.rate);
}

int64_t RateLimiter::Take(std::string_view key, std::chrono::steady_clock::time_point now) {
  if (!enabled()) return 0;
  Shard& shard = shards_[KeyHash()(key) % shards_.size()];
  MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(key);
  const bool fresh = it == shard.buckets.end();
  if (fresh) it = shard.buckets.emplace(std::string(key), Bucket{options_.burst, now}).first;
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(options_.burst, b.tokens + std::max(0.0, elapsed) * options_.rate);
    b.at = now;
  }
  int64_t wait = 0;
  if (b.tokens >= 1) {
    b.tokens -= 1;
  } else {
    wait = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - b.tokens) / options_.rate)));
  }
  if (fresh && shard.buckets.size() > options_.max_keys / shards_.size()) Forget(shard, now);
  return wait;
}

void RateLimiter::Forget(Shard& shard, std::chrono::steady_clock::time_point now) {
  const double refill_s = options_.burst / options_.rate;
  std::erase_if(shard.buckets, [&](const auto& kv) {
    const double idle = std::chrono::duration<double>(now - kv.second.at).count();
    return kv.second.tokens + idle * options_.rate >= options_.burst || idle >= refill_s;
  });
  // Still over its share (more keys active at once than max_keys): start the shard afresh, so
  // memory and the cost of forgetting stay bounded; those keys get full buckets again.
  if (shard.buckets.size() > options_.max_keys / shards_.size() / 2) shard.buckets.clear();
}

}  // namespace kiln::api
