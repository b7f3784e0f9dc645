// Predictor micro benchmarks: batch scoring throughput and single-row latency of a 100-tree,
// depth-8 model on higgs-like data (28 numeric features).
// Run: build/release/bench/predict_bench
#include <fmt/format.h>
#include <algorithm>
#include <random>

#include <benchmark/benchmark.h>

#include "kiln/learn/binning.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/objective.h"
#include "kiln/model/predictor.h"

namespace kiln {
namespace {

struct Fixture {
  std::unique_ptr<model::Predictor> predictor;
  model::FeatureMatrix x;
};

const Fixture& Get() {
  static const Fixture f = [] {
    std::mt19937_64 rng(1);
    std::normal_distribution<double> normal;
    data::Dataset d;
    std::vector<data::Field> fields;
    for (int c = 0; c < 28; ++c)
      fields.push_back({fmt::format("f{}", c), data::DataType::kFloat64});
    d.schema = *data::Schema::Make(fields);
    d.columns.assign(28, data::Column(data::DataType::kFloat64));
    std::vector<float> y;
    for (int r = 0; r < 100000; ++r) {
      double z = 0;
      for (int c = 0; c < 28; ++c) {
        const double v = normal(rng);
        d.columns[static_cast<size_t>(c)].AppendFloat64(v);
        z += (c % 3 == 0 ? v : -0.5 * v * v) / (1 + c);
      }
      y.push_back(z + 0.5 * normal(rng) > 0 ? 1.f : 0.f);
    }
    ExecContext ctx(ExecContext::Options{.threads = 2});
    std::vector<size_t> cols(28);
    for (size_t c = 0; c < 28; ++c) cols[c] = c;
    auto bins = *learn::BinDataset(d, cols, 255, 100000, ctx);
    learn::TrainOptions o;
    o.params.num_trees = 100;
    o.params.max_depth = 8;
    o.params.min_data_in_leaf = 1;
    auto m = *learn::TrainGbdt({&bins, y, {}}, nullptr, o, ctx);
    Fixture fx;
    fx.predictor =
        *model::Predictor::Create(std::make_shared<const model::TreeModel>(std::move(m)));
    fx.x = *fx.predictor->Prepare(d);
    return fx;
  }();
  return f;
}

void BM_PredictBatch(benchmark::State& state) {
  const Fixture& f = Get();
  ExecContext ctx(ExecContext::Options{.threads = static_cast<int>(state.range(0))});
  std::vector<float> out(f.x.rows * 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.predictor->Predict(f.x, model::PredictKind::kProbability, out, ctx));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * f.x.rows));
}
BENCHMARK(BM_PredictBatch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PredictSingleRow(benchmark::State& state) {
  const Fixture& f = Get();
  double margin;
  size_t r = 0;
  for (auto _ : state) {
    f.predictor->PredictRowMargin(f.x.row(r), &margin);
    benchmark::DoNotOptimize(margin);
    r = (r + 1) % f.x.rows;
  }
}
BENCHMARK(BM_PredictSingleRow)->Unit(benchmark::kMicrosecond);

// The server's path for a batch-1 request: Predict() on a one-row matrix, probabilities out.
void BM_PredictOneRowMatrix(benchmark::State& state) {
  const Fixture& f = Get();
  ExecContext ctx(ExecContext::Options{.threads = 1});
  model::FeatureMatrix one{1, f.x.cols, std::vector<double>(f.x.cols)};
  std::vector<float> out(2);
  size_t r = 0;
  for (auto _ : state) {
    std::copy(f.x.row(r), f.x.row(r) + f.x.cols, one.values.begin());
    benchmark::DoNotOptimize(f.predictor->Predict(one, model::PredictKind::kProbability, out, ctx));
    r = (r + 1) % f.x.rows;
  }
}
BENCHMARK(BM_PredictOneRowMatrix)->Unit(benchmark::kMicrosecond);

// The training curve's per-iteration cost: logloss over the 10,000-row sample `kiln train`
// evaluates every iteration.
void BM_TrainCurveLogloss(benchmark::State& state) {
  const size_t n = 10000;
  std::mt19937 rng(1);
  std::normal_distribution<double> margin(0, 2);
  std::vector<double> margins(n);
  std::vector<float> labels(n);
  for (size_t i = 0; i < n; ++i) {
    margins[i] = margin(rng);
    labels[i] = static_cast<float>(rng() % 2);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        learn::EvaluateMetric("logloss", model::Objective::kBinaryLogistic, 1, margins, labels));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TrainCurveLogloss)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kiln
