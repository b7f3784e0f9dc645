#include "kiln/monitor/prediction_log.h"

#include <gtest/gtest.h>

#include "kiln/base/mem_file_system.h"

namespace kiln::monitor {
namespace {

PredictionLogOptions Options(uint64_t max_bytes = 1 << 20, double sample = 1) {
  return {
      .max_bytes = max_bytes, .sample = sample, .now_ms = [] { return int64_t{1700000000000}; }};
}

TEST(PredictionLogTest, JoinsByIdOnceAndNamesRowsOfLargerRequests) {
  MemFileSystem fs;
  auto log = PredictionLog::Open(&fs, "/home/monitoring/m/v1", Options());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  const double x[] = {1, 2, 3, 4};
  const float p[] = {0.25f, 0.75f, 0.5f, 0.5f};
  (*log)->Record("one", 1, 2, x, p, 2);
  (*log)->Record("batch", 2, 2, x, p, 2);
  (*log)->Record("bad id!", 1, 2, x, p, 2);  // not a loggable id
  (*log)->Record("", 1, 2, x, p, 2);
  std::vector<float> scores;
  EXPECT_EQ((*log)->Take("one", &scores), PredictionLog::Join::kJoined);
  EXPECT_EQ(scores, (std::vector<float>{0.25f, 0.75f}));
  EXPECT_EQ((*log)->Take("one", &scores), PredictionLog::Join::kDuplicate);
  EXPECT_EQ((*log)->Take("batch#1", &scores), PredictionLog::Join::kJoined);
  EXPECT_EQ(scores, (std::vector<float>{0.5f, 0.5f}));
  EXPECT_EQ((*log)->Take("batch", &scores), PredictionLog::Join::kUnknown);
  EXPECT_EQ((*log)->Take("bad id!", &scores), PredictionLog::Join::kUnknown);
  EXPECT_EQ((*log)->stats().predictions, 3u);
}

// A restart reads the log back: predictions stay joinable, labels stay given, and a torn last
// line is skipped.
TEST(PredictionLogTest, ReopenedLogKeepsPredictionsAndLabels) {
  MemFileSystem fs;
  const double x[] = {1};
  const float p[] = {0.5f};
  {
    auto log = *PredictionLog::Open(&fs, "/d", Options());
    log->Record("a", 1, 1, x, p, 1);
    log->Record("b", 1, 1, x, p, 1);
    std::vector<float> s;
    ASSERT_EQ(log->Take("a", &s), PredictionLog::Join::kJoined);
  }
  {
    auto names = *fs.ListDir("/d");
    ASSERT_EQ(names.size(), 1u);
    auto w = *fs.NewWritableFile("/d/predictions-000009.log");  // a later segment, cut short
    ASSERT_TRUE(w->Append("P\tc\t1\t00\t0.").ok());
    ASSERT_TRUE(w->Append("5\nP\td\t1\t00\t0.2,").ok());
    ASSERT_TRUE(w->Close().ok());
  }
  auto log = *PredictionLog::Open(&fs, "/d", Options());
  std::vector<float> s;
  EXPECT_EQ(log->Take("a", &s), PredictionLog::Join::kDuplicate);
  EXPECT_EQ(log->Take("b", &s), PredictionLog::Join::kJoined);
  EXPECT_EQ(log->Take("c", &s), PredictionLog::Join::kJoined);
  EXPECT_EQ(s, (std::vector<float>{0.5f}));
  EXPECT_EQ(log->Take("d", &s), PredictionLog::Join::kUnknown);
}

// The log never holds more than its cap: old segments go, with their predictions.
TEST(PredictionLogTest, StaysUnderItsCap) {
  MemFileSystem fs;
  constexpr uint64_t kCap = 64 * 1024;
  auto log = *PredictionLog::Open(&fs, "/d", Options(kCap));
  const double x[] = {1, 2};
  const float p[] = {0.125f, 0.875f};
  for (int i = 0; i < 20000; ++i) log->Record("req-" + std::to_string(i), 1, 2, x, p, 2);
  ASSERT_TRUE(log->Flush().ok());
  uint64_t bytes = 0;
  const std::vector<std::string> names = *fs.ListDir("/d");
  for (const auto& name : names) bytes += *fs.FileSize("/d/" + name);
  EXPECT_LE(bytes, kCap);
  EXPECT_EQ(log->stats().bytes, bytes);
  EXPECT_LT(log->stats().predictions, 20000u);
  std::vector<float> s;
  EXPECT_EQ(log->Take("req-0", &s), PredictionLog::Join::kUnknown);     // evicted
  EXPECT_EQ(log->Take("req-19999", &s), PredictionLog::Join::kJoined);  // recent
}

TEST(PredictionLogTest, SamplingKeepsAShareOfIdsChosenByHash) {
  MemFileSystem fs;
  auto log = *PredictionLog::Open(&fs, "/d", Options(1 << 24, 0.25));
  const double x[] = {1};
  const float p[] = {1};
  for (int i = 0; i < 4000; ++i) log->Record("r" + std::to_string(i), 1, 1, x, p, 1);
  const uint64_t kept = log->stats().predictions;
  EXPECT_GT(kept, 800u);
  EXPECT_LT(kept, 1200u);
  log->Record("r1", 1, 1, x, p, 1);  // the same id: the same decision
  EXPECT_EQ(log->stats().predictions, kept);
}

}  // namespace
}  // namespace kiln::monitor
