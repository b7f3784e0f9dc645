// SqlCatalog: the CatalogStore on a SQL database, with versioned schema migrations — dataset
// versions, runs and the model registry. Two engines:
//   - SQLite: the embedded default, `<home>/meta.db` (WAL, synchronous=FULL). Several processes
//     may open it; writes take SQLite's write lock (BEGIN IMMEDIATE) and wait up to
//     `busy_timeout_ms` for it; readers never block writers.
//   - PostgreSQL 15 (libpqxx), `catalog: postgresql://user@host:port/db` in kiln.yaml, for
//     teams sharing one catalog. Write transactions take one transaction-scoped advisory lock,
//     so they serialize like SQLite's; reads run concurrently.
// Both run the same statements and pass the same contract test suite.
// Thread-safety: one connection per instance, serialized by an internal mutex.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/mutex.h"
#include "kiln/registry/catalog_store.h"

namespace kiln::registry {

class SqlDb;

struct SqliteOptions {
  int busy_timeout_ms = 30000;
  // false: synchronous=NORMAL (a commit survives a crash of the process, not of the machine);
  // for bulk loads such as benchmarks. The kiln home always uses the durable default.
  bool durable = true;
};

class SqlCatalog final : public CatalogStore {
 public:
  static Result<std::unique_ptr<SqlCatalog>> OpenSqlite(const std::string& path,
                                                        SqliteOptions options = {});
  // `url`: a libpq connection URI, postgresql://[user[:password]@]host[:port]/dbname[?...].
  static Result<std::unique_ptr<SqlCatalog>> OpenPostgres(const std::string& url);
  // True for the URLs OpenPostgres takes (postgresql:// or postgres://).
  static bool IsPostgresUrl(std::string_view url);
  ~SqlCatalog() override;

  Result<storage::VersionRecord> CommitVersion(const storage::VersionRecord& record) override;
  Result<storage::VersionRecord> GetVersion(const std::string& name, int64_t version) override;
  Result<std::vector<storage::VersionRecord>> ListVersions(const std::string& name) override;
  Result<std::vector<storage::VersionRecord>> ListDatasets() override;
  Status DeleteVersion(const std::string& name, int64_t version) override;
  Result<std::vector<std::string>> LiveManifests() override;

  Result<RunRecord> CreateRun(const RunRecord& run) override;
  Status FinishRun(const std::string& id, RunStatus status,
                   const std::map<std::string, double>& metrics, std::span<const Curve> curves,
                   const RunAttributes& attributes) override;
  Status SetRunTags(const std::string& id, const std::map<std::string, std::string>& tags) override;
  Status ReopenRun(const std::string& id) override;
  Result<RunRecord> GetRun(const std::string& id) override;
  Result<std::vector<std::string>> FindRuns(const std::string& prefix, const std::string& name,
                                            int64_t limit) override;
  Result<std::vector<Curve>> GetCurves(const std::string& id, const std::string& key) override;
  Result<std::vector<RunRecord>> SearchRuns(const RunQuery& query) override;
  Status DeleteRun(const std::string& id) override;

  Result<ModelVersion> RegisterModel(const ModelVersion& mv) override;
  Result<ModelVersion> GetModelVersion(const std::string& name, int64_t version) override;
  Result<std::vector<ModelVersion>> ListModelVersions(const std::string& name) override;
  Result<std::vector<ModelSummary>> ListModels() override;
  Result<AliasEvent> SetAlias(const std::string& name, const std::string& alias, int64_t version,
                              const std::string& actor, const std::string& reason,
                              std::optional<int64_t> expected_current) override;
  Result<int64_t> ResolveAlias(const std::string& name, const std::string& alias) override;
  Result<std::vector<AliasEvent>> AliasHistory(const std::string& name) override;
  Result<int64_t> LastAliasChange() override;
  Result<GateReport> StoreGateReport(const GateReport& report) override;
  Result<std::vector<GateReport>> GateReports(const std::string& name) override;
  Result<AlertEventRecord> RecordAlertEvent(const AlertEventRecord& event) override;
  Result<std::vector<AlertEventRecord>> AlertEvents(int64_t limit) override;
  Result<ValidationRecord> RecordValidation(const ValidationRecord& v) override;
  Result<std::vector<ValidationRecord>> Validations(const std::string& name,
                                                    int64_t version) override;
  Result<auth::TokenRecord> CreateToken(const auth::TokenRecord& token) override;
  Result<std::vector<auth::TokenRecord>> ListTokens() override;
  Result<auth::TokenRecord> RevokeToken(const std::string& name, int64_t at_ms) override;
  Status TouchTokens(const std::vector<std::pair<std::string, int64_t>>& last_used) override;
  Result<std::vector<std::string>> LiveArtifacts() override;
  Status AppendAudit(const std::string& action, const std::string& target,
                     const std::string& outcome, const std::string& detail) override;
  Result<std::vector<auth::AuditRecord>> AuditLog(int64_t since_ms, const std::string& actor,
                                                  int64_t limit) override;
  Result<std::vector<auth::AuditCheckpoint>> AuditCheckpoints() override;

  // The key audit checkpoints are signed with (raw bytes; the home's keys/audit.key). Set it
  // before the catalog is shared between threads; without one no checkpoints are written.
  void SetAuditKey(std::string key);

  // The schema version the database is at (after migrations).
  Result<int64_t> SchemaVersion();

 private:
  explicit SqlCatalog(std::unique_ptr<SqlDb> db);
  Status Migrate();
  // Reads the params, metrics and tags of a page of (seq, run) rows in three statements.
  Status LoadRunDetails(std::vector<std::pair<int64_t, RunRecord>>* runs) KILN_REQUIRES(mu_);
  Result<ModelVersion> ReadModelVersion(const std::string& name, int64_t version)
      KILN_REQUIRES(mu_);

  Mutex mu_;
  std::unique_ptr<SqlDb> db_ KILN_GUARDED_BY(mu_);
  std::string audit_key_;  // set before the catalog is shared (SetAuditKey)
};

}  // namespace kiln::registry
