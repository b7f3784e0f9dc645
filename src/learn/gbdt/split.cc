#include "learn/gbdt/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/base/thread_pool.h"

namespace kiln::learn::gbdt {

Layout::Layout(const BinnedData& x) {
  for (size_t f = 0; f < x.num_features(); ++f) {
    offset.push_back(total);
    total += x.num_bins[f] + 1u;
  }
}

void BuildHistogram(const BinnedData& x, const Layout& layout, const std::vector<uint8_t>& use,
                    const std::vector<GradPair>& grad, const uint32_t* rows, size_t count,
                    std::vector<Sum>* hist, const ExecContext& ctx) {
  hist->assign(layout.total, Sum{});
  if (count == 0) return;
  // Gradients gathered once in node order, so each feature pass reads them sequentially and
  // only the bin lookup is a random access. Deep nodes' rows are scattered over the columns:
  // both gathers fetch a few rows ahead.
  constexpr size_t kAhead = 32;
  const size_t last = count - 1;
  thread_local std::vector<GradPair> ordered;
  ordered.resize(count);
  for (size_t i = 0; i < count; ++i) {
    __builtin_prefetch(grad.data() + rows[std::min(i + kAhead, last)]);
    ordered[i] = grad[rows[i]];
  }
  const GradPair* og = ordered.data();
  // Small nodes are not worth the hand-off to another thread.
  const bool parallel = count * x.num_features() > 65536;
  auto one = [&](size_t f) -> Status {
    if (!use[f]) return Status::Ok();
    const uint8_t* col = x.column(f);
    Sum* h = hist->data() + layout.offset[f];
    for (size_t i = 0; i < count; ++i) {
      __builtin_prefetch(col + rows[std::min(i + kAhead, last)]);
      Sum& s = h[col[rows[i]]];
      s.g += og[i].g;
      s.h += og[i].h;
      ++s.n;
    }
    return Status::Ok();
  };
  if (parallel) {
    ParallelFor(ctx, x.num_features(), one).IgnoreError();  // the body cannot fail
  } else {
    for (size_t f = 0; f < x.num_features(); ++f) one(f).IgnoreError();
  }
}

double LeafWeight(const Sum& s, const GbdtParams& p) {
  double g = s.g;
  if (p.alpha > 0) g = g > p.alpha ? g - p.alpha : (g < -p.alpha ? g + p.alpha : 0.0);
  double w = -g / (s.h + p.lambda);
  if (p.max_delta_step > 0) w = std::clamp(w, -p.max_delta_step, p.max_delta_step);
  return w;
}

namespace {

// Loss reduction score of a node with sums `s` (the structure score of XGBoost).
double Score(const Sum& s, const GbdtParams& p) {
  double g = s.g;
  if (p.alpha > 0) g = g > p.alpha ? g - p.alpha : (g < -p.alpha ? g + p.alpha : 0.0);
  if (p.max_delta_step > 0) {
    const double w = LeafWeight(s, p);
    return -(2 * s.g * w + (s.h + p.lambda) * w * w);
  }
  return g * g / (s.h + p.lambda);
}

bool Admissible(const Sum& l, const Sum& r, const GbdtParams& p) {
  return l.n >= static_cast<uint32_t>(p.min_data_in_leaf) &&
         r.n >= static_cast<uint32_t>(p.min_data_in_leaf) && l.h >= p.min_child_weight &&
         r.h >= p.min_child_weight;
}

void Consider(Split* best, const Sum& left, const Sum& total, double parent_score,
              const GbdtParams& p, const Split& candidate) {
  const Sum right = total.Minus(left);
  if (!Admissible(left, right, p)) return;
  const double gain = 0.5 * (Score(left, p) + Score(right, p) - parent_score);
  if (gain > best->gain) {
    *best = candidate;
    best->gain = gain;
    best->left = left;
    best->right = right;
  }
}

// Hot loop: scans the bins once per missing direction with the gain inlined; the Split is built
// only for the winner. Empty bins (after the first) repeat the previous partition and are
// skipped; once the right side is too small it only shrinks, so the scan stops.
Split BestNumeric(const Sum* h, uint16_t bins, uint32_t f, const Sum& total, double parent,
                  const GbdtParams& p) {
  const Sum miss = h[bins];
  const bool plain = p.alpha == 0 && p.max_delta_step == 0;
  const uint32_t min_n = static_cast<uint32_t>(p.min_data_in_leaf);
  double best_score = -std::numeric_limits<double>::infinity();
  int best_bin = -1;
  bool best_miss_left = false;
  Sum best_left;
  for (int dir = 0; dir < (miss.n > 0 ? 2 : 1); ++dir) {
    const bool miss_left = dir == 1;
    Sum left = miss_left ? miss : Sum{};
    for (uint16_t b = 0; b + 1 < bins; ++b) {
      if (h[b].n == 0 && b > 0) continue;
      left.Add(h[b]);
      const Sum right = total.Minus(left);
      if (right.n < min_n) break;
      if (left.n < min_n || left.h < p.min_child_weight || right.h < p.min_child_weight) continue;
      const double score =
          plain ? left.g * left.g / (left.h + p.lambda) + right.g * right.g / (right.h + p.lambda)
                : Score(left, p) + Score(right, p);
      if (score > best_score) {
        best_score = score;
        best_bin = b;
        best_miss_left = miss_left;
        best_left = left;
      }
    }
  }
  Split best;
  if (best_bin < 0) return best;
  best.gain = 0.5 * (best_score - parent);
  best.feature = f;
  best.bin = static_cast<uint16_t>(best_bin);
  best.default_left = best_miss_left;
  best.left = best_left;
  best.right = total.Minus(best_left);
  // No missing values seen: send future ones to the heavier side.
  if (miss.n == 0) best.default_left = best.left.h >= best.right.h;
  return best;
}

// Categorical splits. Up to max_cat_to_onehot categories: one category vs the rest. Beyond:
// the categories with at least kMinDataPerCategory rows are ordered by g / (h + kCatSmooth) and
// the best set of at most kMaxCatThreshold categories from either end goes left (LightGBM's
// regularised partition search; without these limits wide categoricals overfit badly).
// Missing values are tried on both sides; rare categories go right with the rest.
constexpr uint32_t kMinDataPerCategory = 100;
constexpr double kCatSmooth = 10.0;
constexpr size_t kMaxCatThreshold = 32;

Split BestCategorical(const Sum* h, uint16_t bins, uint32_t f, const Sum& total, double parent,
                      const GbdtParams& p) {
  Split best;
  const Sum miss = h[bins];
  std::vector<uint32_t> cats;
  for (uint32_t c = 0; c < bins; ++c) {
    if (h[c].n > 0) cats.push_back(c);
  }
  if (cats.size() < 2 && miss.n == 0) return best;
  const bool onehot = cats.size() <= static_cast<size_t>(p.max_cat_to_onehot);
  if (!onehot) {
    const uint32_t min_n = std::min<uint32_t>(kMinDataPerCategory, total.n / 4 + 1);
    cats.erase(std::remove_if(cats.begin(), cats.end(), [&](uint32_t c) { return h[c].n < min_n; }),
               cats.end());
    std::stable_sort(cats.begin(), cats.end(), [&](uint32_t a, uint32_t b) {
      return h[a].g / (h[a].h + kCatSmooth) < h[b].g / (h[b].h + kCatSmooth);
    });
  }
  for (int dir = 0; dir < (miss.n > 0 ? 2 : 1); ++dir) {
    const bool miss_left = dir == 1;
    Split c;
    c.feature = f;
    c.categorical = true;
    c.default_left = miss_left;
    if (onehot) {
      for (uint32_t cat : cats) {
        Split one = c;
        SetBit(one.left_cats, cat);
        Sum l = miss_left ? miss : Sum{};
        l.Add(h[cat]);
        Consider(&best, l, total, parent, p, one);
      }
      continue;
    }
    // Prefixes from the low end, then from the high end, of at most kMaxCatThreshold.
    for (int from_high = 0; from_high < 2; ++from_high) {
      Split set = c;
      Sum left = miss_left ? miss : Sum{};
      const size_t limit = std::min(kMaxCatThreshold, cats.size() > 0 ? cats.size() - 1 : 0);
      for (size_t k = 0; k < limit; ++k) {
        const uint32_t cat = from_high ? cats[cats.size() - 1 - k] : cats[k];
        left.Add(h[cat]);
        SetBit(set.left_cats, cat);
        Consider(&best, left, total, parent, p, set);
      }
    }
  }
  if (best.valid() && miss.n == 0) best.default_left = false;  // unseen categories go right
  return best;
}

}  // namespace

Split FindBestSplit(const BinnedData& x, const Layout& layout, const std::vector<uint8_t>& use,
                    const std::vector<Sum>& hist, const Sum& total, const GbdtParams& p,
                    const ExecContext& ctx, bool parallel_features) {
  const double parent = Score(total, p);
  std::vector<Split> per_feature(x.num_features());
  auto one = [&](size_t f) -> Status {
    if (!use[f]) return Status::Ok();
    const Sum* h = hist.data() + layout.offset[f];
    const uint32_t fi = static_cast<uint32_t>(f);
    per_feature[f] = x.features[f].categorical
                         ? BestCategorical(h, x.num_bins[f], fi, total, parent, p)
                         : BestNumeric(h, x.num_bins[f], fi, total, parent, p);
    return Status::Ok();
  };
  if (parallel_features) {
    ParallelFor(ctx, x.num_features(), one).IgnoreError();  // the body cannot fail
  } else {
    for (size_t f = 0; f < x.num_features(); ++f) one(f).IgnoreError();
  }
  Split best;
  for (const Split& s : per_feature) {
    if (s.gain > best.gain) best = s;  // strict: ties keep the lower feature index
  }
  if (best.valid() && !(best.gain > p.min_split_gain && best.gain > 1e-12)) return Split{};
  return best;
}

}  // namespace kiln::learn::gbdt
