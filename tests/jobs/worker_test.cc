// The worker's loop against the SQLite queue, with runners that succeed, fail, throw, wait for
// cancellation, or outlive a stop.
#include "kiln/jobs/worker.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "testing/run_kiln.h"

namespace kiln::jobs {
namespace {

using registry::JobRecord;
using registry::JobState;
using std::chrono::milliseconds;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-worker");
    queue_ = std::move(*registry::OpenCatalogJobQueue("sqlite", dir_ + "/meta.db"));
  }
  void TearDown() override {
    queue_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t Submit(int max_attempts = 3) {
    const registry::JobSpec s{.verb = "train", .payload = "{}", .max_attempts = max_attempts};
    return queue_->Enqueue(s)->id;
  }
  WorkerOptions Once() {
    WorkerOptions o;
    o.once = true;
    o.poll_ms = 10;
    o.id = "test-worker";
    return o;
  }

  std::string dir_;
  std::unique_ptr<registry::JobQueue> queue_;
};

TEST_F(WorkerTest, RecordsResultsAndLogs) {
  const int64_t a = Submit(), b = Submit();
  WorkerOptions o = Once();
  o.concurrency = 2;
  Worker w(
      queue_.get(),
      [](const JobRecord& j, const ExecContext&,
         const std::function<void(std::string)>& log) -> Result<JobResultOut> {
        log(fmt::format("working on {}", j.id));
        return JobResultOut{"{\"ok\":true}", fmt::format("run-{}", j.id)};
      },
      o);
  ASSERT_TRUE(w.Run().ok());
  for (int64_t id : {a, b}) {
    auto j = queue_->Get(id);
    EXPECT_EQ(j->state, JobState::kSucceeded);
    EXPECT_EQ(j->produced, fmt::format("run-{}", id));
    EXPECT_EQ(j->result, "{\"ok\":true}");
    EXPECT_EQ(j->history.at(0).worker, "test-worker");
    EXPECT_EQ(*queue_->Logs(id), std::vector<std::string>{fmt::format("working on {}", id)});
  }
  EXPECT_EQ(w.stats().succeeded, 2);
}

// Transient errors retry with backoff until the attempts are spent; the job is then dead with
// its last error. Permanent errors fail at once.
TEST_F(WorkerTest, RetriesTransientErrorsThenGivesUp) {
  const int64_t transient = Submit(2);
  std::atomic<int> calls{0};
  WorkerOptions o = Once();
  o.retry_base_ms = 200;
  Worker w(
      queue_.get(),
      [&](const JobRecord&, const ExecContext&,
          const std::function<void(std::string)>&) -> Result<JobResultOut> {
        ++calls;
        return UnavailableError("catalog unreachable");
      },
      o);
  ASSERT_TRUE(w.Run().ok());
  auto j = queue_->Get(transient);
  EXPECT_EQ(j->state, JobState::kQueued);  // waiting out its backoff
  EXPECT_GT(j->run_after_ms, 0);
  EXPECT_EQ(j->history.at(0).outcome, "retry");
  EXPECT_EQ(calls.load(), 1);
  // The backoff after the first attempt is the base.
  std::this_thread::sleep_for(milliseconds(250));
  Worker again(
      queue_.get(),
      [&](const JobRecord&, const ExecContext&,
          const std::function<void(std::string)>&) -> Result<JobResultOut> {
        ++calls;
        return UnavailableError("still unreachable");
      },
      o);
  ASSERT_TRUE(again.Run().ok());
  j = queue_->Get(transient);
  EXPECT_EQ(j->state, JobState::kDead);
  EXPECT_NE(j->error.find("still unreachable"), std::string::npos);
  EXPECT_EQ(j->attempts, 2);
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(WorkerTest, PermanentErrorsAndExceptions) {
  const int64_t bad = Submit(), throws = Submit();
  Worker w(
      queue_.get(),
      [&](const JobRecord& j, const ExecContext&,
          const std::function<void(std::string)>&) -> Result<JobResultOut> {
        if (j.id == bad) return InvalidArgumentError("no target column 'y'");
        throw std::runtime_error("boom");
      },
      Once());
  ASSERT_TRUE(w.Run().ok());
  auto j = queue_->Get(bad);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->attempts, 1);
  EXPECT_NE(j->error.find("no target column"), std::string::npos);
  // An exception is the job's failure (retried as an internal error), never the worker's.
  auto t = queue_->Get(throws);
  EXPECT_EQ(t->state, JobState::kQueued);
  EXPECT_NE(t->error.find("boom"), std::string::npos);
}

// A cancel reaches the running job through its ExecContext at the next heartbeat.
TEST_F(WorkerTest, CancelStopsARunningJob) {
  const int64_t id = Submit();
  WorkerOptions o = Once();
  o.lease_ms = 150;  // heartbeats every 50 ms
  std::atomic<bool> started{false};
  Worker w(
      queue_.get(),
      [&](const JobRecord&, const ExecContext& ctx,
          const std::function<void(std::string)>&) -> Result<JobResultOut> {
        started = true;
        for (int i = 0; i < 500; ++i) {
          KILN_RETURN_IF_ERROR(ctx.CheckAlive());
          std::this_thread::sleep_for(milliseconds(10));
        }
        return JobResultOut{};
      },
      o);
  std::thread runner([&] { ASSERT_TRUE(w.Run().ok()); });
  while (!started) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(queue_->Cancel(id).ok());
  runner.join();
  auto j = queue_->Get(id);
  EXPECT_EQ(j->state, JobState::kCancelled);
  EXPECT_EQ(w.stats().cancelled, 1);
}

// Stop(): a job still running after the drain is cancelled and handed back, ready for any worker.
TEST_F(WorkerTest, StopHandsBackWhatOutlivesTheDrain) {
  const int64_t id = Submit();
  WorkerOptions o;
  o.poll_ms = 10;
  o.drain = milliseconds(100);
  std::atomic<bool> started{false};
  Worker w(
      queue_.get(),
      [&](const JobRecord&, const ExecContext& ctx,
          const std::function<void(std::string)>&) -> Result<JobResultOut> {
        started = true;
        while (true) {
          KILN_RETURN_IF_ERROR(ctx.CheckAlive());
          std::this_thread::sleep_for(milliseconds(5));
        }
      },
      o);
  std::thread runner([&] { ASSERT_TRUE(w.Run().ok()); });
  while (!started) std::this_thread::sleep_for(milliseconds(5));
  w.Stop();
  runner.join();
  auto j = queue_->Get(id);
  EXPECT_EQ(j->state, JobState::kQueued);
  EXPECT_EQ(j->history.at(0).outcome, "handed back");
  EXPECT_TRUE(queue_->Lease("default", "next", 1000)->has_value());
}

TEST(FailureOutcomeTest, ClassifiesErrors) {
  JobRecord j;
  j.attempts = 1;
  j.spec.max_attempts = 3;
  EXPECT_EQ(FailureOutcome(j, NotFoundError("x"), false, 0).state, JobState::kFailed);
  EXPECT_EQ(FailureOutcome(j, DataLossError("x"), false, 0).state, JobState::kFailed);
  auto retry = FailureOutcome(j, InternalError("x"), false, 1000);
  EXPECT_EQ(retry.state, JobState::kQueued);
  EXPECT_EQ(retry.retry_after_ms, 3000);
  j.attempts = 3;
  EXPECT_EQ(FailureOutcome(j, UnavailableError("x"), false, 0).state, JobState::kDead);
  EXPECT_EQ(FailureOutcome(j, CancelledError("x"), true, 0).state, JobState::kCancelled);
  j.attempts = 20;
  j.spec.max_attempts = 100;
  EXPECT_EQ(FailureOutcome(j, InternalError("x"), false, 0).retry_after_ms, 300000);
}

}  // namespace
}  // namespace kiln::jobs
