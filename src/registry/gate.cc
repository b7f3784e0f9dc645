#include "kiln/registry/gate.h"

#include <fmt/format.h>

#include "kiln/base/condition.h"

namespace kiln::registry {

namespace {

// `champion.M`: the champion's metric M; `challenger.M` or a bare `M`: the challenger's.
struct Name {
  bool champion = false;
  std::string metric;
};
Name Split(std::string_view name) {
  if (name.starts_with("champion.")) return {true, std::string(name.substr(9))};
  if (name.starts_with("challenger.")) return {false, std::string(name.substr(11))};
  return {false, std::string(name)};
}

}  // namespace

Status ValidateGate(std::string_view gate) { return Condition::Parse(gate, "gate").status(); }

std::string ClauseText(const GateClause& c) {
  if (c.skipped) return fmt::format("skip  {}  (no champion)", c.text);
  return fmt::format("{}  {}  ({:.6g} vs {:.6g})", c.passed ? "pass" : "FAIL", c.text, c.left,
                     c.right);
}

Result<GateResult> EvaluateGate(std::string_view gate, const MetricMap& challenger,
                                const std::optional<MetricMap>& champion) {
  KILN_ASSIGN_OR_RETURN(Condition condition, Condition::Parse(gate, "gate"));
  // Every metric a comparison needs must exist: a typo is an error, not a failed gate.
  for (size_t i = 0; i < condition.clauses(); ++i) {
    for (const std::string& n : condition.Names(i)) {
      const Name name = Split(n);
      if (name.metric.empty()) return InvalidArgumentError(fmt::format("gate: bad metric '{}'", n));
      if (name.champion && !champion) continue;
      const MetricMap& m = name.champion ? *champion : challenger;
      if (m.count(name.metric)) continue;
      std::string known;
      for (const auto& [k, v] : m) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgumentError(fmt::format("gate: the {} has no metric '{}' (it has: {})",
                                              name.champion ? "champion" : "challenger",
                                              name.metric, known));
    }
  }
  const Condition::Lookup lookup = [&](std::string_view n) -> std::optional<double> {
    const Name name = Split(n);
    const MetricMap* m = name.champion ? (champion ? &*champion : nullptr) : &challenger;
    if (!m) return std::nullopt;
    auto it = m->find(name.metric);
    return it == m->end() ? std::nullopt : std::optional<double>(it->second);
  };
  GateResult out;
  out.passed = true;
  for (size_t i = 0; i < condition.clauses(); ++i) {
    GateClause clause;
    clause.text = condition.Text(i);
    bool mentions_champion = false;
    for (const std::string& n : condition.Names(i)) mentions_champion |= Split(n).champion;
    if (!champion && mentions_champion) {
      // When there is no champion yet, comparisons that mention champion.* hold.
      clause.skipped = true;
      clause.passed = true;
    } else {
      KILN_ASSIGN_OR_RETURN(Condition::Clause r, condition.EvaluateClause(i, lookup));
      clause.left = r.left;
      clause.right = r.right;
      clause.passed = r.passed;
    }
    out.passed = out.passed && clause.passed;
    out.clauses.push_back(std::move(clause));
  }
  return out;
}

}  // namespace kiln::registry
