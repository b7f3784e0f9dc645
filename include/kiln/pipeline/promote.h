// Gated promotion (`kiln models promote`, POST /api/v1/models/{m}/versions/{N}/promote, a
// promote job): score the challenger (version N) and the alias's current version (the champion)
// on the same dataset version with the same predictor, check the gate, move the alias only if it
// holds (compare-and-set against the champion, so a concurrent move is never overwritten), and
// store the report either way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/pipeline/home.h"
#include "kiln/registry/gate.h"

namespace kiln::pipeline {

struct PromoteOptions {
  std::string name;
  int64_t version = 0;  // the challenger
  std::string to = "production";
  std::string gate;  // e.g. "auc >= champion.auc - 0.001"
  std::string on;    // the data both versions are scored on
  std::string reason;
  std::string actor;
  // Only a dataset version NAME@vN may name the data, never a file path (requests from the
  // network, BI-27).
  bool dataset_only = false;
};

struct PromoteResult {
  std::string name, alias, gate;
  std::string data, data_hash;  // "credit@v2" and its content hash
  uint64_t rows = 0;
  int64_t challenger = 0;
  registry::MetricMap challenger_metrics;
  int64_t champion = 0;  // 0: the alias pointed nowhere
  std::optional<registry::MetricMap> champion_metrics;
  std::vector<registry::GateClause> clauses;
  bool passed = false;  // the gate held
  bool moved = false;   // the alias now points at the challenger
  std::string outcome;  // "promoted", "gate failed", or why the move failed
  int64_t report_id = 0;
};

// InvalidArgument for bad names or gates, NotFound for an unknown model, version or data,
// FailedPrecondition when the alias already points at the challenger or the two versions
// predict different things. A failed gate is not an error: `passed` and `moved` say it.
Result<PromoteResult> Promote(Home& home, const PromoteOptions& options, const ExecContext& ctx);

}  // namespace kiln::pipeline
