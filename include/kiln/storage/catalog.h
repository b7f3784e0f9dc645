// DatasetCatalog: where dataset versions are recorded. storage defines the interface; the
// registry subsystem implements it (SQLite in the kiln home, PostgreSQL at scale), so that
// storage stays free of SQL (docs/design/architecture.md §3).
//
// A version exists exactly when its record is in the catalog; the record is written in one
// transaction after every object it references is durable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::storage {

struct VersionRecord {
  std::string name;
  int64_t version = 0;
  std::string manifest;  // object name of the manifest blob
  std::string content_hash;
  int64_t rows = 0;
  int64_t parent = 0;
  std::string message;
  int64_t created_at_ms = 0;
};

class DatasetCatalog {
 public:
  virtual ~DatasetCatalog() = default;
  // Records a new version of record.name, numbered one past the highest version ever used for
  // that name (numbers are never reused), and returns the stored record.
  virtual Result<VersionRecord> CommitVersion(const VersionRecord& record) = 0;
  // version 0 = the newest live version. NotFound if none.
  virtual Result<VersionRecord> GetVersion(const std::string& name, int64_t version) = 0;
  // Live versions of `name`, oldest first.
  virtual Result<std::vector<VersionRecord>> ListVersions(const std::string& name) = 0;
  // The newest live version of every dataset, by name.
  virtual Result<std::vector<VersionRecord>> ListDatasets() = 0;
  // NotFound if the version does not exist or is already deleted.
  virtual Status DeleteVersion(const std::string& name, int64_t version) = 0;
  // Manifest object names of all live versions (the GC roots).
  virtual Result<std::vector<std::string>> LiveManifests() = 0;
  // Other objects the catalog references (model artifacts of runs and model versions): GC keeps
  // them beside the manifests and their chunks.
  virtual Result<std::vector<std::string>> LiveArtifacts() = 0;
};

}  // namespace kiln::storage
