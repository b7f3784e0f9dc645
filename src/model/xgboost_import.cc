#include "kiln/model/xgboost_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

double Number(const json& j) {
  if (j.is_string()) return std::stod(j.get<std::string>());
  return j.get<double>();
}

// Categorical features are imported with the codes 0..255 as their dictionary ("0", "1", ...):
// XGBoost 1.7's JSON keeps no category names, and kiln's category sets hold codes below 256.
constexpr uint32_t kImportedCategories = 256;

Status ImportTree(const json& t, const std::vector<bool>* feature_categorical, Tree* out) {
  const size_t num_features = feature_categorical->size();
  const auto& left = t.at("left_children");
  const auto& right = t.at("right_children");
  const auto& cond = t.at("split_conditions");
  const auto& index = t.at("split_indices");
  const auto& dleft = t.at("default_left");
  const auto& hess = t.at("sum_hessian");
  const auto& gain = t.at("loss_changes");
  const size_t n = left.size();
  if (n == 0 || n > (1u << 24)) return InvalidArgumentError("bad node count");
  for (const json* a : {&right, &cond, &index, &dleft, &hess, &gain}) {
    if (a->size() != n) return InvalidArgumentError("node arrays differ in length");
  }
  // Categorical splits: XGBoost sends a category in the node's set to the right child and any
  // other to the left; kiln sends the set to the left, so those nodes get their children swapped.
  std::vector<bool> categorical(n, false);
  std::vector<std::pair<size_t, size_t>> cat_range(n);  // [begin, end) in `categories`
  const json empty = json::array();
  const json& cats = t.contains("categories") ? t.at("categories") : empty;
  if (t.contains("split_type")) {
    const auto& st = t.at("split_type");
    if (st.size() != n) return InvalidArgumentError("node arrays differ in length");
    const auto& nodes = t.at("categories_nodes");
    const auto& segments = t.at("categories_segments");
    const auto& sizes = t.at("categories_sizes");
    if (segments.size() != nodes.size() || sizes.size() != nodes.size()) {
      return InvalidArgumentError("categories arrays differ in length");
    }
    for (size_t k = 0; k < nodes.size(); ++k) {
      const uint64_t nid = nodes[k].get<uint64_t>(), begin = segments[k].get<uint64_t>();
      const uint64_t size = sizes[k].get<uint64_t>();
      if (nid >= n || begin > cats.size() || size > cats.size() - begin) {
        return InvalidArgumentError("categories out of range");
      }
      cat_range[nid] = {begin, begin + size};
    }
    for (size_t i = 0; i < n; ++i) {
      const int type = st[i].get<int>();
      if (type != 0 && type != 1) return InvalidArgumentError("unknown split type");
      categorical[i] = type == 1;
    }
  }
  out->nodes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Node& node = out->nodes[i];
    const int64_t l = left[i].get<int64_t>(), r = right[i].get<int64_t>();
    node.cover = hess[i].get<double>();
    if (l == -1) {
      if (r != -1) return InvalidArgumentError("leaf with one child");
      node.value = cond[i].get<double>();
      continue;
    }
    if (l <= static_cast<int64_t>(i) || r <= static_cast<int64_t>(i) ||
        l >= static_cast<int64_t>(n) || r >= static_cast<int64_t>(n)) {
      return InvalidArgumentError(fmt::format("node {}: child index out of range", i));
    }
    const uint64_t f = index[i].get<uint64_t>();
    if (f >= num_features)
      return InvalidArgumentError(fmt::format("node {}: feature out of range", i));
    node.left = static_cast<int32_t>(l);
    node.right = static_cast<int32_t>(r);
    node.feature = static_cast<uint32_t>(f);
    node.default_left = dleft[i].get<int>() != 0;
    node.gain = gain[i].get<double>();
    if (!categorical[i]) {
      node.threshold = ThresholdForFloatLess(static_cast<float>(cond[i].get<double>()));
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
      const double code = cats[k].get<double>();
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
  const json& learner = root.at("learner");
  const json& param = learner.at("learner_model_param");
  const size_t num_features = static_cast<size_t>(Number(param.at("num_feature")));
  const int num_class = static_cast<int>(Number(param.at("num_class")));
  const double base = Number(param.at("base_score"));
  const std::string objective = learner.at("objective").at("name").get<std::string>();
  if (num_features == 0 || num_features > 100000) return InvalidArgumentError("bad feature count");
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
  std::vector<std::string> names;
  if (learner.contains("feature_names"))
    names = learner.at("feature_names").get<std::vector<std::string>>();
  std::vector<std::string> types;
  if (learner.contains("feature_types"))
    types = learner.at("feature_types").get<std::vector<std::string>>();
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
  const json& model = learner.at("gradient_booster").at("model");
  const json& trees = model.at("trees");
  const json& info = model.at("tree_info");
  if (trees.size() != info.size()) return InvalidArgumentError("tree_info length mismatch");
  for (size_t t = 0; t < trees.size(); ++t) {
    Tree tree;
    KILN_RETURN_IF_ERROR(
        ImportTree(trees[t], &feature_categorical, &tree).WithContext(fmt::format("tree {}", t)));
    tree.class_index = info[t].get<int32_t>();
    m->trees.push_back(std::move(tree));
  }
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
  try {
    json root = json::parse(NanToNull(text));
    Status s = Import(root, &m);
    if (!s.ok()) {
      return Status(
          s.code() == StatusCode::kUnimplemented ? s.code() : StatusCode::kInvalidArgument,
          fmt::format("{}: not a usable XGBoost JSON model: {}", source, s.message()));
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError(
        fmt::format("{}: not a usable XGBoost JSON model: {}", source, e.what()));
  }
  return m;
}

}  // namespace kiln::model
