#include "app/home.h"

#include <cstdlib>

namespace kiln::app {

std::string KilnHome::Resolve(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("KILN_HOME"); env != nullptr && *env != '\0') return env;
  return "./kiln-home";
}

Result<std::unique_ptr<KilnHome>> KilnHome::Open(const std::string& path) {
  auto home = std::make_unique<KilnHome>();
  home->path_ = path;
  home->fs_ = NewPosixFileSystem();
  KILN_RETURN_IF_ERROR(home->fs_->CreateDirs(path).WithContext("kiln home"));
  KILN_ASSIGN_OR_RETURN(home->catalog_,
                        registry::SqliteCatalog::Open(JoinPath(path, "meta.db"), {}));
  home->store_ = std::make_unique<storage::DatasetStore>(
      home->fs_.get(), path, home->catalog_.get(), storage::DatasetStore::Options{});
  KILN_RETURN_IF_ERROR(home->store_->Init());
  return home;
}

}  // namespace kiln::app
