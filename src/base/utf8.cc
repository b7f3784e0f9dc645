#include "kiln/base/utf8.h"

#include <fmt/format.h>

#include <cstdint>

namespace kiln {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if ((*p & 0xE0) == 0xC0)
      len = 2, cp = *p & 0x1F;
    else if ((*p & 0xF0) == 0xE0)
      len = 3, cp = *p & 0x0F;
    else if ((*p & 0xF8) == 0xF0)
      len = 4, cp = *p & 0x07;
    else
      return false;
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

std::string JsonQuote(std::string_view s) {
  const bool valid = IsValidUtf8(s);
  std::string out = "\"";
  out.reserve(s.size() + 2);
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Text that is not well-formed UTF-8 keeps its ASCII; every other byte becomes U+FFFD.
      if (valid) {
        out += static_cast<char>(c);
      } else {
        out += "\\ufffd";
      }
      ++i;
    }
  }
  out += '"';
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace kiln
