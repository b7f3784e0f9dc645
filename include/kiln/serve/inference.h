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

Result<InferResponse> Infer(const ServedModel& m, const InferRequest& req, const ExecContext& ctx,
                            const Limits& limits);

}  // namespace kiln::serve
