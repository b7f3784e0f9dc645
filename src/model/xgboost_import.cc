#include "kiln/model/xgboost_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/json_reader.h"

namespace kiln::model {

using nlohmann::json;

double ThresholdForFloatLess(float s) {
  // float(v) < s  <=>  float(v) <= p, p the float below s  <=>  v below the rounding midpoint of
  // p and s (or on it, when ties round to p: p has an even significand).
  if (std::isnan(s)) return std::numeric_limits<double>::quiet_NaN();
  if (s == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
  const float p = std::nextafter(s, -std::numeric_limits<float>::infinity());
  if (std::isinf(p)) return -std::numeric_limits<double>::max();  // s is the lowest float
  const double mid = (static_cast<double>(p) + static_cast<double>(s)) / 2;
  uint32_t bits;
  std::memcpy(&bits, &p, sizeof bits);
  const bool p_even = (bits & 1) == 0;
  return p_even ? mid : std::nextafter(mid, -std::numeric_limits<double>::infinity());
}

namespace {

// Categorical features are imported with the codes 0..255 as their dictionary ("0", "1", ...):
// XGBoost 1.7's JSON keeps no category names, and kiln's category sets hold codes below 256.
constexpr uint32_t kImportedCategories = 256;

using Reader = JsonReader<json>;

Status ImportTree(Reader& t, const std::vector<bool>* feature_categorical, Tree* out) {
  const size_t num_features = feature_categorical->size();
  const auto left = t.Integers("left_children", -1, INT32_MAX);
  const auto right = t.Integers("right_children", -1, INT32_MAX);
  const auto cond = t.Numbers("split_conditions", /*null_is_nan=*/true);
  const auto index = t.Integers("split_indices", 0, INT64_MAX);
  const auto dleft = t.Integers("default_left", 0, 1);
  const auto hess = t.Numbers("sum_hessian");
  const auto gain = t.Numbers("loss_changes");
  const std::vector<double> cats =
      t.Has("categories") ? t.Numbers("categories") : std::vector<double>{};
  KILN_RETURN_IF_ERROR(t.status());
  const size_t n = left.size();
  if (n == 0 || n > (1u << 24)) return InvalidArgumentError("bad node count");
  for (size_t size :
       {right.size(), cond.size(), index.size(), dleft.size(), hess.size(), gain.size()}) {
    if (size != n) return InvalidArgumentError("node arrays differ in length");
  }
  // Categorical splits: XGBoost sends a category in the node's set to the right child and any
  // other to the left; kiln sends the set to the left, so those nodes get their children swapped.
  std::vector<bool> categorical(n, false);
  std::vector<std::pair<size_t, size_t>> cat_range(n);  // [begin, end) in `cats`
  if (t.Has("split_type")) {
    const auto st = t.Integers("split_type", 0, 1);
    const auto nodes = t.Integers("categories_nodes", 0, INT64_MAX);
    const auto segments = t.Integers("categories_segments", 0, INT64_MAX);
    const auto sizes = t.Integers("categories_sizes", 0, INT64_MAX);
    KILN_RETURN_IF_ERROR(t.status());
    if (st.size() != n) return InvalidArgumentError("node arrays differ in length");
    if (segments.size() != nodes.size() || sizes.size() != nodes.size()) {
      return InvalidArgumentError("categories arrays differ in length");
    }
    for (size_t k = 0; k < nodes.size(); ++k) {
      const auto nid = static_cast<uint64_t>(nodes[k]);
      const auto begin = static_cast<uint64_t>(segments[k]);
      const auto size = static_cast<uint64_t>(sizes[k]);
      if (nid >= n || begin > cats.size() || size > cats.size() - begin) {
        return InvalidArgumentError("categories out of range");
      }
      cat_range[nid] = {begin, begin + size};
    }
    for (size_t i = 0; i < n; ++i) categorical[i] = st[i] == 1;
  }
  out->nodes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Node& node = out->nodes[i];
    const int64_t l = left[i], r = right[i];
    node.cover = hess[i];
    if (l == -1) {
      if (r != -1) return InvalidArgumentError("leaf with one child");
      if (std::isnan(cond[i])) return InvalidArgumentError(fmt::format("leaf {}: no value", i));
      node.value = cond[i];
      continue;
    }
    if (l <= static_cast<int64_t>(i) || r <= static_cast<int64_t>(i) ||
        l >= static_cast<int64_t>(n) || r >= static_cast<int64_t>(n)) {
      return InvalidArgumentError(fmt::format("node {}: child index out of range", i));
    }
    const auto f = static_cast<uint64_t>(index[i]);
    if (f >= num_features)
      return InvalidArgumentError(fmt::format("node {}: feature out of range", i));
    node.left = static_cast<int32_t>(l);
    node.right = static_cast<int32_t>(r);
    node.feature = static_cast<uint32_t>(f);
    node.default_left = dleft[i] != 0;
    node.gain = gain[i];
    if (!categorical[i]) {
      if (std::isnan(cond[i])) return InvalidArgumentError(fmt::format("node {}: no threshold", i));
      node.threshold = ThresholdForFloatLess(static_cast<float>(cond[i]));
      continue;
    }
    if (!(*feature_categorical)[f]) {
      return InvalidArgumentError(
          fmt::format("node {}: categorical split on a numeric feature", i));
    }
    std::swap(node.left, node.right);
    node.default_left = !node.default_left;
    node.categorical = true;
    node.cat_begin = static_cast<uint32_t>(out->categories.size());
    std::vector<uint32_t> set;
    for (size_t k = cat_range[i].first; k < cat_range[i].second; ++k) {
      const double code = cats[k];
      if (!(code >= 0 && code < kImportedCategories) || code != std::floor(code)) {
        return UnimplementedError(
            fmt::format("node {}: category code {} (kiln imports codes below {})", i, code,
                        kImportedCategories));
      }
      set.push_back(static_cast<uint32_t>(code));
    }
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    out->categories.insert(out->categories.end(), set.begin(), set.end());
    node.cat_end = static_cast<uint32_t>(out->categories.size());
  }
  return Status::Ok();
}

Status Import(const json& root, TreeModel* m) {
  Reader r(root, "model");
  Reader learner = r.Object("learner");
  Reader param = learner.Object("learner_model_param");
  const double features = param.NumberOrText("num_feature");
  const double classes = param.NumberOrText("num_class");
  const double base = param.NumberOrText("base_score");
  const std::string objective = learner.Object("objective").String("name");
  std::vector<std::string> names, types;
  if (learner.Has("feature_names")) names = learner.Strings("feature_names");
  if (learner.Has("feature_types")) types = learner.Strings("feature_types");
  KILN_RETURN_IF_ERROR(r.status());
  if (!(features >= 1 && features <= 100000)) return InvalidArgumentError("bad feature count");
  if (!(classes >= 0 && classes <= 65536)) return InvalidArgumentError("bad class count");
  const auto num_features = static_cast<size_t>(features);
  const int num_class = static_cast<int>(classes);
  if (objective == "binary:logistic") {
    m->objective = Objective::kBinaryLogistic;
    if (!(base > 0 && base < 1)) return InvalidArgumentError("bad base_score");
    m->base_score = {std::log(base / (1 - base))};
    m->class_labels = {"0", "1"};
  } else if (objective == "multi:softprob" || objective == "multi:softmax") {
    if (num_class < 2 || num_class > 65536) return InvalidArgumentError("bad class count");
    m->objective = Objective::kMulticlassSoftmax;
    m->num_classes = num_class;
    m->base_score.assign(static_cast<size_t>(num_class), base);
    for (int k = 0; k < num_class; ++k) m->class_labels.push_back(std::to_string(k));
  } else if (objective == "reg:squarederror" || objective == "reg:linear") {
    m->objective = Objective::kRegressionL2;
    m->base_score = {base};
  } else if (objective == "reg:absoluteerror") {
    m->objective = Objective::kRegressionL1;
    m->base_score = {base};
  } else if (objective == "count:poisson") {
    m->objective = Objective::kPoisson;
    m->base_score = {std::log(base)};
  } else {
    return UnimplementedError(
        fmt::format("objective '{}' is not supported", objective.substr(0, 64)));
  }
  std::vector<bool> feature_categorical(num_features, false);
  for (size_t f = 0; f < num_features; ++f) {
    FeatureInfo fi;
    fi.name = f < names.size() && !names[f].empty() ? names[f] : fmt::format("f{}", f);
    if (f < types.size() && types[f] == "c") {
      feature_categorical[f] = fi.categorical = true;
      for (uint32_t k = 0; k < kImportedCategories; ++k) fi.categories.push_back(std::to_string(k));
    } else {
      fi.bin_edges = {std::numeric_limits<double>::infinity()};
    }
    m->features.push_back(std::move(fi));
  }
  Reader model = learner.Object("gradient_booster").Object("model");
  const auto info = model.Integers("tree_info", 0, INT32_MAX);
  Status imported = Status::Ok();
  model.Each("trees", [&](Reader& t) {
    Tree tree;
    imported = ImportTree(t, &feature_categorical, &tree);
    if (!imported.ok()) return t.Fail(imported.message());
    const size_t k = m->trees.size();
    tree.class_index = k < info.size() ? static_cast<int32_t>(info[k]) : 0;
    m->trees.push_back(std::move(tree));
  });
  if (!r.ok()) return imported.ok() ? r.status() : Status(imported.code(), r.status().message());
  if (m->trees.size() != info.size()) return InvalidArgumentError("tree_info length mismatch");
  m->params_json = R"({"imported_from":"xgboost"})";
  return m->Validate();
}

// XGBoost writes NaN split conditions (categorical nodes) as a bare `NaN`, which is not JSON;
// outside strings it becomes `null`.
std::string NanToNull(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (text.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<TreeModel> ImportXgboostJson(std::string_view text, std::string_view source) {
  TreeModel m;
  const json root = json::parse(NanToNull(text), nullptr, /*allow_exceptions=*/false);
  Status s = root.is_discarded() ? InvalidArgumentError("not JSON") : Import(root, &m);
  if (!s.ok()) {
    return Status(s.code() == StatusCode::kUnimplemented ? s.code() : StatusCode::kInvalidArgument,
                  fmt::format("{}: not a usable XGBoost JSON model: {}", source, s.message()));
  }
  return m;
}

}  // namespace kiln::model
