#include "kiln/monitor/live_drift.h"

#include <cmath>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

namespace kiln::monitor {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// x: numeric, 3 bins (<= 1, <= 2, more); c: 2 categories; score: probability, 2 bins (<= 0.5).
DriftReference Reference() {
  DriftReference r;
  r.features = {{"x", false, {1, 2, kInf}, {100, 100, 100}, 0, 3}, {"c", true, {}, {150, 150}}};
  r.score = DriftReference::Score::kProbability;
  r.score_edges = {0.5};
  r.score_counts = {150, 150};
  return r;
}

struct Fixture {
  int64_t now = 1'000'000;
  LiveDrift live{
      Reference(),
      {.window = std::chrono::seconds(10), .min_samples = 100, .now_ms = [this] { return now; }}};
  // n rows like the reference (x spread over its bins, c half and half, scores half and half),
  // or, `shifted`, every x above 2, every c = 0 and every score high.
  void Send(size_t n, bool shifted) {
    std::vector<double> x;
    std::vector<float> probs;
    for (size_t i = 0; i < n; ++i) {
      x.push_back(shifted ? 5 : static_cast<double>(i % 3) + 0.5);
      x.push_back(shifted ? 0 : static_cast<double>(i % 2));
      const float p = shifted ? 0.9f : (i % 2 ? 0.8f : 0.2f);
      probs.push_back(1 - p);
      probs.push_back(p);
    }
    live.Record(n, 2, x.data(), probs.data(), 2);
  }
};

TEST(LiveDriftTest, TrafficLikeTheReferenceDoesNotDrift) {
  Fixture f;
  f.Send(600, false);
  DriftReport r = f.live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.rows, 600u);
  EXPECT_TRUE(r.evaluated);
  ASSERT_EQ(r.features.size(), 2u);
  EXPECT_EQ(r.features[0].name, "x");
  EXPECT_EQ(r.features[0].drift.current_rows, 600u);
  EXPECT_FALSE(r.features[0].drift.drifted);
  EXPECT_FALSE(r.features[1].drift.drifted);
  EXPECT_EQ(r.drift_share, 0);
  EXPECT_NEAR(r.features[0].drift.psi, 0, 1e-9);
  EXPECT_FALSE(r.prediction.drifted);
  EXPECT_EQ(r.prediction.current_rows, 600u);
}

TEST(LiveDriftTest, ShiftedTrafficDriftsAndMissingValuesAreCountedApart) {
  Fixture f;
  f.Send(400, true);
  std::vector<double> missing = {NAN, 7, 1.5, NAN};  // two rows; c = 7 has no bin
  f.live.Record(2, 2, missing.data(), nullptr, 0);
  DriftReport r = f.live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.rows, 402u);
  EXPECT_TRUE(r.features[0].drift.drifted);
  EXPECT_EQ(r.features[0].drift.test, "ks");  // 300 reference rows: a small sample
  EXPECT_GT(r.features[0].drift.psi, 1);
  EXPECT_TRUE(r.features[1].drift.drifted);
  EXPECT_EQ(r.features[1].drift.test, "chi_square");
  EXPECT_EQ(r.features[0].missing, 1u);
  EXPECT_EQ(r.features[1].missing, 1u);
  EXPECT_EQ(r.features[1].out_of_range, 1u);          // c = 7: no such category
  EXPECT_EQ(r.features[0].drift.current_rows, 401u);  // missing values are not in the histogram
  EXPECT_EQ(r.drift_share, 1);
  EXPECT_TRUE(r.prediction.drifted);
}

TEST(LiveDriftTest, NothingIsDecidedBelowMinSamples) {
  Fixture f;
  f.Send(50, true);
  DriftReport r = f.live.Measure(DriftWindow::kSliding);
  EXPECT_FALSE(r.evaluated);
  EXPECT_EQ(r.min_samples, 100u);
  EXPECT_FALSE(r.features[0].drift.drifted);
  EXPECT_GT(r.features[0].drift.psi, 0);  // the statistics are still there to see
  EXPECT_EQ(r.drift_share, 0);
}

TEST(LiveDriftTest, SlidingAndTumblingWindows) {
  Fixture f;  // window 10 s, slices of 2 s; now = 1000 s, the start of a window
  f.Send(300, true);
  f.now += 4'000;
  f.Send(300, false);
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).rows, 600u);
  EXPECT_EQ(f.live.Measure(DriftWindow::kTumbling).rows, 0u);  // no whole window yet
  f.now += 6'000;  // the next window begins: the last whole one holds all 600
  DriftReport tumbling = f.live.Measure(DriftWindow::kTumbling);
  EXPECT_EQ(tumbling.rows, 600u);
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).rows, 300u);  // the shifted rows slid out
  f.now += 10'000;
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).rows, 0u);
  EXPECT_EQ(f.live.Measure(DriftWindow::kTumbling).rows, 0u);
  // A slice reused round the ring starts from zero.
  f.Send(10, false);
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).rows, 10u);
}

