// The one validator for every name kiln accepts (datasets, versions, models, runs, aliases...).
// See docs/design/bad-inputs.md BI-01..BI-11: a valid name can be used as one path component as-is.
//
// Rules: 1..max_name_bytes bytes of [A-Za-z0-9_.-], starting with a letter or digit, not
// containing "..", so no separators, traversal, NUL, control bytes, encodings or look-alike
// Unicode can pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"

namespace kiln {

// `kind` names the thing in the error ("dataset name"). InvalidArgument if not valid.
// `s` for an error message: control and non-ASCII bytes escaped (\xNN), cut after 40 bytes,
// so an error never echoes raw hostile input.
std::string Printable(std::string_view s);

Status ValidateName(std::string_view name, std::string_view kind,
                    const Limits& limits = Limits::Default());

// The candidate closest to `word` by edit distance (case-insensitive), if it is close enough to
// be a likely misspelling (at most a third of its letters differ); "" otherwise. For "did you
// mean" hints in errors.
std::string ClosestWord(std::string_view word, const std::vector<std::string_view>& candidates);

// A dataset reference: "NAME" (newest) or "NAME@vN" / "NAME@N".
struct DatasetRef {
  std::string_view name;
  int64_t version = 0;  // 0 = newest
};
Result<DatasetRef> ParseDatasetRef(std::string_view text);

// The one answer to "dataset reference or file path?" wherever a verb takes either: `text` as a
// dataset reference when it parses as one and holds neither '/' nor '.' (which name a file);
// nullopt for a path.
std::optional<DatasetRef> AsDatasetRef(std::string_view text);

// A plain-HTTP address: `http://HOST[:PORT][/PATH]` (or without `http://` when `scheme_optional`).
// HOST is a name or IPv4 address of [A-Za-z0-9.-]; PORT defaults to `default_port`; PATH to "/".
// InvalidArgument naming `what` for anything else (credentials, https, a query with spaces...).
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
};
Result<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view what, uint16_t default_port,
                             bool scheme_optional = false);

}  // namespace kiln
