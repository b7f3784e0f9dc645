#include "kiln/monitor/alerts.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "kiln/monitor/metrics.h"

namespace kiln::monitor {

namespace {

constexpr size_t kRecent = 1000;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr std::string_view kStatistics[] = {"psi",         "jensen_shannon",     "ks",
                                            "wasserstein", "chi_square_p_value", "score"};

bool IsStatistic(std::string_view s) {
  for (std::string_view k : kStatistics) {
    if (s == k) return true;
  }
  return false;
}

// `name` after `prefix`, when it starts with it and something follows.
std::optional<std::string_view> After(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix) || name.size() == prefix.size()) return std::nullopt;
  return name.substr(prefix.size());
}

// FEATURE.STAT -> {FEATURE, STAT} (the feature may hold dots; the statistic does not).
std::pair<std::string_view, std::string_view> FeatureAndStatistic(std::string_view rest) {
  const size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos) return {rest, ""};
  return {rest.substr(0, dot), rest.substr(dot + 1)};
}

}  // namespace

Status ValidateAlertValueName(std::string_view name) {
  if (name == "drift.share" || name == "drift.rows" || name == "drift.evaluated" ||
      name == "live.labelled" || name == "estimated.accuracy" || name == "estimated.auc") {
    return Status::Ok();
  }
  for (std::string_view traffic :
       {"requests.count", "errors.count", "errors.rate", "latency.p50", "latency.p90",
        "latency.p99", "jobs.queued", "jobs.running", "jobs.failed", "jobs.dead"}) {
    if (name == traffic) return Status::Ok();
  }
  if (auto s = After(name, "prediction_drift."); s && IsStatistic(*s)) return Status::Ok();
  if (auto rest = After(name, "feature_drift.")) {
    auto [feature, stat] = FeatureAndStatistic(*rest);
    if (!feature.empty() && IsStatistic(stat)) return Status::Ok();
  }
  for (std::string_view prefix :
       {"feature_missing.", "feature_out_of_range.", "live.", "model.valid."}) {
    if (After(name, prefix)) return Status::Ok();
  }
  return InvalidArgumentError(fmt::format(
      "unknown value '{}' (drift.share, drift.rows, feature_drift.FEATURE.psi, "
      "prediction_drift.psi, feature_out_of_range.FEATURE, live.auc, estimated.accuracy, "
      "model.valid.auc, latency.p99, errors.rate, jobs.dead, ... — docs/monitoring.md)",
      name));
}

