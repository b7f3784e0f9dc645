// ModelManager: the registered model versions a server holds, addressed the way clients address
// them — `NAME` (its `production` alias), `NAME` + version "3", or `NAME` + alias "staging".
//
// A served version is an immutable snapshot (shared_ptr<const ServedModel>): a request keeps the
// version it started with even if the alias moves meanwhile, and the old version is freed when
// its last request ends. Models are only ever loaded from the registry by name (never from a
// path a client names, BI-27/28), their artifacts read from the content-addressed blob store.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/base/file_system.h"
#include "kiln/base/limits.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/model/predictor.h"
#include "kiln/model/tree_model.h"
#include "kiln/monitor/live_drift.h"
#include "kiln/monitor/live_performance.h"
#include "kiln/monitor/metrics.h"
#include "kiln/monitor/prediction_log.h"
#include "kiln/registry/catalog_store.h"
#include "kiln/storage/blob_store.h"

namespace kiln::serve {

// Version `version` (0: latest) of registered model `name`, read from `blobs`.
Result<std::shared_ptr<const model::TreeModel>> LoadModelVersion(registry::CatalogStore& catalog,
                                                                 const storage::BlobStore& blobs,
                                                                 const std::string& name,
                                                                 int64_t version,
                                                                 const Limits& limits);

// What a server watches of the versions it serves (docs/monitoring.md).
struct MonitoringOptions {
  monitor::LiveDriftOptions drift;  // its window also sizes the live performance windows
  // The prediction logs and the saved windows (SaveMonitoring), one directory per version under
  // `log_root` (`<model>/v<version>`); none when `fs` is null.
  FileSystem* fs = nullptr;
  std::string log_root;
  monitor::PredictionLogOptions log;
};

// One loaded version: the model, its compiled predictor and the lookups a request needs.
struct ServedModel {
  std::string name;
  int64_t version = 0;
  std::shared_ptr<const model::TreeModel> model;
  std::unique_ptr<model::Predictor> predictor;
  std::unordered_map<std::string, size_t> feature_index;  // feature name -> column
  // Categorical features: category text -> code (empty map for numeric features).
  std::vector<std::unordered_map<std::string, double>> category_codes;

  // What this version sees, against its training reference; null when drift monitoring is off
  // or the model carries no reference (an imported or older model).
  std::shared_ptr<monitor::LiveDrift> drift;
  // With monitoring on: what it answered requests that carried an id, and its live metrics
  // from the feedback joined to them (null when monitoring is off).
  std::shared_ptr<monitor::PredictionLog> log;
  std::shared_ptr<monitor::LivePerformance> performance;
  // Where its windows are saved ("" nowhere) and restored from when it is loaded again.
  FileSystem* fs = nullptr;
  std::string state_dir;
  // Requests with a value outside a numeric feature's training range, or a category the model
  // never saw, are refused (kiln.yaml `reject_out_of_range`) instead of only counted.
  bool reject_out_of_range = false;

  // With `monitoring`, the version is watched: drift when the model has a reference, its
  // predictions logged and live performance for every model.
  static Result<std::shared_ptr<const ServedModel>> Create(
      std::string name, int64_t version, std::shared_ptr<const model::TreeModel> model,
      const MonitoringOptions* monitoring = nullptr, bool reject_out_of_range = false);
};

// The monitor's view of a model's reference (empty features when it has none).
monitor::DriftReference DriftReferenceOf(const model::TreeModel& m);

class ModelManager {
 public:
  // `metrics` (may be null) gets model load time, load failures and the served versions.
  ModelManager(registry::CatalogStore* catalog, const storage::BlobStore* blobs, Limits limits,
               monitor::MetricsRegistry* metrics = nullptr,
               std::string default_alias = "production");

  // The catalog models are loaded from.
  registry::CatalogStore* catalog() const { return catalog_; }

  // Watches every version loaded from now on (call before LoadAll).
  void EnableMonitoring(MonitoringOptions options);
  // Which models refuse out-of-range inputs (ServedModel::reject_out_of_range): `models`' own
  // setting, else `all` (call before LoadAll).
  void RejectOutOfRange(bool all, std::map<std::string, bool> models);
  // Every version held now: the default alias's and the others, by model name.
  std::vector<std::shared_ptr<const ServedModel>> Served() const;

