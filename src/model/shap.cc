#include "kiln/model/shap.h"

#include <algorithm>
#include <cmath>

#include "kiln/base/thread_pool.h"

namespace kiln::model {
namespace {

struct PathElement {
  int feature = -1;
  double zero_fraction = 0;
  double one_fraction = 0;
  double pweight = 0;
};

void ExtendPath(PathElement* path, int depth, double zero_fraction, double one_fraction,
                int feature) {
  path[depth] = {feature, zero_fraction, one_fraction, depth == 0 ? 1.0 : 0.0};
  for (int i = depth - 1; i >= 0; --i) {
    path[i + 1].pweight +=
        one_fraction * path[i].pweight * (i + 1) / static_cast<double>(depth + 1);
    path[i].pweight =
        zero_fraction * path[i].pweight * (depth - i) / static_cast<double>(depth + 1);
  }
}

void UnwindPath(PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].pweight;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0) {
      const double tmp = path[i].pweight;
      path[i].pweight = next * (depth + 1) / ((i + 1) * one);
      next = tmp - path[i].pweight * zero * (depth - i) / static_cast<double>(depth + 1);
    } else {
      path[i].pweight = path[i].pweight * (depth + 1) / (zero * (depth - i));
    }
  }
  for (int i = index; i < depth; ++i) {
    path[i].feature = path[i + 1].feature;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

double UnwoundPathSum(const PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].pweight, total = 0;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0) {
      const double tmp = next * (depth + 1) / ((i + 1) * one);
      total += tmp;
      next = path[i].pweight - tmp * zero * ((depth - i) / static_cast<double>(depth + 1));
    } else {
      total += (path[i].pweight / zero) / ((depth - i) / static_cast<double>(depth + 1));
    }
  }
  return total;
}

bool GoesLeft(const Tree& tree, const Node& n, const double* row) {
  const double v = row[n.feature];
  if (std::isnan(v)) return n.default_left;
  if (n.categorical) {
    return std::binary_search(tree.categories.begin() + n.cat_begin,
                              tree.categories.begin() + n.cat_end, static_cast<uint32_t>(v));
  }
  return v <= n.threshold;
}

void Recurse(const Tree& tree, const double* row, double* phi, int32_t node, int depth,
             PathElement* parent_path, double zero_fraction, double one_fraction, int feature) {
  PathElement* path = parent_path + depth + 1;
  std::copy(parent_path, parent_path + depth + 1, path);
  ExtendPath(path, depth, zero_fraction, one_fraction, feature);
  const Node& n = tree.nodes[static_cast<size_t>(node)];
  if (n.is_leaf()) {
    for (int i = 1; i <= depth; ++i) {
      const double w = UnwoundPathSum(path, depth, i);
      phi[path[i].feature] += w * (path[i].one_fraction - path[i].zero_fraction) * n.value;
    }
    return;
  }
  const bool left = GoesLeft(tree, n, row);
  const int32_t hot = left ? n.left : n.right, cold = left ? n.right : n.left;
  const double cover = n.cover > 0 ? n.cover : 1;
  const double hot_zero = tree.nodes[static_cast<size_t>(hot)].cover / cover;
  const double cold_zero = tree.nodes[static_cast<size_t>(cold)].cover / cover;
  double incoming_zero = 1, incoming_one = 1;
  int index = 0;
  while (index <= depth && path[index].feature != static_cast<int>(n.feature)) ++index;
  if (index != depth + 1) {  // the feature is already on the path: undo its earlier split
    incoming_zero = path[index].zero_fraction;
    incoming_one = path[index].one_fraction;
    UnwindPath(path, depth, index);
    --depth;
  }
  const int f = static_cast<int>(n.feature);
  Recurse(tree, row, phi, hot, depth + 1, path, hot_zero * incoming_zero, incoming_one, f);
  Recurse(tree, row, phi, cold, depth + 1, path, cold_zero * incoming_zero, 0, f);
}

int TreeDepth(const Tree& tree, int32_t node) {
  const Node& n = tree.nodes[static_cast<size_t>(node)];
  if (n.is_leaf()) return 0;
  return 1 + std::max(TreeDepth(tree, n.left), TreeDepth(tree, n.right));
}

double ExpectedValue(const Tree& tree) {
  const double root = tree.nodes[0].cover > 0 ? tree.nodes[0].cover : 1;
  double e = 0;
  for (const Node& n : tree.nodes) {
    if (n.is_leaf()) e += n.value * n.cover / root;
  }
  return e;
}

}  // namespace

Status ExplainRows(const Predictor& predictor, const FeatureMatrix& x, std::span<double> out,
                   const ExecContext& ctx) {
  const TreeModel& m = predictor.model();
  const size_t groups = static_cast<size_t>(m.num_groups());
  const size_t width = m.features.size() + 1;
  if (x.cols != m.features.size()) return InvalidArgumentError("feature count mismatch");
  if (out.size() != x.rows * groups * width) return InvalidArgumentError("output size mismatch");
  const size_t trees = predictor.used_trees();
  std::vector<double> expected(trees);
  int max_depth = 0;
  for (size_t t = 0; t < trees; ++t) {
    expected[t] = ExpectedValue(m.trees[t]);
    max_depth = std::max(max_depth, TreeDepth(m.trees[t], 0));
  }
  const size_t path_size = static_cast<size_t>((max_depth + 2) * (max_depth + 3) / 2);
  return ParallelFor(ctx, (x.rows + 63) / 64, [&](size_t b) -> Status {
    std::vector<PathElement> path(path_size);
    for (size_t r = b * 64; r < std::min(x.rows, (b + 1) * 64); ++r) {
      double* row_out = out.data() + r * groups * width;
      std::fill(row_out, row_out + groups * width, 0.0);
      for (size_t g = 0; g < groups; ++g) row_out[g * width + width - 1] = m.base_score[g];
      for (size_t t = 0; t < trees; ++t) {
        const Tree& tree = m.trees[t];
        double* phi = row_out + static_cast<size_t>(tree.class_index) * width;
        phi[width - 1] += expected[t];
        Recurse(tree, x.row(r), phi, 0, 0, path.data(), 1, 1, -1);
      }
    }
    return Status::Ok();
  });
}

std::vector<Importance> FeatureImportances(const TreeModel& m, size_t used_trees) {
  std::vector<Importance> out(m.features.size());
  for (size_t t = 0; t < std::min(used_trees, m.trees.size()); ++t) {
    for (const Node& n : m.trees[t].nodes) {
      if (n.is_leaf()) continue;
      out[n.feature].gain += n.gain;
      out[n.feature].splits += 1;
      out[n.feature].cover += n.cover;
    }
  }
  return out;
}

}  // namespace kiln::model
