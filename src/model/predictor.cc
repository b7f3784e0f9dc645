#include "kiln/model/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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
  Compile();
}

void Predictor::Compile() {
  for (size_t t = 0; t < used_trees_; ++t) {
    const Tree& tree = model_->trees[t];
    roots_.push_back(static_cast<uint32_t>(nodes_.size()));
    // Breadth first from the root; each split's children are appended side by side.
    std::vector<int32_t> queue = {0};
    std::vector<uint32_t> level = {0};
    uint32_t depth = 0;
    nodes_.push_back({});
    original_.push_back(0);
    for (size_t q = 0; q < queue.size(); ++q) {
      const Node& n = tree.nodes[static_cast<size_t>(queue[q])];
      FlatNode& f = nodes_[roots_.back() + q];
      depth = std::max(depth, level[q]);
      if (n.is_leaf()) {
        f = {n.value, kLeaf, 0};
        continue;
      }
      level.push_back(level[q] + 1);
      level.push_back(level[q] + 1);
      f.meta = n.feature | (n.default_left ? kDefaultLeft : 0) | (n.categorical ? kCategorical : 0);
      f.value = n.threshold;
      if (n.categorical) {
        std::array<uint64_t, 4> set{};
        for (uint32_t k = n.cat_begin; k < n.cat_end; ++k) {
          const uint32_t c = tree.categories[k];
          if (c < 256) set[c >> 6] |= uint64_t{1} << (c & 63);
        }
        f.value = static_cast<double>(cat_sets_.size());
        cat_sets_.push_back(set);
      }
      f.left = static_cast<int32_t>(roots_.back() + queue.size());
      queue.push_back(n.left);
      queue.push_back(n.right);
      nodes_.push_back({});
      nodes_.push_back({});
      original_.push_back(n.left);
      original_.push_back(n.right);
    }
    depths_.push_back(depth);
  }
}

inline uint32_t Predictor::Step(uint32_t i, const double* row) const {
  const FlatNode& n = nodes_[i];
  if (n.meta & kLeaf) return i;
  const double v = row[n.meta & kFeatureMask];
  bool left;
  if (std::isnan(v)) {
    left = n.meta & kDefaultLeft;
  } else if (n.meta & kCategorical) {
    const auto& set = cat_sets_[static_cast<size_t>(n.value)];
    const uint32_t c = static_cast<uint32_t>(v);
    left = c < 256 && ((set[c >> 6] >> (c & 63)) & 1);
  } else {
    left = v <= n.value;
  }
  return static_cast<uint32_t>(n.left) + (left ? 0u : 1u);
}

uint32_t Predictor::WalkToLeaf(size_t tree, const double* row) const {
  uint32_t i = roots_[tree];
  while (!(nodes_[i].meta & kLeaf)) i = Step(i, row);
  return i;
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
    // Categorical: map the input's values to the model's codes by text; a dictionary-coded
    // column is translated once per category, not once per row.
    std::unordered_map<std::string_view, double> code;
    for (size_t k = 0; k < features[f].categories.size(); ++k) {
      code.emplace(features[f].categories[k], static_cast<double>(k));
    }
    const double unknown = std::nan("");
    if (col.type() == data::DataType::kCategorical && col.dictionary()) {
      std::vector<double> remap;
      for (const auto& text : *col.dictionary()) {
        auto it = code.find(text);
        remap.push_back(it == code.end() ? unknown : it->second);
      }
      for (size_t r = 0; r < x.rows; ++r) {
        const uint32_t c = col.codes()[r];
        if (col.IsValid(r) && c < remap.size()) x.values[r * x.cols + f] = remap[c];
      }
      continue;
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

void Predictor::PredictRowMargin(const double* row, double* margins) const {
  const int32_t groups = model_->num_groups();
  for (int32_t g = 0; g < groups; ++g) margins[g] = model_->base_score[static_cast<size_t>(g)];
  // Several trees walked together: their node loads overlap instead of waiting on each other.
  // Leaves are added in tree order, so the sum is the same as one tree at a time.
  constexpr size_t kLanes = 8;
  size_t t = 0;
  for (; t + kLanes <= used_trees_; t += kLanes) {
    uint32_t idx[kLanes];
    uint32_t depth = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      idx[l] = roots_[t + l];
      depth = std::max(depth, depths_[t + l]);
    }
    for (uint32_t d = 0; d < depth; ++d) {
      for (size_t l = 0; l < kLanes; ++l) idx[l] = Step(idx[l], row);
    }
    for (size_t l = 0; l < kLanes; ++l) {
      margins[model_->trees[t + l].class_index] += nodes_[idx[l]].value;
    }
  }
  for (; t < used_trees_; ++t) {
    margins[model_->trees[t].class_index] += nodes_[WalkToLeaf(t, row)].value;
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
          out[r * width + t] = static_cast<float>(original_[WalkToLeaf(t, x.row(r))]);
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
    constexpr size_t kLanes = 8;  // rows walking a tree together
    const size_t lanes_end = r0 + (r1 - r0) / kLanes * kLanes;
    for (size_t t = 0; t < used_trees_ && lanes_end > r0; ++t) {
      const size_t k = static_cast<size_t>(model_->trees[t].class_index);
      for (size_t r = r0; r < lanes_end; r += kLanes) {
        uint32_t idx[kLanes];
        for (size_t l = 0; l < kLanes; ++l) idx[l] = roots_[t];
        // As many steps as the tree is deep (a leaf steps to itself): no exit test per step.
        for (uint32_t d = 0; d < depths_[t]; ++d) {
          for (size_t l = 0; l < kLanes; ++l) idx[l] = Step(idx[l], x.row(r + l));
        }
        for (size_t l = 0; l < kLanes; ++l)
          margins[(r + l - r0) * groups + k] += nodes_[idx[l]].value;
      }
    }
    // The rows left over (a lone row, say) walk several trees at once instead.
    for (size_t r = lanes_end; r < r1; ++r) {
      PredictRowMargin(x.row(r), margins.data() + (r - r0) * groups);
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
