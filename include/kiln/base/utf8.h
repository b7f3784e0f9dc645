// UTF-8 validation, shared by every reader of untrusted text and every writer of JSON.
#pragma once

#include <string_view>

namespace kiln {

// True if `s` is well-formed UTF-8: no stray continuation bytes, truncated or overlong
// sequences, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace kiln
