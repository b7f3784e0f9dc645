// kiln.yaml, the settings of a kiln home, read once into one typed Config when the home opens
// (Home::config()). Every section is optional; unknown keys and out-of-range values are errors
// naming the key.
//
//   catalog: sqlite                # default; or postgresql://user@host:5432/db
//   queue: catalog                 # the job queue: the catalog's tables (default) or
//                                  # redis://host:6379/0; or a mapping:
//   queue: {backend: redis://127.0.0.1:6379/0, lease_seconds: 30, max_attempts: 3}
//   serving:                       # `kiln serve` (docs/serving.md, "Configuration")
//     rate_limit: {per_token: {rate: 100, burst: 200}, per_address: {rate: 50}}
//     max_connections_per_address: 64
//     max_batch_size: 256          # defaults for every model
//     max_queue_delay_us: 0
//     models:
//       credit-risk:               # a registered model's name
//         max_batch_size: 64       # unset fields come from the defaults above
//         max_queue_delay_us: 200
//         cache: {max_entries: 10000, max_mb: 64, ttl_seconds: 60}
//         routing:                 # requests naming the model only
//           split: {production: 90, canary: 10}   # aliases or versions: weights
//           sticky_key: customer_id              # this request parameter keeps a client on one
//           shadow: staging                      # mirrored, answer discarded, compared
//   monitoring:                    # live drift of served models
//     enabled: true
//     window: 10m                  # tumbling and sliding window, 5s..7d
//     min_samples: 500             # rows a window needs before drift is decided
//     alerts: [{name: acc, model: credit-risk, expr: live.auc < 0.7, retrain: true}]
//     retraining:                  # docs/monitoring.md, "Automatic retraining"
//       - model: credit-risk
//         data: credit             # newest version (default: the production run's dataset)
//         holdout: credit-q1@v1    # the gate's data
//         gate: auc >= champion.auc - 0.005
//         new_data: true           # also when a new version of the data is committed
//         every: 1d                # or cron: "0 3 * * *"
//         cooldown: 1h
//         max_per_day: 3
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/monitor/alerts.h"
#include "kiln/serve/batcher.h"
#include "kiln/serve/dispatcher.h"

namespace kiln::pipeline {

// What kiln.yaml sets for a model (or, at the top of the section, for every model); unset
// fields come from the policy it is laid over.
struct ModelSettings {
  std::optional<uint64_t> max_batch_size;
  std::optional<uint32_t> max_queue_delay_us;
  bool cache = false;  // a `cache:` block: the cache is on
  std::optional<uint64_t> cache_max_entries, cache_max_bytes;
  std::optional<uint32_t> cache_ttl_ms;
  // `reject_out_of_range: true`: requests with values outside the training range or unseen
  // categories get 400 instead of only being counted (docs/security.md).
  std::optional<bool> reject_out_of_range;
  serve::BatchPolicy Over(serve::BatchPolicy base) const;
};

// A token bucket: `rate` requests per second, bursts of `burst` (0: twice the rate).
struct RateLimit {
  double rate = 0;  // 0: no limit
  double burst = 0;
};

struct ServingConfig {
  serve::BatchPolicy defaults;  // the section's top level
  // `rate_limit: {per_token: {rate: 100, burst: 200}, per_address: {rate: 50}}`: requests
  // past a bucket get 429 with Retry-After (docs/security.md).
  RateLimit per_token, per_address;
  uint32_t max_connections_per_address = 0;     // `max_connections_per_address`, 0: any number
  std::map<std::string, ModelSettings> models;  // by model name
  std::map<std::string, serve::RoutingPolicy> routing;  // by model name
  bool reject_out_of_range = false;                     // the section's top level
  // The per-model policies laid over `base`: the defaults, as command-line flags left them.
  std::map<std::string, serve::BatchPolicy> PerModel(const serve::BatchPolicy& base) const;
  // The models whose own `reject_out_of_range` is set, with it.
  std::map<std::string, bool> RejectOutOfRange() const;
};

// The `queue:` section: where jobs wait and how workers hold them (docs/user-guide.md, "jobs").
struct QueueConfig {
  std::string backend = "catalog";  // "catalog" or a redis:// URL
  double lease_seconds = 30;        // a dead worker's job runs again this long after (>= 0.2)
  int max_attempts = 3;             // per job, unless the submitter says otherwise
};

// One entry of `monitoring.retraining`: when and how a registered model is retrained, and the
// gate its challenger must pass to take the alias (pipeline/retrain.h).
struct RetrainPolicy {
  std::string model;
  std::string alias = "production";  // the champion's alias, moved only if the gate holds
  std::string data;     // NAME (its newest version) or NAME@vN; "": the champion run's dataset
  std::string holdout;  // NAME@vN both versions are scored on
  std::string gate;     // e.g. "auc >= champion.auc - 0.005"
  // Triggers besides alerts with `retrain: true`: a new version of the data (seen by
  // `kiln worker`), and a schedule (`every` or `cron`, kept as a queue schedule by the worker).
  bool new_data = false;
  std::string every, cron;
  int64_t cooldown_ms = 3'600'000;  // at least this long between two retrainings
  int max_per_day = 3;              // retrainings started in any 24 hours
};

// The `monitoring:` section: drift, live accuracy and alerts of served models
// (docs/monitoring.md).
struct MonitoringConfig {
  bool enabled = true;          // count what served models see (models with a reference)
  int64_t window_ms = 600'000;  // `window: 10m`, 5s..7d: the tumbling and sliding window
  uint64_t min_samples = 500;   // below this many rows in a window nothing is decided
  // `prediction_log: {max_mb, sample}`: each served version's log of the predictions made for
  // requests with an id, joined with feedback (docs/monitoring.md).
  uint64_t log_max_mb = 16;  // 1..65536, per version
  double log_sample = 1.0;   // share of ids logged, [0, 1]
  // `alerts: [{name, model, expr, for, severity, webhook}]`, checked when read: names unique,
  // expressions parsed and their values known, webhook hosts on `webhook_allow`.
  std::vector<monitor::AlertRule> alerts;
  int64_t evaluate_ms = 15'000;            // `evaluate_every: 15s`, 1s..1h
  std::vector<std::string> webhook_allow;  // hosts alerts may POST to (default none)
  std::vector<RetrainPolicy> retraining;   // one per model at most
  const RetrainPolicy* Policy(const std::string& model) const;
};

struct Config {
  std::string catalog = "sqlite";  // "sqlite" or a postgresql:// URL
  // `auth: required` (or `off`, the default): kiln serve asks every request but the health
  // checks for a token (docs/security.md).
  bool auth_required = false;
  QueueConfig queue;
  ServingConfig serving;
  MonitoringConfig monitoring;
  // `train: {require_validated: true}`: training and tuning only on dataset versions whose
  // latest check against their rules passed (pipeline::RequireValidated).
  bool train_require_validated = false;
};

// `yaml` is the whole kiln.yaml (empty: the defaults).
Result<Config> ParseConfig(std::string_view yaml);
// The serving section of `yaml` alone (ParseConfig(yaml)->serving).
Result<ServingConfig> ParseServingConfig(std::string_view yaml);

}  // namespace kiln::pipeline
