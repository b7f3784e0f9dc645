#include "kiln/learn/binning.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "kiln/base/thread_pool.h"

namespace kiln::learn {

std::vector<double> ComputeEdges(std::vector<double> v, int max_bin) {
  std::vector<double> edges;
  if (v.empty()) {
    edges.push_back(std::numeric_limits<double>::infinity());
    return edges;
  }
  std::vector<double> distinct;
  std::unique_copy(v.begin(), v.end(), std::back_inserter(distinct));
  if (static_cast<int>(distinct.size()) <= max_bin) {
    // One bin per distinct value: split points halfway between neighbours.
    for (size_t i = 0; i + 1 < distinct.size(); ++i) {
      edges.push_back(distinct[i] + (distinct[i + 1] - distinct[i]) / 2);
    }
  } else {
    for (int b = 1; b < max_bin; ++b) {
      const double q = v[static_cast<size_t>(static_cast<double>(b) * v.size() / max_bin)];
      if (edges.empty() || q > edges.back()) edges.push_back(q);
    }
  }
  edges.push_back(std::numeric_limits<double>::infinity());
  return edges;
}

namespace {

uint8_t NumericBin(const std::vector<double>& edges, double v) {
  return static_cast<uint8_t>(std::lower_bound(edges.begin(), edges.end(), v) - edges.begin());
}

// Bins one column into `out` (rows bytes) given the feature's edges or categories; a numeric
// column's smallest and largest value go to `*lo` and `*hi` (NaN when it has none).
Status BinColumn(const data::Column& col, const model::FeatureInfo& f, uint16_t num_bins,
                 uint8_t* out, double* lo, double* hi) {
  const uint8_t missing = static_cast<uint8_t>(num_bins);
  *lo = *hi = std::numeric_limits<double>::quiet_NaN();
  if (!f.categorical) {
    if (!data::IsNumeric(col.type())) {
      return InvalidArgumentError(fmt::format("feature '{}' must be numeric", f.name));
    }
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (size_t r = 0; r < col.size(); ++r) {
      const double v = col.NumericAt(r);
      if (std::isnan(v)) {
        out[r] = missing;
        continue;
      }
      out[r] = NumericBin(f.bin_edges, v);
      low = std::min(low, v);
      high = std::max(high, v);
    }
    if (low <= high) *lo = low, *hi = high;
    return Status::Ok();
  }
  // Categorical: translate the column's codes to the feature's dictionary once per code.
  std::unordered_map<std::string, uint32_t> code;
  for (uint32_t k = 0; k < f.categories.size(); ++k) code.emplace(f.categories[k], k);
  std::vector<int32_t> remap;
  const bool coded = col.type() == data::DataType::kCategorical && col.dictionary();
  if (coded) {
    for (const auto& s : *col.dictionary()) {
      auto it = code.find(s);
      remap.push_back(it == code.end() ? -1 : static_cast<int32_t>(it->second));
    }
  }
  for (size_t r = 0; r < col.size(); ++r) {
    int32_t k = -1;
    if (col.IsValid(r)) {
      if (coded) {
        k = col.codes()[r] < remap.size() ? remap[col.codes()[r]] : -1;
      } else {
        auto it = code.find(col.TextAt(r));
        k = it == code.end() ? -1 : static_cast<int32_t>(it->second);
      }
    }
    out[r] = k < 0 || k >= static_cast<int32_t>(num_bins) ? missing : static_cast<uint8_t>(k);
  }
  return Status::Ok();
}

uint16_t NumBins(const model::FeatureInfo& f) {
  if (!f.categorical) return static_cast<uint16_t>(f.bin_edges.size());
  return static_cast<uint16_t>(
      std::min<size_t>(std::max<size_t>(f.categories.size(), 1), kMaxBins));
}

}  // namespace

Result<BinnedData> BinDataset(const data::Dataset& d, const std::vector<size_t>& columns,
                              int max_bin, size_t sample_rows, const ExecContext& ctx) {
  if (max_bin < 2 || max_bin > kMaxBins) return InvalidArgumentError("max_bin must be in [2, 255]");
  BinnedData out;
  out.rows = d.num_rows();
  out.features.resize(columns.size());
  const size_t stride =
      std::max<size_t>(1, (out.rows + sample_rows - 1) / std::max<size_t>(1, sample_rows));
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, columns.size(), [&](size_t i) -> Status {
    const data::Column& col = d.columns[columns[i]];
    model::FeatureInfo& f = out.features[i];
    f.name = d.schema.field(columns[i]).name;
    if (col.type() == data::DataType::kCategorical) {
      f.categorical = true;
      f.categories = col.dictionary() ? *col.dictionary() : data::Dictionary{};
      // Only the first kMaxBins categories get a bin; the model knows no others, so at
      // prediction time they are unknown (missing) exactly as they were in training.
      if (f.categories.size() > static_cast<size_t>(kMaxBins)) f.categories.resize(kMaxBins);
      return Status::Ok();
    }
    if (!data::IsNumeric(col.type())) {
      return InvalidArgumentError(
          fmt::format("feature '{}' has type {}; only numeric and "
                      "categorical features are supported",
                      f.name, data::DataTypeName(col.type())));
    }
    std::vector<double> sample;
    for (size_t r = 0; r < out.rows; r += stride) {
      const double v = col.NumericAt(r);
      if (!std::isnan(v)) sample.push_back(v);
    }
    std::sort(sample.begin(), sample.end());
    f.bin_edges = ComputeEdges(std::move(sample), max_bin);
    return Status::Ok();
  }));
  for (const auto& f : out.features) out.num_bins.push_back(NumBins(f));
  out.bins.resize(out.rows * columns.size());
  out.min.resize(columns.size());
  out.max.resize(columns.size());
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, columns.size(), [&](size_t i) {
    return BinColumn(d.columns[columns[i]], out.features[i], out.num_bins[i],
                     out.bins.data() + i * out.rows, &out.min[i], &out.max[i]);
  }));
  return out;
}

