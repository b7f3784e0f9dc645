#include "kiln/learn/objective.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kiln/model/predictor.h"

namespace kiln::learn {

using model::Objective;

namespace {
double Sigmoid(double m) { return 1.0 / (1.0 + std::exp(-m)); }
constexpr double kMinHessian = 1e-16;
GradPair Pair(double g, double h) { return {static_cast<float>(g), static_cast<float>(h)}; }
}  // namespace

void ComputeGradients(Objective objective, int32_t groups, std::span<const double> margins,
                      std::span<const float> labels, std::span<GradPair> out) {
  const size_t rows = labels.size();
  switch (objective) {
    case Objective::kBinaryLogistic:
      for (size_t r = 0; r < rows; ++r) {
        const double p = Sigmoid(margins[r]);
        out[r] = Pair(p - labels[r], std::max(p * (1 - p), kMinHessian));
      }
      break;
    case Objective::kMulticlassSoftmax: {
      std::vector<double> p(static_cast<size_t>(groups));
      for (size_t r = 0; r < rows; ++r) {
        std::copy_n(margins.data() + r * groups, groups, p.data());
        model::TransformMargins(objective, p.data(), groups);
        for (int32_t k = 0; k < groups; ++k) {
          const double y = static_cast<int32_t>(labels[r]) == k ? 1.0 : 0.0;
          const double pk = p[static_cast<size_t>(k)];
          out[r * groups + k] = Pair(pk - y, std::max(2.0 * pk * (1 - pk), kMinHessian));
        }
      }
      break;
    }
    case Objective::kRegressionL2:
      for (size_t r = 0; r < rows; ++r) out[r] = Pair(margins[r] - labels[r], 1.0);
      break;
    case Objective::kRegressionL1:
      for (size_t r = 0; r < rows; ++r) {
        const double d = margins[r] - labels[r];
        out[r] = Pair(d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0), 1.0);
      }
      break;
    case Objective::kPoisson:
      for (size_t r = 0; r < rows; ++r) {
        const double mu = std::exp(margins[r]);
        // Hessian uses exp(margin + 0.7) as XGBoost does (max_delta_step for poisson) to keep
        // the first steps stable.
        out[r] = Pair(mu - labels[r], std::exp(margins[r] + 0.7));
      }
      break;
  }
}

std::vector<double> BaseScore(Objective objective, int32_t groups, std::span<const float> labels) {
  const double n = std::max<double>(1.0, static_cast<double>(labels.size()));
  const double mean = std::accumulate(labels.begin(), labels.end(), 0.0) / n;
  switch (objective) {
    case Objective::kBinaryLogistic: {
      const double p = std::clamp(mean, 1e-6, 1 - 1e-6);
      return {std::log(p / (1 - p))};
    }
    case Objective::kMulticlassSoftmax:
      return std::vector<double>(static_cast<size_t>(groups), 0.0);
    case Objective::kRegressionL1: {
      std::vector<float> v(labels.begin(), labels.end());
      if (v.empty()) return {0.0};
      std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
      return {v[v.size() / 2]};
    }
    case Objective::kPoisson:
      return {std::log(std::max(mean, 1e-6))};
    case Objective::kRegressionL2:
      return {mean};
  }
  return {0.0};
}

namespace {

double Auc(std::span<const double> scores, std::span<const float> labels) {
  std::vector<size_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney U with average ranks for ties.
  double pos = 0, rank_sum = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double avg_rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2.0 + 1.0;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] > 0.5) pos += 1, rank_sum += avg_rank;
    }
    i = j;
  }
  const double neg = static_cast<double>(labels.size()) - pos;
  if (pos == 0 || neg == 0) return 0.5;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

}  // namespace

bool HigherIsBetter(std::string_view metric) { return metric == "auc"; }

std::vector<std::string> DefaultMetrics(Objective objective) {
  switch (objective) {
    case Objective::kBinaryLogistic:
      return {"auc", "logloss", "error"};
    case Objective::kMulticlassSoftmax:
      return {"mlogloss", "merror"};
    case Objective::kRegressionL1:
      return {"mae", "rmse"};
    default:
      return {"rmse", "mae"};
  }
}

std::string LossMetric(Objective objective) {
  switch (objective) {
    case Objective::kBinaryLogistic:
      return "logloss";
    case Objective::kMulticlassSoftmax:
      return "mlogloss";
    case Objective::kRegressionL1:
      return "mae";
    default:
      return "rmse";
  }
}

Result<double> EvaluateMetric(std::string_view metric, Objective objective, int32_t groups,
                              std::span<const double> margins, std::span<const float> labels) {
  const size_t n = labels.size();
  if (n == 0) return InvalidArgumentError("no rows to evaluate");
  if (metric == "auc") return Auc(margins, labels);
  double sum = 0;
  if (metric == "error") {
    for (size_t r = 0; r < n; ++r) sum += (margins[r] > 0) != (labels[r] > 0.5);
    return sum / static_cast<double>(n);
  }
  if (metric == "logloss") {
    // -log(sigmoid(t)) with t the margin signed towards the label: log1p(exp(-|t|)) + max(-t, 0),
    // branch-free, clamped at -log(1e-15) like the probability it stands for.
    constexpr double kMaxLoss = 34.538776394910684;  // -log(1e-15)
    for (size_t r = 0; r < n; ++r) {
      const double t = labels[r] > 0.5 ? margins[r] : -margins[r];
      sum += std::min(std::log1p(std::exp(-std::fabs(t))) + std::max(-t, 0.0), kMaxLoss);
    }
    return sum / static_cast<double>(n);
  }
  if (metric == "mlogloss" || metric == "merror") {
    std::vector<double> p(static_cast<size_t>(groups));
    for (size_t r = 0; r < n; ++r) {
      std::copy_n(margins.data() + r * groups, groups, p.data());
      model::TransformMargins(objective, p.data(), groups);
      const auto y = static_cast<size_t>(labels[r]);
      if (metric == "merror") {
        sum += static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin()) != y;
      } else {
        sum -= std::log(std::clamp(p[y], 1e-15, 1.0));
      }
    }
    return sum / static_cast<double>(n);
  }
  if (metric == "rmse" || metric == "mae") {
    for (size_t r = 0; r < n; ++r) {
      double pred = margins[r];
      model::TransformMargins(objective, &pred, 1);
      const double d = pred - labels[r];
      sum += metric == "rmse" ? d * d : std::fabs(d);
    }
    return metric == "rmse" ? std::sqrt(sum / static_cast<double>(n))
                            : sum / static_cast<double>(n);
  }
  return InvalidArgumentError(fmt::format("unknown metric '{}'", metric.substr(0, 64)));
}

}  // namespace kiln::learn
