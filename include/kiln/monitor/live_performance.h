// LivePerformance: how accurate a served model version really is, from the ground truth that
// comes back as feedback — rolling metrics over the sliding and tumbling windows of
// live_drift.h, counted when the feedback arrives. And, for binary classifiers before any label
// arrives, a confidence-based estimate (CBPE) from the live score histogram.
//
//   LivePerformance live(Task::kBinary, 2, {.window = std::chrono::minutes(10)});
//   live.Add(probabilities, label_index);            // one labelled prediction
//   PerformanceReport r = live.Measure(DriftWindow::kSliding);
//   r.metrics["auc"], r.metrics["accuracy"], ...
//
// Metrics: classification — accuracy, error, precision, recall, f1 (binary: of class index 1;
// multiclass: macro averages), logloss (binary) or mlogloss and merror (multiclass), auc
// (binary, from 100-bin score histograms of each class); regression — rmse, mae.
// Thread-safety: Add and Measure from any threads (one mutex; feedback is not the hot path).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/monitor/live_drift.h"

namespace kiln::monitor {

enum class Task { kBinary, kMulticlass, kRegression };

struct PerformanceOptions {
  std::chrono::milliseconds window{std::chrono::minutes(10)};
  std::function<int64_t()> now_ms;  // the clock (tests move it); default Unix epoch ms
};

struct PerformanceReport {
  DriftWindow window = DriftWindow::kSliding;
  uint64_t labelled = 0;                  // labelled predictions in the window
  std::map<std::string, double> metrics;  // empty when nothing is labelled
};

class LivePerformance {
 public:
  LivePerformance(Task task, int classes, PerformanceOptions options);
  ~LivePerformance();
  LivePerformance(const LivePerformance&) = delete;
  LivePerformance& operator=(const LivePerformance&) = delete;

  // One labelled prediction: `scores` the class probabilities (classification, one per class)
  // or the prediction (regression, scores[0]); `label` the true class index or value.
  void Add(std::span<const float> scores, double label);
  PerformanceReport Measure(DriftWindow window) const;
  // As LiveDrift::Save / Restore.
  std::string Save() const;
  Status Restore(std::string_view text);
  Task task() const { return task_; }
  std::chrono::milliseconds window() const { return options_.window; }

 private:
  struct Slice;
  Slice& Current(int64_t slice_id) KILN_REQUIRES(mu_);

  const Task task_;
  const size_t classes_;
  PerformanceOptions options_;
  int64_t slice_ms_;
  mutable Mutex mu_;
  std::vector<Slice> slices_ KILN_GUARDED_BY(mu_);
};

// Area under the ROC curve from histograms of the scores of positives and negatives over the
// same ordered bins (ties inside a bin count half); NaN when either class is empty.
double HistogramAuc(std::span<const double> positives, std::span<const double> negatives);

// Confidence-based performance estimation (CBPE, as NannyML) for a binary classifier without
// labels: the live histogram of the probability of class index 1 over `edges` (upper bounds,
// +inf implied last), each bin's rows taken as positive with the probability at its centre.
// Expected accuracy and AUC ("estimated_accuracy", "estimated_auc"); empty for no rows.
std::map<std::string, double> EstimateBinaryPerformance(std::span<const uint64_t> counts,
                                                        std::span<const double> edges);

}  // namespace kiln::monitor
