// Advisory inter-process file lock (flock). Released when the FileLock is destroyed or the
// process dies (including kill -9), so a crashed writer never wedges the kiln home.
#pragma once

#include <memory>
#include <string>

#include "kiln/base/status.h"

namespace kiln {

enum class LockMode { kShared, kExclusive };

class FileLock {
 public:
  // Blocks until the lock is held. Creates `path` if missing.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path, LockMode mode);
  // Takes the lock only if no other holder conflicts: null when one does. Creates `path` if
  // missing.
  static Result<std::unique_ptr<FileLock>> TryAcquire(const std::string& path, LockMode mode);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace kiln
