// Column profiles: the statistics kiln computes for every column while ingesting, stores in the
// dataset manifest, shows in `kiln data show`, and compares in `diff` and `validate --against`.
//
//   ProfileBuilder b(DataType::kFloat64);
//   for (const Column& chunk : chunks) b.Add(chunk);
//   ColumnProfile p = b.Finish();
//
// Memory per builder is bounded: a KLL quantile sketch (k = 256), a HyperLogLog (4 KiB) and at
// most kMaxTrackedValues exact value counts.
// Thread-safety: a builder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kiln/data/column.h"

namespace kiln::data {

struct ValueCount {
  std::string value;
  uint64_t count = 0;
  friend bool operator==(const ValueCount&, const ValueCount&) = default;
};

struct ColumnProfile {
  static constexpr int kQuantilePoints = 21;  // probabilities 0, 0.05, ..., 1
  static constexpr size_t kTopK = 20;

  uint64_t count = 0;  // rows
  uint64_t nulls = 0;
  // Numeric columns (bool, int64, float, timestamp), over present finite values.
  std::optional<double> min, max, mean, std;
  uint64_t infinities = 0;
  std::vector<double> quantiles;  // kQuantilePoints values, empty if no numeric values
  // Categorical, string and bool columns: the most frequent values, most frequent first.
  std::vector<ValueCount> top;
  bool top_complete = false;  // `top` lists every distinct value
  uint64_t distinct = 0;      // estimate (HyperLogLog), exact below a few hundred

  double null_fraction() const { return count == 0 ? 0.0 : static_cast<double>(nulls) / count; }
  friend bool operator==(const ColumnProfile&, const ColumnProfile&) = default;
};

// KLL quantile sketch over doubles, deterministic (no random state). Past kExactPrefix values
// it samples systematically: with stride 2^h it keeps every 2^h-th value at level h (weight
// 2^h), which bounds the work per value without biasing ranks; min and max stay exact.
class QuantileSketch {
 public:
  static constexpr uint64_t kExactPrefix = uint64_t{1} << 16;
  explicit QuantileSketch(int k = 256) : k_(k) { UpdateCapacities(); }
  void Add(double v);
  uint64_t count() const { return n_; }
  // Approximate quantile for p in [0, 1]; precondition count() > 0.
  double Quantile(double p) const;
  std::vector<double> Quantiles(int points) const;

 private:
  void Compress();
  void UpdateCapacities();

  int k_;
  uint64_t n_ = 0;
  double min_ = 0, max_ = 0;
  size_t stride_level_ = 0;  // values are kept at this level, every 2^stride_level_-th one
  uint64_t coin_ = 0x9e3779b97f4a7c15ull;
  std::vector<std::vector<double>> levels_{1};
  // capacities_[h]: max(2, k * (2/3)^(depth of h)), recomputed when a level is added.
  std::vector<size_t> capacities_;
};

// Distinct-count estimator: exact up to kExactLimit distinct hashes, HyperLogLog with 2^12
// registers (about 1.6% standard error) beyond.
class DistinctCounter {
 public:
  static constexpr size_t kExactLimit = 2048;
  DistinctCounter() : registers_(kRegisters, 0) {}
  void AddHash(uint64_t hash);
  uint64_t Estimate() const;

 private:
  static constexpr int kBits = 12;
  static constexpr size_t kRegisters = size_t{1} << kBits;
  std::vector<uint8_t> registers_;
  std::unordered_set<uint64_t> exact_;
  bool exact_overflow_ = false;
};

class ProfileBuilder {
 public:
  static constexpr size_t kMaxTrackedValues = 100000;
  explicit ProfileBuilder(DataType type) : type_(type) {}
  void Add(const Column& column);
  ColumnProfile Finish() const;

 private:
  void AddNumericBatch(const double* values, size_t n);
  void AddText(std::string_view v);

  DataType type_;
  uint64_t count_ = 0, nulls_ = 0, infinities_ = 0;
  uint64_t n_ = 0;
  double mean_ = 0, m2_ = 0, min_ = 0, max_ = 0;
  QuantileSketch sketch_;
  DistinctCounter distinct_;
  std::unordered_map<std::string, uint64_t> text_counts_;
  bool text_overflow_ = false;
  std::vector<uint64_t> code_counts_;
  std::shared_ptr<const Dictionary> dictionary_;
};

// Population stability index of `actual` against `expected` over the expected profile's
// quantile bins (numeric) or categories (categorical/string/bool); nullopt if either profile
// has no values to compare. Empty bins are smoothed with 1e-4.
std::optional<double> Psi(const ColumnProfile& expected, const ColumnProfile& actual);

}  // namespace kiln::data
