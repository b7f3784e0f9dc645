// CatalogStore: the one catalog interface of kiln — dataset versions (storage::DatasetCatalog),
// experiments and runs (params, metrics, metric curves, tags, lineage, resource use), and the
// model registry (versions, aliases with their history). Two implementations pass one contract
// test suite: SqlCatalog on SQLite in the kiln home (the embedded default) and on PostgreSQL.
//
// Writes that belong together are one transaction: a run is created with its params, tags and
// lineage in one; finished with its final metrics, curves and artifact in one; an alias move and
// its history entry in one. Every text a client gives (names, filters) is bound as a parameter,
// never pasted into SQL.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kiln/auth/audit.h"
#include "kiln/auth/token.h"
#include "kiln/base/status.h"
#include "kiln/storage/catalog.h"

namespace kiln::registry {

enum class RunStatus { kRunning, kFinished, kFailed, kKilled };
std::string_view RunStatusName(RunStatus s);
Result<RunStatus> ParseRunStatus(std::string_view text);

// What a run ran on and produced, beyond params and metrics (`attributes.*` in filters).
struct RunAttributes {
  std::string train_data;  // NAME@vN
  std::string train_hash;  // the version's content hash
  std::string valid_data;
  std::string valid_hash;
  std::string artifact;  // object name (SHA-256) of the model in the blob store; "" if none
  std::string kiln_version;
  std::string build_commit;
  std::string host;
  std::string parent_id;  // the parent run (tuning), "" if none
  double cpu_seconds = 0;
  int64_t peak_rss_bytes = 0;
};

struct RunRecord {
  std::string id;  // 32 lower-case hex digits
  std::string experiment = "default";
  std::string name;  // optional, free text
  RunStatus status = RunStatus::kRunning;
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // 0 while running
  std::map<std::string, std::string> params;
  std::map<std::string, double> metrics;  // final metrics
  std::map<std::string, std::string> tags;
  RunAttributes attributes;
};

// One metric curve of a run: values per step (iteration), e.g. "train.logloss".
struct Curve {
  std::string key;
  std::vector<int64_t> steps;
  std::vector<double> values;
};

struct RunQuery {
  std::string experiment;  // "" = all experiments
  std::string filter;      // the filter language (registry/filter.h); "" = every run
  std::string order_by;    // e.g. "metrics.auc desc"; "" = newest first
  int64_t limit = 100;
};

struct ModelVersion {
  std::string name;
  int64_t version = 0;
  std::string run_id;
  std::string artifact;  // object name of the model file (the run's artifact)
  std::string description;
  std::map<std::string, std::string> tags;
  std::string actor;
  int64_t created_ms = 0;
  std::vector<std::string> aliases;  // filled by reads: the aliases pointing here
};

struct ModelSummary {
  std::string name;
  int64_t latest_version = 0;
  int64_t versions = 0;
  std::map<std::string, int64_t> aliases;  // alias -> version
};

// One move of an alias (version 0: removed); `previous` is the version it pointed to before.
struct AliasEvent {
  int64_t seq = 0;
  std::string name;
  std::string alias;
  int64_t version = 0;
  int64_t previous = 0;
  int64_t at_ms = 0;
  std::string actor;
  std::string reason;
};

// A stored promotion-gate evaluation (the report of `kiln models promote`).
struct GateReport {
  int64_t id = 0;
  std::string name;
  int64_t challenger = 0;
  int64_t champion = 0;  // 0 if there was none
  std::string alias;
  std::string gate;
  std::string data;  // NAME@vN both were evaluated on
  bool passed = false;
  std::string report_json;
  int64_t at_ms = 0;
  std::string actor;
};

// A dataset version checked against a rules file (at ingest, or by `kiln data validate`).
struct ValidationRecord {
  int64_t id = 0;
  std::string name;
  int64_t version = 0;
  std::string rules_hash;  // SHA-256 of the rules file
  int64_t checks = 0;      // rule outcomes evaluated
  bool passed = false;
  std::string failed;  // the failed checks, "; "-separated ("" when passed)
  int64_t at_ms = 0;
};

// An alert that fired or resolved (`kiln serve`'s alert rules, monitor/alerts.h).
struct AlertEventRecord {
  int64_t id = 0;
  std::string rule, model;
  int64_t version = 0;
  std::string severity;
  std::string state;  // "firing" or "resolved"
  int64_t time_ms = 0;
  int64_t since_ms = 0;
  std::string detail;
};

class CatalogStore : public storage::DatasetCatalog {
 public:
  // --- runs ---
  // Records a new run (status running) with its params, tags and attributes; assigns the id
  // and start time when empty / 0. AlreadyExists if the id is taken.
  virtual Result<RunRecord> CreateRun(const RunRecord& run) = 0;
  // Ends a run: status, final metrics, curves and, of `attributes`, what the job produced
  // (artifact, cpu_seconds, peak_rss_bytes; the lineage recorded by CreateRun stays), in one
  // transaction. FailedPrecondition if the run has already ended.
  virtual Status FinishRun(const std::string& id, RunStatus status,
                           const std::map<std::string, double>& metrics,
                           std::span<const Curve> curves, const RunAttributes& attributes) = 0;
  virtual Status SetRunTags(const std::string& id,
                            const std::map<std::string, std::string>& tags) = 0;
  // A `killed` run becomes `running` again (its end time cleared): a job resuming its own run.
  // FailedPrecondition for any other status.
  virtual Status ReopenRun(const std::string& id) = 0;
  virtual Result<RunRecord> GetRun(const std::string& id) = 0;
  // Ids of the runs whose id starts with `prefix` (4..32 lower-case hex digits) or whose name is
  // `name`, at most `limit`.
  virtual Result<std::vector<std::string>> FindRuns(const std::string& prefix,
                                                    const std::string& name, int64_t limit) = 0;
  // The run's curves; `key` "" = all.
  virtual Result<std::vector<Curve>> GetCurves(const std::string& id, const std::string& key) = 0;
  // InvalidArgument for a bad filter or ordering (with the position).
  virtual Result<std::vector<RunRecord>> SearchRuns(const RunQuery& query) = 0;
  // Removes the run, its metrics and curves; FailedPrecondition while a model version uses it.
  virtual Status DeleteRun(const std::string& id) = 0;

