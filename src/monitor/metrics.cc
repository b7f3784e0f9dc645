#include "kiln/monitor/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace kiln::monitor {

std::string SampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

void AtomicAdd(std::atomic<double>* a, double d) {
  double cur = a->load(std::memory_order_relaxed);
  while (!a->compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{}=\"{}\"", names[i], LabelValue(values[i]));
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  return out + "}";
}

void Header(std::string* out, const std::string& name, const std::string& help,
            std::string_view type) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

struct ProcessStats {
  double cpu_seconds = 0;
  double rss_bytes = 0;
  double open_fds = 0;
  double threads = 0;
};

ProcessStats ReadProcess() {
  ProcessStats p;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    p.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) p.rss_bytes = std::atof(line.c_str() + 6) * 1024;
    if (line.rfind("Threads:", 0) == 0) p.threads = std::atof(line.c_str() + 8);
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) p.open_fds += 1;
    closedir(d);
    p.open_fds -= 3;  // ".", ".." and the directory's own descriptor
  }
  return p;
}

// Seconds since the epoch when this process started: field 22 of /proc/self/stat (clock ticks
// since boot) plus the boot time.
double ReadStartTime() {
  std::ifstream stat("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), {});
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  std::ifstream procstat("/proc/stat");
  std::string line;
  while (std::getline(procstat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      return std::atof(line.c_str() + 6) +
             std::atof(field.c_str()) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return 0;
}

}  // namespace

void Gauge::Add(double d) { AtomicAdd(&value_, d); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, v);
}

std::vector<uint64_t> Histogram::counts() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {1e-5,   2.5e-5, 5e-5, 1e-4,   2.5e-4, 5e-4, 1e-3,
                                               2.5e-3, 5e-3,   1e-2, 2.5e-2, 5e-2,   0.1,  0.25,
                                               0.5,    1,      2.5,  5,      10};
  return kBuckets;
}

const std::vector<double>& SizeBuckets() {
  static const std::vector<double> kBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return kBuckets;
}

std::optional<double> HistogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0 || bounds.empty()) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  double below = 0;  // the count in the buckets before
  for (size_t i = 0; i < counts.size(); ++i) {
    const double here = static_cast<double>(counts[i]);
    if (below + here >= rank && here > 0) {
      if (i >= bounds.size()) return bounds.back();  // the +Inf bucket
      const double lower = i == 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * (rank - below) / here;
    }
    below += here;
  }
  return bounds.back();
}

template <typename T>
T* Family<T>::With(const std::vector<std::string>& values) {
  MutexLock lock(&mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return it->second.get();
  std::unique_ptr<T> series;
  if constexpr (std::is_same_v<T, Histogram>) {
    series = std::make_unique<Histogram>(&bounds_);
  } else {
    series = std::make_unique<T>();
  }
  return series_.emplace(values, std::move(series)).first->second.get();
}

template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> Family<T>::Series() const {
  MutexLock lock(&mu_);
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  for (const auto& [k, v] : series_) out.emplace_back(k, v.get());
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename T>
Family<T>& MetricsRegistry::FindOrAdd(std::deque<Family<T>> MetricsRegistry::*store,
                                      MetricType type, std::string name, std::string help,
                                      std::vector<std::string> labels,
                                      const std::vector<double>& bounds) {
  MutexLock lock(&mu_);
  std::deque<Family<T>>& families = this->*store;
  for (auto& existing : families) {
    if (existing.name() == name && existing.labels() == labels) return existing;
  }
  auto& f = families.emplace_back(std::move(name), std::move(help), std::move(labels), bounds);
  order_.push_back({type, &f});
  return f;
}

Family<Counter>& MetricsRegistry::AddCounter(std::string name, std::string help,
                                             std::vector<std::string> labels) {
  return FindOrAdd(&MetricsRegistry::counters_, MetricType::kCounter, std::move(name),
                   std::move(help), std::move(labels), {});
}

Family<Gauge>& MetricsRegistry::AddGauge(std::string name, std::string help,
                                         std::vector<std::string> labels) {
  return FindOrAdd(&MetricsRegistry::gauges_, MetricType::kGauge, std::move(name), std::move(help),
                   std::move(labels), {});
}

Family<Histogram>& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                 std::vector<std::string> labels,
                                                 const std::vector<double>& bounds) {
  return FindOrAdd(&MetricsRegistry::histograms_, MetricType::kHistogram, std::move(name),
                   std::move(help), std::move(labels), bounds);
}

void MetricsRegistry::AddProcessMetrics() {
  const double start = ReadStartTime();
  MutexLock lock(&mu_);
  process_ = true;
  start_time_ = start;
}

void MetricsRegistry::AddCollector(std::function<std::string()> text) {
  MutexLock lock(&mu_);
  collectors_.push_back(std::move(text));
}

std::string MetricsRegistry::Expose() const {
  std::string out = ExposeFamilies();
  std::vector<std::function<std::string()>> collectors;
  {
    MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) out += c();  // outside the lock: a collector may do IO
  return out;
}

std::string MetricsRegistry::ExposeFamilies() const {
  MutexLock lock(&mu_);
  std::string out;
  for (const Entry& e : order_) {
    if (e.type == MetricType::kCounter) {
      const auto& f = *static_cast<const Family<Counter>*>(e.family);
      Header(&out, f.name(), f.help(), "counter");
      for (const auto& [values, c] : f.Series()) {
        out += fmt::format("{}{} {}\n", f.name(), Labels(f.labels(), values), c->value());
      }
    } else if (e.type == MetricType::kGauge) {
      const auto& f = *static_cast<const Family<Gauge>*>(e.family);
      Header(&out, f.name(), f.help(), "gauge");
      for (const auto& [values, g] : f.Series()) {
        out +=
            fmt::format("{}{} {}\n", f.name(), Labels(f.labels(), values), SampleValue(g->value()));
      }
    } else {
      const auto& f = *static_cast<const Family<Histogram>*>(e.family);
      Header(&out, f.name(), f.help(), "histogram");
      for (const auto& [values, h] : f.Series()) {
        const auto counts = h->counts();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          const std::string le =
              i < h->bounds().size() ? SampleValue(h->bounds()[i]) : std::string("+Inf");
          out += fmt::format("{}_bucket{} {}\n", f.name(),
                             Labels(f.labels(), values, fmt::format("le=\"{}\"", le)), cumulative);
        }
        out += fmt::format("{}_sum{} {}\n", f.name(), Labels(f.labels(), values),
                           SampleValue(h->sum()));
        out += fmt::format("{}_count{} {}\n", f.name(), Labels(f.labels(), values), cumulative);
      }
    }
  }
  if (process_) {
    const ProcessStats p = ReadProcess();
    auto one = [&](const char* name, const char* help, const char* type, double v) {
      Header(&out, name, help, type);
      out += fmt::format("{} {}\n", name, SampleValue(v));
    };
    one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter",
        p.cpu_seconds);
    one("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", p.rss_bytes);
    one("process_open_fds", "Number of open file descriptors.", "gauge", p.open_fds);
    one("process_threads", "Number of OS threads in the process.", "gauge", p.threads);
    one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        "gauge", start_time_);
  }
  return out;
}

}  // namespace kiln::monitor
