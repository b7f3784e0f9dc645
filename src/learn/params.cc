#include "kiln/learn/params.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace kiln::learn {
namespace {

template <typename T>
Status ParseNumber(std::string_view name, std::string_view text, T* out) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return InvalidArgumentError(
        fmt::format("parameter {}: '{}' is not a valid number", name, text.substr(0, 64)));
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v))
      return InvalidArgumentError(fmt::format("parameter {}: not finite", name));
  }
  *out = v;
  return Status::Ok();
}

}  // namespace

std::string_view CanonicalParamName(std::string_view n) {
  struct Alias {
    std::string_view alias, name;
  };
  static constexpr Alias kAliases[] = {
      {"num_trees", "num_trees"},
      {"n_estimators", "num_trees"},
      {"num_iterations", "num_trees"},
      {"num_boost_round", "num_trees"},
      {"num_round", "num_trees"},
      {"max_iter", "num_trees"},
      {"learning_rate", "learning_rate"},
      {"eta", "learning_rate"},
      {"shrinkage_rate", "learning_rate"},
      {"max_depth", "max_depth"},
      {"num_leaves", "num_leaves"},
      {"max_leaves", "num_leaves"},
      {"max_leaf_nodes", "num_leaves"},
      {"max_bin", "max_bin"},
      {"max_bins", "max_bin"},
      {"lambda", "lambda"},
      {"reg_lambda", "lambda"},
      {"lambda_l2", "lambda"},
      {"l2_regularization", "lambda"},
      {"alpha", "alpha"},
      {"reg_alpha", "alpha"},
      {"lambda_l1", "alpha"},
      {"min_child_weight", "min_child_weight"},
      {"min_sum_hessian_in_leaf", "min_child_weight"},
      {"min_data_in_leaf", "min_data_in_leaf"},
      {"min_child_samples", "min_data_in_leaf"},
      {"min_samples_leaf", "min_data_in_leaf"},
      {"min_split_gain", "min_split_gain"},
      {"gamma", "min_split_gain"},
      {"min_gain_to_split", "min_split_gain"},
      {"max_delta_step", "max_delta_step"},
      {"subsample", "subsample"},
      {"bagging_fraction", "subsample"},
      {"colsample", "colsample"},
      {"colsample_bytree", "colsample"},
      {"feature_fraction", "colsample"},
      {"max_cat_to_onehot", "max_cat_to_onehot"},
      {"objective", "objective"},
      {"early_stopping_rounds", "early_stopping_rounds"},
      {"early_stopping_round", "early_stopping_rounds"},
      {"seed", "seed"},
      {"random_state", "seed"},
      {"threads", "threads"},
      {"nthread", "threads"},
      {"num_threads", "threads"},
      {"n_jobs", "threads"},
  };
  for (const auto& a : kAliases) {
    if (a.alias == n) return a.name;
  }
  return {};
}

Status GbdtParams::Set(std::string_view name, std::string_view value) {
  const std::string_view n = CanonicalParamName(name);
  if (n.empty()) {
    return InvalidArgumentError(fmt::format("unknown parameter '{}'", name.substr(0, 64)));
  }
  if (n == "num_trees") return ParseNumber(n, value, &num_trees);
  if (n == "learning_rate") return ParseNumber(n, value, &learning_rate);
  if (n == "max_depth") return ParseNumber(n, value, &max_depth);
  if (n == "num_leaves") return ParseNumber(n, value, &num_leaves);
  if (n == "max_bin") return ParseNumber(n, value, &max_bin);
  if (n == "lambda") return ParseNumber(n, value, &lambda);
  if (n == "alpha") return ParseNumber(n, value, &alpha);
  if (n == "min_child_weight") return ParseNumber(n, value, &min_child_weight);
  if (n == "min_data_in_leaf") return ParseNumber(n, value, &min_data_in_leaf);
  if (n == "min_split_gain") return ParseNumber(n, value, &min_split_gain);
  if (n == "max_delta_step") return ParseNumber(n, value, &max_delta_step);
  if (n == "subsample") return ParseNumber(n, value, &subsample);
  if (n == "colsample") return ParseNumber(n, value, &colsample);
  if (n == "max_cat_to_onehot") return ParseNumber(n, value, &max_cat_to_onehot);
  if (n == "early_stopping_rounds") return ParseNumber(n, value, &early_stopping_rounds);
  if (n == "seed") return ParseNumber(n, value, &seed);
  if (n == "threads") return ParseNumber(n, value, &threads);
  KILN_ASSIGN_OR_RETURN(objective, model::ParseObjective(value));
  return Status::Ok();
}

Status GbdtParams::Validate() const {
  auto bad = [](std::string_view what) { return InvalidArgumentError(std::string(what)); };
  if (num_trees < 1 || num_trees > 100000) return bad("num_trees must be in [1, 100000]");
  if (!(learning_rate > 0 && learning_rate <= 10)) return bad("learning_rate must be in (0, 10]");
  if (max_depth < 0 || max_depth > 64) return bad("max_depth must be in [0, 64]");
  if (num_leaves < 0 || num_leaves == 1 || num_leaves > 131072) {
    return bad("num_leaves must be 0 (depth-wise) or in [2, 131072]");
  }
  if (max_depth == 0 && num_leaves == 0) return bad("max_depth 0 needs num_leaves > 0");
  if (max_bin < 2 || max_bin > 255) return bad("max_bin must be in [2, 255]");
  if (lambda < 0 || alpha < 0 || min_child_weight < 0 || min_split_gain < 0 || max_delta_step < 0) {
    return bad("lambda, alpha, min_child_weight, min_split_gain, max_delta_step must be >= 0");
  }
  if (min_data_in_leaf < 1) return bad("min_data_in_leaf must be >= 1");
  if (!(subsample > 0 && subsample <= 1) || !(colsample > 0 && colsample <= 1)) {
    return bad("subsample and colsample must be in (0, 1]");
  }
  if (max_cat_to_onehot < 1) return bad("max_cat_to_onehot must be >= 1");
  if (early_stopping_rounds < 0) return bad("early_stopping_rounds must be >= 0");
  if (threads < 0 || threads > 1024) return bad("threads must be in [0, 1024]");
  return Status::Ok();
}

std::string GbdtParams::ToJson() const {
  return fmt::format(
      R"({{"num_trees":{},"learning_rate":{},"max_depth":{},"num_leaves":{},"max_bin":{},)"
      R"("lambda":{},"alpha":{},"min_child_weight":{},"min_data_in_leaf":{},"min_split_gain":{},)"
      R"("max_delta_step":{},"subsample":{},"colsample":{},"max_cat_to_onehot":{},)"
      R"("objective":"{}","early_stopping_rounds":{},"seed":{}}})",
      num_trees, learning_rate, max_depth, num_leaves, max_bin, lambda, alpha, min_child_weight,
      min_data_in_leaf, min_split_gain, max_delta_step, subsample, colsample, max_cat_to_onehot,
      objective ? model::ObjectiveName(*objective) : "auto", early_stopping_rounds, seed);
}

}  // namespace kiln::learn
