// Process-wide logging on spdlog. Plain text by default; SetLogFormat(kJson) switches to one
// JSON object per line ({"ts":..., "level":..., "msg":...}) for log shippers.
//
//   KILN_LOG_INFO("ingested {} rows into {}", rows, name);
//
// Logs go to stderr so that command output on stdout stays machine-readable.
// Thread-safety: all functions are thread-safe.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace kiln::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

void SetLevel(Level level);
void SetFormat(Format format);
// Parses "debug|info|warn|error|off"; false if unknown.
bool ParseLevel(std::string_view text, Level* level);
bool Enabled(Level level);
void Write(Level level, std::string_view message);

}  // namespace kiln::log

#define KILN_LOG_AT_(lvl, ...)                                                        \
  do {                                                                                \
    if (::kiln::log::Enabled(lvl)) ::kiln::log::Write(lvl, fmt::format(__VA_ARGS__)); \
  } while (false)
#define KILN_LOG_DEBUG(...) KILN_LOG_AT_(::kiln::log::Level::kDebug, __VA_ARGS__)
#define KILN_LOG_INFO(...) KILN_LOG_AT_(::kiln::log::Level::kInfo, __VA_ARGS__)
#define KILN_LOG_WARN(...) KILN_LOG_AT_(::kiln::log::Level::kWarn, __VA_ARGS__)
#define KILN_LOG_ERROR(...) KILN_LOG_AT_(::kiln::log::Level::kError, __VA_ARGS__)
