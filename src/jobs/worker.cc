#include "kiln/jobs/worker.h"

#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/logging.h"
#include "kiln/base/thread_pool.h"
#include "kiln/jobs/schedule.h"

namespace kiln::jobs {

namespace {

using Clock = std::chrono::steady_clock;

std::string DefaultId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host, getpid());
}

}  // namespace

// One running job.
struct Worker::Slot {
  registry::JobRecord job;
  std::unique_ptr<ExecContext> ctx;
  bool started = false;  // submitted to the pool (guarded by the worker's mutex)
  std::atomic<bool> done{false};
  bool lost = false;         // the lease went to another worker: record nothing
  bool handed_back = false;  // cancelled by Stop(): back to the queue
  bool cancel_requested = false;
  Result<JobResultOut> output = InternalError("not run");
  Mutex log_mu;
  std::vector<std::string> log KILN_GUARDED_BY(log_mu);
};

registry::JobOutcome FailureOutcome(const registry::JobRecord& job, const Status& error,
                                    bool cancel_requested, int64_t now_ms, int64_t retry_base_ms) {
  registry::JobOutcome o;
  o.error = error.ToString();
  if (cancel_requested && error.code() == StatusCode::kCancelled) {
    o.state = registry::JobState::kCancelled;
  } else if (IsPermanent(error.code())) {
    o.state = registry::JobState::kFailed;
  } else if (job.attempts >= job.spec.max_attempts) {
    o.state = registry::JobState::kDead;
  } else {
    o.state = registry::JobState::kQueued;
    o.attempt_outcome = "retry";
    const int shift = std::min(job.attempts - 1, 20);
    o.retry_after_ms = now_ms + std::min<int64_t>(retry_base_ms << std::max(shift, 0), 300000);
  }
  return o;
}

Worker::Worker(registry::JobQueue* queue, JobRunner runner, WorkerOptions options)
    : queue_(queue), runner_(std::move(runner)), options_(std::move(options)) {
  if (options_.id.empty()) options_.id = DefaultId();
  options_.concurrency = std::max(1, options_.concurrency);
}

