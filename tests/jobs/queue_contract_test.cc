// The JobQueue contract: every backend must pass these (instantiated per backend, see
// queue_contract.h).
#include "jobs/queue_contract.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace kiln::registry {
namespace {

using std::chrono::milliseconds;

JobSpec Spec(const std::string& verb = "train", const std::string& queue = "default") {
  JobSpec s;
  s.verb = verb;
  s.payload = R"({"data":"d"})";
  s.queue = queue;
  return s;
}

int64_t Now() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_P(JobQueueContractTest, EnqueueLeaseFinish) {
  auto j = queue_->Enqueue(Spec());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_GT(j->id, 0);
  EXPECT_EQ(j->state, JobState::kQueued);
  EXPECT_EQ(j->attempts, 0);
  EXPECT_EQ(j->spec.payload, R"({"data":"d"})");
  auto leased = queue_->Lease("default", "w1", 30000);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_TRUE(leased->has_value());
  EXPECT_EQ((*leased)->id, j->id);
  EXPECT_EQ((*leased)->state, JobState::kRunning);
  EXPECT_EQ((*leased)->attempts, 1);
  EXPECT_EQ((*leased)->worker, "w1");
  // Nothing else is ready.
  EXPECT_FALSE(queue_->Lease("default", "w2", 30000)->has_value());
  const JobOutcome done{
      .state = JobState::kSucceeded, .result = R"({"run_id":"r"})", .produced = "r"};
  ASSERT_TRUE(queue_->Finish(j->id, "w1", done).ok());
  auto got = queue_->Get(j->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kSucceeded);
  EXPECT_EQ(got->result, R"({"run_id":"r"})");
  EXPECT_EQ(got->produced, "r");
  EXPECT_GT(got->end_ms, 0);
  ASSERT_EQ(got->history.size(), 1u);
  EXPECT_EQ(got->history[0].worker, "w1");
  EXPECT_EQ(got->history[0].outcome, "succeeded");
  EXPECT_GT(got->history[0].end_ms, 0);
  // An ended job cannot be finished again, nor leased.
  EXPECT_EQ(queue_->Finish(j->id, "w1", done).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(queue_->Lease("default", "w1", 30000)->has_value());
  EXPECT_EQ(queue_->Get(j->id + 1000).status().code(), StatusCode::kNotFound);
}

TEST_P(JobQueueContractTest, IdempotencyKeyReturnsTheSameJob) {
  JobSpec s = Spec();
  s.idempotency_key = "nightly-2026-12-05";
  auto a = queue_->Enqueue(s);
  auto b = queue_->Enqueue(s);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);
  s.idempotency_key = "other";
  EXPECT_NE(queue_->Enqueue(s)->id, a->id);
  EXPECT_EQ(queue_->List(std::nullopt, 100)->size(), 2u);
}

TEST_P(JobQueueContractTest, QueuesAreSeparateAndFifo) {
  const int64_t a1 = queue_->Enqueue(Spec("train", "a"))->id;
  const int64_t b1 = queue_->Enqueue(Spec("train", "b"))->id;
  const int64_t a2 = queue_->Enqueue(Spec("eval", "a"))->id;
  EXPECT_EQ((*queue_->Lease("a", "w", 30000))->id, a1);
  EXPECT_EQ((*queue_->Lease("a", "w", 30000))->id, a2);
  EXPECT_FALSE(queue_->Lease("a", "w", 30000)->has_value());
  EXPECT_EQ((*queue_->Lease("b", "w", 30000))->id, b1);
  EXPECT_FALSE(queue_->Lease("c", "w", 30000)->has_value());
}

// Many workers on their own connections: every job is leased exactly once.
TEST_P(JobQueueContractTest, ConcurrentLeasesAreExclusive) {
  constexpr int kJobs = 40;
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(queue_->Enqueue(Spec()).ok());
  std::mutex mu;
  std::multiset<int64_t> leased;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      auto q = Connect();
      if (!q) return;
      while (true) {
        auto j = q->Lease("default", fmt::format("w{}", w), 30000);
        ASSERT_TRUE(j.ok()) << j.status().ToString();
        if (!j->has_value()) return;
        std::lock_guard<std::mutex> lock(mu);
        leased.insert((*j)->id);
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(leased.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<int64_t>(leased.begin(), leased.end()).size(), static_cast<size_t>(kJobs));
}

// A worker that stops renewing loses the job to the next worker; its attempt is recorded lost
// and its late heartbeat and outcome are refused.
TEST_P(JobQueueContractTest, ExpiredLeaseIsTakenOver) {
  const int64_t id = queue_->Enqueue(Spec())->id;
  ASSERT_TRUE((*queue_->Lease("default", "dead", 50)).has_value());
  EXPECT_FALSE(queue_->Lease("default", "w2", 30000)->has_value());  // still leased
  std::this_thread::sleep_for(milliseconds(120));
  auto taken = queue_->Lease("default", "w2", 30000);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->id, id);
  EXPECT_EQ((*taken)->attempts, 2);
  EXPECT_EQ((*taken)->worker, "w2");
  ASSERT_EQ((*taken)->history.size(), 2u);
  EXPECT_EQ((*taken)->history[0].outcome, "lost");
  EXPECT_NE((*taken)->history[0].error.find("dead"), std::string::npos);
  EXPECT_EQ(queue_->Heartbeat(id, "dead", 30000).status().code(), StatusCode::kFailedPrecondition);
  JobOutcome done;
  EXPECT_EQ(queue_->Finish(id, "dead", done).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(queue_->Finish(id, "w2", done).ok());
}

TEST_P(JobQueueContractTest, ExpiredLeaseWithoutAttemptsLeftIsDead) {
  JobSpec s = Spec();
  s.max_attempts = 1;
  const int64_t id = queue_->Enqueue(s)->id;
  ASSERT_TRUE((*queue_->Lease("default", "dead", 50)).has_value());
  std::this_thread::sleep_for(milliseconds(120));
  EXPECT_FALSE(queue_->Lease("default", "w2", 30000)->has_value());
  auto j = queue_->Get(id);
  EXPECT_EQ(j->state, JobState::kDead);
  EXPECT_NE(j->error.find("lease expired"), std::string::npos) << j->error;
  EXPECT_GT(j->end_ms, 0);
}

TEST_P(JobQueueContractTest, HeartbeatKeepsTheLease) {
  const int64_t id = queue_->Enqueue(Spec())->id;
  ASSERT_TRUE((*queue_->Lease("default", "w1", 300)).has_value());
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(150));
    auto cancel = queue_->Heartbeat(id, "w1", 300);
    ASSERT_TRUE(cancel.ok()) << cancel.status().ToString();
    EXPECT_FALSE(*cancel);
  }
  EXPECT_FALSE(queue_->Lease("default", "w2", 300)->has_value());
}

