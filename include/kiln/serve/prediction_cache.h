// PredictionCache: answers of one model kept for requests that repeat — LRU, each entry living
// at most `ttl_ms`, bounded in entries and in bytes (keys and answers both count).
//
// The key is the request in canonical form: the served version, what the request asks for
// (predict, probabilities, contributions) and its feature rows as the model sees them — so the
// same rows sent as columns or as a matrix, or with categories as text or as codes, share an
// entry, and a new version (a hot reload) never sees the old version's answers. Keys are
// compared in full, not by hash: a hit is always the answer to exactly these rows.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "kiln/base/mutex.h"
#include "kiln/serve/inference.h"
#include "kiln/serve/model_manager.h"

namespace kiln::serve {

struct CachePolicy {
  uint64_t max_entries = 0;  // 0: no cache (the default)
  uint64_t max_bytes = 64ull << 20;
  uint32_t ttl_ms = 60000;
};

class PredictionCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit PredictionCache(CachePolicy policy) : policy_(policy) {}

  // The canonical key of a prepared request to version `m`.
  static std::string Key(const ServedModel& m, const PreparedInfer& p);
  // The answer stored under `key` if it is younger than the TTL (the entry becomes the most
  // recently used), else null.
  std::shared_ptr<const InferResponse> Get(const std::string& key, Clock::time_point now);
  // Stores an answer, evicting the least recently used entries past the bounds. An answer
  // larger than the byte bound alone is not stored.
  void Put(std::string key, std::shared_ptr<const InferResponse> answer, Clock::time_point now);

  size_t entries() const;
  uint64_t bytes() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const InferResponse> answer;
    Clock::time_point expires;
    uint64_t bytes = 0;
  };
  void Erase(std::list<Entry>::iterator it) KILN_REQUIRES(mu_);

  const CachePolicy policy_;
  mutable Mutex mu_;
  std::list<Entry> lru_ KILN_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_ KILN_GUARDED_BY(mu_);
  uint64_t bytes_ KILN_GUARDED_BY(mu_) = 0;
};

}  // namespace kiln::serve
