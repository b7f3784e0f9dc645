// Metrics: counters, gauges and histograms with labels, exposed in the Prometheus text format
// (version 0.0.4) by MetricsRegistry::Expose().
//
//   MetricsRegistry reg;
//   auto& requests = reg.AddCounter("kiln_requests_total", "Requests answered.",
//                                   {"route", "code"});
//   Counter* ok = requests.With({"infer", "200"});   // look up once, keep the pointer
//   ok->Add();                                       // hot path: one relaxed atomic add
//   std::string page = reg.Expose();
//
// Families and their series live as long as the registry; pointers to them stay valid.
// Thread-safety: everything may be called concurrently; updates are lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/mutex.h"

namespace kiln::monitor {

// A label value escaped for the text format (backslash, double quote, newline), and a sample
// value as the format writes it (NaN, +Inf, shortest round-trip decimal): for collectors that
// write their own families.
std::string LabelValue(std::string_view v);
std::string SampleValue(double v);

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with fixed upper bounds (+Inf implied), a sum and a count.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return *bounds_; }
  // Per-bucket (not cumulative) counts, the +Inf bucket last.
  std::vector<uint64_t> counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds from 10 µs to 10 s, for latencies.
const std::vector<double>& LatencyBuckets();
// 1, 2, 4, ... 1024, for batch sizes.
const std::vector<double>& SizeBuckets();

// The q-quantile (0 < q < 1) of per-bucket counts (the +Inf bucket last) over `bounds`,
// interpolated linearly inside its bucket as Prometheus's histogram_quantile does: the first
// bucket starts at 0, and a quantile in the +Inf bucket is the largest finite bound. nullopt
// when the counts are all zero.
std::optional<double> HistogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& counts);

enum class MetricType { kCounter, kGauge, kHistogram };

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}
  // The series for these label values (as many as label names), created on first use.
  T* With(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // A consistent copy of (label values, series) pairs.
  std::vector<std::pair<std::vector<std::string>, const T*>> Series() const;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms: their bucket bounds
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ KILN_GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  // Adding a family again (same name and labels) returns the one already there, so the REST
  // and gRPC front ends share their series.
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> labels = {});
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> labels,
                                  const std::vector<double>& bounds);
  // Adds process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds and
  // process_threads, read from /proc at each Expose(), and process_start_time_seconds (read once).
  void AddProcessMetrics();

  // Adds families rendered by `text` at each Expose() (after the registry's own), for values
  // read from elsewhere at scrape time (the job queue's depth). `text` must return complete
  // Prometheus text (HELP, TYPE and samples) and be safe to call from any thread.
  void AddCollector(std::function<std::string()> text);

  // The Prometheus text exposition of every family, in the order they were added.
  std::string Expose() const;

 private:
  std::string ExposeFamilies() const;
  struct Entry {
    MetricType type;
    void* family;
  };
  // The family of that name and labels, added (after the others) if it is new.
  template <typename T>
  Family<T>& FindOrAdd(std::deque<Family<T>> MetricsRegistry::*store, MetricType type,
                       std::string name, std::string help, std::vector<std::string> labels,
                       const std::vector<double>& bounds) KILN_EXCLUDES(mu_);
  mutable Mutex mu_;
  std::deque<Family<Counter>> counters_ KILN_GUARDED_BY(mu_);
  std::deque<Family<Gauge>> gauges_ KILN_GUARDED_BY(mu_);
  std::deque<Family<Histogram>> histograms_ KILN_GUARDED_BY(mu_);
  std::vector<Entry> order_ KILN_GUARDED_BY(mu_);
  bool process_ KILN_GUARDED_BY(mu_) = false;
  double start_time_ KILN_GUARDED_BY(mu_) = 0;  // process_start_time_seconds, read once
  std::vector<std::function<std::string()>> collectors_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::monitor
