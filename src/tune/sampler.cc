// Random and TPE samplers over a SearchSpace (space.h).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/tune/space.h"

namespace kiln::tune {

namespace {

constexpr int kCandidates = 24;

// Numeric parameters are sampled in an internal space: log(x) for log ranges, x otherwise;
// ints get +-0.5 around their bounds so every whole value has equal room.
struct Range {
  double lo, hi;
};

Range InternalRange(const ParamSpec& p) {
  double lo = p.low, hi = p.high;
  if (p.type == ParamSpec::Type::kInt) lo -= 0.499, hi += 0.499;
  if (p.log) lo = std::log(std::max(lo, p.low * 0.5)), hi = std::log(hi);
  return {lo, hi};
}

double ToInternal(const ParamSpec& p, double v) { return p.log ? std::log(v) : v; }

double FromInternal(const ParamSpec& p, double u) {
  double v = p.log ? std::exp(u) : u;
  if (p.type == ParamSpec::Type::kInt) v = std::round(v);
  return std::clamp(v, p.low, p.high);
}

double RandomValue(const ParamSpec& p, std::mt19937_64& rng) {
  if (p.type == ParamSpec::Type::kCategorical) {
    return static_cast<double>(std::uniform_int_distribution<size_t>(0, p.values.size() - 1)(rng));
  }
  const Range r = InternalRange(p);
  return FromInternal(p, std::uniform_real_distribution<double>(r.lo, r.hi)(rng));
}

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(SearchSpace space) : space_(std::move(space)) {}
  Assignment Suggest(const std::vector<Observation>&, std::mt19937_64& rng) override {
    Assignment a;
    for (const auto& p : space_.params) a[p.name] = RandomValue(p, rng);
    return a;
  }

 private:
  SearchSpace space_;
};

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// A Parzen estimator: Gaussians at the observed points plus a wide prior at the middle, each
// truncated to the range; bandwidths from the neighbours' distances, clipped (as hyperopt).
class Parzen {
 public:
  Parzen(std::vector<double> points, Range r) : r_(r) {
    const double width = r.hi - r.lo;
    std::sort(points.begin(), points.end());
    const size_t n = points.size();
    const double min_sigma = width / std::min(100.0, 2.0 + static_cast<double>(n));
    for (size_t i = 0; i < n; ++i) {
      const double left = i == 0 ? points[i] - r.lo : points[i] - points[i - 1];
      const double right = i + 1 == n ? r.hi - points[i] : points[i + 1] - points[i];
      mu_.push_back(points[i]);
      sigma_.push_back(std::clamp(std::max(left, right), min_sigma, width));
    }
    mu_.push_back(0.5 * (r.lo + r.hi));  // the prior: the whole range
    sigma_.push_back(width);
  }
  double Sample(std::mt19937_64& rng) const {
    const size_t k = std::uniform_int_distribution<size_t>(0, mu_.size() - 1)(rng);
    std::normal_distribution<double> d(mu_[k], sigma_[k]);
    for (int t = 0; t < 100; ++t) {
      const double x = d(rng);
      if (x >= r_.lo && x <= r_.hi) return x;
    }
    return std::clamp(mu_[k], r_.lo, r_.hi);
  }
  double LogDensity(double x) const {
    double sum = 0;
    for (size_t i = 0; i < mu_.size(); ++i) {
      const double z = (x - mu_[i]) / sigma_[i];
      const double mass =
          NormalCdf((r_.hi - mu_[i]) / sigma_[i]) - NormalCdf((r_.lo - mu_[i]) / sigma_[i]);
      sum += std::exp(-0.5 * z * z) / (sigma_[i] * std::sqrt(2 * M_PI) * std::max(mass, 1e-12));
    }
    return std::log(sum / static_cast<double>(mu_.size()) + 1e-300);
  }

 private:
  Range r_;
  std::vector<double> mu_, sigma_;
};

class TpeSampler final : public Sampler {
 public:
  TpeSampler(SearchSpace space, int startup) : space_(std::move(space)), startup_(startup) {}

  Assignment Suggest(const std::vector<Observation>& history, std::mt19937_64& rng) override {
    Assignment a;
    if (static_cast<int>(history.size()) < startup_) {
      for (const auto& p : space_.params) a[p.name] = RandomValue(p, rng);
      return a;
    }
    // Good: the best ceil(10%) (at most 25) observations, as Optuna's default gamma.
    std::vector<size_t> order(history.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return history[x].loss < history[y].loss; });
    const size_t n_good = std::clamp<size_t>(
        static_cast<size_t>(std::ceil(0.1 * static_cast<double>(history.size()))), 1, 25);
    for (const auto& p : space_.params) {
      std::vector<double> good, bad;
      for (size_t i = 0; i < order.size(); ++i) {
        auto it = history[order[i]].params.find(p.name);
        if (it == history[order[i]].params.end()) continue;
        (i < n_good ? good : bad).push_back(it->second);
      }
      a[p.name] = p.type == ParamSpec::Type::kCategorical ? SuggestCategorical(p, good, bad, rng)
                                                          : SuggestNumeric(p, good, bad, rng);
    }
    return a;
  }

 private:
  static double SuggestNumeric(const ParamSpec& p, const std::vector<double>& good,
                               const std::vector<double>& bad, std::mt19937_64& rng) {
    const Range r = InternalRange(p);
    auto internal = [&](const std::vector<double>& v) {
      std::vector<double> out;
      for (double x : v) out.push_back(std::clamp(ToInternal(p, x), r.lo, r.hi));
      return out;
    };
    const Parzen l(internal(good), r), g(internal(bad), r);
    double best = 0, best_score = -INFINITY;
    for (int c = 0; c < kCandidates; ++c) {
      const double x = l.Sample(rng);
      const double score = l.LogDensity(x) - g.LogDensity(x);
      if (score > best_score) best_score = score, best = x;
    }
    return FromInternal(p, best);
  }

  static double SuggestCategorical(const ParamSpec& p, const std::vector<double>& good,
                                   const std::vector<double>& bad, std::mt19937_64& rng) {
    const size_t k = p.values.size();
    std::vector<double> wl(k, 1.0), wg(k, 1.0);  // a prior count of one per value
    for (double v : good) {
      if (v >= 0 && v < static_cast<double>(k)) wl[static_cast<size_t>(v)] += 1;
    }
    for (double v : bad) {
      if (v >= 0 && v < static_cast<double>(k)) wg[static_cast<size_t>(v)] += 1;
    }
    const double sl = std::accumulate(wl.begin(), wl.end(), 0.0);
    const double sg = std::accumulate(wg.begin(), wg.end(), 0.0);
    std::discrete_distribution<size_t> draw(wl.begin(), wl.end());
    size_t best = 0;
    double best_score = -INFINITY;
    for (int c = 0; c < kCandidates; ++c) {
      const size_t x = draw(rng);
      const double score = std::log(wl[x] / sl) - std::log(wg[x] / sg);
      if (score > best_score) best_score = score, best = x;
    }
    return static_cast<double>(best);
  }

  SearchSpace space_;
  int startup_;
};

}  // namespace

std::unique_ptr<Sampler> NewRandomSampler(SearchSpace space) {
  return std::make_unique<RandomSampler>(std::move(space));
}

std::unique_ptr<Sampler> NewTpeSampler(SearchSpace space, int startup) {
  return std::make_unique<TpeSampler>(std::move(space), std::max(1, startup));
}

}  // namespace kiln::tune
