// Promotion gates: the condition `kiln models promote --gate` checks before it moves an alias.
//
//   auc >= champion.auc - 0.001 and logloss <= champion.logloss * 1.02 and auc > 0.7
//
// A gate is one or more comparisons (< <= > >= == !=) joined by `and`; each side is arithmetic
// (+ - * /, parentheses, unary minus) over numbers and metrics: `challenger.M` (or bare `M`) is
// the challenger's metric M, `champion.M` the champion's, both measured on the same data. When
// there is no champion yet, comparisons that mention `champion.*` are skipped (they hold).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::registry {

struct GateClause {
  std::string text;  // the comparison as written
  double left = 0;
  double right = 0;
  bool passed = false;
  bool skipped = false;  // mentions champion.* and there is no champion
};

// A clause as reports print it: "pass  TEXT  (LEFT vs RIGHT)", "FAIL  ..." or
// "skip  TEXT  (no champion)".
std::string ClauseText(const GateClause& c);

struct GateResult {
  bool passed = false;
  std::vector<GateClause> clauses;
};

using MetricMap = std::map<std::string, double>;

// Checks the syntax only (InvalidArgument with the position), before any model is scored.
Status ValidateGate(std::string_view gate);

// InvalidArgument for a bad gate or a metric neither side has.
Result<GateResult> EvaluateGate(std::string_view gate, const MetricMap& challenger,
                                const std::optional<MetricMap>& champion);

}  // namespace kiln::registry
