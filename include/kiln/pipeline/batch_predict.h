// Batch scoring for `kiln predict`: a model (a file or a registry reference such as
// churn@production) over a dataset version (NAME@vN) or a CSV/JSONL file, into a CSV file.
//
// A dataset version is streamed: its row groups (about 64Ki rows each) are read, scored and
// formatted `threads` at a time in parallel and appended in order to a temporary file, which is
// renamed over the output at the end — memory holds a few row groups, not the version, and a
// failure leaves no partial output. A file is read whole, then scored the same way in parts.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/base/exec_context.h"
#include "kiln/base/status.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

struct BatchPredictOptions {
  std::string model;                 // file, NAME@ALIAS or NAME:VERSION
  std::string data;                  // NAME[@vN] or a file
  std::string out;                   // the predictions CSV
  std::string kind = "probability";  // probability | margin | leaf
  bool explain = false;              // add TreeSHAP contributions
};

struct BatchPredictResult {
  uint64_t rows = 0;
  size_t parts = 0;  // row groups (or file parts) scored
  std::string data;  // "churn@v3" or the file name
};

Result<BatchPredictResult> BatchPredict(Home& home, const BatchPredictOptions& options,
                                        const ExecContext& ctx);

}  // namespace kiln::pipeline