TEST_P(JobQueueContractTest, RetryWaitsForItsBackoff) {
  const int64_t id = queue_->Enqueue(Spec())->id;
  ASSERT_TRUE((*queue_->Lease("default", "w1", 30000)).has_value());
  JobOutcome retry;
  retry.state = JobState::kQueued;
  retry.error = "unavailable: catalog down";
  retry.attempt_outcome = "retry";
  retry.retry_after_ms = Now() + 400;
  ASSERT_TRUE(queue_->Finish(id, "w1", retry).ok());
  auto j = queue_->Get(id);
  EXPECT_EQ(j->state, JobState::kQueued);
  EXPECT_EQ(j->error, "unavailable: catalog down");
  EXPECT_EQ(j->history[0].outcome, "retry");
  EXPECT_FALSE(queue_->Lease("default", "w2", 30000)->has_value());
  std::this_thread::sleep_for(milliseconds(500));
  auto again = queue_->Lease("default", "w2", 30000);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->attempts, 2);
  // A retry due at once is ready at once.
  retry.retry_after_ms = 0;
  ASSERT_TRUE(queue_->Finish(id, "w2", retry).ok());
  EXPECT_TRUE(queue_->Lease("default", "w3", 30000)->has_value());
}

TEST_P(JobQueueContractTest, Cancel) {
  const int64_t queued = queue_->Enqueue(Spec())->id;
  const int64_t running = queue_->Enqueue(Spec())->id;
  auto c = queue_->Cancel(queued);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state, JobState::kCancelled);
  // The cancelled job is never leased.
  auto r = queue_->Lease("default", "w1", 30000);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->id, running);
  auto asked = queue_->Cancel(running);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->state, JobState::kRunning);
  EXPECT_TRUE(asked->cancel_requested);
  EXPECT_TRUE(*queue_->Heartbeat(running, "w1", 30000));
  JobOutcome o;
  o.state = JobState::kCancelled;
  o.error = "cancelled";
  ASSERT_TRUE(queue_->Finish(running, "w1", o).ok());
  EXPECT_EQ(queue_->Cancel(running).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue_->Cancel(queued).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue_->Cancel(99999).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(queue_->Lease("default", "w1", 30000)->has_value());
}

