// Worker: leases jobs from a queue, runs up to `concurrency` at a time, renews their leases,
// forwards cancellation, and records each outcome (`kiln worker`).
//
// Failures: a permanent error (bad options or data: InvalidArgument, NotFound, AlreadyExists,
// FailedPrecondition, OutOfRange, Unimplemented, DataLoss) ends the job `failed`; any other is
// retried with exponential backoff (2 s, 4 s, 8 s ... at most 5 minutes) until the job has used
// its attempts, then it is `dead` with its last error. A worker that dies loses its leases; the
// jobs run again elsewhere once the lease has expired.
//
// Stop(): the worker leases nothing more, waits up to `drain` for its running jobs, then cancels
// the rest and hands them back to the queue (they run again, on any worker).
//
// Thread-safety: Run() on one thread; Stop() from any thread (a signal handler thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kiln/base/exec_context.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/registry/job_queue.h"

namespace kiln {
class ThreadPool;
}

namespace kiln::jobs {

struct WorkerOptions {
  std::string queue = "default";
  int concurrency = 1;
  bool once = false;  // run what is ready now, then return
  int64_t lease_ms = 30000;
  int64_t poll_ms = 500;  // how often to look for work when idle
  std::chrono::milliseconds drain{30000};
  std::string id;                // default host:pid
  int threads = 0;               // per job (0: all cores)
  int64_t retry_base_ms = 2000;  // the first retry's backoff; doubled per attempt, capped 5 min
  // The process's pool (not owned): jobs run as its tasks and their ParallelFor helpers share
  // it. Null: the worker makes one for the length of Run().
  ThreadPool* pool = nullptr;
  // Called on the worker's thread on every poll, after due schedules are queued and before
  // leasing (the retraining triggers, jobs/triggers.h); may be empty.
  std::function<void()> on_poll;
};

// What runs a job: its output or its error; `log` takes progress lines.
struct JobResultOut {
  std::string result, produced;
};
using JobRunner = std::function<Result<JobResultOut>(const registry::JobRecord&, const ExecContext&,
                                                     const std::function<void(std::string)>& log)>;

// The state after an attempt failed with `error` (exposed for tests).
registry::JobOutcome FailureOutcome(const registry::JobRecord& job, const Status& error,
                                    bool cancel_requested, int64_t now_ms,
                                    int64_t retry_base_ms = 2000);

struct WorkerStats {
  int64_t succeeded = 0, failed = 0, retried = 0, cancelled = 0, handed_back = 0;
};

class Worker {
 public:
  Worker(registry::JobQueue* queue, JobRunner runner, WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until Stop() (or, with `once`, until no job is ready and none is running). Also
  // enqueues due schedules on every poll.
  Status Run();
  void Stop() { stopping_.store(true); }
  WorkerStats stats() const;
  const std::string& id() const { return options_.id; }

 private:
  struct Slot;
  Status PollOnce(bool* idle);
  void RunSlot(Slot* slot);
  Status Renew();
  void Reap();

  registry::JobQueue* queue_;
  JobRunner runner_;
  WorkerOptions options_;
  ThreadPool* pool_ = nullptr;  // set by Run(): options_.pool or one of its own
  std::atomic<bool> stopping_{false};
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_ KILN_GUARDED_BY(mu_);
  WorkerStats stats_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::jobs
