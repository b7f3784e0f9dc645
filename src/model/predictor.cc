#include "kiln/model/predictor.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "kiln/base/thread_pool.h"

namespace kiln::model {

Predictor::Predictor(std::shared_ptr<const TreeModel> model) : model_(std::move(model)) {
  used_trees_ = model_->trees.size();
  if (model_->best_iteration >= 0) {
    used_trees_ = std::min(used_trees_, static_cast<size_t>(model_->best_iteration + 1) *
                                            static_cast<size_t>(model_->num_groups()));
  }
}

Result<std::unique_ptr<Predictor>> Predictor::Create(std::shared_ptr<const TreeModel> model) {
  if (!model) return InvalidArgumentError("no model");
  KILN_RETURN_IF_ERROR(model->Validate());
  return std::unique_ptr<Predictor>(new Predictor(std::move(model)));
}

size_t Predictor::output_width(PredictKind kind) const {
  switch (kind) {
    case PredictKind::kMargin:
      return static_cast<size_t>(model_->num_groups());
    case PredictKind::kProbability:
      return model_->objective == Objective::kBinaryLogistic
                 ? 2
                 : static_cast<size_t>(model_->num_groups());
    case PredictKind::kLeafIndex:
      return used_trees_;
  }
  return 0;
}

Result<FeatureMatrix> Predictor::Prepare(const data::Dataset& d) const {
  const auto& features = model_->features;
  FeatureMatrix x;
  x.rows = d.num_rows();
  x.cols = features.size();
  x.values.assign(x.rows * x.cols, std::nan(""));
  for (size_t f = 0; f < features.size(); ++f) {
    auto idx = d.schema.IndexOf(features[f].name);
    if (!idx) {
      return InvalidArgumentError(
          fmt::format("input has no column '{}' (a model feature)", features[f].name));
    }
    const data::Column& col = d.columns[*idx];
    if (!features[f].categorical) {
      if (!data::IsNumeric(col.type())) {
        return InvalidArgumentError(fmt::format("column '{}' must be numeric, not {}",
                                                features[f].name, data::DataTypeName(col.type())));
      }
      for (size_t r = 0; r < x.rows; ++r) x.values[r * x.cols + f] = col.NumericAt(r);
      continue;
    }
    // Categorical: map the input's values to the model's codes by text.
    std::unordered_map<std::string_view, double> code;
    for (size_t k = 0; k < features[f].categories.size(); ++k) {
      code.emplace(features[f].categories[k], static_cast<double>(k));
    }
    for (size_t r = 0; r < x.rows; ++r) {
      if (!col.IsValid(r)) continue;
      std::string text = col.TextAt(r);
      auto it = code.find(text);
      if (it != code.end()) x.values[r * x.cols + f] = it->second;
    }
  }
  return x;
}

uint32_t Predictor::LeafOf(const Tree& tree, const double* row) const {
  const Node* nodes = tree.nodes.data();
  int32_t i = 0;
  while (!nodes[i].is_leaf()) {
    const Node& n = nodes[i];
    const double v = row[n.feature];
    bool left;
    if (std::isnan(v)) {
      left = n.default_left;
    } else if (n.categorical) {
      const uint32_t c = static_cast<uint32_t>(v);
      left = std::binary_search(tree.categories.begin() + n.cat_begin,
                                tree.categories.begin() + n.cat_end, c);
    } else {
      left = v <= n.threshold;
    }
    i = left ? n.left : n.right;
  }
  return static_cast<uint32_t>(i);
}

void Predictor::PredictRowMargin(const double* row, double* margins) const {
  const int32_t groups = model_->num_groups();
  for (int32_t g = 0; g < groups; ++g) margins[g] = model_->base_score[static_cast<size_t>(g)];
  for (size_t t = 0; t < used_trees_; ++t) {
    const Tree& tree = model_->trees[t];
    margins[tree.class_index] += tree.nodes[LeafOf(tree, row)].value;
  }
}

void TransformMargins(Objective objective, double* m, int32_t groups) {
  switch (objective) {
    case Objective::kBinaryLogistic:
      m[0] = 1.0 / (1.0 + std::exp(-m[0]));
      break;
    case Objective::kMulticlassSoftmax: {
      double mx = *std::max_element(m, m + groups), sum = 0;
      for (int32_t g = 0; g < groups; ++g) sum += (m[g] = std::exp(m[g] - mx));
      for (int32_t g = 0; g < groups; ++g) m[g] /= sum;
      break;
    }
    case Objective::kPoisson:
      m[0] = std::exp(m[0]);
      break;
    default:
      break;
  }
}

Status Predictor::Predict(const FeatureMatrix& x, PredictKind kind, std::span<float> out,
                          const ExecContext& ctx) const {
  if (x.cols != model_->features.size()) return InvalidArgumentError("feature count mismatch");
  const size_t width = output_width(kind);
  if (out.size() != x.rows * width) return InvalidArgumentError("output size mismatch");
  // Tree-major inside blocks of rows: a tree's nodes stay in cache while the block's rows walk
  // it, instead of every row streaming through every tree.
  constexpr size_t kBlock = 256;
  const size_t blocks = (x.rows + kBlock - 1) / kBlock;
  return ParallelFor(ctx, blocks, [&](size_t b) -> Status {
    const int32_t groups = model_->num_groups();
    const size_t r0 = b * kBlock, r1 = std::min(x.rows, (b + 1) * kBlock);
    if (kind == PredictKind::kLeafIndex) {
      for (size_t t = 0; t < used_trees_; ++t) {
        for (size_t r = r0; r < r1; ++r) {
          out[r * width + t] = static_cast<float>(LeafOf(model_->trees[t], x.row(r)));
        }
      }
      return Status::Ok();
    }
    std::vector<double> margins((r1 - r0) * static_cast<size_t>(groups));
    for (size_t r = r0; r < r1; ++r) {
      for (int32_t g = 0; g < groups; ++g) {
        margins[(r - r0) * groups + g] = model_->base_score[static_cast<size_t>(g)];
      }
    }
    for (size_t t = 0; t < used_trees_; ++t) {
      const Tree& tree = model_->trees[t];
      for (size_t r = r0; r < r1; ++r) {
        margins[(r - r0) * groups + tree.class_index] += tree.nodes[LeafOf(tree, x.row(r))].value;
      }
    }
    for (size_t r = r0; r < r1; ++r) {
      float* o = out.data() + r * width;
      double* m = margins.data() + (r - r0) * groups;
      if (kind == PredictKind::kProbability) TransformMargins(model_->objective, m, groups);
      if (kind == PredictKind::kProbability && model_->objective == Objective::kBinaryLogistic) {
        o[0] = static_cast<float>(1.0 - m[0]);
        o[1] = static_cast<float>(m[0]);
      } else {
        for (int32_t g = 0; g < groups; ++g) o[g] = static_cast<float>(m[static_cast<size_t>(g)]);
      }
    }
    return Status::Ok();
  });
}

}  // namespace kiln::model
