#include "kiln/registry/catalog_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/base/numbers.h"

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

Result<std::string> ResolveRunRef(CatalogStore& c, const std::string& ref) {
  if (IsRunId(ref)) return ref;
  if (ref.empty() || ref.size() > 256)
    return InvalidArgumentError("a run id or name is 1..256 bytes");
  KILN_ASSIGN_OR_RETURN(auto ids, c.FindRuns(ref, ref, 6));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty()) {
    return NotFoundError(fmt::format("no run has the id prefix or name '{}'", Printable(ref)));
  }
  if (ids.size() > 1) {
    std::string list;
    for (size_t i = 0; i < std::min<size_t>(ids.size(), 5); ++i) {
      if (i > 0) list += ", ";
      list += ids[i].substr(0, 12);
    }
    return InvalidArgumentError(
        fmt::format("'{}' names {} runs ({}): give more of the id", Printable(ref),
                    ids.size() > 5 ? "more than 5" : std::to_string(ids.size()), list));
  }
  return ids.front();
}

Result<std::pair<std::string, int64_t>> ResolveModelRef(CatalogStore& c, const std::string& ref) {
  const size_t at = ref.find('@'), colon = ref.find(':');
  if (at != std::string::npos) {
    const std::string name = ref.substr(0, at);
    KILN_ASSIGN_OR_RETURN(int64_t v, c.ResolveAlias(name, ref.substr(at + 1)));
    return std::make_pair(name, v);
  }
  if (colon != std::string::npos) {
    auto v = ParseInteger(std::string_view(ref).substr(colon + 1), "model version", 1, INT64_MAX);
    if (!v.ok()) {
      return InvalidArgumentError(
          fmt::format("bad model version in '{}'", Printable(ref.substr(0, 64))));
    }
    return std::make_pair(ref.substr(0, colon), *v);
  }
  return std::make_pair(ref, int64_t{0});
}

Result<AliasEvent> RollbackAlias(CatalogStore& c, const std::string& name, const std::string& alias,
                                 const std::string& actor, const std::string& reason) {
  KILN_ASSIGN_OR_RETURN(int64_t current, c.ResolveAlias(name, alias));
  KILN_ASSIGN_OR_RETURN(auto history, c.AliasHistory(name));
  // The version the alias pointed to before it came to `current`.
  int64_t target = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->alias == alias && it->version == current) {
      target = it->previous;
      break;
    }
  }
  if (target == 0) {
    return FailedPreconditionError(
        fmt::format("{}@{} has no earlier version to roll back to", name, alias));
  }
  return c.SetAlias(name, alias, target, actor, reason.empty() ? "rollback" : reason, current);
}

}  // namespace kiln::registry