Result<std::vector<double>> PredictBinned(const model::Predictor& predictor, const BinnedData& x,
                                          const ExecContext& ctx) {
  const auto& features = predictor.model().features;
  if (features.size() != x.num_features()) return InvalidArgumentError("feature count mismatch");
  for (size_t f = 0; f < features.size(); ++f) {
    if (features[f].name != x.features[f].name ||
        features[f].categorical != x.features[f].categorical) {
      return InvalidArgumentError(fmt::format("feature {} differs from the model's", f));
    }
  }
  const size_t groups = static_cast<size_t>(predictor.model().num_groups());
  std::vector<double> margins(x.rows * groups);
  constexpr size_t kBlock = 4096;
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, (x.rows + kBlock - 1) / kBlock, [&](size_t b) -> Status {
    const size_t r0 = b * kBlock, r1 = std::min(x.rows, r0 + kBlock);
    model::FeatureMatrix m;
    m.rows = r1 - r0;
    m.cols = x.num_features();
    m.values.resize(m.rows * m.cols);
    for (size_t f = 0; f < m.cols; ++f) {
      const uint8_t* col = x.column(f);
      for (size_t r = r0; r < r1; ++r) {
        const uint8_t bin = col[r];
        double v = std::nan("");
        if (bin != x.num_bins[f]) {
          v = x.features[f].categorical ? static_cast<double>(bin) : x.features[f].bin_edges[bin];
        }
        m.values[(r - r0) * m.cols + f] = v;
      }
    }
    for (size_t r = 0; r < m.rows; ++r)
      predictor.PredictRowMargin(m.row(r), &margins[(r0 + r) * groups]);
    return Status::Ok();
  }));
  return margins;
}

BinnedData TakeBinnedRows(const BinnedData& x, const std::vector<uint32_t>& rows) {
  BinnedData out;
  out.rows = rows.size();
  out.features = x.features;
  out.num_bins = x.num_bins;
  out.min = x.min;
  out.max = x.max;
  out.bins.resize(out.rows * x.num_features());
  for (size_t f = 0; f < x.num_features(); ++f) {
    const uint8_t* src = x.column(f);
    uint8_t* dst = out.bins.data() + f * out.rows;
    for (size_t i = 0; i < rows.size(); ++i) dst[i] = src[rows[i]];
  }
  return out;
}

Result<BinnedData> ApplyBins(const data::Dataset& d, const std::vector<model::FeatureInfo>& ref,
                             const ExecContext& ctx) {
  BinnedData out;
  out.rows = d.num_rows();
  out.features = ref;
  for (const auto& f : ref) out.num_bins.push_back(NumBins(f));
  out.bins.resize(out.rows * ref.size());
  std::vector<size_t> cols;
  for (const auto& f : ref) {
    auto idx = d.schema.IndexOf(f.name);
    if (!idx) return InvalidArgumentError(fmt::format("data has no column '{}'", f.name));
    cols.push_back(*idx);
  }
  out.min.resize(ref.size());
  out.max.resize(ref.size());
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, ref.size(), [&](size_t i) {
    return BinColumn(d.columns[cols[i]], ref[i], out.num_bins[i], out.bins.data() + i * out.rows,
                     &out.min[i], &out.max[i]);
  }));
  return out;
}

}  // namespace kiln::learn
