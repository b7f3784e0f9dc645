#include "kiln/base/thread_pool.h"

#include <atomic>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "kiln/base/exec_context.h"

namespace kiln {
namespace {

class ParallelForTest : public ::testing::TestWithParam<int> {};

TEST_P(ParallelForTest, VisitsEveryIndexOnce) {
  ExecContext ctx(ExecContext::Options{.threads = GetParam()});
  std::vector<std::atomic<int>> hits(1000);
  ASSERT_TRUE(ParallelFor(ctx, hits.size(), [&](size_t i) {
                hits[i].fetch_add(1);
                return Status::Ok();
              }).ok());
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST_P(ParallelForTest, ReturnsAnErrorFromABody) {
  ExecContext ctx(ExecContext::Options{.threads = GetParam()});
  Status s = ParallelFor(
      ctx, 100, [&](size_t i) { return i == 37 ? DataLossError("chunk 37") : Status::Ok(); });
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "chunk 37");
}

TEST_P(ParallelForTest, ConvertsExceptionsToInternal) {
  ExecContext ctx(ExecContext::Options{.threads = GetParam()});
  Status s = ParallelFor(ctx, 10, [&](size_t i) -> Status {
    if (i == 3) throw std::runtime_error("boom");
    return Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("boom"), std::string::npos);
}

TEST_P(ParallelForTest, NestedCallsDoNotDeadlock) {
  ExecContext ctx(ExecContext::Options{.threads = GetParam()});
  std::atomic<int> total{0};
  ASSERT_TRUE(ParallelFor(ctx, 8, [&](size_t) {
                return ParallelFor(ctx, 8, [&](size_t) {
                  total.fetch_add(1);
                  return Status::Ok();
                });
              }).ok());
  EXPECT_EQ(total.load(), 64);
}

INSTANTIATE_TEST_SUITE_P(Threads, ParallelForTest, ::testing::Values(1, 2, 4));

TEST(ParallelForTest, HonoursCancellationAndDeadline) {
  ExecContext ctx(ExecContext::Options{.threads = 2});
  ctx.Cancel();
  EXPECT_EQ(ParallelFor(ctx, 10, [](size_t) { return Status::Ok(); }).code(),
            StatusCode::kCancelled);
  ExecContext late(ExecContext::Options{
      .threads = 2, .deadline = ExecContext::Clock::now() - std::chrono::seconds(1)});
  EXPECT_EQ(late.CheckAlive().code(), StatusCode::kDeadlineExceeded);
}

TEST(ThreadPoolTest, RunsTasksAndStopsIdempotently) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Submit([&] { n.fetch_add(1); }).ok());
    pool.Stop();
    pool.Stop();
    EXPECT_EQ(pool.Submit([] {}).code(), StatusCode::kCancelled);
  }
  EXPECT_EQ(n.load(), 100);
}

TEST(ExecContextTest, ViewsShareThePoolAndTheCancellation) {
  ThreadPool pool(0);
  const ExecContext ctx(ExecContext::Options{.threads = 3, .seed = 7, .pool = &pool});
  const ExecContext narrow = ctx.WithThreads(1);
  const ExecContext wide = ctx.WithThreads(5).WithSeed(9);
  EXPECT_EQ(narrow.threads(), 1);
  EXPECT_EQ(ctx.WithThreads(0).threads(), 3);  // 0 keeps the cap
  EXPECT_EQ(wide.seed(), 9u);
  EXPECT_EQ(narrow.seed(), 7u);
  EXPECT_EQ(&wide.pool(), &pool);
  EXPECT_EQ(pool.size(), 4);  // grown to the widest cap minus the caller
  EXPECT_EQ(&ctx.pool(), &pool);
  EXPECT_EQ(pool.size(), 4);  // never shrinks
  const ExecContext copy = narrow;
  copy.Cancel();
  EXPECT_TRUE(ctx.cancelled());
  EXPECT_EQ(wide.CheckAlive().code(), StatusCode::kCancelled);
  // A context made from Options has a cancellation state of its own.
  const ExecContext other(ExecContext::Options{.threads = 2, .pool = &pool});
  EXPECT_TRUE(other.CheckAlive().ok());
}

TEST(ExecContextTest, WithDeadlineKeepsTheEarlierOne) {
  const auto now = ExecContext::Clock::now();
  const ExecContext ctx(
      ExecContext::Options{.threads = 1, .deadline = now + std::chrono::hours(1)});
  EXPECT_EQ(ctx.WithDeadline(now + std::chrono::hours(2)).deadline(), now + std::chrono::hours(1));
  EXPECT_EQ(ctx.WithDeadline(now - std::chrono::seconds(1)).CheckAlive().code(),
            StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(ctx.CheckAlive().ok());
}

TEST(ExecContextTest, WithoutAPoolCopiesShareTheOneItMakes) {
  const ExecContext ctx(ExecContext::Options{.threads = 2});
  const ExecContext copy = ctx.WithThreads(3);
  EXPECT_EQ(&ctx.pool(), &copy.pool());
  std::atomic<int> n{0};
  ASSERT_TRUE(ParallelFor(copy, 100, [&](size_t) {
                n.fetch_add(1);
                return Status::Ok();
              }).ok());
  EXPECT_EQ(n.load(), 100);
}

TEST(ThreadPoolTest, GrowsOnDemandButNotOnceStopped) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 0);
  pool.EnsureWorkers(2);
  EXPECT_EQ(pool.size(), 2);
  pool.EnsureWorkers(1);
  EXPECT_EQ(pool.size(), 2);
  pool.Stop();
  pool.EnsureWorkers(4);
  EXPECT_EQ(pool.size(), 0);
}

}  // namespace
}  // namespace kiln
