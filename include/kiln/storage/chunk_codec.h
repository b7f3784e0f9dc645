// Column chunk encoding (docs/formats/dataset.md, "Column chunk"): a fixed header, a
// zstd-compressed payload (validity bitmap + typed values) and an XXH3 checksum of everything
// before it. DecodeChunk treats its input as untrusted: every size is checked against the header,
// the limits and the caller's expectations before anything is allocated.
#pragma once

#include <string>
#include <string_view>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/data/column.h"

namespace kiln::storage {

inline constexpr std::string_view kChunkMagic = "KILNCHK1";
inline constexpr uint32_t kChunkFormatVersion = 1;

// Encodes a column (dictionary not included: it lives in the manifest).
Result<std::string> EncodeChunk(const data::Column& column, int zstd_level);

struct ChunkExpectation {
  data::DataType type;
  uint64_t rows;
  uint64_t dictionary_size = 0;  // categorical codes must be below this
};

// Decodes and validates a chunk; DataLoss naming `object` on any inconsistency.
Result<data::Column> DecodeChunk(std::string_view blob, const ChunkExpectation& expect,
                                 std::string_view object, const Limits& limits);

// The XXH3 recorded at the end of a chunk or manifest blob (for cross-checks).
uint64_t TrailerChecksum(std::string_view blob);

}  // namespace kiln::storage
