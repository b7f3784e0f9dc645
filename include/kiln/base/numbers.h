// The one parser for numbers from untrusted text (flags, URL segments, query strings,
// config files, stored tags): std::from_chars over the whole text, no sign unless negative
// numbers are allowed, no spaces, no leading '+', range-checked.
//
//   KILN_ASSIGN_OR_RETURN(int64_t v, ParseInteger(text, "version", 1, INT64_MAX));
#pragma once

#include <cstdint>
#include <string_view>

#include "kiln/base/status.h"

namespace kiln {

// `text` as a number in [min, max]; InvalidArgument naming `what` (and the text, made
// printable) otherwise.
Result<int64_t> ParseInteger(std::string_view text, std::string_view what, int64_t min,
                             int64_t max);
Result<uint64_t> ParseUnsigned(std::string_view text, std::string_view what, uint64_t max);
// 1 to 16 hex digits (either case, no "0x"), as stored checksums are written.
Result<uint64_t> ParseHex64(std::string_view text, std::string_view what);
// A duration with its unit: "250ms", "30s", "10m", "6h", "1d" -> milliseconds, in
// [min_ms, max_ms]. InvalidArgument naming `what` otherwise.
Result<int64_t> ParseDuration(std::string_view text, std::string_view what, int64_t min_ms,
                              int64_t max_ms);
// A decimal or scientific number ("0.5", "-1e-3"; no spaces, no leading '+'; out of range is
// an error). "inf" and "nan" parse as themselves: callers that need a finite value check it.
Result<double> ParseDouble(std::string_view text, std::string_view what);

}  // namespace kiln
