// The one parser for whole numbers from untrusted text (flags, URL segments, query strings,
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

}  // namespace kiln
