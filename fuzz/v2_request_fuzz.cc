// The V2 inference request reader on arbitrary bytes, with small limits so the fuzzer reaches
// the element, tensor and depth bounds; whatever parses is written back out as a response.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/serve/v2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::Limits limits;
  limits.max_tensors = 16;
  limits.max_tensor_elements = 4096;
  limits.max_nesting_depth = 32;
  auto req = kiln::serve::ParseInferRequest(
      std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (req.ok()) {
    kiln::serve::InferResponse resp;
    resp.id = req->id;
    resp.parameters = req->parameters;
    for (const auto& t : req->inputs) {
      resp.outputs.push_back({t.name, t.datatype, t.shape, t.numbers, t.strings});
    }
    (void)kiln::serve::WriteInferResponse(resp);
  }
  return 0;
}
