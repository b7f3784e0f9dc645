#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kiln/monitor/metrics.h"

namespace kiln::monitor {
namespace {

TEST(MetricsTest, ExposesCountersGaugesAndHistogramsInTextFormat) {
  MetricsRegistry reg;
  auto& requests = reg.AddCounter("kiln_requests_total", "Requests.", {"route", "code"});
  requests.With({"infer", "200"})->Add(3);
  requests.With({"say \"hi\"\n", "404"})->Add();
  reg.AddGauge("kiln_in_flight", "In flight.").With({})->Set(2);
  auto& h = reg.AddHistogram("kiln_latency_seconds", "Latency.", {}, {0.1, 1});
  h.With({})->Observe(0.05);
  h.With({})->Observe(0.5);
  h.With({})->Observe(7);
  EXPECT_EQ(reg.Expose(),
            "# HELP kiln_requests_total Requests.\n"
            "# TYPE kiln_requests_total counter\n"
            "kiln_requests_total{route=\"infer\",code=\"200\"} 3\n"
            "kiln_requests_total{route=\"say \\\"hi\\\"\\n\",code=\"404\"} 1\n"
            "# HELP kiln_in_flight In flight.\n"
            "# TYPE kiln_in_flight gauge\n"
            "kiln_in_flight 2\n"
            "# HELP kiln_latency_seconds Latency.\n"
            "# TYPE kiln_latency_seconds histogram\n"
            "kiln_latency_seconds_bucket{le=\"0.1\"} 1\n"
            "kiln_latency_seconds_bucket{le=\"1\"} 2\n"
            "kiln_latency_seconds_bucket{le=\"+Inf\"} 3\n"
            "kiln_latency_seconds_sum 7.55\n"
            "kiln_latency_seconds_count 3\n");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry reg;
  auto& c = reg.AddCounter("c_total", "C.", {"t"});
  auto& h = reg.AddHistogram("h", "H.", {}, LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.With({"x"})->Add();
        h.With({})->Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.With({"x"})->value(), 40000u);
  uint64_t n = 0;
  for (uint64_t k : h.With({})->counts()) n += k;
  EXPECT_EQ(n, 40000u);
  EXPECT_NEAR(h.With({})->sum(), 40.0, 1e-6);
}

TEST(MetricsTest, HistogramQuantileInterpolatesInsideItsBucket) {
  const std::vector<double> bounds = {1, 2, 4};
  EXPECT_FALSE(HistogramQuantile(0.5, bounds, {0, 0, 0, 0}).has_value());
  // 10 in (0, 1], 10 in (1, 2]: the median is the first bucket's top, p75 half way into (1, 2].
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, bounds, {10, 10, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.75, bounds, {10, 10, 0, 0}), 1.5);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.25, bounds, {10, 10, 0, 0}), 0.5);
  // Empty buckets on the way are skipped; the +Inf bucket answers the largest finite bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, bounds, {0, 0, 4, 0}), 3.0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.99, bounds, {1, 0, 0, 99}), 4.0);
}

TEST(MetricsTest, ProcessMetrics) {
  MetricsRegistry reg;
  reg.AddProcessMetrics();
  const std::string page = reg.Expose();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_threads", "process_start_time_seconds"}) {
    EXPECT_NE(page.find(std::string("\n") + name + " "), std::string::npos) << name << page;
  }
  EXPECT_EQ(page.find("process_resident_memory_bytes 0\n"), std::string::npos);
}

}  // namespace
}  // namespace kiln::monitor
