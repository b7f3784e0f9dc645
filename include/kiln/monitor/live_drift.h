// LiveDrift: the histograms of what a served model version sees — each feature in the model's
// own training bins, and its scores — over a tumbling and a sliding window, measured against
// the reference the model carries (model/reference.h) with the statistics of drift.h.
//
//   LiveDrift live(reference, {.window = std::chrono::minutes(10), .min_samples = 500});
//   live.Record(x.rows, x.cols, x.values.data(), probs.data(), width);  // any thread, no lock
//   DriftReport r = live.Measure(DriftWindow::kSliding);
//
// Counting is lock-free: each recording thread adds to one of a few counter shards with
// relaxed atomic increments; shards are summed when read. Time is cut into slices of a fifth
// of the window; the sliding window is the last five slices (the current one included), the
// tumbling window the last whole window aligned to its length. A slice is cleared (under a
// mutex, once per slice) when its turn comes round again.
// Thread-safety: Record and Measure from any threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/monitor/drift.h"

namespace kiln::monitor {

// The reference a live histogram is compared with, in the monitor's terms.
struct DriftReference {
  struct Feature {
    std::string name;
    bool categorical = false;
    // Numeric: the bins' upper edges (the last +inf); categorical: empty, bin = category code.
    std::vector<double> edges;
    std::vector<uint64_t> counts;  // the reference histogram (one count per bin)
    // Numeric: the training range; values outside it are out of range. NaN: not known.
    double min = std::numeric_limits<double>::quiet_NaN();
    double max = std::numeric_limits<double>::quiet_NaN();
  };
  enum class Score { kNone, kProbability, kClass, kValue };
  std::vector<Feature> features;
  Score score = Score::kNone;
  std::vector<double> score_edges;  // kProbability / kValue: upper bounds, +inf implied
  std::vector<uint64_t> score_counts;
};

enum class DriftWindow { kSliding, kTumbling };

// Windows are cut into slices of a fifth of their length; slice k covers
// [k * slice_ms, (k + 1) * slice_ms). The slices `window` covers when `now_slice` is current,
// first and last inclusive: sliding, the last five (the current one included); tumbling, the
// last whole window aligned to its length.
inline constexpr int64_t kSlicesPerWindow = 5;
std::pair<int64_t, int64_t> WindowSlices(DriftWindow window, int64_t now_slice);

struct DriftReport {
  DriftWindow window = DriftWindow::kSliding;
  uint64_t rows = 0;         // rows in the window
  uint64_t min_samples = 0;  // below it nothing is decided
  bool evaluated = false;    // rows >= min_samples
  struct Feature {
    std::string name;
    uint64_t missing = 0;       // missing values in the window
    uint64_t out_of_range = 0;  // values outside the training range, unseen categories
    FeatureDrift drift;
    std::vector<uint64_t> counts;  // the window's histogram, in the reference's bins
  };
  std::vector<Feature> features;
  double drift_share = 0;  // share of features that drifted
  FeatureDrift prediction;
  std::vector<uint64_t> prediction_counts;  // the window's score histogram (reference bins)
};

struct LiveDriftOptions {
  std::chrono::milliseconds window{std::chrono::minutes(10)};
  uint64_t min_samples = 500;
  // The clock (tests move it); default: milliseconds since the Unix epoch, so that windows a
  // server saved line up with the clock after it restarts.
  std::function<int64_t()> now_ms;
};

class LiveDrift {
 public:
  LiveDrift(DriftReference reference, LiveDriftOptions options);
  ~LiveDrift();
  LiveDrift(const LiveDrift&) = delete;
  LiveDrift& operator=(const LiveDrift&) = delete;

  // Counts `rows` rows of `cols` features (row-major; NaN = missing; categorical features hold
  // their code) and their model outputs (`width` per row: probabilities, or the prediction).
  // `unseen`, when given, holds per feature how many of its NaNs were categories the model does
  // not know (counted out of range, not missing).
  void Record(size_t rows, size_t cols, const double* values, const float* outputs, size_t width,
              const uint64_t* unseen = nullptr);
  DriftReport Measure(DriftWindow window) const;
  // Per feature, the out-of-range values and unseen categories counted since this was created
  // (a counter: it never goes down).
  std::vector<uint64_t> OutOfRangeTotals() const;
  // The counts of the current and the last whole window as text (slices by wall-clock time), and
  // back: a restarted server restores them so that it loses at most what came after the last
  // save. Restore() leaves slices older than two windows out, and refuses (InvalidArgument,
  // nothing changed) a text of another window length or another reference.
  std::string Save() const;
  Status Restore(std::string_view text);
  std::chrono::milliseconds window() const { return options_.window; }
  const DriftReference& reference() const { return reference_; }

 private:
  struct Slice;
  Slice& Current(int64_t slice_id);
  std::vector<uint64_t> Sum(int64_t first_slice, int64_t last_slice) const;

  DriftReference reference_;
  LiveDriftOptions options_;
  int64_t slice_ms_;
  std::vector<size_t> offset_;  // first counter of each feature; then the score bins
  size_t missing_offset_ = 0;   // one missing counter per feature
  size_t range_offset_ = 0;     // one out-of-range counter per feature
  size_t rows_counter_ = 0;     // the row count
  size_t counters_ = 0;
  std::vector<std::vector<double>> centres_;  // per numeric feature: BinCentres of its edges
  std::vector<double> score_centres_;
  std::vector<std::unique_ptr<Slice>> slices_;
  std::unique_ptr<std::atomic<uint64_t>[]> range_totals_;  // [shard * features + f]
  Mutex rotate_mu_;
};

// One served model version's report, for the Prometheus page.
struct DriftSeries {
  std::string model;
  int64_t version = 0;
  DriftReport report;
  std::vector<uint64_t> out_of_range_totals;  // LiveDrift::OutOfRangeTotals, per feature
};
// The drift families in the Prometheus text format, one series set per model version:
// kiln_drift_rows, kiln_drift_evaluated, kiln_drift_share, kiln_feature_drift{feature,statistic}
// (psi, jensen_shannon, ks, wasserstein, chi_square_p_value and the deciding test's "score"),
// kiln_feature_drifted, kiln_feature_missing, kiln_feature_out_of_range_total (a counter; the
// window's count is in the JSON report), kiln_prediction_drift{statistic}.
std::string DriftExposition(const std::vector<DriftSeries>& series);

}  // namespace kiln::monitor
