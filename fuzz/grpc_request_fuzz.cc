// The gRPC ModelInferRequest reader (protobuf parse, then typed or raw contents into tensors)
// on arbitrary bytes, with small limits so the fuzzer reaches the element and tensor bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/api/grpc_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::Limits limits;
  limits.max_tensors = 16;
  limits.max_tensor_elements = 4096;
  auto req = kiln::api::ParseGrpcInferRequest(
      std::string(reinterpret_cast<const char*>(data), size), limits);
  if (req.ok()) {
    for (const auto& t : req->inputs) {
      // Every tensor holds as many elements as its shape says.
      const auto count = kiln::serve::ElementCount(t.shape);
      if (!count.ok() || (t.numbers.size() != *count && t.strings.size() != *count))
        __builtin_trap();
    }
  }
  return 0;
}
