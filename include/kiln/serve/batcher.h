// Batcher: the dynamic batcher and inference pool of the server.
//
// Requests are prepared (parsed, checked, turned into feature rows) on the IO thread that read
// them and queued here; a fixed set of inference threads takes them per model version, merges
// queued requests of the same version into one predictor call of up to `max_batch_size` rows
// (waiting up to `max_queue_delay_us` after the oldest one arrived for more to come), then
// splits the outputs and answers each request through its callback.
//
//   Batcher batcher(BatcherOptions{.threads = 2}, &metrics);
//   Status s = batcher.Submit(model, std::move(prepared), deadline,
//                             [](Result<InferResponse> r) { ... });   // once, on a worker
//   if (!s.ok()) ...  // queue full (Unavailable), stopped (Unavailable), deadline past
//
// The queue is bounded (requests and bytes): Submit refuses with Unavailable at once rather
// than letting latency grow without bound. A request whose deadline passes while it waits is
// answered DeadlineExceeded without being computed. Stop() computes what is queued, then joins.
// A model whose policy enables the prediction cache has repeated requests answered from it —
// at once, inside Submit — and computed answers stored in it.
//
// Thread-safety: Submit and Stop from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/base/thread_pool.h"
#include "kiln/monitor/metrics.h"
#include "kiln/serve/inference.h"
#include "kiln/serve/model_manager.h"
#include "kiln/serve/prediction_cache.h"

namespace kiln::serve {

struct BatchPolicy {
  uint64_t max_batch_size = 256;    // rows per predictor call (one larger request runs alone)
  uint32_t max_queue_delay_us = 0;  // 0: take what is queued, never wait for more
  CachePolicy cache;                // the model's prediction cache (off by default)
};

struct BatcherOptions {
  int threads = 0;  // inference threads; 0 = hardware concurrency
  BatchPolicy policy;
  std::map<std::string, BatchPolicy> per_model;  // by model name, over `policy`
  size_t max_queue_requests = 4096;
  uint64_t max_queue_bytes = 1ull << 30;
  // Requests of at most this many rows (without explanations) are computed by the thread that
  // submits them when their model has nothing queued and no queue delay — no thread hop. For
  // servers whose IO threads have cores of their own to compute on; 0 = never.
  uint64_t inline_max_rows = 0;
};

using InferCallback = std::function<void(Result<InferResponse>)>;

// Triton's statistics for one model version, cumulative since it was first asked for (counts,
// and durations in nanoseconds). Per request: success / fail (arrival to answer), queue (waiting
// for compute), compute_infer (its batch's predictor call), compute_output (its own outputs);
// cache_hit / cache_miss; inference_count counts rows, execution_count predictor calls.
struct InferStats {
  struct Duration {
    std::atomic<uint64_t> count{0}, ns{0};
    void Add(std::chrono::steady_clock::duration d) {
      count.fetch_add(1, std::memory_order_relaxed);
      ns.fetch_add(static_cast<uint64_t>(std::chrono::nanoseconds(d).count()),
                   std::memory_order_relaxed);
    }
  };
  std::string name;
  int64_t version = 0;
  Duration success, fail, queue, compute_infer, compute_output, cache_hit, cache_miss;
  std::atomic<uint64_t> inference_count{0}, execution_count{0};
  std::atomic<int64_t> last_inference_ms{0};  // Unix time of the last answer
};

class Batcher {
 public:
  using Clock = std::chrono::steady_clock;
  // `metrics` (may be null) gets queue depth, queue time, compute time and batch size.
  Batcher(BatcherOptions options, monitor::MetricsRegistry* metrics);
  ~Batcher();  // Stop()
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a prepared request; `done` is called exactly once, from an inference thread (or
  // from inside Submit for a cache hit or an inline computation) — unless Submit returns an
  // error, in which case it is never called.
  // `allow_inline` false keeps the request off the calling thread whatever inline_max_rows
  // says (a shadow copy must never delay the request it mirrors).
  Status Submit(std::shared_ptr<const ServedModel> model, PreparedInfer request,
                Clock::time_point deadline, InferCallback done, bool allow_inline = true);
  // Refuses new requests, computes the queued ones, joins the threads. Idempotent.
  void Stop();
  size_t queued() const;
  // The statistics of every version of `model` asked for so far ("" = every model), by name
  // and version.
  std::vector<std::shared_ptr<const InferStats>> Stats(const std::string& model) const;

 private:
  // A model's prediction cache and its series.
  struct ModelCache {
    explicit ModelCache(CachePolicy policy) : cache(policy) {}
    PredictionCache cache;
    monitor::Counter *hits = nullptr, *misses = nullptr;
    monitor::Gauge* entries = nullptr;
  };
  struct Item {
    PreparedInfer request;
    Clock::time_point arrived, deadline;
    InferCallback done;
    ModelCache* cache = nullptr;  // store the answer here under `cache_key`
    std::string cache_key;
    InferStats* stats = nullptr;
  };
  struct QueueMetrics {
    monitor::Histogram *queue_time = nullptr, *compute_time = nullptr, *batch_rows = nullptr;
  };
  // The queue of one model version and its metrics (looked up once).
  struct ModelQueue {
    std::shared_ptr<const ServedModel> model;
    BatchPolicy policy;
    std::deque<Item> items;
    uint64_t rows = 0;
    QueueMetrics metrics;
  };
  void Worker();
  // The ready queue (full, its delay over, or stopping) whose head waited longest; null if none
  // is ready, with `wake` the time the first one will be (max() when nothing is queued).
  ModelQueue* Pick(Clock::time_point* wake) KILN_REQUIRES(mu_);
  InferStats* StatsFor(const ServedModel& m) KILN_REQUIRES(mu_);
  const BatchPolicy& PolicyFor(const std::string& model) const;
  QueueMetrics MetricsFor(const std::string& model) KILN_REQUIRES(mu_);
  // The model's cache, created on first use; null when its policy has none.
  ModelCache* CacheFor(const std::string& model) KILN_REQUIRES(mu_);
  void Run(const ServedModel& m, const QueueMetrics& metrics, std::vector<Item>& batch,
           const ExecContext& ctx);
  static void Answer(Item& item, Result<InferResponse> resp);

  const BatcherOptions options_;
  monitor::MetricsRegistry* metrics_;
  monitor::Gauge* depth_ = nullptr;
  mutable Mutex mu_;
  CondVar cv_;
  // Keyed by the served version (its snapshot stays alive while requests for it wait).
  std::map<const ServedModel*, std::unique_ptr<ModelQueue>> queues_ KILN_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<ModelCache>> caches_ KILN_GUARDED_BY(mu_);  // by name
  std::map<std::string, QueueMetrics> metrics_by_model_ KILN_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<InferStats>> stats_
      KILN_GUARDED_BY(mu_);
  size_t queued_ KILN_GUARDED_BY(mu_) = 0;
  uint64_t queued_bytes_ KILN_GUARDED_BY(mu_) = 0;
  bool stopping_ KILN_GUARDED_BY(mu_) = false;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace kiln::serve
