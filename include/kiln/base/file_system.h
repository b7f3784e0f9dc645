// FileSystem: the seam through which kiln's storage touches disk, so tests can inject faults.
//
// Implementations: NewPosixFileSystem() (the real one), MemFileSystem (in memory, models what a
// power loss keeps), FaultInjectingFileSystem (wraps another and fails the N-th operation).
// Paths are plain strings; callers validate names before building paths (base/names.h).
// Thread-safety: all implementations are thread-safe; a single file object is not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (short writes and EINTR are retried internally).
  virtual Status Append(std::string_view data) = 0;
  // Flushes file data to stable storage (fsync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to `n` bytes into `buf`; returns the count, 0 at end of file.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // Repositions to `offset` bytes from the start.
  virtual Status Seek(uint64_t offset) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates or truncates `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  // Reads a whole file; ResourceExhausted if it is larger than `max_bytes`.
  virtual Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual Result<bool> Exists(const std::string& path) = 0;
  // Names (not paths) of the entries in a directory, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Creates a directory and its missing parents; OK if it exists.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Makes a directory's entries (creations, renames, removals) durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Seconds since the epoch of the last modification (for GC grace periods).
  virtual Result<int64_t> ModifiedTime(const std::string& path) = 0;
};

std::unique_ptr<FileSystem> NewPosixFileSystem();

// "a/b/c" -> "a/b"; "c" -> ".".
std::string DirName(std::string_view path);
std::string JoinPath(std::string_view a, std::string_view b);

// Writes `data` to `path` atomically and durably: tmp file + fsync + rename + fsync dir.
// A crash leaves either the old file (or none) or the complete new one, plus perhaps a
// "*.tmp-*" file that RemoveTempFiles() cleans.
Status AtomicWriteFile(FileSystem& fs, const std::string& path, std::string_view data);

// AtomicWriteFile for data written piece by piece: appended to a temporary file next to `path`
// that Commit() syncs and renames over `path` (then syncs the directory). Destroyed without a
// successful Commit, the temporary file is removed and `path` is untouched.
class AtomicFileWriter {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> Open(FileSystem& fs, std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status Append(std::string_view data) { return file_->Append(data); }
  Status Commit();

 private:
  AtomicFileWriter(FileSystem& fs, std::string path, std::string tmp,
                   std::unique_ptr<WritableFile> file)
      : fs_(fs), path_(std::move(path)), tmp_(std::move(tmp)), file_(std::move(file)) {}
  FileSystem& fs_;
  std::string path_, tmp_;
  std::unique_ptr<WritableFile> file_;
  bool committed_ = false;
};

// True for names AtomicWriteFile uses for its temporary files.
bool IsTempFileName(std::string_view name);

}  // namespace kiln
