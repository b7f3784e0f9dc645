// The JobQueue contract on Redis Streams, against a redis-server this test starts itself on a
// loopback port (append-only file on), and what only Redis has to show: a server restart keeps
// the queue.
#include <gtest/gtest.h>

#include "jobs/queue_contract.h"
#include "kiln/jobs/redis_queue.h"
#include "testing/redis_server.h"

namespace kiln::registry {
namespace {

kiln::testing::RedisServer* g_redis = nullptr;

class RedisEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_redis = new kiln::testing::RedisServer();
    ASSERT_TRUE(g_redis->ok()) << "redis-server did not start (scripts/install-deps installs it)";
  }
  void TearDown() override {
    delete g_redis;
    g_redis = nullptr;
  }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

INSTANTIATE_TEST_SUITE_P(Redis, JobQueueContractTest,
                         ::testing::Values(QueueBackend{
                             "redis", [](const std::string&) { g_redis->Flush(); },
                             [](const std::string&) {
                               return jobs::OpenRedisJobQueue(g_redis->Url());
                             }}),
                         [](const auto& p) { return p.param.name; });

TEST(RedisJobQueueTest, BadUrlsAndDeadServersAreClearErrors) {
  EXPECT_EQ(jobs::OpenRedisJobQueue("http://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs::OpenRedisJobQueue("redis://127.0.0.1:99999/0").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs::OpenRedisJobQueue("redis://127.0.0.1:1/0").status().code(),
            StatusCode::kUnavailable);
}

// Jobs queued (and one running) survive a restart of redis-server; the client reconnects.
TEST(RedisJobQueueTest, RestartLosesNoJob) {
  g_redis->Flush();
  auto q = jobs::OpenRedisJobQueue(g_redis->Url());
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back((*q)->Enqueue(JobSpec{"train", "{}"})->id);
  }
  auto running = (*q)->Lease("default", "w1", 60000);
  ASSERT_TRUE(running.ok() && running->has_value());
  ASSERT_TRUE(g_redis->Restart());
  // The first call after the restart may find the old connection gone; the next reconnects.
  (void)(*q)->Get(ids[0]);
  auto all = (*q)->List(std::nullopt, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 5u);
  EXPECT_EQ((*(*q)->Get(ids[0])).state, JobState::kRunning);
  std::set<int64_t> leased = {ids[0]};
  while (true) {
    auto j = (*q)->Lease("default", "w2", 60000);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    if (!j->has_value()) break;
    leased.insert((*j)->id);
  }
  EXPECT_EQ(leased, std::set<int64_t>(ids.begin(), ids.end()));
  EXPECT_TRUE((*q)->Heartbeat(ids[0], "w1", 60000).ok());
}

}  // namespace
}  // namespace kiln::registry
