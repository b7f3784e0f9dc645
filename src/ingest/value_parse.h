// Private to ingest: parsing of single field values (numbers, booleans) from text, shared by
// type inference and conversion. All functions are pure and never throw.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::ingest {

// `s` without leading and trailing blanks and tabs.
std::string_view Trim(std::string_view s);
// "true" / "false" in any letter case.
bool ParseBool(std::string_view s, bool* v);

enum class NumParse { kOk, kNotNumber, kOverflow };
// Optional surrounding blanks and a leading '+'; overflow is reported, never clamped.
NumParse ParseInt(std::string_view s, int64_t* v);
// Correctly rounded; underflow gives zero or a denormal, overflow is reported.
NumParse ParseDouble(std::string_view s, double* v);
// The exact fast path ParseDouble tries first (exposed for the dense column converter).
bool FastParseDouble(std::string_view s, double* v);

}  // namespace kiln::ingest
