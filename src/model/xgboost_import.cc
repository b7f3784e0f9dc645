#include "kiln/model/xgboost_import.h"

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

Status ImportTree(const json& t, size_t num_features, Tree* out) {
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
  if (t.contains("split_type")) {
    for (const auto& st : t.at("split_type")) {
      if (st.get<int>() != 0) return UnimplementedError("categorical splits are not imported yet");
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
    node.threshold = ThresholdForFloatLess(static_cast<float>(cond[i].get<double>()));
    node.gain = gain[i].get<double>();
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
  for (size_t f = 0; f < num_features; ++f) {
    FeatureInfo fi;
    fi.name = f < names.size() && !names[f].empty() ? names[f] : fmt::format("f{}", f);
    fi.bin_edges = {std::numeric_limits<double>::infinity()};
    m->features.push_back(std::move(fi));
  }
  const json& model = learner.at("gradient_booster").at("model");
  const json& trees = model.at("trees");
  const json& info = model.at("tree_info");
  if (trees.size() != info.size()) return InvalidArgumentError("tree_info length mismatch");
  for (size_t t = 0; t < trees.size(); ++t) {
    Tree tree;
    KILN_RETURN_IF_ERROR(
        ImportTree(trees[t], num_features, &tree).WithContext(fmt::format("tree {}", t)));
    tree.class_index = info[t].get<int32_t>();
    m->trees.push_back(std::move(tree));
  }
  m->params_json = R"({"imported_from":"xgboost"})";
  return m->Validate();
}

}  // namespace

Result<TreeModel> ImportXgboostJson(std::string_view text, std::string_view source) {
  TreeModel m;
  try {
    json root = json::parse(text);
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
