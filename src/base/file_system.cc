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

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(FileSystem& fs, std::string path) {
  std::string tmp = path + TempSuffix();
  KILN_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile(tmp));
  return std::unique_ptr<AtomicFileWriter>(
      new AtomicFileWriter(fs, std::move(path), std::move(tmp), std::move(file)));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (committed_) return;
  if (file_) file_->Close().IgnoreError();
  fs_.Remove(tmp_).IgnoreError();  // best effort; GC also removes temp files
}

Status AtomicFileWriter::Commit() {
  if (!file_) return FailedPreconditionError("the file was committed (or failed to) already");
  KILN_RETURN_IF_ERROR(file_->Sync());
  KILN_RETURN_IF_ERROR(file_->Close());
  file_.reset();
  KILN_RETURN_IF_ERROR(fs_.Rename(tmp_, path_));
  committed_ = true;
  return fs_.SyncDir(DirName(path_));
}

Status AtomicWriteFile(FileSystem& fs, const std::string& path, std::string_view data) {
  KILN_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Open(fs, path));
  KILN_RETURN_IF_ERROR(file->Append(data));
  return file->Commit();
}

}  // namespace kiln
