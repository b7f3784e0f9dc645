#include "kiln/monitor/access_log.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "kiln/base/utf8.h"

namespace kiln::monitor {
Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path, double sample) {
  if (!(sample >= 0 && sample <= 1)) {
    return InvalidArgumentError("access log sample must be between 0 and 1");
  }
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(stderr, false, sample));
  FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) {
    return UnavailableError(
        fmt::format("cannot open access log {}: {}", path, std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(f, true, sample));
}

AccessLog::~AccessLog() {
  if (owned_) std::fclose(out_);
}

bool AccessLog::Sampled() {
  if (sample_ >= 1) return true;
  if (sample_ <= 0) return false;
  // Every 1/sample-th request, spread by a counter (no shared random state).
  const uint64_t n = seen_.fetch_add(1, std::memory_order_relaxed);
  const double period = std::round(1.0 / sample_);
  if (period >= 1e18) return false;
  return period <= 1 || n % static_cast<uint64_t>(period) == 0;
}

void AccessLog::Log(const Entry& e) {
  if (e.ok && !Sampled()) return;
  const std::string id = e.request_id.empty() ? RequestId("") : std::string(e.request_id);
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  const std::string line = fmt::format(
      R"({{"ts":"{}.{:03}Z","request_id":{},"protocol":{},"route":{},"model":{},"version":{},)"
      R"("status":{},"duration_us":{}}})"
      "\n",
      ts, ms, JsonQuote(id), JsonQuote(e.protocol), JsonQuote(e.route), JsonQuote(e.model),
      JsonQuote(e.version), JsonQuote(e.status), e.duration_us);
  MutexLock lock(&mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

std::string AccessLog::RequestId(std::string_view client) {
  const bool valid = !client.empty() && client.size() <= 64 &&
                     client.find_first_not_of(
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789._-") == std::string_view::npos;
  if (valid) return std::string(client);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace kiln::monitor
