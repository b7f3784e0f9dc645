#include "kiln/monitor/live_drift.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "kiln/monitor/metrics.h"

namespace kiln::monitor {

namespace {

constexpr int64_t kRing = 2 * kSlicesPerWindow;  // the current window and the last whole one
constexpr size_t kShards = 4;

// A small number per recording thread, spreading threads over the shards.
size_t ThreadShard() {
  static std::atomic<uint32_t> next{0};
  thread_local const uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
  return id % kShards;
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<double> WithInf(std::vector<double> edges) {
  edges.push_back(std::numeric_limits<double>::infinity());
  return edges;
}

}  // namespace

std::pair<int64_t, int64_t> WindowSlices(DriftWindow window, int64_t now_slice) {
  if (window == DriftWindow::kSliding) return {now_slice - kSlicesPerWindow + 1, now_slice};
  const int64_t whole = now_slice / kSlicesPerWindow;  // the current window's index
  return {(whole - 1) * kSlicesPerWindow, whole * kSlicesPerWindow - 1};
}

struct LiveDrift::Slice {
  explicit Slice(size_t counters)
      : counts(std::make_unique<std::atomic<uint64_t>[]>(counters * kShards)) {}
  std::atomic<int64_t> id{-1};
  std::unique_ptr<std::atomic<uint64_t>[]> counts;  // shard-major: [shard * counters + i]
};

LiveDrift::LiveDrift(DriftReference reference, LiveDriftOptions options)
    : reference_(std::move(reference)), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = WallMs;
  slice_ms_ = std::max<int64_t>(1, options_.window.count() / kSlicesPerWindow);
  size_t next = 0;
  for (const auto& f : reference_.features) {
    offset_.push_back(next);
    next += f.counts.size();
    centres_.push_back(f.categorical ? std::vector<double>{} : BinCentres(f.edges));
  }
  if (reference_.score != DriftReference::Score::kClass) {
    score_centres_ = BinCentres(WithInf(reference_.score_edges));
  }
  offset_.push_back(next);  // the score bins
  next += reference_.score_counts.size();
  missing_offset_ = next;
  next += reference_.features.size();
  range_offset_ = next;
  next += reference_.features.size();
  rows_counter_ = next++;
  counters_ = next;
  for (int64_t s = 0; s < kRing; ++s) slices_.push_back(std::make_unique<Slice>(counters_));
  range_totals_ = std::make_unique<std::atomic<uint64_t>[]>(reference_.features.size() * kShards);
}

LiveDrift::~LiveDrift() = default;

LiveDrift::Slice& LiveDrift::Current(int64_t slice_id) {
  Slice& s = *slices_[static_cast<size_t>(slice_id % kRing)];
  if (s.id.load(std::memory_order_acquire) == slice_id) return s;
  MutexLock lock(&rotate_mu_);
  if (s.id.load(std::memory_order_relaxed) != slice_id) {
    for (size_t i = 0; i < counters_ * kShards; ++i)
      s.counts[i].store(0, std::memory_order_relaxed);
    s.id.store(slice_id, std::memory_order_release);
  }
  return s;
}

void LiveDrift::Record(size_t rows, size_t cols, const double* values, const float* outputs,
                       size_t width, const uint64_t* unseen) {
  if (rows == 0 || cols != reference_.features.size()) return;
  Slice& slice = Current(options_.now_ms() / slice_ms_);
  const size_t shard = ThreadShard();
  std::atomic<uint64_t>* c = slice.counts.get() + shard * counters_;
  auto add = [](std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
  };
  add(c[rows_counter_], rows);
  for (size_t f = 0; f < cols; ++f) {
    const DriftReference::Feature& feature = reference_.features[f];
    const size_t bins = feature.counts.size();
    const bool ranged = !feature.categorical && !std::isnan(feature.min);
    uint64_t missing = 0, outside = 0;
    for (size_t r = 0; r < rows; ++r) {
      const double v = values[r * cols + f];
      if (std::isnan(v)) {
        ++missing;
        continue;
      }
      size_t bin = 0;
      if (feature.categorical) {
        if (!(v >= 0 && v < static_cast<double>(bins))) {
          ++outside;  // a code the model has no bin for
          continue;
        }
        bin = static_cast<size_t>(v);
      } else {
        bin = static_cast<size_t>(std::lower_bound(feature.edges.begin(), feature.edges.end(), v) -
                                  feature.edges.begin());
        if (ranged && (v < feature.min || v > feature.max)) ++outside;
      }
      if (bin < bins) add(c[offset_[f] + bin]);
    }
    const uint64_t unknown = unseen ? std::min(unseen[f], missing) : 0;
    if (missing > unknown) add(c[missing_offset_ + f], missing - unknown);
    if (outside + unknown > 0) {
      add(c[range_offset_ + f], outside + unknown);
      add(range_totals_[shard * cols + f], outside + unknown);
    }
  }
  const size_t score_bins = reference_.score_counts.size();
  if (score_bins == 0 || outputs == nullptr || width == 0) return;
  for (size_t r = 0; r < rows; ++r) {
    const float* out = outputs + r * width;
    size_t bin = 0;
    if (reference_.score == DriftReference::Score::kClass) {
      bin = static_cast<size_t>(std::max_element(out, out + width) - out);
    } else {
      const double score =
          reference_.score == DriftReference::Score::kProbability && width > 1 ? out[1] : out[0];
      if (std::isnan(score)) continue;
      bin = static_cast<size_t>(
          std::lower_bound(reference_.score_edges.begin(), reference_.score_edges.end(), score) -
          reference_.score_edges.begin());
    }
    if (bin < score_bins) add(c[offset_.back() + bin]);
  }
}

std::string LiveDrift::Save() const {
  const int64_t now = options_.now_ms() / slice_ms_;
  std::string out = fmt::format("kiln-live-drift 1 {} {}\n", slice_ms_, counters_);
  for (int64_t id = std::max<int64_t>(now - kRing + 1, 0); id <= now; ++id) {
    const std::vector<uint64_t> sum = Sum(id, id);
    if (sum[rows_counter_] == 0) continue;
    out += std::to_string(id);
    for (uint64_t v : sum) out += " " + std::to_string(v);
    out += '\n';
  }
  return out;
}

Status LiveDrift::Restore(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string magic;
  int format = 0;
  int64_t slice_ms = 0;
  size_t counters = 0;
  if (!(in >> magic >> format >> slice_ms >> counters) || magic != "kiln-live-drift" ||
      format != 1) {
    return InvalidArgumentError("not a saved drift window");
  }
  if (slice_ms != slice_ms_ || counters != counters_) {
    return InvalidArgumentError("the saved drift window has another length or reference");
  }
  const int64_t now = options_.now_ms() / slice_ms_;
  std::vector<std::pair<int64_t, std::vector<uint64_t>>> slices;
  for (int64_t id = 0; in >> id;) {
    std::vector<uint64_t> counts(counters_);
    for (auto& c : counts) {
      if (!(in >> c)) return InvalidArgumentError("a saved drift slice is cut short");
    }
    if (id > now - kRing && id <= now) slices.emplace_back(id, std::move(counts));
  }
  if (!in.eof()) return InvalidArgumentError("a saved drift slice is not numbers");
  for (auto& [id, counts] : slices) {
    Slice& s = Current(id);
    for (size_t i = 0; i < counters_; ++i) {
      s.counts[i].fetch_add(counts[i], std::memory_order_relaxed);  // shard 0
    }
  }
  return Status::Ok();
}

std::vector<uint64_t> LiveDrift::Sum(int64_t first_slice, int64_t last_slice) const {
  std::vector<uint64_t> sum(counters_, 0);
  for (int64_t id = std::max<int64_t>(first_slice, 0); id <= last_slice; ++id) {
    const Slice& s = *slices_[static_cast<size_t>(id % kRing)];
    if (s.id.load(std::memory_order_acquire) != id) continue;  // nothing recorded then
    for (size_t shard = 0; shard < kShards; ++shard) {
      for (size_t i = 0; i < counters_; ++i) {
        sum[i] += s.counts[shard * counters_ + i].load(std::memory_order_relaxed);
      }
    }
  }
  return sum;
}

DriftReport LiveDrift::Measure(DriftWindow window) const {
  const auto [first, last] = WindowSlices(window, options_.now_ms() / slice_ms_);
  const std::vector<uint64_t> sum = Sum(first, last);
  DriftReport report;
  report.window = window;
  report.rows = sum[rows_counter_];
  report.min_samples = options_.min_samples;
  report.evaluated = report.rows > 0 && report.rows >= options_.min_samples;
  size_t drifted = 0;
  for (size_t f = 0; f < reference_.features.size(); ++f) {
    const DriftReference::Feature& feature = reference_.features[f];
    const std::vector<uint64_t> live(sum.begin() + static_cast<std::ptrdiff_t>(offset_[f]),
                                     sum.begin() + static_cast<std::ptrdiff_t>(offset_[f + 1]));
    DriftReport::Feature out;
    out.name = feature.name;
    out.missing = sum[missing_offset_ + f];
    out.out_of_range = sum[range_offset_ + f];
    out.drift = MeasureDrift(feature.counts, live,
                             {.categorical = feature.categorical, .centres = centres_[f]});
    out.counts = live;
    if (!report.evaluated) out.drift.drifted = false;
    drifted += out.drift.drifted ? 1 : 0;
    report.features.push_back(std::move(out));
  }
  if (report.evaluated && !reference_.features.empty()) {
    report.drift_share =
        static_cast<double>(drifted) / static_cast<double>(reference_.features.size());
  }
  if (!reference_.score_counts.empty()) {
    const std::vector<uint64_t> live(sum.begin() + static_cast<std::ptrdiff_t>(offset_.back()),
                                     sum.begin() + static_cast<std::ptrdiff_t>(missing_offset_));
    const bool classes = reference_.score == DriftReference::Score::kClass;
    report.prediction = MeasureDrift(reference_.score_counts, live,
                                     {.categorical = classes, .centres = score_centres_});
    report.prediction_counts = live;
    if (!report.evaluated) report.prediction.drifted = false;
  }
  return report;
}

std::vector<uint64_t> LiveDrift::OutOfRangeTotals() const {
  const size_t features = reference_.features.size();
  std::vector<uint64_t> out(features, 0);
  for (size_t shard = 0; shard < kShards; ++shard) {
    for (size_t f = 0; f < features; ++f) {
      out[f] += range_totals_[shard * features + f].load(std::memory_order_relaxed);
    }
  }
  return out;
}

std::string DriftExposition(const std::vector<DriftSeries>& series) {
  if (series.empty()) return "";
  struct Family {
    const char* name;
    const char* help;
    std::string samples;
  };
  Family rows{"kiln_drift_rows", "Rows a served model version saw in the drift window.", ""};
  Family evaluated{"kiln_drift_evaluated",
                   "1 when the window holds at least monitoring.min_samples rows.", ""};
  Family share{"kiln_drift_share", "Share of a model version's features that drifted.", ""};
  Family feature{"kiln_feature_drift",
                 "Drift statistics of a feature against the model's training reference.", ""};
  Family drifted{"kiln_feature_drifted", "1 when a feature's deciding drift test fired.", ""};
  Family missing{"kiln_feature_missing", "Missing values of a feature in the drift window.", ""};
  Family range_total{"kiln_feature_out_of_range_total",
                     "Values outside a feature's training range and unseen categories since the "
                     "version was loaded.",
                     ""};
  Family prediction{"kiln_prediction_drift", "Drift statistics of a model version's predictions.",
                    ""};
  auto sample = [](Family& f, const std::string& labels, double v) {
    f.samples += fmt::format("{}{{{}}} {}\n", f.name, labels, SampleValue(v));
  };
  auto statistics = [&](Family& f, const std::string& labels, const FeatureDrift& d) {
    sample(f, labels + ",statistic=\"psi\"", d.psi);
    sample(f, labels + ",statistic=\"jensen_shannon\"", d.jensen_shannon);
    sample(f, labels + ",statistic=\"ks\"", d.ks);
    sample(f, labels + ",statistic=\"wasserstein\"", d.wasserstein);
    sample(f, labels + ",statistic=\"chi_square_p_value\"", d.chi_square_p_value);
    sample(f, labels + ",statistic=\"score\"", d.score);
  };
  for (const DriftSeries& s : series) {
    const std::string labels =
        fmt::format("model=\"{}\",version=\"{}\"", LabelValue(s.model), s.version);
    const DriftReport& r = s.report;
    sample(rows, labels, static_cast<double>(r.rows));
    sample(evaluated, labels, r.evaluated ? 1 : 0);
    sample(share, labels, r.drift_share);
    for (const auto& f : r.features) {
      const std::string fl = fmt::format("{},feature=\"{}\"", labels, LabelValue(f.name));
      statistics(feature, fl, f.drift);
      sample(drifted, fl, f.drift.drifted ? 1 : 0);
      sample(missing, fl, static_cast<double>(f.missing));
    }
    for (size_t f = 0; f < s.out_of_range_totals.size() && f < r.features.size(); ++f) {
      sample(range_total, fmt::format("{},feature=\"{}\"", labels, LabelValue(r.features[f].name)),
             static_cast<double>(s.out_of_range_totals[f]));
    }
    if (r.prediction.reference_rows > 0) statistics(prediction, labels, r.prediction);
  }
  std::string out;
  for (Family* f :
       {&rows, &evaluated, &share, &feature, &drifted, &missing, &range_total, &prediction}) {
    if (f->samples.empty()) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", f->name, f->help, f->name,
                       f == &range_total ? "counter" : "gauge", f->samples);
  }
  return out;
}

}  // namespace kiln::monitor