std::string PrometheusExpression(std::string_view name, std::string_view model, int64_t window_ms) {
  std::string labels = model.empty() ? "" : fmt::format("model=\"{}\"", LabelValue(model));
  auto with = [&](std::string_view more) {
    if (labels.empty()) return std::string(more);
    return more.empty() ? labels : labels + "," + std::string(more);
  };
  auto series = [&](std::string_view family, std::string_view more) {
    const std::string matchers = with(more);
    return matchers.empty() ? fmt::format("max by (model, version) ({})", family)
                            : fmt::format("max by (model, version) ({}{{{}}})", family, matchers);
  };
  const int64_t seconds = std::max<int64_t>(1, window_ms / 1000);
  const std::string inference = with("route=~\"infer|grpc_infer\"");
  auto requests = [&](std::string_view more) {
    return fmt::format("sum by (model, version) (increase(kiln_requests_total{{{}{}}}[{}s]))",
                       inference, more, seconds);
  };
  constexpr std::string_view kErrors = ",code!~\"2..|OK\"";
  if (name == "requests.count") return requests("");
  if (name == "errors.count") return requests(kErrors);
  if (name == "errors.rate") return fmt::format("({} / {})", requests(kErrors), requests(""));
  if (auto q = After(name, "latency.p")) {
    return fmt::format(
        "histogram_quantile(0.{}, sum by (model, version, le) "
        "(rate(kiln_request_duration_seconds_bucket{{{}}}[{}s])))",
        *q, inference, seconds);
  }
  if (auto state = After(name, "jobs.")) {  // one value for every served version
    return fmt::format(
        "(group by (model, version) (kiln_model_valid_metric{}) * 0 + on() group_left() "
        "sum(kiln_jobs{{state=\"{}\"}}))",
        labels.empty() ? "" : "{" + labels + "}", *state);
  }
  if (name == "drift.share") return series("kiln_drift_share", "");
  if (name == "drift.rows") return series("kiln_drift_rows", "");
  if (name == "drift.evaluated") return series("kiln_drift_evaluated", "");
  if (name == "live.labelled") return series("kiln_live_labelled_rows", "");
  if (auto s = After(name, "prediction_drift.")) {
    return series("kiln_prediction_drift", fmt::format("statistic=\"{}\"", *s));
  }
  if (auto rest = After(name, "feature_drift.")) {
    auto [feature, stat] = FeatureAndStatistic(*rest);
    return series("kiln_feature_drift",
                  fmt::format("feature=\"{}\",statistic=\"{}\"", LabelValue(feature), stat));
  }
  if (auto f = After(name, "feature_missing.")) {
    return series("kiln_feature_missing", fmt::format("feature=\"{}\"", LabelValue(*f)));
  }
  if (auto f = After(name, "feature_out_of_range.")) {
    return fmt::format(
        "max by (model, version) (increase(kiln_feature_out_of_range_total{{{}}}[{}s]))",
        with(fmt::format("feature=\"{}\"", LabelValue(*f))),
        std::max<int64_t>(1, window_ms / 1000));
  }
  if (auto m = After(name, "estimated.")) {
    return series("kiln_estimated_metric", fmt::format("metric=\"estimated_{}\"", *m));
  }
  if (auto m = After(name, "model.valid.")) {
    return series("kiln_model_valid_metric", fmt::format("metric=\"{}\"", *m));
  }
  if (auto m = After(name, "live.")) {
    return series("kiln_live_metric", fmt::format("metric=\"{}\"", *m));
  }
  return std::string(name);
}

namespace {

std::string YamlQuoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += (c == '\n' ? ' ' : c);
  }
  return out + "'";
}

}  // namespace

std::string PrometheusRules(const std::vector<AlertRule>& rules, int64_t window_ms) {
  std::string out =
      "# Alerting rules for the families kiln serve exposes on /metrics, written by\n"
      "# `kiln monitor rules --prometheus` from kiln.yaml monitoring.alerts.\n"
      "groups:\n  - name: kiln\n    rules:\n";
  if (rules.empty()) return out.substr(0, out.size() - 11) + "    rules: []\n";
  for (const AlertRule& r : rules) {
    std::string name = r.name;
    for (char& c : name) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) c = '_';
    }
    std::string expr;
    for (size_t i = 0; i < r.condition.clauses(); ++i) {
      if (i > 0) expr += " and ";
      expr += "(" + r.condition.Render(i, [&](const std::string& n) {
        return PrometheusExpression(n, r.model, window_ms);
      }) + ")";
    }
    out += fmt::format("      - alert: {}\n        expr: {}\n", name, YamlQuoted(expr));
    if (r.for_ms > 0)
      out += fmt::format("        for: {}s\n", std::max<int64_t>(1, r.for_ms / 1000));
    out += fmt::format("        labels:\n          severity: {}\n", r.severity);
    out += fmt::format(
        "        annotations:\n          summary: {}\n          kiln_rule: {}\n",
        YamlQuoted(fmt::format("{} v{{{{ $labels.version }}}}: {}",
                               r.model.empty() ? "{{ $labels.model }}" : r.model, r.expr)),
        YamlQuoted(r.name));
  }
  return out;
}

const char* AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kInactive:
      return "inactive";
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
  }
  return "inactive";
}

AlertEngine::AlertEngine(std::vector<AlertRule> rules, std::function<int64_t()> now_ms)
    : rules_(std::move(rules)), now_ms_(now_ms ? std::move(now_ms) : WallMs) {}

