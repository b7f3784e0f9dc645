#include "kiln/serve/inference.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/model/shap.h"

namespace kiln::serve {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// A number as the text a category dictionary would hold ("3", "2.5").
std::string NumberText(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

// Rows of a per-feature tensor: shape [N] or [N, 1].
Result<size_t> ColumnRows(const Tensor& t) {
  if (t.shape.size() == 1 || (t.shape.size() == 2 && t.shape[1] == 1)) {
    return static_cast<size_t>(t.shape[0]);
  }
  return InvalidArgumentError(
      fmt::format("input '{}': shape must be [N] or [N, 1] for a feature", Printable(t.name)));
}

bool Requested(const InferRequest& req, std::string_view name) {
  if (req.outputs.empty()) return true;
  for (const auto& o : req.outputs) {
    if (o.name == name) return true;
  }
  return false;
}

bool WantsExplanation(const InferRequest& req) {
  auto it = req.parameters.find("explain");
  if (it == req.parameters.end()) return false;
  const bool* b = std::get_if<bool>(&it->second);
  return b && *b;
}

}  // namespace

std::vector<TensorInfo> ModelInputs(const ServedModel& m) {
  std::vector<TensorInfo> out;
  for (const auto& f : m.model->features) {
    out.push_back({f.name, f.categories.empty() ? DataType::kFp64 : DataType::kBytes, {-1}});
  }
  return out;
}

std::vector<TensorInfo> ModelOutputs(const ServedModel& m) {
  const auto& model = *m.model;
  const int64_t features = static_cast<int64_t>(model.features.size());
  std::vector<TensorInfo> out;
  if (model.is_classification()) {
    const int64_t classes =
        static_cast<int64_t>(m.predictor->output_width(model::PredictKind::kProbability));
    out.push_back({"predict", DataType::kBytes, {-1}});
    out.push_back({"probabilities", DataType::kFp32, {-1, classes}});
  } else {
    out.push_back({"predict", DataType::kFp32, {-1}});
  }
  out.push_back({"contributions", DataType::kFp32, {-1, model.num_groups(), features + 1}});
  return out;
}

Result<model::FeatureMatrix> BuildFeatures(const ServedModel& m, const InferRequest& req,
                                           const Limits& limits, std::vector<uint64_t>* unseen) {
  const auto& features = m.model->features;
  const size_t cols = features.size();
  auto count_unseen = [&](size_t f) {
    if (!unseen) return;
    if (unseen->empty()) unseen->assign(cols, 0);
    ++(*unseen)[f];
  };
  model::FeatureMatrix x;
  x.cols = cols;
  // One [N, F] matrix.
  if (req.inputs.size() == 1 && !m.feature_index.count(req.inputs[0].name) &&
      req.inputs[0].shape.size() == 2) {
    const Tensor& t = req.inputs[0];
    if (t.datatype == DataType::kBytes || t.datatype == DataType::kBool) {
      return InvalidArgumentError(
          fmt::format("input '{}': a [N, F] matrix must be numeric", Printable(t.name)));
    }
    if (static_cast<size_t>(t.shape[1]) != cols) {
      return InvalidArgumentError(fmt::format("input '{}': {} columns, the model has {} features",
                                              Printable(t.name), t.shape[1], cols));
    }
    x.rows = static_cast<size_t>(t.shape[0]);
    if (x.rows > limits.max_rows_per_request) {
      return ResourceExhaustedError(
          fmt::format("{} rows; at most {} per request", x.rows, limits.max_rows_per_request));
    }
    x.values = t.numbers;
    // A categorical column holds codes: anything that is not one of the model's becomes
    // missing (the predictor indexes category sets by code).
    for (size_t f = 0; f < cols; ++f) {
      const double n = static_cast<double>(features[f].categories.size());
      if (n == 0) continue;
      for (size_t r = 0; r < x.rows; ++r) {
        double& v = x.values[r * cols + f];
        if (!(v >= 0 && v < n && v == std::floor(v))) {
          if (!std::isnan(v)) count_unseen(f);
          v = kMissing;
        }
      }
    }
    return x;
  }
  // One tensor per feature.
  std::vector<const Tensor*> by_feature(cols, nullptr);
  size_t rows = 0;
  for (const Tensor& t : req.inputs) {
    auto it = m.feature_index.find(t.name);
    if (it == m.feature_index.end()) {
      return InvalidArgumentError(
          fmt::format("input '{}': model '{}' has no such feature", Printable(t.name), m.name));
    }
    KILN_ASSIGN_OR_RETURN(size_t n, ColumnRows(t));
    if (&t != &req.inputs.front() && n != rows) {
      return InvalidArgumentError(
          fmt::format("input '{}': {} rows, other inputs have {}", Printable(t.name), n, rows));
    }
    rows = n;
    by_feature[it->second] = &t;
  }
  for (size_t f = 0; f < cols; ++f) {
    if (!by_feature[f]) {
      return InvalidArgumentError(fmt::format("no input for feature '{}'", features[f].name));
    }
  }
  if (rows > limits.max_rows_per_request) {
    return ResourceExhaustedError(
        fmt::format("{} rows; at most {} per request", rows, limits.max_rows_per_request));
  }
  x.rows = rows;
  x.values.assign(rows * cols, kMissing);
  for (size_t f = 0; f < cols; ++f) {
    const Tensor& t = *by_feature[f];
    const auto& codes = m.category_codes[f];
    const bool categorical = !features[f].categories.empty();
    if (!categorical && t.datatype == DataType::kBytes) {
      return InvalidArgumentError(
          fmt::format("input '{}': feature is numeric, not BYTES", Printable(t.name)));
    }
    for (size_t r = 0; r < rows; ++r) {
      double v = kMissing;
      if (t.datatype == DataType::kBytes) {
        auto c = codes.find(t.strings[r]);
        if (c != codes.end()) {
          v = c->second;
        } else if (!t.strings[r].empty()) {
          count_unseen(f);  // "" is missing, as at ingest
        }
      } else if (categorical) {
        if (!std::isnan(t.numbers[r])) {
          auto c = codes.find(NumberText(t.numbers[r]));
          if (c != codes.end()) {
            v = c->second;
          } else {
            count_unseen(f);
          }
        }
      } else {
        v = t.numbers[r];
      }
      x.values[r * cols + f] = v;
    }
  }
  return x;
}

namespace {

// InvalidArgument naming the first unseen category or value outside a numeric feature's
// training range [min, max] (from the model's reference; features without one are not checked).
Status CheckInRange(const ServedModel& m, const PreparedInfer& p) {
  const auto& features = m.model->features;
  for (size_t f = 0; f < p.unseen.size() && f < features.size(); ++f) {
    if (p.unseen[f] > 0) {
      return InvalidArgumentError(fmt::format(
          "feature '{}': {} value(s) are categories the model never saw (reject_out_of_range)",
          features[f].name, p.unseen[f]));
    }
  }
  const auto& reference = m.model->reference.features;
  for (size_t f = 0; f < reference.size() && f < features.size(); ++f) {
    const double lo = reference[f].min, hi = reference[f].max;
    if (!features[f].categories.empty() || std::isnan(lo) || std::isnan(hi)) continue;
    for (size_t r = 0; r < p.x.rows; ++r) {
      const double v = p.x.values[r * p.x.cols + f];
      if (v < lo || v > hi) {
        return InvalidArgumentError(
            fmt::format("feature '{}': {} in row {} is outside its training range [{}, {}] "
                        "(reject_out_of_range)",
                        features[f].name, v, r, lo, hi));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<PreparedInfer> PrepareInfer(const ServedModel& m, const InferRequest& req,
                                   const Limits& limits) {
  const auto known = ModelOutputs(m);
  for (const auto& o : req.outputs) {
    const bool ok = std::any_of(known.begin(), known.end(),
                                [&](const TensorInfo& k) { return k.name == o.name; });
    if (!ok) {
      return InvalidArgumentError(
          fmt::format("output '{}': model '{}' has no such output", Printable(o.name), m.name));
    }
  }
  PreparedInfer p;
  KILN_ASSIGN_OR_RETURN(
      p.x, BuildFeatures(m, req, limits, m.drift || m.reject_out_of_range ? &p.unseen : nullptr));
  if (m.reject_out_of_range) KILN_RETURN_IF_ERROR(CheckInRange(m, p));
  p.id = req.id;
  p.log_id = req.id.empty() ? req.trace_id : req.id;
  p.predict = Requested(req, "predict");
  p.probabilities = m.model->is_classification() && Requested(req, "probabilities");
  p.contributions =
      WantsExplanation(req) || (!req.outputs.empty() && Requested(req, "contributions"));
  if (p.contributions) {
    const uint64_t elements =
        p.x.rows * static_cast<uint64_t>(m.model->num_groups()) * (p.x.cols + 1);
    if (elements > limits.max_tensor_elements) {
      return ResourceExhaustedError(fmt::format(
          "contributions for {} rows would have {} values; at most {} (send fewer rows)", p.x.rows,
          elements, limits.max_tensor_elements));
    }
  }
  return p;
}

Result<InferResponse> FinishInfer(const ServedModel& m, const PreparedInfer& p,
                                  std::span<const float> probs, const ExecContext& ctx) {
  const auto& model = *m.model;
  const model::FeatureMatrix& x = p.x;
  const int64_t rows = static_cast<int64_t>(x.rows);
  const size_t width = m.predictor->output_width(model::PredictKind::kProbability);
  if (probs.size() != x.rows * width) return InternalError("predictor output size mismatch");
  if (m.drift) {
    m.drift->Record(x.rows, x.cols, x.values.data(), probs.data(), width,
                    p.unseen.empty() ? nullptr : p.unseen.data());
  }
  if (m.log && !p.log_id.empty()) {
    m.log->Record(p.log_id, x.rows, x.cols, x.values.data(), probs.data(), width);
  }
  InferResponse resp;
  resp.model_name = m.name;
  resp.model_version = std::to_string(m.version);
  resp.id = p.id;
  if (model.is_classification()) {
    if (p.predict) {
      OutputTensor t{"predict", DataType::kBytes, {rows}, {}, {}};
      t.strings.reserve(x.rows);
      for (size_t r = 0; r < x.rows; ++r) {
        const float* row = probs.data() + r * width;
        const size_t best = static_cast<size_t>(std::max_element(row, row + width) - row);
        t.strings.push_back(best < model.class_labels.size() ? model.class_labels[best]
                                                             : std::to_string(best));
      }
      resp.outputs.push_back(std::move(t));
    }
    if (p.probabilities) {
      resp.outputs.push_back({"probabilities",
                              DataType::kFp32,
                              {rows, static_cast<int64_t>(width)},
                              std::vector<double>(probs.begin(), probs.end()),
                              {}});
    }
  } else if (p.predict) {
    resp.outputs.push_back(
        {"predict", DataType::kFp32, {rows}, std::vector<double>(probs.begin(), probs.end()), {}});
  }
  if (p.contributions) {
    const int64_t groups = model.num_groups();
    const int64_t per = static_cast<int64_t>(x.cols) + 1;
    std::vector<double> contrib(x.rows * static_cast<uint64_t>(groups * per));
    KILN_RETURN_IF_ERROR(model::ExplainRows(*m.predictor, x, contrib, ctx));
    resp.outputs.push_back(
        {"contributions", DataType::kFp32, {rows, groups, per}, std::move(contrib), {}});
  }
  return resp;
}

Result<std::chrono::steady_clock::time_point> RequestDeadline(
    const InferRequest& req, std::chrono::steady_clock::time_point arrived, const Limits& limits) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  auto it = req.parameters.find("timeout");
  if (it == req.parameters.end()) return arrived + milliseconds(limits.default_request_timeout_ms);
  const int64_t* us = std::get_if<int64_t>(&it->second);
  if (!us || *us < 0) {
    return InvalidArgumentError(
        "parameter 'timeout' must be a non-negative integer (microseconds)");
  }
  if (*us == 0) return arrived + milliseconds(limits.default_request_timeout_ms);
  const int64_t cap = static_cast<int64_t>(limits.max_request_timeout_ms) * 1000;
  return arrived + microseconds(std::min(*us, cap));
}

}  // namespace kiln::serve
