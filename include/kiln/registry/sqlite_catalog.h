// SqliteCatalog: the embedded catalog in `<home>/meta.db` (SQLite, WAL, synchronous=FULL) with
// versioned schema migrations. Implements storage::DatasetCatalog; later issues add runs,
// models and jobs to the same database.
//
// Concurrency: several processes may open the same meta.db; writes take SQLite's write lock
// (BEGIN IMMEDIATE) and wait up to `busy_timeout_ms` for it; readers never block writers (WAL).
// Thread-safety: one connection per instance, serialized by an internal mutex.
#pragma once

#include <memory>
#include <string>

#include "kiln/base/mutex.h"
#include "kiln/storage/catalog.h"

namespace kiln::registry {

class SqliteCatalog final : public storage::DatasetCatalog {
 public:
  struct Options {
    int busy_timeout_ms = 30000;
  };
  static Result<std::unique_ptr<SqliteCatalog>> Open(const std::string& path, Options options);
  ~SqliteCatalog() override;

  Result<storage::VersionRecord> CommitVersion(const storage::VersionRecord& record) override;
  Result<storage::VersionRecord> GetVersion(const std::string& name, int64_t version) override;
  Result<std::vector<storage::VersionRecord>> ListVersions(const std::string& name) override;
  Result<std::vector<storage::VersionRecord>> ListDatasets() override;
  Status DeleteVersion(const std::string& name, int64_t version) override;
  Result<std::vector<std::string>> LiveManifests() override;

  // The schema version the database is at (after migrations).
  Result<int64_t> SchemaVersion();

 private:
  struct Db;
  explicit SqliteCatalog(std::unique_ptr<Db> db);
  Status Migrate();

  Mutex mu_;
  std::unique_ptr<Db> db_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::registry