std::vector<AlertEvent> AlertEngine::Evaluate(const std::vector<AlertSubject>& subjects) {
  const int64_t now = now_ms_();
  std::vector<AlertEvent> events;
  MutexLock lock(&mu_);
  auto event = [now](const ActiveAlert& a, const char* state, std::string detail) {
    return AlertEvent{a.rule, a.model, a.version,  a.severity,
                      state,  now,     a.since_ms, std::move(detail)};
  };
  std::set<Key> seen;
  for (const AlertRule& rule : rules_) {
    for (const AlertSubject& subject : subjects) {
      if (!rule.model.empty() && rule.model != subject.model) continue;
      const Key key{rule.name, subject.model, subject.version};
      seen.insert(key);
      auto clauses = rule.condition.Evaluate(subject.values);
      bool holds = clauses.ok() && !clauses->empty();
      std::string detail;
      if (clauses.ok()) {
        for (const auto& c : *clauses) {
          holds = holds && c.passed;
          if (!detail.empty()) detail += " and ";
          detail += fmt::format("{} ({:.6g} vs {:.6g})", c.text, c.left, c.right);
        }
      } else {
        detail = clauses.status().message();  // a value it needs is not there (yet)
      }
      auto it = active_.find(key);
      if (!holds) {
        if (it != active_.end()) {
          if (it->second.state == AlertState::kFiring) {
            Emit(event(it->second, "resolved", detail), &events);
          }
          active_.erase(it);
        }
        continue;
      }
      if (it == active_.end()) {
        ActiveAlert a{
            rule.name, subject.model, subject.version, rule.severity, AlertState::kPending, now,
            0,         detail};
        it = active_.emplace(key, std::move(a)).first;
      }
      ActiveAlert& a = it->second;
      a.detail = detail;
      if (a.state == AlertState::kPending && now - a.since_ms >= rule.for_ms) {
        a.state = AlertState::kFiring;
        a.firing_since_ms = now;
        Emit(event(a, "firing", detail), &events);
      }
    }
  }
  // Versions no longer served: their alerts end.
  for (auto it = active_.begin(); it != active_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.state == AlertState::kFiring) {
      Emit(event(it->second, "resolved", "no longer served"), &events);
    }
    it = active_.erase(it);
  }
  return events;
}

void AlertEngine::Emit(AlertEvent e, std::vector<AlertEvent>* events) {
  ++counts_[{e.rule, e.state}];
  recent_.push_back(e);
  if (recent_.size() > kRecent) recent_.pop_front();
  events->push_back(std::move(e));
}

std::vector<ActiveAlert> AlertEngine::Active() const {
  MutexLock lock(&mu_);
  std::vector<ActiveAlert> out;
  for (const auto& [key, a] : active_) out.push_back(a);
  return out;
}

std::vector<AlertEvent> AlertEngine::Recent() const {
  MutexLock lock(&mu_);
  return {recent_.begin(), recent_.end()};
}

std::string AlertEngine::Exposition() const {
  MutexLock lock(&mu_);
  std::string alerts, totals;
  for (const auto& [key, a] : active_) {
    alerts += fmt::format(
        "kiln_alert{{rule=\"{}\",model=\"{}\",version=\"{}\",severity=\"{}\",state=\"{}\"}} 1\n",
        LabelValue(a.rule), LabelValue(a.model), a.version, LabelValue(a.severity),
        AlertStateName(a.state));
  }
  for (const auto& [key, n] : counts_) {
    totals += fmt::format("kiln_alert_events_total{{rule=\"{}\",state=\"{}\"}} {}\n",
                          LabelValue(key.first), key.second, n);
  }
  std::string out =
      "# HELP kiln_alert Alerts pending or firing now (one series each).\n"
      "# TYPE kiln_alert gauge\n" +
      alerts;
  if (!totals.empty()) {
    out +=
        "# HELP kiln_alert_events_total Alerts that fired and that resolved, by rule.\n"
        "# TYPE kiln_alert_events_total counter\n" +
        totals;
  }
  return out;
}

}  // namespace kiln::monitor
