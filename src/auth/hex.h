// Lower-case hex of raw bytes, for tokens and MACs (auth's private helper).
#pragma once

#include <cstddef>
#include <string>

namespace kiln::auth {

inline std::string HexLower(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

}  // namespace kiln::auth
