// The Open Inference Protocol (KServe V2) data model and its JSON codec.
//
// A request body is untrusted: ParseInferRequest reads it in one pass (no DOM) into typed
// tensors, rejecting — with InvalidArgument / ResourceExhausted and a message naming the field —
// JSON nested deeper than Limits::max_nesting_depth, more tensors than max_tensors, negative or
// overflowing shapes, a shape whose element count differs from the data, unknown datatypes,
// duplicate names, and element counts past max_tensor_elements (BI-22..BI-24). Numbers are read
// with std::from_chars; nested `data` arrays are flattened in row-major order.
//
//   KILN_ASSIGN_OR_RETURN(InferRequest req, ParseInferRequest(body, Limits::Default()));
//   ...
//   std::string json = WriteInferResponse(response);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/base/utf8.h"

namespace kiln::serve {

// BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES.
enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes
};
std::string_view DataTypeName(DataType t);
Result<DataType> ParseDataType(std::string_view name);
// Bytes per element in raw form (0 for BYTES, whose elements are length-prefixed).
size_t DataTypeSize(DataType t);

using Parameter = std::variant<bool, int64_t, double, std::string>;
using Parameters = std::map<std::string, Parameter, std::less<>>;

struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  Parameters parameters;
  // The elements in row-major order: numbers (and booleans as 0/1) in `numbers`, BYTES in
  // `strings`; exactly one of them holds ElementCount(shape) values.
  std::vector<double> numbers;
  std::vector<std::string> strings;
};

// The product of `shape`; InvalidArgument for a negative dimension or an overflow.
Result<uint64_t> ElementCount(const std::vector<int64_t>& shape);

struct RequestedOutput {
  std::string name;
  Parameters parameters;
};

struct InferRequest {
  std::string id;
  // The transport's request id (REST: a client's X-Request-Id); the prediction log's id for a
  // request without `id`.
  std::string trace_id;
  Parameters parameters;
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output
};

// An output tensor: FP32/INT64 values in `numbers` or BYTES in `strings`.
struct OutputTensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  std::vector<double> numbers;
  std::vector<std::string> strings;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  Parameters parameters;
  std::vector<OutputTensor> outputs;
};

Result<InferRequest> ParseInferRequest(std::string_view body, const Limits& limits);
std::string WriteInferResponse(const InferResponse& response);

// The JSON writer shared with the rest of kiln (base/utf8.h).
using ::kiln::JsonQuote;

}  // namespace kiln::serve
