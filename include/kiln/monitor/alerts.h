// Alerts: rules over the monitoring values of served model versions (drift, live performance,
// the validation baseline; docs/monitoring.md, "Alerts"), evaluated in process, each
// (rule, model, version) moving inactive → pending → firing → resolved the way Prometheus
// alerts do: pending while the condition holds for less than `for`, firing after, resolved
// when it stops holding (or the version is no longer served, or a value it needs is gone).
// Each firing and each resolution is reported once (deduplicated while firing).
//
//   AlertEngine engine(rules);
//   for (const AlertEvent& e : engine.Evaluate(subjects)) notify(e);  // every few seconds
//   engine.Active();  // pending and firing alerts now
//
// Thread-safety: every method from any thread (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "kiln/base/condition.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln::monitor {

struct AlertRule {
  std::string name;
  std::string model;  // "" = every served model
  std::string expr;   // as written in kiln.yaml
  Condition condition;
  int64_t for_ms = 0;
  std::string severity = "warning";  // info | warning | critical
  std::string webhook;               // a URL to POST each event to, or ""
  bool retrain = false;              // queue a retraining when it fires
};

// One served model version and its values by name (drift.share, live.auc, ...).
struct AlertSubject {
  std::string model;
  int64_t version = 0;
  Condition::Lookup values;
};

enum class AlertState { kInactive, kPending, kFiring };
const char* AlertStateName(AlertState s);

struct AlertEvent {
  std::string rule, model;
  int64_t version = 0;
  std::string severity;
  std::string state;  // "firing" or "resolved"
  int64_t time_ms = 0;
  int64_t since_ms = 0;  // when the condition started to hold
  std::string detail;    // the clauses with their values, or why it resolved
};

struct ActiveAlert {
  std::string rule, model;
  int64_t version = 0;
  std::string severity;
  AlertState state = AlertState::kPending;
  int64_t since_ms = 0;         // the condition has held since
  int64_t firing_since_ms = 0;  // 0 while pending
  std::string detail;
};

// The values a rule can name, per served version (docs/monitoring.md, "Alerts"):
//   drift.share | drift.rows | drift.evaluated
//   prediction_drift.STAT, feature_drift.FEATURE.STAT
//     (STAT: psi, jensen_shannon, ks, wasserstein, chi_square_p_value, score)
//   feature_missing.FEATURE, feature_out_of_range.FEATURE   (counts in the sliding window)
//   live.METRIC | live.labelled, estimated.accuracy | estimated.auc, model.valid.METRIC
// InvalidArgument for a name outside them.
Status ValidateAlertValueName(std::string_view name);

// `name` as a PromQL expression over the families kiln serve exposes, one series per
// (model, version) (`max by (model, version) (...)`), restricted to `model` unless it is "";
// windowed counts use `increase(...[window])`.
std::string PrometheusExpression(std::string_view name, std::string_view model, int64_t window_ms);

// The rules as a Prometheus alerting rules file (one group, `kiln`), for teams that alert from
// Prometheus/Alertmanager on the families kiln serve exposes; `promtool check rules` accepts
// it. Alert names keep [A-Za-z0-9_] (others become _); the rule as written is an annotation.
std::string PrometheusRules(const std::vector<AlertRule>& rules, int64_t window_ms);

class AlertEngine {
 public:
  explicit AlertEngine(std::vector<AlertRule> rules, std::function<int64_t()> now_ms = nullptr);

  // One evaluation round over the versions served now; the events it produced.
  std::vector<AlertEvent> Evaluate(const std::vector<AlertSubject>& subjects);
  std::vector<ActiveAlert> Active() const;
  // The last events, newest last (at most 1000 kept).
  std::vector<AlertEvent> Recent() const;
  const std::vector<AlertRule>& rules() const { return rules_; }
  // kiln_alert{rule,model,version,severity,state} 1 per pending or firing alert, and
  // kiln_alert_events_total{rule,state} (firing, resolved) in the Prometheus text format.
  std::string Exposition() const;

 private:
  using Key = std::tuple<std::string, std::string, int64_t>;  // rule, model, version
  // Counts and keeps `e`, and adds it to `events`.
  void Emit(AlertEvent e, std::vector<AlertEvent>* events) KILN_REQUIRES(mu_);
  const std::vector<AlertRule> rules_;
  std::function<int64_t()> now_ms_;
  mutable Mutex mu_;
  std::map<Key, ActiveAlert> active_ KILN_GUARDED_BY(mu_);
  std::deque<AlertEvent> recent_ KILN_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> counts_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::monitor