  // Loads every registered model that has the default alias and, from then on, Refresh() also
  // picks up models that get one. A model that fails to load is left out and reported by
  // List() as unavailable (the others are served); the error is only for the catalog itself.
  Status LoadAll();
  // Loads `name` at its default alias (a model repository "load"); NotFound for an unknown
  // model or one without that alias, the load error for a version that does not load.
  Status Load(const std::string& name);
  // Forgets `name` (in-flight requests keep their versions); NotFound if it is not loaded.
  Status Unload(const std::string& name);

  // Hot reload: when an alias moved in the registry since the last look, loads and warms the
  // version each served model's default alias now points to — off the request path — and swaps
  // it in atomically; requests that hold the old version finish on it, and it is freed after
  // the last. A version that fails to load or warm leaves the old one serving (and is retried
  // at the next alias move). Returns the models whose version changed.
  Result<std::vector<std::string>> Refresh();

  // Saves the drift and live-performance windows of every watched version to its directory
  // (drift.window, performance.window, each replaced atomically); a version loaded again (after
  // a restart, or a hot reload back to it) restores them, so at most what came after the last
  // save is lost. Returns the first error; the other versions are still saved.
  Status SaveMonitoring() const;

  // The version a request addresses: `version` "" = the default alias, digits = that version
  // number, else an alias (looked up in the registry once, then again after each alias move
  // Refresh() sees). Loads a version of a loaded model on first use (one load however many
  // requests ask at once; at most kMaxOtherVersions are held besides the default alias's).
  // NotFound when the model is not loaded or the version / alias does not exist.
  Result<std::shared_ptr<const ServedModel>> Get(const std::string& name,
                                                 const std::string& version);

  struct Entry {
    std::string name;
    int64_t version = 0;  // the default alias's version; 0 when it never loaded
    std::string error;    // why the model is unavailable (empty when served)
  };
  // The models, by name: the served ones and those that failed to load.
  std::vector<Entry> List() const;

 private:
  struct Model {
    std::shared_ptr<const ServedModel> current;  // at the default alias
    std::map<int64_t, std::shared_ptr<const ServedModel>> others;
    std::map<std::string, int64_t> aliases;  // other aliases, as resolved since the last move
    // Version `number` if it is held, else null.
    std::shared_ptr<const ServedModel> Find(int64_t number) const;
  };
  static constexpr size_t kMaxAliases = 64;
  static constexpr size_t kMaxOtherVersions = 8;  // versions held besides the default alias's
  // Reads, decodes, compiles and warms (one prediction) a version; times it and counts failures.
  Result<std::shared_ptr<const ServedModel>> LoadVersion(const std::string& name, int64_t version);
  // Makes `served` the default alias's version of `name` (served, no longer failed).
  void Install(const std::string& name, std::shared_ptr<const ServedModel> served)
      KILN_REQUIRES(mu_);

  registry::CatalogStore* catalog_;
  const storage::BlobStore* blobs_;
  const Limits limits_;
  const std::string default_alias_;
  std::optional<MonitoringOptions> monitoring_;  // set before loading starts
  bool reject_all_ = false;                      // set before loading starts
  std::map<std::string, bool> reject_;
  monitor::Family<monitor::Histogram>* load_time_ = nullptr;
  monitor::Family<monitor::Counter>* load_failures_ = nullptr;
  monitor::Family<monitor::Gauge>* served_version_ = nullptr;
  mutable Mutex mu_;
  std::map<std::string, Model> models_ KILN_GUARDED_BY(mu_);
  std::map<std::string, std::string> failed_ KILN_GUARDED_BY(mu_);  // name -> load error
  std::set<std::string> unloaded_ KILN_GUARDED_BY(mu_);  // unloaded by request: not reloaded
  bool all_ KILN_GUARDED_BY(mu_) = false;                // LoadAll: serve new production models too
  int64_t alias_seen_ KILN_GUARDED_BY(mu_) = -1;         // LastAliasChange() at the last look
  uint64_t alias_generation_ KILN_GUARDED_BY(mu_) = 0;   // bumped when aliases are forgotten
  Mutex refresh_mu_;                                     // one Refresh or Load at a time
  Mutex version_load_mu_;  // one first-use load of a non-default version at a time
};

}  // namespace kiln::serve
