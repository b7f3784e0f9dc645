// ThreadPool and ParallelFor: the only place kiln creates worker threads.
//
// ParallelFor runs body(i) for i in [0, n) on up to ctx.threads() threads and returns the first
// non-OK Status any call produced (other calls still in flight finish; pending ones are skipped).
// Exceptions thrown by a body are caught and returned as Internal. Cancellation and the deadline
// of the ExecContext are checked between items.
//
//   KILN_RETURN_IF_ERROR(ParallelFor(ctx, columns.size(), [&](size_t i) -> Status {
//     return Encode(columns[i]);
//   }));
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln {

class ExecContext;

// Worker threads running submitted tasks in FIFO order; one per process, owned by its entry
// point and reached through ExecContext::pool(). It starts with the given number of workers
// (0 is fine) and grows on demand (EnsureWorkers), never shrinks.
// Thread-safety: every method may be called from any thread. Stop() is idempotent; the
// destructor stops and joins. Tasks must not throw (Submit wraps them in a firewall that logs).
class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  // Starts workers until there are at least n (no-op once stopped).
  void EnsureWorkers(int n);
  // Enqueues a task. Returns Cancelled if the pool is stopped.
  Status Submit(std::function<void()> task);
  // Finishes queued tasks, then joins all workers.
  void Stop();

 private:
  void WorkerLoop();

  mutable Mutex mu_;
  CondVar cv_;
  std::vector<std::function<void()>> queue_ KILN_GUARDED_BY(mu_);
  size_t head_ KILN_GUARDED_BY(mu_) = 0;
  bool stopping_ KILN_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_ KILN_GUARDED_BY(mu_);
};

Status ParallelFor(const ExecContext& ctx, size_t n, const std::function<Status(size_t)>& body);

}  // namespace kiln
