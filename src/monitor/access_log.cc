#include "kiln/monitor/access_log.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>

#include <fmt/format.h>

namespace kiln::monitor {
namespace {

// A JSON string for text that may come from a client: quotes, backslashes and controls escaped;
// bytes over 0x7f replaced (ids and labels are ASCII anyway).
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u > 0x7e) {
      out += fmt::format("\\u{:04x}", u < 0x20 ? u : 0xfffd);
    } else {
      out += c;
    }
  }
  return out + '"';
}

}  // namespace

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
      ts, ms, Quote(e.request_id), Quote(e.protocol), Quote(e.route), Quote(e.model),
      Quote(e.version), Quote(e.status), e.duration_us);
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
