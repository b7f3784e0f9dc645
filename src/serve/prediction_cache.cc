#include "kiln/serve/prediction_cache.h"

#include <cstring>

namespace kiln::serve {
namespace {

uint64_t AnswerBytes(const InferResponse& r) {
  uint64_t n = sizeof(InferResponse) + r.model_name.size() + r.model_version.size();
  for (const auto& o : r.outputs) {
    n += sizeof(OutputTensor) + o.name.size() + o.shape.size() * sizeof(int64_t) +
         o.numbers.size() * sizeof(double);
    for (const auto& s : o.strings) n += sizeof(std::string) + s.size();
  }
  return n;
}

}  // namespace

std::string PredictionCache::Key(const ServedModel& m, const PreparedInfer& p) {
  const uint64_t head[4] = {
      static_cast<uint64_t>(m.version),
      (p.predict ? 1u : 0u) | (p.probabilities ? 2u : 0u) | (p.contributions ? 4u : 0u), p.x.rows,
      p.x.cols};
  std::string key(sizeof head + p.x.values.size() * sizeof(double), '\0');
  std::memcpy(key.data(), head, sizeof head);
  if (!p.x.values.empty()) {
    std::memcpy(key.data() + sizeof head, p.x.values.data(), p.x.values.size() * sizeof(double));
  }
  return key;
}

std::shared_ptr<const InferResponse> PredictionCache::Get(const std::string& key,
                                                          Clock::time_point now) {
  MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  if (it->second->expires <= now) {
    Erase(it->second);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->answer;
}

void PredictionCache::Put(std::string key, std::shared_ptr<const InferResponse> answer,
                          Clock::time_point now) {
  if (policy_.max_entries == 0 || !answer) return;
  const uint64_t size = sizeof(Entry) + 2 * key.size() + AnswerBytes(*answer);
  if (size > policy_.max_bytes) return;
  MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) Erase(it->second);
  while (!lru_.empty() &&
         (lru_.size() >= policy_.max_entries || bytes_ + size > policy_.max_bytes)) {
    Erase(std::prev(lru_.end()));
  }
  lru_.push_front(
      {std::move(key), std::move(answer), now + std::chrono::milliseconds(policy_.ttl_ms), size});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += size;
}

void PredictionCache::Erase(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
}

size_t PredictionCache::entries() const {
  MutexLock lock(&mu_);
  return lru_.size();
}

uint64_t PredictionCache::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace kiln::serve
