#include "kiln/monitor/alerts.h"

#include <chrono>
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

}  // namespace

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
  auto emit = [&](const ActiveAlert& a, const char* state, std::string detail) {
    AlertEvent e{a.rule, a.model, a.version, a.severity, state, now, a.since_ms, std::move(detail)};
    ++counts_[{a.rule, state}];
    recent_.push_back(e);
    if (recent_.size() > kRecent) recent_.pop_front();
    events.push_back(std::move(e));
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
          if (it->second.state == AlertState::kFiring) emit(it->second, "resolved", detail);
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
        emit(a, "firing", detail);
      }
    }
  }
  // Versions no longer served: their alerts end.
  for (auto it = active_.begin(); it != active_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.state == AlertState::kFiring) emit(it->second, "resolved", "no longer served");
    it = active_.erase(it);
  }
  return events;
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
