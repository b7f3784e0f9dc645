#include "kiln/pipeline/home.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "kiln/auth/audit.h"
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

constexpr uint64_t kAuditKeyFileBytes = 64;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// <home>/keys/audit.key: 64 hex digits, made with a new random key when missing (the directory
// 0700, the file 0600, written atomically).
Result<std::string> AuditKey(FileSystem& fs, const std::string& home) {
  const std::string dir = JoinPath(home, "keys");
  const std::string path = JoinPath(dir, "audit.key");
  KILN_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (!exists) {
    KILN_ASSIGN_OR_RETURN(std::string key, auth::NewAuditKey());
    std::string hex;
    for (unsigned char c : key) hex += fmt::format("{:02x}", c);
    KILN_RETURN_IF_ERROR(fs.CreateDirs(dir));
    if (::chmod(dir.c_str(), 0700) != 0) return ErrnoToStatus(errno, "chmod 0700 " + dir);
    // Written under a private name, then linked into place: of two processes making the key at
    // once, the first link wins and both read that one.
    hex += '\n';
    const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoToStatus(errno, "create " + tmp);
    const bool written =
        ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) {
      ::unlink(tmp.c_str());
      return ErrnoToStatus(err, "write " + tmp);
    }
    const bool linked = ::link(tmp.c_str(), path.c_str()) == 0 || errno == EEXIST;
    const int link_err = errno;
    ::unlink(tmp.c_str());
    if (!linked) return ErrnoToStatus(link_err, "link " + path);
    KILN_RETURN_IF_ERROR(fs.SyncDir(dir));
  }
  KILN_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path, kAuditKeyFileBytes + 2));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string key;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = HexDigit(text[i]), lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) break;
    key.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (text.size() != kAuditKeyFileBytes || key.size() != 32) {
    return DataLossError(
        fmt::format("{}: expected 64 lower-case hex digits (the audit key)", path));
  }
  return key;
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
  KILN_ASSIGN_OR_RETURN(home->audit_key_, AuditKey(*home->fs_, path));
  const std::string& catalog = home->config_.catalog;
  std::unique_ptr<registry::SqlCatalog> sql;
  if (catalog == "sqlite") {
    KILN_ASSIGN_OR_RETURN(sql, registry::SqlCatalog::OpenSqlite(JoinPath(path, "meta.db")));
  } else if (registry::SqlCatalog::IsPostgresUrl(catalog)) {
    auto pg = registry::SqlCatalog::OpenPostgres(catalog);
    if (!pg.ok()) return pg.status().WithContext(MaskPassword(catalog));
    sql = std::move(*pg);
  } else {
    return InvalidArgumentError(
        fmt::format("kiln.yaml: catalog must be 'sqlite' or a postgresql:// URL, not '{}'",
                    Printable(MaskPassword(catalog))));
  }
  sql->SetAuditKey(home->audit_key_);
  home->catalog_ = std::move(sql);
  home->store_ = std::make_unique<storage::DatasetStore>(
      home->fs_.get(), path, home->catalog_.get(), storage::DatasetStore::Options{});
  KILN_RETURN_IF_ERROR(home->store_->Init());
  return home;
}

}  // namespace kiln::pipeline
