// ExecContext: the explicit runtime context every engine call takes — thread count, deadline,
// cancellation and seed. No globals, no environment variables (docs/design/conventions.md).
//
//   ExecContext ctx(ExecContext::Options{.threads = 4, .seed = 7});
//   ctx.Cancel();              // from any thread; CheckAlive() then returns Cancelled.
//
// Thread-safety: const methods and Cancel() are thread-safe. The pool is created lazily and
// owned by the context; contexts are not copyable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln {

class ThreadPool;

class ExecContext {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    int threads = 0;  // 0 = hardware concurrency
    uint64_t seed = 42;
    std::optional<Clock::time_point> deadline;
  };

  ExecContext();
  explicit ExecContext(const Options& options);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  int threads() const { return threads_; }
  uint64_t seed() const { return seed_; }
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // OK, Cancelled, or DeadlineExceeded.
  Status CheckAlive() const;
  // The shared worker pool (threads() workers), created on first use.
  ThreadPool& pool() const;

 private:
  int threads_;
  uint64_t seed_;
  std::optional<Clock::time_point> deadline_;
  std::atomic<bool> cancelled_{false};
  mutable Mutex pool_mu_;
  mutable std::unique_ptr<ThreadPool> pool_ KILN_GUARDED_BY(pool_mu_);
};

}  // namespace kiln
