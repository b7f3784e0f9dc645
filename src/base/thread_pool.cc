#include "kiln/base/thread_pool.h"

#include <atomic>
#include <exception>

#include "kiln/base/exec_context.h"
#include "kiln/base/logging.h"

namespace kiln {

ThreadPool::ThreadPool(int num_threads) { EnsureWorkers(num_threads); }

ThreadPool::~ThreadPool() { Stop(); }

int ThreadPool::size() const {
  MutexLock lock(&mu_);
  return static_cast<int>(workers_.size());
}

void ThreadPool::EnsureWorkers(int n) {
  MutexLock lock(&mu_);
  if (stopping_) return;
  while (static_cast<int>(workers_.size()) < n) workers_.emplace_back([this] { WorkerLoop(); });
}

Status ThreadPool::Submit(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    if (stopping_) return CancelledError("thread pool is stopped");
    queue_.push_back(std::move(task));
  }
  cv_.Signal();
  return Status::Ok();
}

void ThreadPool::Stop() {
  std::vector<std::thread> workers;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  cv_.SignalAll();
  for (auto& w : workers) {
    if (w.joinable()) w.join();
  }
}

void ThreadPool::WorkerLoop() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      while (head_ == queue_.size() && !stopping_) cv_.Wait(&mu_);
      if (head_ == queue_.size()) return;  // stopping and drained
      task = std::move(queue_[head_++]);
      if (head_ == queue_.size()) {
        queue_.clear();
        head_ = 0;
      }
    }
    try {
      task();
    } catch (const std::exception& e) {
      KILN_LOG_ERROR("thread pool task threw: {}", e.what());
    } catch (...) {
      KILN_LOG_ERROR("thread pool task threw a non-standard exception");
    }
  }
}

namespace {

Status RunGuarded(const std::function<Status(size_t)>& body, size_t i) {
  try {
    return body(i);
  } catch (const std::exception& e) {
    return InternalError(std::string("exception in parallel task: ") + e.what());
  } catch (...) {
    return InternalError("non-standard exception in parallel task");
  }
}

}  // namespace

Status ParallelFor(const ExecContext& ctx, size_t n, const std::function<Status(size_t)>& body) {
  if (n == 0) return Status::Ok();
  const size_t workers = std::min<size_t>(n, static_cast<size_t>(ctx.threads()));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) {
      KILN_RETURN_IF_ERROR(ctx.CheckAlive());
      KILN_RETURN_IF_ERROR(RunGuarded(body, i));
    }
    return Status::Ok();
  }
  // Helpers may start only after this call returned (the pool can be busy, e.g. with the outer
  // loop of a nested ParallelFor), so the state they touch is shared-owned, and a helper that
  // starts after `closed` is set returns at once without touching `body` or `ctx`.
  struct Shared {
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    Mutex mu;
    CondVar done_cv;
    size_t active KILN_GUARDED_BY(mu) = 0;
    bool closed KILN_GUARDED_BY(mu) = false;
    Status first_error KILN_GUARDED_BY(mu);
  };
  auto shared = std::make_shared<Shared>();
  auto drain = [&ctx, &body, n](Shared& s) {
    while (!s.failed.load(std::memory_order_relaxed)) {
      size_t i = s.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) break;
      Status st = ctx.CheckAlive();
      if (st.ok()) st = RunGuarded(body, i);
      if (!st.ok()) {
        MutexLock lock(&s.mu);
        if (s.first_error.ok()) s.first_error = std::move(st);
        s.failed.store(true, std::memory_order_relaxed);
      }
    }
  };
  ThreadPool& pool = ctx.pool();
  for (size_t w = 1; w < workers; ++w) {
    pool.Submit([shared, drain] {
          {
            MutexLock lock(&shared->mu);
            if (shared->closed) return;
            ++shared->active;
          }
          drain(*shared);
          MutexLock lock(&shared->mu);
          if (--shared->active == 0) shared->done_cv.SignalAll();
        })
        .IgnoreError();  // a stopped pool only means fewer helpers
  }
  drain(*shared);  // the calling thread works too
  MutexLock lock(&shared->mu);
  shared->closed = true;
  while (shared->active > 0) shared->done_cv.Wait(&shared->mu);
  return shared->first_error;
}

}  // namespace kiln
