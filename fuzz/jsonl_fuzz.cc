#include "table_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::ReadAll(data, size, "/f/in.jsonl");
  return 0;
}