  // --- model registry ---
  // Registers version latest+1 of `mv.name` for run `mv.run_id` (whose artifact it takes);
  // NotFound for an unknown run, FailedPrecondition if the run has no artifact.
  virtual Result<ModelVersion> RegisterModel(const ModelVersion& mv) = 0;
  virtual Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) = 0;
  virtual Result<std::vector<ModelVersion>> ListModelVersions(const std::string& name) = 0;
  virtual Result<std::vector<ModelSummary>> ListModels() = 0;
  // Points `alias` of `name` at `version` (0 removes it) and records the move. If
  // `expected_current` is set, the alias must currently point there (0 = unset), else
  // FailedPrecondition:
  // a compare-and-set for gates and rollbacks racing with another writer.
  virtual Result<AliasEvent> SetAlias(const std::string& name, const std::string& alias,
                                      int64_t version, const std::string& actor,
                                      const std::string& reason,
                                      std::optional<int64_t> expected_current) = 0;
  // The version `alias` points to; NotFound if unset.
  virtual Result<int64_t> ResolveAlias(const std::string& name, const std::string& alias) = 0;
  // Every alias move of `name`, oldest first.
  virtual Result<std::vector<AliasEvent>> AliasHistory(const std::string& name) = 0;
  // The sequence number of the newest alias move of any model: a cheap poll for "did an alias
  // change since I last looked" (the server's hot reload).
  virtual Result<int64_t> LastAliasChange() = 0;
  virtual Result<GateReport> StoreGateReport(const GateReport& report) = 0;
  virtual Result<std::vector<GateReport>> GateReports(const std::string& name) = 0;

  // --- alerts ---
  // Appends an alert event (assigns its id).
  virtual Result<AlertEventRecord> RecordAlertEvent(const AlertEventRecord& event) = 0;
  // The newest `limit` events, oldest first.
  virtual Result<std::vector<AlertEventRecord>> AlertEvents(int64_t limit) = 0;

  // --- dataset validations (train.require_validated) ---
  // Records a check of a live dataset version (assigns id and time; audited).
  virtual Result<ValidationRecord> RecordValidation(const ValidationRecord& v) = 0;
  // Its checks, oldest first.
  virtual Result<std::vector<ValidationRecord>> Validations(const std::string& name,
                                                            int64_t version) = 0;

  // --- API tokens (auth/token.h) ---
  // Stores a new token (assigns its id). AlreadyExists if a token of that name is not revoked,
  // or the hash is taken.
  virtual Result<auth::TokenRecord> CreateToken(const auth::TokenRecord& token) = 0;
  // Every token, revoked ones included, oldest first.
  virtual Result<std::vector<auth::TokenRecord>> ListTokens() = 0;
  // Revokes the unrevoked token `name` at `at_ms`; NotFound if there is none.
  virtual Result<auth::TokenRecord> RevokeToken(const std::string& name, int64_t at_ms) = 0;
  // Records when tokens (by hash) were last used; unknown hashes are ignored.
  virtual Status TouchTokens(const std::vector<std::pair<std::string, int64_t>>& last_used) = 0;

  // --- audit log (auth/audit.h; actors from registry/audit.h) ---
  // Every change above is recorded in its own transaction; this records one made elsewhere (a
  // model loaded by a server, data collected by gc).
  virtual Status AppendAudit(const std::string& action, const std::string& target,
                             const std::string& outcome, const std::string& detail) = 0;
  // The newest `limit` records at or after `since_ms` (of `actor` when not empty), oldest first.
  virtual Result<std::vector<auth::AuditRecord>> AuditLog(int64_t since_ms,
                                                          const std::string& actor,
                                                          int64_t limit) = 0;
  virtual Result<std::vector<auth::AuditCheckpoint>> AuditCheckpoints() = 0;
};

// A new run id: 32 random lower-case hex digits.
std::string NewRunId();
// True if `id` looks like a run id (so it can be shown in errors and used as a key safely).
bool IsRunId(std::string_view id);

// A run reference as people type it: a full run id, a unique prefix of one (at least 4 hex
// digits), or a unique run name. NotFound when nothing matches, InvalidArgument naming the
// candidates when several do.
Result<std::string> ResolveRunRef(CatalogStore& c, const std::string& ref);

// A registered-model reference: "churn@production" or "churn:3" -> (name, version); a bare
// name -> (name, 0). NotFound for an alias that is not set, InvalidArgument for a bad number.
Result<std::pair<std::string, int64_t>> ResolveModelRef(CatalogStore& c, const std::string& ref);

// Moves `alias` of model `name` back to the version it pointed to before its current one
// (recorded with `reason`, "rollback" when empty). FailedPrecondition when there is none; a
// concurrent move in between is refused by SetAlias's expected-version check.
Result<AliasEvent> RollbackAlias(CatalogStore& c, const std::string& name, const std::string& alias,
                                 const std::string& actor, const std::string& reason);

}  // namespace kiln::registry
