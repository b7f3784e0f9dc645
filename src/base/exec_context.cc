#include "kiln/base/exec_context.h"

#include <thread>

#include "kiln/base/thread_pool.h"

namespace kiln {

ExecContext::ExecContext() : ExecContext(Options{}) {}

ExecContext::ExecContext(const Options& options)
    : threads_(options.threads > 0
                   ? options.threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      seed_(options.seed),
      deadline_(options.deadline) {}

ExecContext::~ExecContext() {
  MutexLock lock(&pool_mu_);
  if (pool_) pool_->Stop();
}

Status ExecContext::CheckAlive() const {
  if (cancelled()) return CancelledError("operation cancelled");
  if (deadline_ && Clock::now() > *deadline_) return DeadlineExceededError("deadline exceeded");
  return Status::Ok();
}

ThreadPool& ExecContext::pool() const {
  MutexLock lock(&pool_mu_);
  // The caller of ParallelFor works too, so threads_ - 1 helpers give threads_ in total.
  if (!pool_) pool_ = std::make_unique<ThreadPool>(std::max(1, threads_ - 1));
  return *pool_;
}

}  // namespace kiln
