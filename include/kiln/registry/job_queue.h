// JobQueue: the durable queue of lifecycle jobs (ingest, train, tune, predict, eval, promote,
// retrain) and their schedules, behind one interface with one contract test suite. Backends:
//   - the catalog (this subsystem): tables in meta.db (SQLite) or in the PostgreSQL catalog;
//     OpenCatalogJobQueue();
//   - Redis Streams (jobs/redis_queue.h), for many workers on many machines.
//
// A job is leased by one worker at a time for a lease period the worker renews with
// Heartbeat(). A worker that dies stops renewing: once the lease has expired the job is leased
// again (its attempt is recorded as lost). Every state change is one transaction.
//
//   queued --Lease--> running --Finish--> succeeded | failed | dead | queued (retry later)
//   queued --Cancel--> cancelled;  running --Cancel--> (cancel_requested) --Finish--> cancelled
//
// Thread-safety: every method may be called from several threads and processes at once.
#pragma once

#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::registry {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kDead };
std::string_view JobStateName(JobState s);
Result<JobState> ParseJobState(std::string_view text);
// Succeeded, failed, cancelled and dead jobs never change again.
bool IsFinal(JobState s);

// What a submitter asks for.
struct JobSpec {
  std::string verb;     // ingest | train | tune | predict | eval | promote
  std::string payload;  // the verb's options as JSON (jobs/operations.h)
  std::string queue = "default";
  std::string idempotency_key;  // "" none; a repeated key returns the existing job
  int max_attempts = 3;
  std::string schedule;  // the schedule that enqueued it, "" none
};

struct JobAttempt {
  int number = 0;  // 1-based
  std::string worker;
  int64_t start_ms = 0;
  int64_t end_ms = 0;   // 0 while running
  std::string outcome;  // succeeded | failed | retry | lost | cancelled | handed back
  std::string error;
};

struct JobRecord {
  int64_t id = 0;
  JobSpec spec;
  JobState state = JobState::kQueued;
  int attempts = 0;  // attempts started
  int64_t created_ms = 0;
  int64_t run_after_ms = 0;  // not leased before (retry backoff)
  std::string worker;        // the lease holder while running
  int64_t lease_expires_ms = 0;
  bool cancel_requested = false;
  std::string result;    // the operation's result as JSON, on success
  std::string produced;  // what it made: a run id, a dataset version NAME@vN, a model version
  std::string error;     // the last error
  int64_t end_ms = 0;
  std::vector<JobAttempt> history;  // filled by Get()
};

// How an attempt ended.
struct JobOutcome {
  JobState state = JobState::kSucceeded;  // succeeded, failed, dead, cancelled, or queued
  std::string result, produced, error;
  int64_t retry_after_ms = 0;   // queued: not before this time
  std::string attempt_outcome;  // the attempt's label; "" = from `state`
};

struct Schedule {
  std::string name;
  std::string every;  // "6h", "30m", ... or
  std::string cron;   // "0 3 * * *"
  JobSpec job;
  int64_t next_run_ms = 0;
  int64_t last_run_ms = 0;
  int64_t last_job = 0;
};

// The bounds (seconds) of the job duration histogram on /metrics.
inline constexpr double kJobDurationBounds[] = {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400};

// What /metrics shows of the queue: jobs by queue and state (the queued ones are the queue
// depth an autoscaler watches), attempts started, and how long the jobs that ended took from
// submit to end, bucketed by the backend.
struct JobStats {
  std::map<std::pair<std::string, JobState>, int64_t> jobs;
  int64_t attempts = 0;
  int64_t ended = 0;                       // jobs that ended
  double duration_seconds = 0;             // their durations, summed
  std::vector<int64_t> duration_buckets =  // ended jobs at most kJobDurationBounds[i] long
      std::vector<int64_t>(std::size(kJobDurationBounds), 0);
  void AddDuration(int64_t ms) {
    ++ended;
    duration_seconds += static_cast<double>(ms) / 1000;
    for (size_t i = 0; i < duration_buckets.size(); ++i) {
      if (static_cast<double>(ms) <= kJobDurationBounds[i] * 1000) ++duration_buckets[i];
    }
  }
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Queues a job; with an idempotency key already used, returns that job unchanged.
  virtual Result<JobRecord> Enqueue(const JobSpec& spec) = 0;
  // The oldest job of `queue` that is queued and due, or running with an expired lease (its
  // attempt is then recorded as lost, and a job out of attempts becomes dead instead); nullopt
  // when there is none. The job comes back running, leased to `worker` for `lease_ms`.
  virtual Result<std::optional<JobRecord>> Lease(const std::string& queue,
                                                 const std::string& worker, int64_t lease_ms) = 0;
  // Renews `worker`'s lease; returns whether a cancel was requested. FailedPrecondition if
  // the lease is no longer `worker`'s (it expired and another worker took the job).
  virtual Result<bool> Heartbeat(int64_t id, const std::string& worker, int64_t lease_ms) = 0;
  // Ends `worker`'s attempt. FailedPrecondition if the lease is no longer `worker`'s.
  virtual Status Finish(int64_t id, const std::string& worker, const JobOutcome& outcome) = 0;
  // Cancels a queued job at once; marks a running one cancel_requested. FailedPrecondition for
  // a job that has already ended.
  virtual Result<JobRecord> Cancel(int64_t id) = 0;
  virtual Result<JobRecord> Get(int64_t id) = 0;
  // Newest first; `state` empty for all.
  virtual Result<std::vector<JobRecord>> List(std::optional<JobState> state, int64_t limit) = 0;
  virtual Result<JobStats> Stats() = 0;

  // Appends log lines of a job (a job keeps at most its last 10,000 lines).
  virtual Status AppendLog(int64_t id, const std::vector<std::string>& lines) = 0;
  virtual Result<std::vector<std::string>> Logs(int64_t id) = 0;

  // Schedules: AlreadyExists for a taken name.
  virtual Status AddSchedule(const Schedule& schedule) = 0;
  virtual Result<std::vector<Schedule>> ListSchedules() = 0;
  virtual Status RemoveSchedule(const std::string& name) = 0;
  // Enqueues the job of every schedule due at `now_ms`, once however many workers call this at
  // the same time, and moves the schedule to next(schedule, now_ms). Returns the jobs queued.
  virtual Result<std::vector<JobRecord>> EnqueueDue(
      int64_t now_ms, const std::function<int64_t(const Schedule&, int64_t)>& next) = 0;
};

// The catalog's job queue: `catalog` is kiln.yaml's setting ("sqlite" — then `sqlite_path` is
// the home's meta.db — or a postgresql:// URL). Submissions, cancellations and schedule changes
// go to the catalog's audit log; `audit_key` signs its checkpoints (the home's key).
Result<std::unique_ptr<JobQueue>> OpenCatalogJobQueue(const std::string& catalog,
                                                      const std::string& sqlite_path,
                                                      const std::string& audit_key = "");

// Limits on what a job may carry (a payload from the queue is untrusted).
inline constexpr size_t kMaxJobPayloadBytes = 64 * 1024;
inline constexpr size_t kMaxJobResultBytes = 64 * 1024;
inline constexpr size_t kMaxJobErrorBytes = 4 * 1024;
inline constexpr size_t kMaxJobLogLines = 10000;
// Validates a spec before it is queued: verb and queue names, sizes, attempts (1..100).
Status ValidateJobSpec(const JobSpec& spec);

}  // namespace kiln::registry
