// KilnHome: opens the kiln home directory (`--home` / KILN_HOME / ./kiln-home) and wires the
// file system, the SQLite catalog and the dataset store together.
#pragma once

#include <memory>
#include <string>

#include "kiln/base/file_system.h"
#include "kiln/registry/sqlite_catalog.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::app {

class KilnHome {
 public:
  static Result<std::unique_ptr<KilnHome>> Open(const std::string& path);
  // The home directory chosen by flag, then KILN_HOME, then ./kiln-home.
  static std::string Resolve(const std::string& flag);

  FileSystem& fs() { return *fs_; }
  storage::DatasetStore& datasets() { return *store_; }
  registry::CatalogStore& catalog() { return *catalog_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<registry::SqliteCatalog> catalog_;
  std::unique_ptr<storage::DatasetStore> store_;
};

}  // namespace kiln::app
