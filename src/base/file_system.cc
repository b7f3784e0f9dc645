#include "kiln/base/file_system.h"

#include <atomic>
#include <random>

#include <fmt/format.h>

namespace kiln {

std::string DirName(std::string_view path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return fmt::format("{}{}", a, b);
  return fmt::format("{}/{}", a, b);
}

namespace {
constexpr std::string_view kTempMarker = ".tmp-";

std::string TempSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}{:x}-{:x}", kTempMarker, rng(), counter.fetch_add(1));
}
}  // namespace

bool IsTempFileName(std::string_view name) {
  return name.find(kTempMarker) != std::string_view::npos;
}

Status AtomicWriteFile(FileSystem& fs, const std::string& path, std::string_view data) {
  const std::string tmp = path + TempSuffix();
  auto write = [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile(tmp));
    KILN_RETURN_IF_ERROR(file->Append(data));
    KILN_RETURN_IF_ERROR(file->Sync());
    KILN_RETURN_IF_ERROR(file->Close());
    KILN_RETURN_IF_ERROR(fs.Rename(tmp, path));
    return fs.SyncDir(DirName(path));
  };
  Status s = write();
  if (!s.ok()) fs.Remove(tmp).IgnoreError();  // best effort; GC also removes temp files
  return s;
}

}  // namespace kiln