TEST(LiveDriftTest, ConcurrentRecordersLoseNothing) {
  Fixture f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&f] {
      for (int i = 0; i < 200; ++i) f.Send(50, false);
    });
  }
  for (auto& t : threads) t.join();
  DriftReport r = f.live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.rows, 8u * 200 * 50);
  EXPECT_EQ(r.features[0].drift.current_rows, 80000u);
  EXPECT_FALSE(r.features[0].drift.drifted);
}

// Values outside the training range [0, 3] and categories the model does not know are counted
// per feature, in the window and since the start; they still fall in the edge bins.
TEST(LiveDriftTest, OutOfRangeValuesAndUnseenCategoriesAreCounted) {
  Fixture f;
  std::vector<double> rows = {-1, 0, 3, 1, 3.5, NAN, NAN, 1};  // x -1 and 3.5 are outside
  const uint64_t unseen[] = {0, 1};  // one of c's NaNs was a category the model does not know
  f.live.Record(4, 2, rows.data(), nullptr, 0, unseen);
  DriftReport r = f.live.Measure(DriftWindow::kSliding);
  EXPECT_EQ(r.features[0].out_of_range, 2u);
  EXPECT_EQ(r.features[0].missing, 1u);
  EXPECT_EQ(r.features[0].drift.current_rows, 3u);
  EXPECT_EQ(r.features[1].out_of_range, 1u);
  EXPECT_EQ(r.features[1].missing, 0u);
  EXPECT_EQ(f.live.OutOfRangeTotals(), (std::vector<uint64_t>{2, 1}));
  // The window forgets; the totals do not.
  f.now += 30'000;
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).features[0].out_of_range, 0u);
  EXPECT_EQ(f.live.OutOfRangeTotals(), (std::vector<uint64_t>{2, 1}));
  const std::string page =
      DriftExposition({{"m", 3, f.live.Measure(DriftWindow::kSliding), f.live.OutOfRangeTotals()}});
  EXPECT_NE(
      page.find("# TYPE kiln_feature_out_of_range_total counter\n"
                "kiln_feature_out_of_range_total{model=\"m\",version=\"3\",feature=\"x\"} 2\n"),
      std::string::npos)
      << page;
}

TEST(LiveDriftTest, ARowOfAnotherWidthIsIgnored) {
  Fixture f;
  std::vector<double> three = {1, 0, 2};
  f.live.Record(1, 3, three.data(), nullptr, 0);
  EXPECT_EQ(f.live.Measure(DriftWindow::kSliding).rows, 0u);
}

}  // namespace
}  // namespace kiln::monitor

namespace kiln::monitor {
namespace {

// What a server saves and restores across a restart: both windows' counts, the same reports,
// nothing older than two windows, nothing from another window length.
TEST(LiveDriftTest, SavedWindowsAreRestored) {
  Fixture f;
  f.Send(300, false);
  f.now += 10'000;  // the first 300 rows are the last whole window now
  f.Send(200, true);
  const std::string saved = f.live.Save();
  const DriftReport sliding = f.live.Measure(DriftWindow::kSliding);
  const DriftReport tumbling = f.live.Measure(DriftWindow::kTumbling);

  Fixture g;
  g.now = f.now;
  ASSERT_TRUE(g.live.Restore(saved).ok()) << saved;
  const DriftReport a = g.live.Measure(DriftWindow::kSliding);
  const DriftReport b = g.live.Measure(DriftWindow::kTumbling);
  EXPECT_EQ(a.rows, sliding.rows);
  EXPECT_EQ(b.rows, tumbling.rows);
  EXPECT_EQ(b.rows, 300u);
  ASSERT_EQ(a.features.size(), sliding.features.size());
  EXPECT_EQ(a.features[0].counts, sliding.features[0].counts);
  EXPECT_EQ(a.prediction_counts, sliding.prediction_counts);
  EXPECT_EQ(a.drift_share, sliding.drift_share);
  g.Send(10, false);  // and counting goes on on top
  EXPECT_EQ(g.live.Measure(DriftWindow::kSliding).rows, sliding.rows + 10);

  Fixture late;
  late.now = f.now + 30'000;  // three windows later: nothing of it is current
  ASSERT_TRUE(late.live.Restore(saved).ok());
  EXPECT_EQ(late.live.Measure(DriftWindow::kSliding).rows, 0u);
  EXPECT_EQ(late.live.Measure(DriftWindow::kTumbling).rows, 0u);

  LiveDrift other(Reference(),
                  {.window = std::chrono::seconds(20), .now_ms = [&] { return f.now; }});
  EXPECT_EQ(other.Restore(saved).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(other.Measure(DriftWindow::kSliding).rows, 0u);
  Fixture bad;
  EXPECT_FALSE(bad.live.Restore("kiln-live-drift 1 2000").ok());
  EXPECT_FALSE(bad.live.Restore("something else").ok());
  EXPECT_FALSE(bad.live.Restore(saved.substr(0, saved.size() - 4)).ok());
  EXPECT_FALSE(bad.live.Restore(saved + "x y z\n").ok());
}

}  // namespace
}  // namespace kiln::monitor
