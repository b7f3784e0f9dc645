#include "kiln/learn/reference.h"

#include <algorithm>
#include <cmath>

#include "kiln/model/predictor.h"

namespace kiln::learn {

namespace {

// Scores of the rows as the model serves them: a probability, a class, or a prediction.
std::vector<double> Scores(const model::TreeModel& m, std::span<const double> margins) {
  const auto groups = static_cast<size_t>(m.num_groups());
  std::vector<double> out;
  out.reserve(margins.size() / groups);
  std::vector<double> row(groups);
  for (size_t i = 0; i + groups <= margins.size(); i += groups) {
    std::copy(margins.begin() + static_cast<std::ptrdiff_t>(i),
              margins.begin() + static_cast<std::ptrdiff_t>(i + groups), row.begin());
    model::TransformMargins(m.objective, row.data(), m.num_groups());
    if (m.objective == model::Objective::kMulticlassSoftmax) {
      out.push_back(static_cast<double>(std::max_element(row.begin(), row.end()) - row.begin()));
    } else {
      out.push_back(row[0]);
    }
  }
  return out;
}

}  // namespace

model::ReferenceProfile BuildReference(const model::TreeModel& m, const BinnedData& train,
                                       std::span<const double> margins, std::string score_data,
                                       std::map<std::string, double> valid_metrics) {
  model::ReferenceProfile r;
  r.rows = train.rows;
  for (size_t f = 0; f < train.num_features(); ++f) {
    model::FeatureReference fr;
    fr.counts.assign(train.num_bins[f], 0);
    const uint8_t* bins = train.column(f);
    for (size_t row = 0; row < train.rows; ++row) {
      if (bins[row] < fr.counts.size()) {
        ++fr.counts[bins[row]];
      } else {
        ++fr.missing;
      }
    }
    if (f < train.min.size() && !train.features[f].categorical) {
      fr.min = train.min[f];
      fr.max = train.max[f];
    }
    r.features.push_back(std::move(fr));
  }
  std::vector<double> scores = Scores(m, margins);
  scores.erase(
      std::remove_if(scores.begin(), scores.end(), [](double s) { return !std::isfinite(s); }),
      scores.end());
  if (scores.empty()) return r;
  r.score_data = std::move(score_data);
  r.valid_metrics = std::move(valid_metrics);
  if (m.objective == model::Objective::kMulticlassSoftmax) {
    r.score_kind = model::ScoreKind::kClass;
    r.score_counts.assign(static_cast<size_t>(m.num_classes), 0);
    for (double s : scores) ++r.score_counts[static_cast<size_t>(s)];
    return r;
  }
  if (m.objective == model::Objective::kBinaryLogistic) {
    r.score_kind = model::ScoreKind::kProbability;
    for (int b = 1; b < kScoreBins; ++b)
      r.score_edges.push_back(static_cast<double>(b) / kScoreBins);
  } else {
    r.score_kind = model::ScoreKind::kValue;
    std::vector<double> sorted = scores;
    std::sort(sorted.begin(), sorted.end());
    r.score_edges = ComputeEdges(std::move(sorted), kScoreBins);
    r.score_edges.pop_back();  // the +inf edge is implied
  }
  r.score_counts.assign(r.score_edges.size() + 1, 0);
  for (double s : scores) {
    ++r.score_counts[static_cast<size_t>(
        std::lower_bound(r.score_edges.begin(), r.score_edges.end(), s) - r.score_edges.begin())];
  }
  return r;
}

}  // namespace kiln::learn
