#include "kiln/data/profile.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/base/hash.h"

namespace kiln::data {

// ---- QuantileSketch (KLL) --------------------------------------------------------------------

void QuantileSketch::UpdateCapacities() {
  capacities_.resize(levels_.size());
  for (size_t h = 0; h < levels_.size(); ++h) {
    const size_t depth = levels_.size() - 1 - h;
    capacities_[h] =
        std::max<size_t>(2, static_cast<size_t>(std::ceil(k_ * std::pow(2.0 / 3.0, depth))));
  }
}

void QuantileSketch::Add(double v) {
  if (n_ == 0) min_ = max_ = v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  ++n_;
  if (n_ >= (kExactPrefix << stride_level_)) ++stride_level_;  // sample twice as sparsely
  if ((n_ & ((uint64_t{1} << stride_level_) - 1)) != 0) return;
  while (levels_.size() <= stride_level_) {
    levels_.emplace_back();
    UpdateCapacities();
  }
  auto& level = levels_[stride_level_];
  level.push_back(v);
  if (level.size() >= capacities_[stride_level_]) Compress();
}

void QuantileSketch::Compress() {
  for (size_t h = 0; h < levels_.size(); ++h) {
    if (levels_[h].size() < capacities_[h]) continue;
    if (h + 1 == levels_.size()) {
      levels_.emplace_back();
      UpdateCapacities();
    }
    auto& level = levels_[h];
    std::sort(level.begin(), level.end());
    // Deterministic alternating coin keeps results reproducible for the same input order.
    coin_ ^= coin_ << 13, coin_ ^= coin_ >> 7, coin_ ^= coin_ << 17;
    const size_t offset = coin_ & 1;
    const size_t pairs = level.size() / 2 * 2;
    auto& up = levels_[h + 1];
    for (size_t i = offset; i < pairs; i += 2) up.push_back(level[i]);
    // Keep the odd element, if any, without reallocating the level.
    level.erase(level.begin(), level.begin() + static_cast<ptrdiff_t>(pairs));
  }
}

double QuantileSketch::Quantile(double p) const {
  if (n_ > 0 && p <= 0) return min_;  // the extremes are tracked exactly
  if (n_ > 0 && p >= 1) return max_;
  std::vector<std::pair<double, uint64_t>> items;
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) items.emplace_back(v, uint64_t{1} << h);
  }
  if (items.empty()) return std::nan("");
  std::sort(items.begin(), items.end());
  uint64_t total = 0;
  for (auto& it : items) total += it.second;
  const double target = p * static_cast<double>(total);
  uint64_t cum = 0;
  for (auto& it : items) {
    cum += it.second;
    if (static_cast<double>(cum) >= target) return it.first;
  }
  return items.back().first;
}

std::vector<double> QuantileSketch::Quantiles(int points) const {
  std::vector<double> out;
  if (n_ == 0 || points < 2) return out;
  for (int i = 0; i < points; ++i) out.push_back(Quantile(static_cast<double>(i) / (points - 1)));
  return out;
}

// ---- DistinctCounter (HyperLogLog) -----------------------------------------------------------

void DistinctCounter::AddHash(uint64_t hash) {
  if (!exact_overflow_) {
    exact_.insert(hash);
    if (exact_.size() > kExactLimit) {
      exact_overflow_ = true;
      exact_.clear();
    }
  }
  const size_t idx = hash >> (64 - kBits);
  const uint64_t rest = (hash << kBits) | (uint64_t{1} << (kBits - 1));
  const uint8_t rank = static_cast<uint8_t>(__builtin_clzll(rest) + 1);
  registers_[idx] = std::max(registers_[idx], rank);
}

uint64_t DistinctCounter::Estimate() const {
  if (!exact_overflow_) return exact_.size();
  const double m = static_cast<double>(kRegisters);
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));
  return static_cast<uint64_t>(std::llround(e));
}

// ---- ProfileBuilder --------------------------------------------------------------------------

namespace {

// splitmix64's finalizer: a strong 64-bit mixer, far cheaper than hashing 8 bytes with XXH3.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

void ProfileBuilder::AddNumericBatch(const double* values, size_t n) {
  // Moments of the batch in two passes (no division per value), merged with Chan's formula.
  double lo = 0, hi = 0, sum = 0;
  uint64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) {
      infinities_ += std::isinf(v);
      continue;
    }
    if (count == 0) lo = hi = v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    ++count;
    sketch_.Add(v);
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    distinct_.AddHash(Mix64(bits));
  }
  if (count == 0) return;
  const double mean = sum / static_cast<double>(count);
  double m2 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(values[i])) m2 += (values[i] - mean) * (values[i] - mean);
  }
  if (n_ == 0) min_ = lo, max_ = hi;
  min_ = std::min(min_, lo);
  max_ = std::max(max_, hi);
  const double total = static_cast<double>(n_ + count);
  const double delta = mean - mean_;
  m2_ += m2 + delta * delta * static_cast<double>(n_) * static_cast<double>(count) / total;
  mean_ += delta * static_cast<double>(count) / total;
  n_ += count;
}

void ProfileBuilder::AddText(std::string_view v) {
  distinct_.AddHash(Xxh3_64(v));
  auto it = text_counts_.find(std::string(v));
  if (it != text_counts_.end()) {
    ++it->second;
  } else if (text_counts_.size() < kMaxTrackedValues) {
    text_counts_.emplace(std::string(v), 1);
  } else {
    text_overflow_ = true;
  }
}

