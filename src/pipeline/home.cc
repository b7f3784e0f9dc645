#include "kiln/pipeline/home.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/registry/sql_catalog.h"

namespace kiln::pipeline {

namespace {

constexpr uint64_t kMaxConfigBytes = 1 << 20;

// The text of <home>/kiln.yaml; empty when there is none.
Result<std::string> ReadConfigText(FileSystem& fs, const std::string& home) {
  const std::string path = JoinPath(home, "kiln.yaml");
  KILN_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (!exists) return std::string();
  return fs.ReadFile(path, kMaxConfigBytes);
}

// The URL for messages: the password (user:PASSWORD@) replaced by ***.
std::string MaskPassword(std::string url) {
  // postgresql://user:SECRET@host/db
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    const size_t colon = url.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) {
      url = url.substr(0, colon + 1) + "***" + url.substr(at);
    }
  }
  // ...?password=SECRET&sslmode=...
  for (size_t p = url.find("password="); p != std::string::npos; p = url.find("password=", p + 1)) {
    const size_t value = p + 9;
    const size_t end = url.find('&', value);
    url = url.substr(0, value) + "***" + (end == std::string::npos ? "" : url.substr(end));
  }
  return url;
}

}  // namespace

std::string Home::Resolve(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("KILN_HOME"); env != nullptr && *env != '\0') return env;
  return "./kiln-home";
}

Result<std::unique_ptr<Home>> Home::Open(const std::string& path) {
  auto home = std::make_unique<Home>();
  home->path_ = path;
  home->fs_ = NewPosixFileSystem();
  KILN_ASSIGN_OR_RETURN(const bool existed, home->fs_->Exists(path));
  KILN_RETURN_IF_ERROR(home->fs_->CreateDirs(path).WithContext("kiln home"));
  // A new home is its owner's alone: its catalog holds token hashes, its objects the data.
  if (!existed && ::chmod(path.c_str(), 0700) != 0) {
    return ErrnoToStatus(errno, fmt::format("chmod 0700 {}", path));
  }
  KILN_ASSIGN_OR_RETURN(std::string text, ReadConfigText(*home->fs_, path));
  KILN_ASSIGN_OR_RETURN(home->config_, ParseConfig(text));
  const std::string& catalog = home->config_.catalog;
  if (catalog == "sqlite") {
    KILN_ASSIGN_OR_RETURN(home->catalog_,
                          registry::SqlCatalog::OpenSqlite(JoinPath(path, "meta.db")));
  } else if (registry::SqlCatalog::IsPostgresUrl(catalog)) {
    auto pg = registry::SqlCatalog::OpenPostgres(catalog);
    if (!pg.ok()) return pg.status().WithContext(MaskPassword(catalog));
    home->catalog_ = std::move(*pg);
  } else {
    return InvalidArgumentError(
        fmt::format("kiln.yaml: catalog must be 'sqlite' or a postgresql:// URL, not '{}'",
                    Printable(MaskPassword(catalog))));
  }
  home->store_ = std::make_unique<storage::DatasetStore>(
      home->fs_.get(), path, home->catalog_.get(), storage::DatasetStore::Options{});
  KILN_RETURN_IF_ERROR(home->store_->Init());
  return home;
}

}  // namespace kiln::pipeline
