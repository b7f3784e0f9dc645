// Private to gbdt: gradient histograms and the best split of a node.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/learn/binning.h"
#include "kiln/learn/objective.h"
#include "kiln/learn/params.h"

namespace kiln::learn::gbdt {

struct Sum {
  double g = 0;
  double h = 0;
  uint32_t n = 0;
  void Add(const Sum& o) { g += o.g, h += o.h, n += o.n; }
  Sum Minus(const Sum& o) const { return {g - o.g, h - o.h, n - o.n}; }
};

// Histograms of all features, concatenated; feature f owns [offset[f], offset[f] + bins + 1).
struct Layout {
  std::vector<size_t> offset;
  size_t total = 0;
  explicit Layout(const BinnedData& x);
};

using Bitset = std::array<uint64_t, 4>;  // 256 category bins
inline bool Test(const Bitset& b, uint32_t i) { return (b[i >> 6] >> (i & 63)) & 1; }
inline void SetBit(Bitset& b, uint32_t i) { b[i >> 6] |= uint64_t{1} << (i & 63); }

struct Split {
  double gain = -std::numeric_limits<double>::infinity();
  uint32_t feature = 0;
  bool categorical = false;
  uint16_t bin = 0;  // numeric: bins <= bin go left
  Bitset left_cats{};
  bool default_left = false;
  Sum left, right;
  bool valid() const { return gain > -std::numeric_limits<double>::infinity(); }
  // Where a row with bin `b` goes (missing_bin: the learned default).
  bool GoesLeft(uint8_t b, uint16_t missing_bin) const {
    if (b == missing_bin) return default_left;
    return categorical ? Test(left_cats, b) : b <= bin;
  }
};

// Builds the histogram of rows[begin, end) (in order) for the features flagged in `use`.
void BuildHistogram(const BinnedData& x, const Layout& layout, const std::vector<uint8_t>& use,
                    const std::vector<GradPair>& grad, const uint32_t* rows, size_t count,
                    std::vector<Sum>* hist, const ExecContext& ctx);

// The best split of a node with totals `total` over features flagged in `use`; !valid() if none
// satisfies the constraints.
// With `parallel_features` the features are searched across the context's threads (worth it
// for the few large nodes near the root; small nodes are searched in parallel with each other).
Split FindBestSplit(const BinnedData& x, const Layout& layout, const std::vector<uint8_t>& use,
                    const std::vector<Sum>& hist, const Sum& total, const GbdtParams& p,
                    const ExecContext& ctx, bool parallel_features);

// Regularised leaf output (before the learning rate).
double LeafWeight(const Sum& s, const GbdtParams& p);

}  // namespace kiln::learn::gbdt
