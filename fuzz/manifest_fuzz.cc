// Manifest decoder on arbitrary bytes. The checksum gate is re-sealed so the fuzzer reaches the
// JSON and structure checks behind it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/base/hash.h"
#include "kiln/storage/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  (void)kiln::storage::DecodeManifest(body, "fuzz", kiln::Limits::Default());
  std::string sealed(kiln::storage::kManifestMagic);
  kiln::PutFixed32(&sealed, kiln::storage::kManifestFormatVersion);
  kiln::PutFixed32(&sealed, 0);
  kiln::PutFixed64(&sealed, body.size());
  sealed += body;
  kiln::PutFixed64(&sealed, kiln::Xxh3_64(sealed));
  (void)kiln::storage::DecodeManifest(sealed, "fuzz", kiln::Limits::Default());
  return 0;
}