void ProfileBuilder::Add(const Column& c) {
  count_ += c.size();
  nulls_ += c.null_count();
  if (c.type() == DataType::kCategorical) {
    dictionary_ = c.dictionary();
    const auto& codes = c.codes();
    for (RowIndex i = 0; i < c.size(); ++i) {
      if (!c.IsValid(i)) continue;
      if (codes[i] >= code_counts_.size()) code_counts_.resize(codes[i] + 1, 0);
      ++code_counts_[codes[i]];
    }
    return;
  }
  if (c.type() == DataType::kString) {
    for (RowIndex i = 0; i < c.size(); ++i) {
      if (c.IsValid(i)) AddText(c.StringAt(i));
    }
    return;
  }
  if (c.type() == DataType::kFloat64 && c.null_count() == 0) {
    AddNumericBatch(c.float64s().data(), c.size());  // the common dense case
  } else {
    std::vector<double> present;
    present.reserve(c.size() - c.null_count());
    for (RowIndex i = 0; i < c.size(); ++i) {
      if (c.IsValid(i)) present.push_back(c.NumericAt(i));
    }
    AddNumericBatch(present.data(), present.size());
  }
  if (c.type() == DataType::kBool) {
    for (RowIndex i = 0; i < c.size(); ++i) {
      if (c.IsValid(i)) {
        auto& slot = text_counts_[c.bools()[i] ? "true" : "false"];
        ++slot;
      }
    }
  }
}

ColumnProfile ProfileBuilder::Finish() const {
  ColumnProfile p;
  p.count = count_;
  p.nulls = nulls_;
  p.infinities = infinities_;
  if (n_ > 0) {
    p.min = min_;
    p.max = max_;
    p.mean = mean_;
    p.std = n_ > 1 ? std::sqrt(m2_ / static_cast<double>(n_ - 1)) : 0.0;
    p.quantiles = sketch_.Quantiles(ColumnProfile::kQuantilePoints);
  }
  std::vector<ValueCount> values;
  if (type_ == DataType::kCategorical) {
    for (size_t code = 0; code < code_counts_.size(); ++code) {
      if (code_counts_[code] == 0) continue;
      std::string name = dictionary_ && code < dictionary_->size() ? (*dictionary_)[code] : "";
      values.push_back({std::move(name), code_counts_[code]});
    }
    p.distinct = values.size();
    p.top_complete = true;
  } else if (type_ == DataType::kString || type_ == DataType::kBool) {
    for (const auto& [v, n] : text_counts_) values.push_back({v, n});
    p.top_complete = !text_overflow_;
    p.distinct = p.top_complete ? values.size() : distinct_.Estimate();
  } else {
    p.distinct = distinct_.Estimate();
  }
  std::sort(values.begin(), values.end(), [](const ValueCount& a, const ValueCount& b) {
    return a.count != b.count ? a.count > b.count : a.value < b.value;
  });
  if (values.size() > ColumnProfile::kTopK) {
    values.resize(ColumnProfile::kTopK);
    p.top_complete = false;
  }
  p.top = std::move(values);
  return p;
}

// ---- PSI -------------------------------------------------------------------------------------

namespace {

// Fraction of a distribution (given by evenly spaced quantile points) at or below x.
double CdfFromQuantiles(const std::vector<double>& q, double x) {
  const size_t n = q.size();
  if (x < q.front()) return 0.0;
  if (x >= q.back()) return 1.0;
  size_t i = static_cast<size_t>(std::upper_bound(q.begin(), q.end(), x) - q.begin());
  // q[i-1] <= x < q[i]; interpolate linearly inside the segment.
  const double lo = q[i - 1], hi = q[i];
  const double frac = hi > lo ? (x - lo) / (hi - lo) : 1.0;
  return (static_cast<double>(i - 1) + frac) / static_cast<double>(n - 1);
}

double PsiTerm(double e, double a) {
  constexpr double kEps = 1e-4;
  e = std::max(e, kEps);
  a = std::max(a, kEps);
  return (a - e) * std::log(a / e);
}

}  // namespace

std::optional<double> Psi(const ColumnProfile& expected, const ColumnProfile& actual) {
  if (!expected.quantiles.empty() && !actual.quantiles.empty() && expected.top.empty()) {
    // Decile bins of the expected distribution (deduplicated edges for discrete columns).
    std::vector<double> edges;
    const auto& q = expected.quantiles;
    for (size_t i = 2; i + 1 < q.size(); i += 2) {
      if (edges.empty() || q[i] > edges.back()) edges.push_back(q[i]);
    }
    double psi = 0, prev_e = 0, prev_a = 0;
    for (size_t b = 0; b <= edges.size(); ++b) {
      double ce = b < edges.size() ? CdfFromQuantiles(q, edges[b]) : 1.0;
      double ca = b < edges.size() ? CdfFromQuantiles(actual.quantiles, edges[b]) : 1.0;
      psi += PsiTerm(ce - prev_e, ca - prev_a);
      prev_e = ce;
      prev_a = ca;
    }
    return psi;
  }
  if (expected.top.empty() || actual.top.empty()) return std::nullopt;
  const double ne = static_cast<double>(expected.count - expected.nulls);
  const double na = static_cast<double>(actual.count - actual.nulls);
  if (ne <= 0 || na <= 0) return std::nullopt;
  double psi = 0, seen_e = 0, seen_a = 0;
  for (const auto& v : expected.top) {
    double a = 0;
    for (const auto& w : actual.top) {
      if (w.value == v.value) a = static_cast<double>(w.count);
    }
    psi += PsiTerm(static_cast<double>(v.count) / ne, a / na);
    seen_e += static_cast<double>(v.count) / ne;
    seen_a += a / na;
  }
  psi += PsiTerm(1.0 - seen_e, 1.0 - seen_a);  // everything outside expected's top values
  return psi;
}

}  // namespace kiln::data
