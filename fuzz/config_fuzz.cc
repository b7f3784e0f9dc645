// schema.yaml / rules.yaml parsers on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/ingest/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kiln::Limits limits;
  limits.max_config_nodes = 10000;
  (void)kiln::ingest::ParseSchemaYaml(text, limits);
  (void)kiln::ingest::ParseRulesYaml(text, limits);
  return 0;
}
