#include "kiln/registry/catalog_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <random>

#include <fmt/format.h>

namespace kiln::registry {

std::string_view RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kFinished:
      return "finished";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kKilled:
      return "killed";
  }
  return "unknown";
}

Result<RunStatus> ParseRunStatus(std::string_view text) {
  for (RunStatus s :
       {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed, RunStatus::kKilled}) {
    if (RunStatusName(s) == text) return s;
  }
  return InvalidArgumentError(fmt::format("unknown run status '{}'", text.substr(0, 32)));
}

std::string NewRunId() {
  unsigned char bytes[16];
  bool ok = false;
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ok = ::read(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
    ::close(fd);
  }
  if (!ok) {
    std::random_device rd;
    for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  }
  std::string id;
  for (unsigned char b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

bool IsRunId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace kiln::registry
