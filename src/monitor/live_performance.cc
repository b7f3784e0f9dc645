#include "kiln/monitor/live_performance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

namespace kiln::monitor {

namespace {

constexpr int64_t kRing = 2 * kSlicesPerWindow;
constexpr size_t kAucBins = 100;
constexpr double kProbFloor = 1e-15;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct LivePerformance::Slice {
  int64_t id = -1;
  uint64_t n = 0, correct = 0;
  std::vector<uint64_t> tp, fp, fn;  // per class
  double log_loss = 0, squared = 0, absolute = 0;
  std::vector<double> positives, negatives;  // binary: score histograms of each true class

  void Reset(int64_t slice_id, size_t classes, bool binary) {
    *this = Slice{};
    id = slice_id;
    tp.assign(classes, 0);
    fp.assign(classes, 0);
    fn.assign(classes, 0);
    if (binary) {
      positives.assign(kAucBins, 0);
      negatives.assign(kAucBins, 0);
    }
  }
  // The fields in one order, for saving and restoring: f(uint64_t&) and f(double&).
  template <typename F>
  void Fields(F&& f) {
    f(n), f(correct), f(log_loss), f(squared), f(absolute);
    for (auto* v : {&tp, &fp, &fn}) {
      for (auto& x : *v) f(x);
    }
    for (auto* v : {&positives, &negatives}) {
      for (auto& x : *v) f(x);
    }
  }
  void Merge(const Slice& o) {
    n += o.n;
    correct += o.correct;
    for (size_t k = 0; k < tp.size(); ++k) tp[k] += o.tp[k], fp[k] += o.fp[k], fn[k] += o.fn[k];
    log_loss += o.log_loss;
    squared += o.squared;
    absolute += o.absolute;
    for (size_t b = 0; b < positives.size(); ++b) {
      positives[b] += o.positives[b];
      negatives[b] += o.negatives[b];
    }
  }
};

LivePerformance::LivePerformance(Task task, int classes, PerformanceOptions options)
    : task_(task),
      classes_(task == Task::kRegression ? 0 : static_cast<size_t>(std::max(classes, 2))),
      options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = WallMs;
  slice_ms_ = std::max<int64_t>(1, options_.window.count() / kSlicesPerWindow);
  MutexLock lock(&mu_);
  slices_.resize(kRing);
}

LivePerformance::~LivePerformance() = default;

LivePerformance::Slice& LivePerformance::Current(int64_t slice_id) {
  Slice& s = slices_[static_cast<size_t>(slice_id % kRing)];
  if (s.id != slice_id) s.Reset(slice_id, classes_, task_ == Task::kBinary);
  return s;
}

void LivePerformance::Add(std::span<const float> scores, double label) {
  if (scores.empty() || std::isnan(label)) return;
  MutexLock lock(&mu_);
  Slice& s = Current(options_.now_ms() / slice_ms_);
  if (task_ == Task::kRegression) {
    ++s.n;
    const double e = static_cast<double>(scores[0]) - label;
    s.squared += e * e;
    s.absolute += std::abs(e);
    return;
  }
  const auto truth = static_cast<size_t>(label);
  if (label < 0 || truth >= classes_ || scores.size() < classes_) return;
  ++s.n;
  const auto predicted = static_cast<size_t>(
      std::max_element(scores.begin(), scores.begin() + classes_) - scores.begin());
  if (predicted == truth) {
    ++s.correct;
    ++s.tp[truth];
  } else {
    ++s.fp[predicted];
    ++s.fn[truth];
  }
  s.log_loss -= std::log(std::clamp(static_cast<double>(scores[truth]), kProbFloor, 1.0));
  if (task_ == Task::kBinary) {
    const double p = std::clamp(static_cast<double>(scores[1]), 0.0, 1.0);
    const size_t bin = std::min(kAucBins - 1, static_cast<size_t>(p * kAucBins));
    (truth == 1 ? s.positives : s.negatives)[bin] += 1;
  }
}

std::string LivePerformance::Save() const {
  std::string out = fmt::format("kiln-live-performance 1 {} {} {}\n", slice_ms_,
                                static_cast<int>(task_), classes_);
  MutexLock lock(&mu_);
  const int64_t now = options_.now_ms() / slice_ms_;
  for (int64_t id = std::max<int64_t>(now - kRing + 1, 0); id <= now; ++id) {
    Slice s = slices_[static_cast<size_t>(id % kRing)];
    if (s.id != id || s.n == 0) continue;
    out += std::to_string(id);
    s.Fields([&out](auto& v) { out += fmt::format(" {}", v); });
    out += '\n';
  }
  return out;
}

Status LivePerformance::Restore(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string magic;
  int format = 0, task = 0;
  int64_t slice_ms = 0;
  size_t classes = 0;
  if (!(in >> magic >> format >> slice_ms >> task >> classes) || magic != "kiln-live-performance" ||
      format != 1) {
    return InvalidArgumentError("not saved live performance");
  }
  if (slice_ms != slice_ms_ || task != static_cast<int>(task_) || classes != classes_) {
    return InvalidArgumentError("the saved live performance has another window length or task");
  }
  MutexLock lock(&mu_);
  const int64_t now = options_.now_ms() / slice_ms_;
  std::vector<Slice> restored;
  for (int64_t id = 0; in >> id;) {
    Slice s;
    s.Reset(id, classes_, task_ == Task::kBinary);
    bool ok = true;
    s.Fields([&](auto& v) { ok = ok && static_cast<bool>(in >> v); });
    if (!ok) return InvalidArgumentError("a saved performance slice is cut short");
    if (id > now - kRing && id <= now) restored.push_back(std::move(s));
  }
  if (!in.eof()) return InvalidArgumentError("a saved performance slice is not numbers");
  for (const Slice& s : restored) Current(s.id).Merge(s);
  return Status::Ok();
}

PerformanceReport LivePerformance::Measure(DriftWindow window) const {
  PerformanceReport r;
  r.window = window;
  Slice sum;
  sum.Reset(0, classes_, task_ == Task::kBinary);
  {
    MutexLock lock(&mu_);
    const auto [first, last] = WindowSlices(window, options_.now_ms() / slice_ms_);
    for (int64_t id = std::max<int64_t>(first, 0); id <= last; ++id) {
      const Slice& s = slices_[static_cast<size_t>(id % kRing)];
      if (s.id == id) sum.Merge(s);
    }
  }
  r.labelled = sum.n;
  if (sum.n == 0) return r;
  const double n = static_cast<double>(sum.n);
  if (task_ == Task::kRegression) {
    r.metrics["rmse"] = std::sqrt(sum.squared / n);
    r.metrics["mae"] = sum.absolute / n;
    return r;
  }
  const double accuracy = static_cast<double>(sum.correct) / n;
  r.metrics["accuracy"] = accuracy;
  auto ratio = [](uint64_t a, uint64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
  };
  auto f1 = [](double p, double q) { return p + q == 0 ? 0.0 : 2 * p * q / (p + q); };
  if (task_ == Task::kBinary) {
    const double precision = ratio(sum.tp[1], sum.tp[1] + sum.fp[1]);
    const double recall = ratio(sum.tp[1], sum.tp[1] + sum.fn[1]);
    r.metrics["error"] = 1 - accuracy;
    r.metrics["precision"] = precision;
    r.metrics["recall"] = recall;
    r.metrics["f1"] = f1(precision, recall);
    r.metrics["logloss"] = sum.log_loss / n;
    const double auc = HistogramAuc(sum.positives, sum.negatives);
    if (!std::isnan(auc)) r.metrics["auc"] = auc;
    return r;
  }
  double precision = 0, recall = 0, f = 0;
  for (size_t k = 0; k < classes_; ++k) {
    const double p = ratio(sum.tp[k], sum.tp[k] + sum.fp[k]);
    const double q = ratio(sum.tp[k], sum.tp[k] + sum.fn[k]);
    precision += p;
    recall += q;
    f += f1(p, q);
  }
  const double k = static_cast<double>(classes_);
  r.metrics["merror"] = 1 - accuracy;
  r.metrics["precision"] = precision / k;
  r.metrics["recall"] = recall / k;
  r.metrics["f1"] = f / k;
  r.metrics["mlogloss"] = sum.log_loss / n;
  return r;
}

double HistogramAuc(std::span<const double> positives, std::span<const double> negatives) {
  double pos = 0, neg = 0;
  for (double v : positives) pos += v;
  for (double v : negatives) neg += v;
  if (pos <= 0 || neg <= 0) return std::numeric_limits<double>::quiet_NaN();
  // Over the bins from the lowest score up: each positive beats the negatives below its bin and
  // ties half of those in it.
  double below = 0, wins = 0;
  for (size_t b = 0; b < positives.size() && b < negatives.size(); ++b) {
    wins += positives[b] * (below + negatives[b] / 2);
    below += negatives[b];
  }
  return wins / (pos * neg);
}

std::map<std::string, double> EstimateBinaryPerformance(std::span<const uint64_t> counts,
                                                        std::span<const double> edges) {
  std::map<std::string, double> out;
  if (counts.size() != edges.size() + 1) return out;
  double rows = 0, correct = 0;
  std::vector<double> positives(counts.size()), negatives(counts.size());
  for (size_t b = 0; b < counts.size(); ++b) {
    const double lo = b == 0 ? 0.0 : edges[b - 1];
    const double hi = b < edges.size() ? edges[b] : 1.0;
    const double p = std::clamp((lo + hi) / 2, 0.0, 1.0);
    const double n = static_cast<double>(counts[b]);
    rows += n;
    correct += n * std::max(p, 1 - p);
    positives[b] = n * p;
    negatives[b] = n * (1 - p);
  }
  if (rows == 0) return out;
  out["estimated_accuracy"] = correct / rows;
  const double auc = HistogramAuc(positives, negatives);
  if (!std::isnan(auc)) out["estimated_auc"] = auc;
  return out;
}

}  // namespace kiln::monitor
