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
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// Every served version with the values alert rules name (monitor::ValidateAlertValueName).
std::vector<monitor::AlertSubject> AlertSubjects(const serve::ModelManager& models);

// Evaluates alert rules over the served versions every `every` on a thread of its own, logs
// each event, stores it in `catalog` (when not null) and POSTs it as JSON to its rule's webhook
// (5 s timeout; a failed or slow webhook delays the next evaluation, never serving). A firing
// alert whose rule has `retrain: true` queues a `retrain` job for its model when `retrain.jobs`
// is set and the model has a retraining policy (pipeline/retrain.h). Stops (and joins) when
// destroyed.
// Where alerts with `retrain: true` queue their retrainings.
struct RetrainQueue {
  registry::JobQueue* jobs = nullptr;  // not owned; null: no retraining is queued
  std::set<std::string> models;        // the models with a retraining policy
  int max_attempts = 3;
};

class AlertMonitor {
 public:
  AlertMonitor(const serve::ModelManager* models, std::vector<monitor::AlertRule> rules,
               std::chrono::milliseconds every, registry::CatalogStore* catalog = nullptr,
               RetrainQueue retrain = {});
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

  const serve::ModelManager* models_;
  registry::CatalogStore* catalog_;
  RetrainQueue retrain_;
  monitor::AlertEngine engine_;
  const std::chrono::milliseconds every_;
  Mutex mu_;
  CondVar cv_;
  bool stop_ KILN_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kiln::api
