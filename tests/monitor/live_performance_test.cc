#include "kiln/monitor/live_performance.h"

#include <cmath>

#include <gtest/gtest.h>

namespace kiln::monitor {
namespace {

struct Clock {
  int64_t now = 1'000'000;
  PerformanceOptions Options() {
    return {.window = std::chrono::seconds(10), .now_ms = [this] { return now; }};
  }
};

TEST(LivePerformanceTest, BinaryMetricsFromLabelledPredictions) {
  Clock clock;
  LivePerformance live(Task::kBinary, 2, clock.Options());
  // p(class 1), truth: two true positives, one false positive, one false negative, two true
  // negatives.
  const std::pair<float, int> rows[] = {{0.9f, 1}, {0.8f, 1}, {0.7f, 0},
                                        {0.3f, 1}, {0.2f, 0}, {0.1f, 0}};
  for (auto [p, truth] : rows) {
    const float scores[] = {1 - p, p};
    live.Add(scores, truth);
  }
  const PerformanceReport r = live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.labelled, 6u);
  EXPECT_DOUBLE_EQ(r.metrics.at("accuracy"), 4.0 / 6);
  EXPECT_DOUBLE_EQ(r.metrics.at("error"), 2.0 / 6);
  EXPECT_DOUBLE_EQ(r.metrics.at("precision"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("recall"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("f1"), 2.0 / 3);
  // Positives at 0.9, 0.8, 0.3; negatives at 0.7, 0.2, 0.1: 8 of 9 pairs ordered.
  EXPECT_DOUBLE_EQ(r.metrics.at("auc"), 8.0 / 9);
  const double logloss = -(std::log(0.9f) + std::log(0.8f) + std::log(1 - 0.7f) + std::log(0.3f) +
                           std::log(1 - 0.2f) + std::log(1 - 0.1f)) /
                         6;
  EXPECT_NEAR(r.metrics.at("logloss"), logloss, 1e-6);
  // Nothing in the tumbling window until a whole one has passed; the sliding one forgets.
  EXPECT_EQ(live.Measure(DriftWindow::kTumbling).labelled, 0u);
  clock.now += 10'000;
  EXPECT_EQ(live.Measure(DriftWindow::kTumbling).labelled, 6u);
  clock.now += 10'000;
  const PerformanceReport later = live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(later.labelled, 0u);
  EXPECT_TRUE(later.metrics.empty());
}

TEST(LivePerformanceTest, MulticlassAndRegression) {
  Clock clock;
  LivePerformance mc(Task::kMulticlass, 3, clock.Options());
  const float a[] = {0.7f, 0.2f, 0.1f}, b[] = {0.1f, 0.8f, 0.1f}, c[] = {0.2f, 0.3f, 0.5f};
  mc.Add(a, 0);
  mc.Add(b, 1);
  mc.Add(c, 1);  // predicted 2
  mc.Add(a, 7);  // no such class: ignored
  const auto r = mc.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.labelled, 3u);
  EXPECT_DOUBLE_EQ(r.metrics.at("accuracy"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("merror"), 1.0 / 3);
  // Per class precision 1, 1, 0 and recall 1, 0.5, 0 (class 2 never true: 0).
  EXPECT_DOUBLE_EQ(r.metrics.at("precision"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("recall"), 0.5);
  EXPECT_EQ(r.metrics.count("auc"), 0u);

  LivePerformance reg(Task::kRegression, 0, clock.Options());
  const float p1[] = {3}, p2[] = {5};
  reg.Add(p1, 1);  // error 2
  reg.Add(p2, 6);  // error -1
  reg.Add(p2, NAN);
  const auto q = reg.Measure(DriftWindow::kSliding);
  EXPECT_EQ(q.labelled, 2u);
  EXPECT_DOUBLE_EQ(q.metrics.at("rmse"), std::sqrt(2.5));
  EXPECT_DOUBLE_EQ(q.metrics.at("mae"), 1.5);
}

TEST(LivePerformanceTest, HistogramAucAndConfidenceBasedEstimate) {
  const double pos[] = {0, 1, 3}, neg[] = {2, 1, 0};
  // Pairs: positives in bin 1 beat 2 negatives and tie 1; in bin 2 beat 3.
  EXPECT_DOUBLE_EQ(HistogramAuc(pos, neg), (1 * (2 + 0.5) + 3 * 3) / 12.0);
  const double none[] = {0, 0, 0};
  EXPECT_TRUE(std::isnan(HistogramAuc(pos, none)));
  // Two bins split at 0.5: centres 0.25 and 0.75; all rows confident at 75%.
  const uint64_t counts[] = {10, 30};
  const double edges[] = {0.5};
  const auto e = EstimateBinaryPerformance(counts, edges);
  EXPECT_DOUBLE_EQ(e.at("estimated_accuracy"), 0.75);
  // Expected positives 2.5 and 22.5, negatives 7.5 and 7.5.
  EXPECT_DOUBLE_EQ(e.at("estimated_auc"), (22.5 * (7.5 + 3.75) + 2.5 * 3.75) / (25.0 * 15));
  const uint64_t empty[] = {0, 0};
  EXPECT_TRUE(EstimateBinaryPerformance(empty, edges).empty());
}

}  // namespace
}  // namespace kiln::monitor

namespace kiln::monitor {
namespace {

TEST(LivePerformanceTest, SavedWindowsAreRestored) {
  Clock clock;
  LivePerformance live(Task::kBinary, 2, clock.Options());
  const std::pair<float, int> rows[] = {{0.9f, 1}, {0.8f, 1}, {0.7f, 0}, {0.3f, 1}, {0.2f, 0}};
  for (auto [p, truth] : rows) {
    const float scores[] = {1 - p, p};
    live.Add(scores, truth);
  }
  const std::string saved = live.Save();
  LivePerformance again(Task::kBinary, 2, clock.Options());
  ASSERT_TRUE(again.Restore(saved).ok()) << saved;
  const PerformanceReport a = live.Measure(DriftWindow::kSliding);
  const PerformanceReport b = again.Measure(DriftWindow::kSliding);
  EXPECT_EQ(b.labelled, 5u);
  EXPECT_EQ(a.metrics, b.metrics);
  LivePerformance regression(Task::kRegression, 0, clock.Options());
  EXPECT_EQ(regression.Restore(saved).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(again.Restore(saved.substr(0, saved.size() - 3)).ok());
  clock.now += 30'000;
  LivePerformance late(Task::kBinary, 2, clock.Options());
  ASSERT_TRUE(late.Restore(saved).ok());
  EXPECT_EQ(late.Measure(DriftWindow::kSliding).labelled, 0u);
}

}  // namespace
}  // namespace kiln::monitor
