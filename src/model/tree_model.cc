#include "kiln/model/tree_model.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace kiln::model {

std::string_view ObjectiveName(Objective o) {
  switch (o) {
    case Objective::kBinaryLogistic:
      return "binary";
    case Objective::kMulticlassSoftmax:
      return "multiclass";
    case Objective::kRegressionL2:
      return "regression";
    case Objective::kRegressionL1:
      return "regression_l1";
    case Objective::kPoisson:
      return "poisson";
  }
  return "unknown";
}

Result<Objective> ParseObjective(std::string_view t) {
  if (t == "binary" || t == "binary:logistic") return Objective::kBinaryLogistic;
  if (t == "multiclass" || t == "multi:softprob" || t == "multi:softmax" || t == "softmax") {
    return Objective::kMulticlassSoftmax;
  }
  if (t == "regression" || t == "l2" || t == "reg:squarederror" || t == "mse") {
    return Objective::kRegressionL2;
  }
  if (t == "regression_l1" || t == "l1" || t == "reg:absoluteerror" || t == "mae") {
    return Objective::kRegressionL1;
  }
  if (t == "poisson" || t == "count:poisson") return Objective::kPoisson;
  return InvalidArgumentError(
      fmt::format("unknown objective '{}' (binary, multiclass, regression, regression_l1, poisson)",
                  t.substr(0, 64)));
}

namespace {

// The reference profile, when there is one, fits the model it is in.
Status ValidateReference(const TreeModel& m) {
  const ReferenceProfile& r = m.reference;
  if (r.empty()) return Status::Ok();
  if (r.features.size() != m.features.size()) {
    return InvalidArgumentError("reference: one histogram per feature expected");
  }
  for (size_t f = 0; f < r.features.size(); ++f) {
    const FeatureReference& fr = r.features[f];
    const FeatureInfo& fi = m.features[f];
    const bool fits = fi.categorical ? fr.counts.size() <= std::max<size_t>(fi.categories.size(), 1)
                                     : fr.counts.size() == fi.bin_edges.size();
    uint64_t total = fr.missing;
    for (uint64_t c : fr.counts) total += c;
    if (!fits || total != r.rows) {
      return InvalidArgumentError(fmt::format("reference: bad histogram for feature {}", f));
    }
    const bool ranged = !std::isnan(fr.min) || !std::isnan(fr.max);
    if (ranged &&
        (fi.categorical || !std::isfinite(fr.min) || !std::isfinite(fr.max) || fr.min > fr.max)) {
      return InvalidArgumentError(fmt::format("reference: bad range for feature {}", f));
    }
  }
  for (size_t i = 0; i < r.score_edges.size(); ++i) {
    if (!std::isfinite(r.score_edges[i]) || (i > 0 && r.score_edges[i] <= r.score_edges[i - 1])) {
      return InvalidArgumentError("reference: score edges must be finite and increasing");
    }
  }
  const size_t bins = r.score_kind == ScoreKind::kClass  ? static_cast<size_t>(m.num_classes)
                      : r.score_kind == ScoreKind::kNone ? 0
                                                         : r.score_edges.size() + 1;
  if (r.score_counts.size() != bins) return InvalidArgumentError("reference: bad score histogram");
  return Status::Ok();
}

}  // namespace

Status TreeModel::Validate() const {
  if (num_classes < 1 || num_classes > 65536) return InvalidArgumentError("bad class count");
  if (objective == Objective::kMulticlassSoftmax && num_classes < 2) {
    return InvalidArgumentError("multiclass model needs at least 2 classes");
  }
  if (static_cast<int32_t>(base_score.size()) != num_groups()) {
    return InvalidArgumentError("base score size does not match the output groups");
  }
  for (double b : base_score) {
    if (!std::isfinite(b)) return InvalidArgumentError("non-finite base score");
  }
  if (!trees.empty() && trees.size() % static_cast<size_t>(num_groups()) != 0) {
    return InvalidArgumentError("tree count is not a multiple of the output groups");
  }
  if (best_iteration >= 0 &&
      static_cast<size_t>(best_iteration + 1) * num_groups() > trees.size()) {
    return InvalidArgumentError("best iteration beyond the trees");
  }
  for (size_t t = 0; t < trees.size(); ++t) {
    const Tree& tree = trees[t];
    if (tree.nodes.empty()) return InvalidArgumentError(fmt::format("tree {} is empty", t));
    if (tree.class_index < 0 || tree.class_index >= num_groups()) {
      return InvalidArgumentError(fmt::format("tree {} has a bad class index", t));
    }
    const int32_t n = static_cast<int32_t>(tree.nodes.size());
    for (int32_t i = 0; i < n; ++i) {
      const Node& node = tree.nodes[static_cast<size_t>(i)];
      if (node.is_leaf()) {
        if (node.right >= 0 || !std::isfinite(node.value)) {
          return InvalidArgumentError(fmt::format("tree {} node {}: bad leaf", t, i));
        }
        continue;
      }
      if (node.left <= i || node.right <= i || node.left >= n || node.right >= n) {
        return InvalidArgumentError(fmt::format("tree {} node {}: child out of range", t, i));
      }
      if (node.feature >= features.size()) {
        return InvalidArgumentError(fmt::format("tree {} node {}: unknown feature", t, i));
      }
      const FeatureInfo& f = features[node.feature];
      if (node.categorical != f.categorical) {
        return InvalidArgumentError(fmt::format("tree {} node {}: split type mismatch", t, i));
      }
      if (node.categorical) {
        if (node.cat_begin > node.cat_end || node.cat_end > tree.categories.size()) {
          return InvalidArgumentError(fmt::format("tree {} node {}: bad category range", t, i));
        }
        for (uint32_t k = node.cat_begin; k < node.cat_end; ++k) {
          if (tree.categories[k] >= f.categories.size() || tree.categories[k] >= 256 ||
              (k > node.cat_begin && tree.categories[k] <= tree.categories[k - 1])) {
            return InvalidArgumentError(fmt::format("tree {} node {}: bad category set", t, i));
          }
        }
      } else if (std::isnan(node.threshold)) {
        return InvalidArgumentError(fmt::format("tree {} node {}: NaN threshold", t, i));
      }
    }
  }
  return ValidateReference(*this);
}

}  // namespace kiln::model