TEST_P(JobQueueContractTest, ListFiltersAndCounts) {
  const int64_t a = queue_->Enqueue(Spec())->id;
  const int64_t b = queue_->Enqueue(Spec("eval"))->id;
  const int64_t c = queue_->Enqueue(Spec("predict", "other"))->id;
  ASSERT_TRUE(queue_->Lease("default", "w", 30000)->has_value());  // a
  auto all = queue_->List(std::nullopt, 10);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, c);  // newest first
  EXPECT_EQ((*all)[2].id, a);
  auto queued = queue_->List(JobState::kQueued, 10);
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ((*queued)[0].id, c);
  EXPECT_EQ((*queued)[1].id, b);
  EXPECT_EQ(queue_->List(std::nullopt, 1)->size(), 1u);
  JobOutcome done;
  ASSERT_TRUE(queue_->Finish(a, "w", done).ok());
  auto stats = queue_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ((stats->jobs[{"default", JobState::kQueued}]), 1);
  EXPECT_EQ((stats->jobs[{"default", JobState::kSucceeded}]), 1);
  EXPECT_EQ((stats->jobs[{"other", JobState::kQueued}]), 1);
  EXPECT_EQ(stats->attempts, 1);
  EXPECT_EQ(stats->ended, 1);
  EXPECT_GE(stats->duration_seconds, 0);
  EXPECT_EQ(stats->duration_buckets.front(), 1);  // within a second
  EXPECT_EQ(stats->duration_buckets.back(), 1);
}

TEST_P(JobQueueContractTest, LogsKeepTheNewestLines) {
  const int64_t id = queue_->Enqueue(Spec())->id;
  ASSERT_TRUE(queue_->AppendLog(id, {"one", "two"}).ok());
  ASSERT_TRUE(queue_->AppendLog(id, {"three"}).ok());
  EXPECT_EQ(*queue_->Logs(id), (std::vector<std::string>{"one", "two", "three"}));
  std::vector<std::string> many;
  for (size_t i = 0; i < kMaxJobLogLines; ++i) many.push_back(fmt::format("line {}", i));
  ASSERT_TRUE(queue_->AppendLog(id, many).ok());
  auto logs = queue_->Logs(id);
  ASSERT_EQ(logs->size(), kMaxJobLogLines);
  EXPECT_EQ(logs->front(), "line 0");
  EXPECT_EQ(logs->back(), fmt::format("line {}", kMaxJobLogLines - 1));
  EXPECT_TRUE(queue_->Logs(id + 100)->empty());
}

// A due schedule is queued once however many workers look at the same moment.
TEST_P(JobQueueContractTest, SchedulesEnqueueOnce) {
  Schedule s;
  s.name = "nightly";
  s.every = "1h";
  s.job = Spec();
  s.next_run_ms = Now() - 1;
  ASSERT_TRUE(queue_->AddSchedule(s).ok());
  EXPECT_EQ(queue_->AddSchedule(s).code(), StatusCode::kAlreadyExists);
  Schedule later = s;
  later.name = "later";
  later.next_run_ms = Now() + 3600000;
  ASSERT_TRUE(queue_->AddSchedule(later).ok());
  auto list = queue_->ListSchedules();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "later");
  EXPECT_EQ((*list)[1].job.verb, "train");
  std::atomic<int> queued{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      auto q = Connect();
      if (!q) return;
      auto due = q->EnqueueDue(Now(), [](const Schedule&, int64_t now) { return now + 3600000; });
      ASSERT_TRUE(due.ok()) << due.status().ToString();
      queued += static_cast<int>(due->size());
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(queued.load(), 1);
  auto jobs = queue_->List(std::nullopt, 10);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].spec.schedule, "nightly");
  auto after = queue_->ListSchedules();
  EXPECT_EQ((*after)[1].last_job, (*jobs)[0].id);
  EXPECT_GT((*after)[1].next_run_ms, Now() + 3000000);
  EXPECT_TRUE(queue_->EnqueueDue(Now(), [](const Schedule&, int64_t n) { return n; })->empty());
  ASSERT_TRUE(queue_->RemoveSchedule("nightly").ok());
  EXPECT_EQ(queue_->RemoveSchedule("nightly").code(), StatusCode::kNotFound);
  EXPECT_EQ(queue_->ListSchedules()->size(), 1u);
}

TEST_P(JobQueueContractTest, RefusesBadSpecs) {
  JobSpec s = Spec();
  s.payload = std::string(kMaxJobPayloadBytes + 1, 'x');
  EXPECT_EQ(queue_->Enqueue(s).status().code(), StatusCode::kInvalidArgument);
  s = Spec("../etc");
  EXPECT_EQ(queue_->Enqueue(s).status().code(), StatusCode::kInvalidArgument);
  s = Spec("train", "a b");
  EXPECT_EQ(queue_->Enqueue(s).status().code(), StatusCode::kInvalidArgument);
  s = Spec();
  s.max_attempts = 0;
  EXPECT_EQ(queue_->Enqueue(s).status().code(), StatusCode::kInvalidArgument);
  Schedule bad;
  bad.name = "../x";
  bad.job = Spec();
  EXPECT_EQ(queue_->AddSchedule(bad).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(queue_->List(std::nullopt, 10)->empty());
}

}  // namespace
}  // namespace kiln::registry
