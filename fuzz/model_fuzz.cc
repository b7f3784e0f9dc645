// Model file decoder and XGBoost JSON importer on arbitrary bytes. The model's checksum gate is
// re-sealed so the fuzzer reaches the metadata and node parsing behind it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/base/hash.h"
#include "kiln/model/model_io.h"
#include "kiln/model/xgboost_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)kiln::model::DecodeModel(bytes, "fuzz");
  (void)kiln::model::ImportXgboostJson(bytes, "fuzz");
  std::string sealed = std::string(kiln::model::kModelMagic) + bytes;
  kiln::PutFixed64(&sealed, kiln::Xxh3_64(sealed));
  (void)kiln::model::DecodeModel(sealed, "fuzz");
  return 0;
}
