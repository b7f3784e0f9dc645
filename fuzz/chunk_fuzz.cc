// Column chunk decoder on arbitrary bytes, for every column type. Each input is tried as is and
// re-sealed with a valid trailer checksum, so the fuzzer reaches the checks behind it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/base/hash.h"
#include "kiln/storage/chunk_codec.h"

namespace {

void DecodeAll(const std::string& blob) {
  kiln::Limits limits;
  limits.max_chunk_bytes = 1 << 24;
  for (uint8_t t = 1; t <= 7; ++t) {
    for (uint64_t rows : {0ull, 1ull, 8ull, 100ull}) {
      kiln::storage::ChunkExpectation e{static_cast<kiln::data::DataType>(t), rows, 3};
      (void)kiln::storage::DecodeChunk(blob, e, "fuzz", limits);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string blob(reinterpret_cast<const char*>(data), size);
  DecodeAll(blob);
  std::string sealed = std::string(kiln::storage::kChunkMagic) + blob;
  kiln::PutFixed64(&sealed, kiln::Xxh3_64(sealed));
  DecodeAll(sealed);
  return 0;
}
