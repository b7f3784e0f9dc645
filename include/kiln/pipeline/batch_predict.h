// Batch scoring for `kiln predict`: a model (a file or a registry reference such as
// churn@production) over a dataset version (NAME@vN) or a CSV/JSONL file, into a CSV file.
//
// A dataset version is streamed: its row groups (about 64Ki rows each) are read, scored and
// formatted `threads` at a time in parallel and appended in order to a temporary file, which is
// renamed over the output at the end — memory holds a few row groups, not the version, and a
// failure leaves no partial output. A file is read whole, then scored the same way in parts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kiln/base/exec_context.h"
#include "kiln/base/status.h"
#include "kiln/monitor/live_drift.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

struct BatchPredictOptions {
  std::string model;                 // file, NAME@ALIAS or NAME:VERSION
  std::string data;                  // NAME[@vN] or a file
  std::string out;                   // the predictions CSV
  std::string kind = "probability";  // probability | margin | leaf
  bool explain = false;              // add TreeSHAP contributions
  bool drift = false;                // also measure the rows' drift against the model's reference
};

struct BatchPredictResult {
  uint64_t rows = 0;
  size_t parts = 0;  // row groups (or file parts) scored
  std::string data;  // "churn@v3" or the file name
  // With BatchPredictOptions::drift: the scored rows against the model's reference, measured
  // as `kiln serve` measures a window of live traffic (a model without a reference: none).
  std::optional<monitor::DriftReport> drift;
};

Result<BatchPredictResult> BatchPredict(Home& home, const BatchPredictOptions& options,
                                        const ExecContext& ctx);

// `kiln monitor drift`: the rows of a dataset version or file against a model's reference
// (model/reference.h), with the statistics and tests of live drift (monitor/live_drift.h) —
// one window holding every row. Unknown categories count as missing here.
struct DriftCheckOptions {
  std::string model;         // file, NAME@ALIAS, NAME:VERSION or a run id
  std::string data;          // NAME[@vN] or a file
  uint64_t min_samples = 1;  // below it nothing is decided
  // NAME[@vN] or a file to compare with instead of the model's training reference: its rows
  // counted in the model's bins (and scored by the model) become the reference.
  std::string against;
};
struct DriftCheckResult {
  std::string data;            // "churn@v3" or the file name
  std::string reference_data;  // where the reference was counted ("" if not recorded)
  uint64_t reference_rows = 0;
  monitor::DriftReport report;
  // The reference compared with (its bins and counts), and per feature the category names of
  // a categorical feature's bins (empty for numeric ones): for plotting the histograms.
  monitor::DriftReference reference;
  std::vector<std::vector<std::string>> categories;
};
// FailedPrecondition for a model without a reference (imported, or from an older kiln).
Result<DriftCheckResult> CheckDrift(Home& home, const DriftCheckOptions& options,
                                    const ExecContext& ctx);

}  // namespace kiln::pipeline
