// UTF-8 validation, shared by every reader of untrusted text and every writer of JSON, and small
// text helpers.
#pragma once

#include <string>
#include <string_view>

namespace kiln {

// True if `s` is well-formed UTF-8: no stray continuation bytes, truncated or overlong
// sequences, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view s);

// A JSON string literal (quotes included) for `s`, with control characters escaped and, when
// `s` is not well-formed UTF-8, every non-ASCII byte replaced by U+FFFD — any text can be
// embedded in a response or a log line.
std::string JsonQuote(std::string_view s);

// `s` with ASCII letters in lower case (other bytes as they are): HTTP field names, keywords,
// file extensions.
std::string AsciiLower(std::string_view s);

}  // namespace kiln
