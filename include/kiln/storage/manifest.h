// Dataset version manifest (docs/formats/dataset.md, "Manifest"): everything needed to read a
// version — schema, dictionaries, row groups with chunk references and checksums, profiles,
// lineage. Stored as a content-addressed blob: binary envelope + JSON body + XXH3 trailer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/data/profile.h"

namespace kiln::storage {

inline constexpr std::string_view kManifestMagic = "KILNMAN1";
inline constexpr uint32_t kManifestFormatVersion = 1;

struct ChunkRef {
  std::string hash;   // SHA-256 object name
  uint64_t xxh3 = 0;  // trailer checksum of the chunk blob
  uint64_t bytes = 0;
};

struct RowGroup {
  uint64_t rows = 0;
  std::vector<ChunkRef> chunks;  // one per column, in schema order
};

struct SourceInfo {
  std::string file;  // base name only
  std::string sha256;
  uint64_t bytes = 0;
  std::string format;  // "csv", "jsonl"
};

struct Manifest {
  std::string name;
  int64_t parent = 0;      // version this one derives from (0 = none)
  std::string created_at;  // ISO 8601 UTC
  std::string message;
  SourceInfo source;
  uint64_t rows = 0;
  data::Schema schema;
  std::vector<data::Dictionary> dictionaries;  // per column; empty unless categorical
  std::vector<RowGroup> row_groups;
  std::vector<data::ColumnProfile> profiles;  // per column
  std::string content_hash;                   // ComputeContentHash()
};

// SHA-256 over the schema, dictionaries and chunk names: equal data gives equal hashes,
// whatever the message, time or source file name.
std::string ComputeContentHash(const Manifest& m);

std::string EncodeManifest(const Manifest& m);
// Validates structure and checksums; DataLoss naming `object` on any inconsistency.
Result<Manifest> DecodeManifest(std::string_view blob, std::string_view object,
                                const Limits& limits);

// JSON form of a profile (shared by the manifest and `--json` outputs).
std::string ProfileToJson(const data::ColumnProfile& p);

}  // namespace kiln::storage
