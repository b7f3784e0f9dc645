// Inference on a served model: V2 input tensors -> the feature matrix -> the one predictor ->
// V2 output tensors.
//
// Inputs, either
//   - one tensor per feature, named as the model's feature, shape [N] or [N, 1]: numbers for
//     numeric features (null = missing); for categorical ones BYTES (the category text, an
//     unknown one is missing) or numbers (matched by their text); or
//   - one numeric tensor of shape [N, F] (any name that is not a feature), F = the model's
//     feature count, columns in model feature order (categorical columns hold category codes;
//     anything else there is missing).
// Outputs: classification — `predict` (BYTES, the class label), `probabilities` (FP32 [N, C],
// C = 2 for binary); regression — `predict` (FP32 [N]); with request parameter `explain: true`
// also `contributions` (FP32 [N, G, F + 1]: per output group, each feature's SHAP value and the
// bias last). `outputs` in the request selects among them.
#pragma once

#include <chrono>
#include <span>

#include "kiln/base/exec_context.h"
#include "kiln/base/limits.h"
#include "kiln/model/predictor.h"
#include "kiln/serve/model_manager.h"
#include "kiln/serve/v2.h"

namespace kiln::serve {

// The output tensors a model produces (names, datatypes, shapes with -1 for the batch).
struct TensorInfo {
  std::string name;
  DataType datatype;
  std::vector<int64_t> shape;
};
std::vector<TensorInfo> ModelInputs(const ServedModel& m);
std::vector<TensorInfo> ModelOutputs(const ServedModel& m);

// The feature matrix of a request; InvalidArgument (naming the tensor) for inputs that do not
// fit the model, ResourceExhausted past Limits::max_rows_per_request.
Result<model::FeatureMatrix> BuildFeatures(const ServedModel& m, const InferRequest& req,
                                           const Limits& limits);

// A request checked against its model: the feature rows and what to answer. Everything a
// request can get wrong is found here, before it is queued for compute.
struct PreparedInfer {
  std::string id;
  model::FeatureMatrix x;
  bool predict = false, probabilities = false, contributions = false;
  std::vector<uint64_t> unseen;  // per feature, unknown categories (empty: none)
  std::string log_id;            // the prediction log's id: `id`, else the request's trace id
  // Bytes the request holds while it waits (the queue's byte bound).
  uint64_t bytes() const { return x.values.size() * sizeof(double) + id.size(); }
};
Result<PreparedInfer> PrepareInfer(const ServedModel& m, const InferRequest& req,
                                   const Limits& limits);
// The response from the predictor's probability-kind outputs for the request's rows
// (rows * output_width(kProbability) values); contributions are computed here.
Result<InferResponse> FinishInfer(const ServedModel& m, const PreparedInfer& p,
                                  std::span<const float> probs, const ExecContext& ctx);

// When a request must be answered by: `arrived` + its `timeout` parameter (microseconds, as
// Triton's; capped at Limits::max_request_timeout_ms), or + the default timeout when it has none
// or 0. InvalidArgument for a negative or non-integer timeout.
Result<std::chrono::steady_clock::time_point> RequestDeadline(
    const InferRequest& req, std::chrono::steady_clock::time_point arrived, const Limits& limits);

}  // namespace kiln::serve
