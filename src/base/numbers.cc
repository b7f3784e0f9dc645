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