Worker::~Worker() {
  // After an early error return from Run() the jobs it started may still run on the process's
  // pool: cancel them and wait, so that none outlives its slot.
  while (true) {
    {
      MutexLock lock(&mu_);
      bool running = false;
      for (auto& s : slots_) {
        if (!s->started || s->done.load()) continue;
        s->ctx->Cancel();
        running = true;
      }
      if (!running) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

WorkerStats Worker::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

void Worker::RunSlot(Slot* slot) {
  auto log = [slot](std::string line) {
    MutexLock lock(&slot->log_mu);
    slot->log.push_back(std::move(line));
  };
  // The firewall: a job's exception is its failure, never the worker's.
  try {
    slot->output = runner_(slot->job, *slot->ctx, log);
  } catch (const std::exception& e) {
    slot->output = InternalError(fmt::format("job threw: {}", e.what()));
  } catch (...) {
    slot->output = InternalError("job threw an unknown exception");
  }
  slot->done.store(true);
}

// Renews the lease of every running job, flushes their logs, and forwards cancel requests.
Status Worker::Renew() {
  std::vector<Slot*> running;
  {
    MutexLock lock(&mu_);
    for (auto& s : slots_) running.push_back(s.get());
  }
  for (Slot* s : running) {
    std::vector<std::string> lines;
    {
      MutexLock lock(&s->log_mu);
      lines.swap(s->log);
    }
    queue_->AppendLog(s->job.id, lines).IgnoreError();
    if (s->lost || s->done.load()) continue;
    auto cancel = queue_->Heartbeat(s->job.id, options_.id, options_.lease_ms);
    if (!cancel.ok()) {
      if (cancel.status().code() == StatusCode::kFailedPrecondition) {
        KILN_LOG_WARN("job {}: {}; stopping it", s->job.id, cancel.status().ToString());
        s->lost = true;
        s->ctx->Cancel();
      }
      continue;  // a queue that is briefly unreachable: try again at the next renewal
    }
    if (*cancel && !s->cancel_requested) {
      s->cancel_requested = true;
      s->ctx->Cancel();
    }
  }
  return Status::Ok();
}

// Records the outcome of finished jobs.
void Worker::Reap() {
  std::vector<std::unique_ptr<Slot>> finished;
  {
    MutexLock lock(&mu_);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if ((*it)->done.load()) {
        finished.push_back(std::move(*it));
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : finished) {
    {
      MutexLock lock(&s->log_mu);
      queue_->AppendLog(s->job.id, s->log).IgnoreError();
    }
    if (s->lost) continue;
    registry::JobOutcome o;
    const char* counter = "succeeded";
    if (s->output.ok()) {
      o.state = registry::JobState::kSucceeded;
      o.result = s->output->result;
      o.produced = s->output->produced;
    } else if (s->handed_back && s->output.status().code() == StatusCode::kCancelled) {
      o.state = registry::JobState::kQueued;
      o.attempt_outcome = "handed back";
      o.error = "the worker stopped";
      counter = "handed_back";
    } else {
      o = FailureOutcome(s->job, s->output.status(), s->cancel_requested, UnixMillis(),
                         options_.retry_base_ms);
      counter = o.state == registry::JobState::kQueued      ? "retried"
                : o.state == registry::JobState::kCancelled ? "cancelled"
                                                            : "failed";
    }
    Status st = queue_->Finish(s->job.id, options_.id, o);
    if (!st.ok())
      KILN_LOG_WARN("job {}: the outcome was not recorded: {}", s->job.id, st.ToString());
    MutexLock lock(&mu_);
    const std::string_view c = counter;
    (c == "succeeded"     ? stats_.succeeded
     : c == "handed_back" ? stats_.handed_back
     : c == "retried"     ? stats_.retried
     : c == "cancelled"   ? stats_.cancelled
                          : stats_.failed)++;
  }
}

// Leases one job if a slot is free; `*idle` when there was nothing to lease.
Status Worker::PollOnce(bool* idle) {
  *idle = true;
  {
    MutexLock lock(&mu_);
    if (static_cast<int>(slots_.size()) >= options_.concurrency) {
      *idle = false;
      return Status::Ok();
    }
  }
  KILN_ASSIGN_OR_RETURN(auto job, queue_->Lease(options_.queue, options_.id, options_.lease_ms));
  if (!job) return Status::Ok();
  *idle = false;
  auto slot = std::make_unique<Slot>();
  slot->job = std::move(*job);
  slot->ctx = std::make_unique<ExecContext>(
      ExecContext::Options{.threads = options_.threads, .pool = pool_});
  slot->cancel_requested = slot->job.cancel_requested;
  if (slot->cancel_requested) slot->ctx->Cancel();
  KILN_LOG_INFO("job {} ({}) attempt {} on {}", slot->job.id, slot->job.spec.verb,
                slot->job.attempts, options_.id);
  MutexLock lock(&mu_);
  slots_.push_back(std::move(slot));
  return Status::Ok();
}

Status Worker::Run() {
  std::unique_ptr<ThreadPool> own;
  pool_ = options_.pool;
  if (pool_ == nullptr) {
    own = std::make_unique<ThreadPool>(0);
    pool_ = own.get();
  }
  // Each running job holds a worker and may use threads - 1 more for its ParallelFor helpers.
  const int per_job = ExecContext(ExecContext::Options{.threads = options_.threads}).threads();
  pool_->EnsureWorkers(options_.concurrency + per_job - 1);
  auto next_run = [](const registry::Schedule& s, int64_t now) {
    auto next = NextRun(s, now);
    return next.ok() ? *next : INT64_MAX;  // a schedule that cannot be read never runs again
  };
  const auto renew_every = std::chrono::milliseconds(std::max<int64_t>(options_.lease_ms / 3, 50));
  auto last_renew = Clock::now();
  auto start = [&](Slot* slot) { return pool_->Submit([this, slot] { RunSlot(slot); }); };
  while (!stopping_.load()) {
    if (auto due = queue_->EnqueueDue(UnixMillis(), next_run); !due.ok()) {
      KILN_LOG_WARN("schedules: {}", due.status().ToString());
    }
    if (options_.on_poll) options_.on_poll();
    if (Clock::now() - last_renew >= renew_every) {
      KILN_RETURN_IF_ERROR(Renew());
      last_renew = Clock::now();
    }
    Reap();
    bool idle = true;
    Status polled = PollOnce(&idle);
    if (!polled.ok()) KILN_LOG_WARN("lease: {}", polled.ToString());
    {
      MutexLock lock(&mu_);
      for (auto& s : slots_) {
        if (s->started) continue;
        s->started = true;
        KILN_RETURN_IF_ERROR(start(s.get()));
      }
    }
    bool empty;
    {
      MutexLock lock(&mu_);
      empty = slots_.empty();
    }
    if (options_.once && idle && empty) break;
    if (idle || !empty) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::min<int64_t>(options_.poll_ms, idle && empty ? options_.poll_ms : 20)));
    }
  }
  // Stopping: drain, then cancel and hand back what is still running.
  const auto deadline = Clock::now() + options_.drain;
  while (true) {
    Reap();
    {
      MutexLock lock(&mu_);
      if (slots_.empty()) break;
      if (Clock::now() >= deadline) {
        for (auto& s : slots_) {
          s->handed_back = true;
          s->ctx->Cancel();
        }
      }
    }
    if (Clock::now() - last_renew >= renew_every) {
      KILN_RETURN_IF_ERROR(Renew());
      last_renew = Clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();  // every slot has ended: nothing of this worker is left on the pool
}

}  // namespace kiln::jobs
