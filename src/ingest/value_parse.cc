#include "ingest/value_parse.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace kiln::ingest {

std::string_view Trim(std::string_view s) {
  if (!s.empty() && s.front() != ' ' && s.front() != '\t' && s.back() != ' ' && s.back() != '\t') {
    return s;  // the common case
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseBool(std::string_view s, bool* v) {
  if (s.size() < 4 || s.size() > 5) return false;
  char buf[5];
  for (size_t i = 0; i < s.size(); ++i) buf[i] = static_cast<char>(s[i] | 0x20);
  std::string_view l(buf, s.size());
  if (l == "true") return *v = true, true;
  if (l == "false") return *v = false, true;
  return false;
}

NumParse ParseInt(std::string_view s, int64_t* v) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return NumParse::kNotNumber;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  if (p != s.data() + s.size()) return NumParse::kNotNumber;
  if (ec == std::errc::result_out_of_range) return NumParse::kOverflow;
  return ec == std::errc() ? NumParse::kOk : NumParse::kNotNumber;
}

// Clinger's fast path: a decimal with at most 15 significant digits and a power of ten in
// [1e-22, 1e22] is one correctly rounded multiplication or division of two exact doubles. Most
// CSV floats qualify; everything else (and every malformed input) falls back to from_chars.
bool FastParseDouble(std::string_view s, double* v) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const char* p = s.data();
  const char* end = p + s.size();
  if (p == end) return false;
  const bool neg = *p == '-';  // branch-free: signs are often random
  p += neg;
  uint64_t mantissa = 0;
  int digits = 0, exp10 = 0;
  const char* start = p;
  while (p < end && static_cast<unsigned>(*p - '0') < 10) {
    mantissa = mantissa * 10 + static_cast<unsigned>(*p++ - '0');
    digits += mantissa != 0;
  }
  bool any = p > start;
  if (p < end && *p == '.') {
    ++p;
    const char* frac = p;
    while (p < end && static_cast<unsigned>(*p - '0') < 10) {
      mantissa = mantissa * 10 + static_cast<unsigned>(*p++ - '0');
      digits += mantissa != 0;
    }
    exp10 -= static_cast<int>(p - frac);
    any |= p > frac;
  }
  if (!any || digits > 15) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool eneg = false;
    if (p < end && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    int e = 0;
    const char* estart = p;
    while (p < end && static_cast<unsigned>(*p - '0') < 10 && e < 1000) e = e * 10 + (*p++ - '0');
    if (p == estart) return false;
    exp10 += eneg ? -e : e;
  }
  if (p != end || exp10 < -22 || exp10 > 22) return false;
  double d = static_cast<double>(mantissa);
  d = exp10 < 0 ? d / kPow10[-exp10] : d * kPow10[exp10];
  *v = neg ? -d : d;
  return true;
}

NumParse ParseDouble(std::string_view s, double* v) {
  if (FastParseDouble(s, v)) return NumParse::kOk;
  std::from_chars_result r = std::from_chars(s.data(), s.data() + s.size(), *v);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty()) return NumParse::kOk;
  // Slow path: surrounding blanks, a leading '+', range errors.
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return NumParse::kNotNumber;
  r = std::from_chars(s.data(), s.data() + s.size(), *v);
  if (r.ptr != s.data() + s.size()) return NumParse::kNotNumber;
  if (r.ec == std::errc::result_out_of_range) {
    // Underflow rounds to zero or a denormal; overflow is an error.
    std::string copy(s);
    *v = std::strtod(copy.c_str(), nullptr);
    return std::isinf(*v) ? NumParse::kOverflow : NumParse::kOk;
  }
  return r.ec == std::errc() ? NumParse::kOk : NumParse::kNotNumber;
}

}  // namespace kiln::ingest
