// Monitoring of served models over HTTP (docs/monitoring.md), served by every `kiln serve`, with
// or without --control-plane:
//   GET  /api/v1/models/{m}/drift[?version=V]        drift, both windows
//   GET  /api/v1/models/{m}/performance[?version=V]  live metrics from feedback, CBPE estimate
//   POST /api/v1/models/{m}/feedback                 ground truth: [{"id": ..., "label": ...}]
//   GET  /api/v1/alerts                              alerts pending and firing, recent events
// and the drift, live-performance and alert families of /metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kiln/api/request_metrics.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/monitor/alerts.h"
#include "kiln/registry/catalog_store.h"
#include "kiln/registry/job_queue.h"
#include "kiln/serve/model_manager.h"

namespace kiln::api {

// The drift report of `model` at `version` ("" = its default alias) as JSON. A version that
// carries no reference answers {"monitored": false, "reason": ...}; NotFound for a model or
// version that is not served.
Result<std::string> DriftJson(serve::ModelManager& models, const std::string& model,
                              const std::string& version);

// The live performance of `model` at `version`: labelled rows and metrics over both windows,
// their degradation against the model's validation metrics, the confidence-based estimate
// (binary classifiers with a reference), and the prediction log's size.
Result<std::string> PerformanceJson(serve::ModelManager& models, const std::string& model,
                                    const std::string& version);

// At most this many labels per feedback request.
inline constexpr size_t kMaxFeedbackItems = 10000;

struct FeedbackOutcome {
  uint64_t received = 0;
  uint64_t joined = 0;     // found in a version's prediction log and counted
  uint64_t unknown = 0;    // no logged prediction has the id (never logged, or evicted)
  uint64_t duplicate = 0;  // its prediction already had a label
};
// Joins `body` — a JSON array of {"id": ID, "label": LABEL} — to the prediction logs of every
// served version of `model` (a routed or shadowed request is logged by each version that
// answered it) and counts the labelled predictions in their live performance. The whole batch
// is checked first: a body that is not such an array, more than kMaxFeedbackItems items
// (ResourceExhausted), an id that is not a loggable id, the same id twice, or a label that is
// not one of the model's classes (a number for regression) is an error naming the item, and
// nothing is counted. Unknown ids are counted, never an error.
Result<FeedbackOutcome> JoinFeedback(serve::ModelManager& models, const std::string& model,
                                     std::string_view body);
std::string FeedbackJson(const FeedbackOutcome& outcome);

// The drift and live-performance families for every served version that is watched ("" when
// none is), and kiln_model_valid_metric{model,version,metric} (the validation baseline).
std::string DriftMetricsText(const serve::ModelManager& models);

// The values of one served version by name.
using AlertValues = std::map<std::string, double, std::less<>>;

// Every served version with the values alert rules name (monitor::ValidateAlertValueName) that
// the version itself holds (drift, live performance, the validation baseline); `more` adds the
// others (traffic, jobs) when given.
std::vector<monitor::AlertSubject> AlertSubjects(
    const serve::ModelManager& models,
    const std::function<void(const std::string& model, int64_t version, AlertValues*)>& more = {});

// What an AlertMonitor reads besides the served versions, and where it sends what it finds.
struct AlertMonitorOptions {
  std::chrono::milliseconds every{15000};       // how often the rules are evaluated
  registry::CatalogStore* catalog = nullptr;    // events are stored here (when not null)
  monitor::MetricsRegistry* metrics = nullptr;  // request counts and latencies: traffic values
  int64_t window_ms = 600'000;                  // the window traffic values cover
  // jobs.* values, and where alerts with `retrain: true` queue retrainings (null: neither).
  registry::JobQueue* jobs = nullptr;
  std::set<std::string> retrainable;  // the models with a retraining policy
  int max_attempts = 3;               // of each retraining job
};

// Evaluates alert rules over the served versions every `every` on a thread of its own, logs
// each event, stores it in the catalog and POSTs it as JSON to its rule's webhook (5 s timeout;
// a failed or slow webhook delays the next evaluation, never serving). A firing alert whose
// rule has `retrain: true` queues a `retrain` job for its model when the model has a retraining
// policy (pipeline/retrain.h). Traffic values (requests.count, errors.count, errors.rate,
// latency.p50/p90/p99) are differences of the request families over the window, from
// snapshots the monitor keeps (at most 60 per window); until the server has run a whole window
// they cover the time since it started. Stops (and joins) when destroyed.
class AlertMonitor {
 public:
  AlertMonitor(const serve::ModelManager* models, std::vector<monitor::AlertRule> rules,
               AlertMonitorOptions options);
  ~AlertMonitor();
  AlertMonitor(const AlertMonitor&) = delete;
  AlertMonitor& operator=(const AlertMonitor&) = delete;

  const monitor::AlertEngine& engine() const { return engine_; }
  // GET /api/v1/alerts: {"rules": [...], "active": [...], "events": [...]}.
  std::string Json() const;
  // One evaluation round now (the thread does this every `every`).
  void EvaluateNow();

 private:
  void Loop();
  void Deliver(const monitor::AlertEvent& e);
  void QueueRetraining(const monitor::AlertEvent& e);
  const monitor::AlertRule* Rule(const std::string& name) const;
  // The traffic and job values of this round, by (model, version) for the traffic.
  struct RoundValues;
  RoundValues ReadRound();

  // Traffic snapshots (steady ms), oldest first: the newest at or before a window ago is the
  // baseline of the values.
  Mutex history_mu_;
  std::deque<std::pair<int64_t, TrafficByVersion>> history_ KILN_GUARDED_BY(history_mu_);

  const serve::ModelManager* models_;
  const AlertMonitorOptions options_;
  monitor::AlertEngine engine_;
  Mutex mu_;
  CondVar cv_;
  bool stop_ KILN_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kiln::api
