#include "kiln/base/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace kiln {

namespace {

// True if `fd` is still the file at `path` (a holder may remove a lock file before releasing
// it; a lock on the removed file locks nothing anyone else will open).
bool StillAtPath(int fd, const std::string& path) {
  struct stat held {
  }, now{};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
         held.st_dev == now.st_dev;
}

// Opens (creating) `path` and flocks it; with `wait` false, -1 when another holder conflicts.
Result<int> Lock(const std::string& path, LockMode mode, bool wait) {
  while (true) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoToStatus(errno, fmt::format("open lock {}", path));
    const int op = (mode == LockMode::kShared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
    while (::flock(fd, op) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      if (!wait && err == EWOULDBLOCK) return -1;
      return ErrnoToStatus(err, fmt::format("lock {}", path));
    }
    if (StillAtPath(fd, path)) return fd;
    ::close(fd);  // removed while we waited: lock the file that is there now
  }
}

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path, LockMode mode) {
  KILN_ASSIGN_OR_RETURN(int fd, Lock(path, mode, /*wait=*/true));
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

Result<std::unique_ptr<FileLock>> FileLock::TryAcquire(const std::string& path, LockMode mode) {
  KILN_ASSIGN_OR_RETURN(int fd, Lock(path, mode, /*wait=*/false));
  if (fd < 0) return std::unique_ptr<FileLock>();
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() { ::close(fd_); }

}  // namespace kiln
