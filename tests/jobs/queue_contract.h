// The JobQueue contract suite's fixture: a backend is a way to open a fresh queue (and more
// connections to the same one). Each test binary instantiates the suite on its backend: the
// catalog on SQLite (jobs_test), on PostgreSQL (jobs_postgres_test) and Redis (jobs_redis_test).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "kiln/registry/job_queue.h"
#include "testing/run_kiln.h"

namespace kiln::registry {

struct QueueBackend {
  std::string name;
  // Called once per test before the first open: a fresh, empty queue under `dir`.
  std::function<void(const std::string& dir)> reset = [](const std::string&) {};
  // Opens a connection to the test's queue; called again for more connections.
  std::function<Result<std::unique_ptr<JobQueue>>(const std::string& dir)> open;
};

inline std::ostream& operator<<(std::ostream& os, const QueueBackend& b) { return os << b.name; }

class JobQueueContractTest : public ::testing::TestWithParam<QueueBackend> {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-queue");
    GetParam().reset(dir_);
    auto q = GetParam().open(dir_);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    queue_ = std::move(*q);
  }
  void TearDown() override {
    queue_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<JobQueue> Connect() {
    auto q = GetParam().open(dir_);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() ? std::move(*q) : nullptr;
  }

  std::string dir_;
  std::unique_ptr<JobQueue> queue_;
};

}  // namespace kiln::registry
