#include "kiln/base/exec_context.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "kiln/base/mutex.h"
#include "kiln/base/thread_pool.h"

namespace kiln {

struct ExecContext::Shared {
  std::atomic<bool> cancelled{false};
  ThreadPool* pool = nullptr;  // the caller's, or `owned`
  Mutex mu;
  std::unique_ptr<ThreadPool> owned KILN_GUARDED_BY(mu);
  ~Shared() {
    MutexLock lock(&mu);
    if (owned) owned->Stop();
  }
};

ExecContext::ExecContext() : ExecContext(Options{}) {}

ExecContext::ExecContext(const Options& options)
    : threads_(options.threads > 0
                   ? options.threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      seed_(options.seed),
      deadline_(options.deadline),
      shared_(std::make_shared<Shared>()) {
  shared_->pool = options.pool;
}

void ExecContext::Cancel() const { shared_->cancelled.store(true, std::memory_order_relaxed); }

bool ExecContext::cancelled() const { return shared_->cancelled.load(std::memory_order_relaxed); }

Status ExecContext::CheckAlive() const {
  if (cancelled()) return CancelledError("operation cancelled");
  if (deadline_ && Clock::now() > *deadline_) return DeadlineExceededError("deadline exceeded");
  return Status::Ok();
}

ExecContext ExecContext::WithThreads(int n) const {
  ExecContext view = *this;
  if (n > 0) view.threads_ = n;
  return view;
}

ExecContext ExecContext::WithSeed(uint64_t seed) const {
  ExecContext view = *this;
  view.seed_ = seed;
  return view;
}

ExecContext ExecContext::WithDeadline(Clock::time_point deadline) const {
  ExecContext view = *this;
  if (!view.deadline_ || deadline < *view.deadline_) view.deadline_ = deadline;
  return view;
}

ThreadPool& ExecContext::pool() const {
  ThreadPool* pool = shared_->pool;
  if (pool == nullptr) {
    MutexLock lock(&shared_->mu);
    if (!shared_->owned) shared_->owned = std::make_unique<ThreadPool>(0);
    pool = shared_->owned.get();
  }
  pool->EnsureWorkers(threads_ - 1);
  return *pool;
}

}  // namespace kiln
