// Binning: per-feature quantile bin edges computed once from a sample, and the uint8 bin matrix
// the trainer works on. The edges are stored in the model (FeatureInfo::bin_edges) and are the
// reference histogram of the drift monitor (docs/design/architecture.md §3, "one binning, used
// twice").
//
// Numeric feature f: bin b holds values v with edges[b-1] < v <= edges[b] (the last edge is
// +inf); categorical feature: bin = category code (codes >= kMaxBins - 1 fall into the missing
// bin). Missing values use bin num_bins(f). At most 255 real bins, so a bin fits in a byte.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/data/column.h"
#include "kiln/model/predictor.h"
#include "kiln/model/tree_model.h"

namespace kiln::learn {

inline constexpr int kMaxBins = 255;

struct BinnedData {
  size_t rows = 0;
  std::vector<model::FeatureInfo> features;
  std::vector<uint16_t> num_bins;  // real bins per feature; the missing bin is num_bins[f]
  std::vector<uint8_t> bins;       // column-major: bins[f * rows + r]
  // Numeric features: the smallest and largest value binned (of the rows `x` was binned from,
  // for TakeBinnedRows); NaN for categorical features and columns without values.
  std::vector<double> min, max;

  size_t num_features() const { return features.size(); }
  const uint8_t* column(size_t f) const { return bins.data() + f * rows; }
};

// Computes edges from (a deterministic sample of at most `sample_rows` of) `columns` of `data`
// and bins every row. Feature names are the column names.
Result<BinnedData> BinDataset(const data::Dataset& data, const std::vector<size_t>& columns,
                              int max_bin, size_t sample_rows, const ExecContext& ctx);

// Bins another dataset (validation, test) with the edges and dictionaries of `reference`;
// columns are found by name, categories matched by text (unknown ones are missing).
Result<BinnedData> ApplyBins(const data::Dataset& data,
                             const std::vector<model::FeatureInfo>& reference,
                             const ExecContext& ctx);

// The rows `rows` (in that order) of `x`, with the same edges: folds and splits of data binned
// once.
BinnedData TakeBinnedRows(const BinnedData& x, const std::vector<uint32_t>& rows);

// Margins (rows x groups) of `predictor` on binned rows. Each numeric bin is represented by its
// upper edge, which falls on the same side of every split threshold as all values in the bin,
// so these margins equal the predictor's on the raw values; the raw data need not be kept.
Result<std::vector<double>> PredictBinned(const model::Predictor& predictor, const BinnedData& x,
                                          const ExecContext& ctx);

// Numeric bin edges for sorted values (exposed for tests).
std::vector<double> ComputeEdges(std::vector<double> sorted_values, int max_bin);

}  // namespace kiln::learn
