#include "kiln/base/numbers.h"

#include <charconv>

#include <fmt/format.h>

#include "kiln/base/names.h"

namespace kiln {

namespace {

template <typename T>
Result<T> Parse(std::string_view text, std::string_view what, T min, T max, int base = 10) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec == std::errc::invalid_argument || p != text.data() + text.size()) {
    return InvalidArgumentError(
        fmt::format("{} must be a whole number, not '{}'", what, Printable(text)));
  }
  const bool negative = text.front() == '-';
  if (ec == std::errc::result_out_of_range ? negative : v < min) {
    return InvalidArgumentError(fmt::format("{} must be at least {}", what, min));
  }
  if (ec == std::errc::result_out_of_range || v > max) {
    return InvalidArgumentError(fmt::format("{} must be at most {}", what, max));
  }
  return v;
}

}  // namespace

Result<int64_t> ParseInteger(std::string_view text, std::string_view what, int64_t min,
                             int64_t max) {
  return Parse<int64_t>(text, what, min, max);
}

Result<uint64_t> ParseUnsigned(std::string_view text, std::string_view what, uint64_t max) {
  return Parse<uint64_t>(text, what, 0, max);
}

Result<uint64_t> ParseHex64(std::string_view text, std::string_view what) {
  if (text.size() > 16) {
    return InvalidArgumentError(
        fmt::format("{} must be at most 16 hex digits, not '{}'", what, Printable(text)));
  }
  return Parse<uint64_t>(text, what, 0, UINT64_MAX, 16);
}

Result<int64_t> ParseDuration(std::string_view text, std::string_view what, int64_t min_ms,
                              int64_t max_ms) {
  struct Unit {
    std::string_view suffix;
    int64_t ms;
  };
  constexpr Unit kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  for (const Unit& u : kUnits) {
    if (!text.ends_with(u.suffix)) continue;
    const std::string_view digits = text.substr(0, text.size() - u.suffix.size());
    auto n = ParseInteger(digits, what, 0, max_ms / u.ms);
    if (!n.ok()) break;
    const int64_t ms = *n * u.ms;
    if (ms < min_ms || ms > max_ms) {
      return InvalidArgumentError(fmt::format("{} must be between {} ms and {} ms, not '{}'", what,
                                              min_ms, max_ms, Printable(text)));
    }
    return ms;
  }
  return InvalidArgumentError(fmt::format(
      "{}: expected a whole number and a unit (ms, s, m, h, d) like 30s or 10m, not '{}'", what,
      Printable(text)));
}

Result<double> ParseDouble(std::string_view text, std::string_view what) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
    return InvalidArgumentError(
        fmt::format("{} must be a finite number, not '{}'", what, Printable(text)));
  }
  return v;
}

}  // namespace kiln
