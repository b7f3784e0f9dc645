#include "kiln/base/names.h"

#include <algorithm>
#include <cstdint>

#include <charconv>
#include <string>

#include <fmt/format.h>

#include "kiln/base/numbers.h"

namespace kiln {
namespace {

bool IsAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

Status ValidateName(std::string_view name, std::string_view kind, const Limits& limits) {
  if (name.empty()) return InvalidArgumentError(fmt::format("{} must not be empty", kind));
  if (name.size() > limits.max_name_bytes) {
    return InvalidArgumentError(fmt::format("{} '{}' is longer than {} bytes", kind,
                                            Printable(name), limits.max_name_bytes));
  }
  if (!IsAlnum(static_cast<unsigned char>(name[0]))) {
    return InvalidArgumentError(
        fmt::format("{} '{}' must start with a letter or digit", kind, Printable(name)));
  }
  for (unsigned char c : name) {
    if (!IsAlnum(c) && c != '_' && c != '-' && c != '.') {
      return InvalidArgumentError(fmt::format(
          "{} '{}' may only contain letters, digits, '_', '-' and '.'", kind, Printable(name)));
    }
  }
  if (name.find("..") != std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("{} '{}' must not contain '..'", kind, Printable(name)));
  }
  return Status::Ok();
}

std::string ClosestWord(std::string_view word, const std::vector<std::string_view>& candidates) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (word.size() > 64) return "";
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view c : candidates) {
    // Edit distance with adjacent transpositions (optimal string alignment), by rows.
    std::vector<std::vector<size_t>> d(word.size() + 1, std::vector<size_t>(c.size() + 1));
    for (size_t i = 0; i <= word.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      for (size_t j = 1; j <= c.size(); ++j) {
        const bool same = lower(word[i - 1]) == lower(c[j - 1]);
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1)});
        if (i > 1 && j > 1 && lower(word[i - 1]) == lower(c[j - 2]) &&
            lower(word[i - 2]) == lower(c[j - 1])) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    if (d[word.size()][c.size()] < best_distance) {
      best_distance = d[word.size()][c.size()];
      best = c;
    }
  }
  if (best.empty() || best_distance * 3 > std::max(word.size(), best.size())) return "";
  return std::string(best);
}

Result<DatasetRef> ParseDatasetRef(std::string_view text) {
  DatasetRef ref;
  size_t at = text.find('@');
  ref.name = text.substr(0, at);
  KILN_RETURN_IF_ERROR(ValidateName(ref.name, "dataset name"));
  if (at == std::string_view::npos) return ref;
  std::string_view v = text.substr(at + 1);
  if (!v.empty() && v[0] == 'v') v.remove_prefix(1);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 1) {
    return InvalidArgumentError(
        fmt::format("bad dataset version in '{}': expected NAME@vN with N >= 1", Printable(text)));
  }
  ref.version = n;
  return ref;
}

std::optional<DatasetRef> AsDatasetRef(std::string_view text) {
  if (text.find_first_of("/.") != std::string_view::npos) return std::nullopt;
  auto ref = ParseDatasetRef(text);
  if (!ref.ok()) return std::nullopt;
  return *ref;
}

Result<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view what, uint16_t default_port,
                             bool scheme_optional) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(
        fmt::format("{} '{}': {} (expected http://HOST[:PORT][/PATH])", what, Printable(url), why));
  };
  std::string_view rest = url;
  if (rest.starts_with("https://")) return bad("TLS is not supported here; use http://");
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (!scheme_optional) {
    return bad("not an http:// URL");
  }
  HttpUrl out;
  out.port = default_port;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    out.path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  for (char c : out.path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '#' || static_cast<unsigned char>(c) >= 127) {
      return bad("bad path");
    }
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    auto port = ParseInteger(rest.substr(colon + 1), "port", 1, 65535);
    if (!port.ok()) return bad("bad port");
    out.port = static_cast<uint16_t>(*port);
    rest = rest.substr(0, colon);
  }
  if (rest.empty() || rest.size() > 253 ||
      rest.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") !=
          std::string_view::npos) {
    return bad("bad host");
  }
  out.host = std::string(rest);
  return out;
}

}  // namespace kiln
