// Home: opens the kiln home directory (`--home` / KILN_HOME / ./kiln-home), reads its
// kiln.yaml, and wires the file system, the catalog and the dataset store together.
//
// kiln.yaml (optional):
//   catalog: postgresql://kiln@db.internal:5432/kiln   # default: sqlite (<home>/meta.db)
//   serving: ...                                       # `kiln serve` (app/serve_config.h)
#pragma once

#include <memory>
#include <string>

#include "kiln/base/file_system.h"
#include "kiln/pipeline/config.h"
#include "kiln/registry/catalog_store.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::pipeline {

class Home {
 public:
  static Result<std::unique_ptr<Home>> Open(const std::string& path);
  // The home directory chosen by flag, then KILN_HOME, then ./kiln-home.
  static std::string Resolve(const std::string& flag);

  FileSystem& fs() { return *fs_; }
  storage::DatasetStore& datasets() { return *store_; }
  registry::CatalogStore& catalog() { return *catalog_; }
  const std::string& path() const { return path_; }
  const Config& config() const { return config_; }
  // The key that signs the audit log's checkpoints (raw bytes), from <home>/keys/audit.key
  // (made on first use, mode 0600). Machines sharing one catalog need the same file.
  const std::string& audit_key() const { return audit_key_; }

 private:
  std::string path_;
  Config config_;
  std::string audit_key_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<registry::CatalogStore> catalog_;
  std::unique_ptr<storage::DatasetStore> store_;
};

}  // namespace kiln::pipeline
