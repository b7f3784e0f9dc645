#include "kiln/learn/gbdt/trainer.h"

#include <cmath>
#include <random>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "learn/gbdt/split.h"

namespace kiln::learn {
namespace {

using data::Column;
using data::DataType;

// y depends on x0 (numeric, with missing values that behave like large x0), x1 (categorical)
// and noise x2.
struct Synthetic {
  data::Dataset d;
  std::vector<float> y;
};

Synthetic MakeData(size_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Synthetic s;
  s.d.schema = *data::Schema::Make(
      {{"x0", DataType::kFloat64}, {"x1", DataType::kCategorical}, {"x2", DataType::kFloat64}});
  Column x0(DataType::kFloat64), x1(DataType::kCategorical), x2(DataType::kFloat64);
  for (size_t r = 0; r < rows; ++r) {
    const double a = normal(rng);
    const uint32_t c = static_cast<uint32_t>(rng() % 6);
    const bool missing = rng() % 10 == 0;
    if (missing)
      x0.AppendNull();
    else
      x0.AppendFloat64(a);
    x1.AppendCode(c);
    x2.AppendFloat64(normal(rng));
    const double z = (missing ? 2.0 : a) + (c == 2 || c == 5 ? 1.5 : -0.5) + 0.3 * normal(rng);
    s.y.push_back(z > 0.5 ? 1.0f : 0.0f);
  }
  x1.set_dictionary(
      std::make_shared<const data::Dictionary>(data::Dictionary{"a", "b", "c", "d", "e", "f"}));
  s.d.columns = {x0, x1, x2};
  return s;
}

TrainOptions Options(int trees) {
  TrainOptions o;
  o.params.num_trees = trees;
  o.params.max_depth = 4;
  o.params.min_data_in_leaf = 5;
  o.objective = model::Objective::kBinaryLogistic;
  o.num_classes = 2;
  o.target = "y";
  o.class_labels = {"0", "1"};
  return o;
}

TEST(TrainerTest, LearnsNumericCategoricalAndMissing) {
  Synthetic s = MakeData(4000, 1);
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = BinDataset(s.d, {0, 1, 2}, 255, 100000, ctx);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  // Each numeric feature's range is the smallest and largest value binned.
  for (size_t f = 0; f < 3; ++f) {
    if (x->features[f].categorical) {
      EXPECT_TRUE(std::isnan(x->min[f]));
      continue;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (size_t r = 0; r < s.d.num_rows(); ++r) {
      const double v = s.d.columns[f].NumericAt(r);
      if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    EXPECT_EQ(x->min[f], lo) << f;
    EXPECT_EQ(x->max[f], hi) << f;
  }
  auto m = TrainGbdt({&*x, s.y}, nullptr, Options(50), ctx);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Synthetic test = MakeData(2000, 2);
  auto pred = *model::Predictor::Create(std::make_shared<const model::TreeModel>(std::move(*m)));
  auto fx = pred->Prepare(test.d);
  ASSERT_TRUE(fx.ok());
  std::vector<float> margins(fx->rows);
  ASSERT_TRUE(pred->Predict(*fx, model::PredictKind::kMargin, margins, ctx).ok());
  std::vector<double> md(margins.begin(), margins.end());
  EXPECT_GT(*EvaluateMetric("auc", model::Objective::kBinaryLogistic, 1, md, test.y), 0.9);
  // Gain importance: the noise feature x2 matters least.
  std::vector<double> gain(3);
  for (const auto& t : pred->model().trees) {
    for (const auto& n : t.nodes) {
      if (!n.is_leaf()) gain[n.feature] += n.gain;
    }
  }
  EXPECT_LT(gain[2], gain[0]);
  EXPECT_LT(gain[2], gain[1]);
}

TEST(TrainerTest, BitIdenticalModelsForAnyThreadCount) {
  Synthetic s = MakeData(3000, 3);
  std::string first;
  for (int threads : {1, 2, 4}) {
    ExecContext ctx(ExecContext::Options{.threads = threads});
    auto x = *BinDataset(s.d, {0, 1, 2}, 64, 100000, ctx);
    TrainOptions o = Options(20);
    o.params.subsample = 0.8;
    o.params.colsample = 0.67;
    o.params.num_leaves = 12;
    o.params.max_depth = 0;
    auto m = TrainGbdt({&x, s.y}, nullptr, o, ctx);
    ASSERT_TRUE(m.ok());
    const std::string bytes = model::EncodeModel(*m);
    if (first.empty()) first = bytes;
    EXPECT_EQ(bytes, first) << threads << " threads";
  }
}

TEST(TrainerTest, LeafWiseRespectsNumLeavesAndEarlyStopping) {
  Synthetic s = MakeData(3000, 4), v = MakeData(1000, 5);
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *BinDataset(s.d, {0, 1, 2}, 255, 100000, ctx);
  auto vx = *ApplyBins(v.d, x.features, ctx);
  TrainOptions o = Options(300);
  o.params.num_leaves = 7;
  o.params.max_depth = 0;
  o.params.learning_rate = 0.5;
  o.params.early_stopping_rounds = 5;
  int logged = 0;
  o.on_iteration = [&](const IterationLog& log) { logged = log.iteration + 1; };
  TrainInput vin{&vx, v.y};
  auto m = TrainGbdt({&x, s.y}, &vin, o, ctx);
  ASSERT_TRUE(m.ok());
  for (const auto& t : m->trees) {
    size_t leaves = 0;
    for (const auto& n : t.nodes) leaves += n.is_leaf();
    EXPECT_LE(leaves, 7u);
  }
  EXPECT_LT(logged, 300);  // stopped early
  EXPECT_EQ(static_cast<int>(m->trees.size()), logged);
  EXPECT_EQ(m->best_iteration + 1 + o.params.early_stopping_rounds, logged);
}

TEST(TrainerTest, RejectsBadLabelsAndParams) {
  Synthetic s = MakeData(100, 6);
  ExecContext ctx(ExecContext::Options{.threads = 1});
  auto x = *BinDataset(s.d, {0, 1, 2}, 255, 100000, ctx);
  std::vector<float> bad = s.y;
  bad[3] = 2;
  EXPECT_EQ(TrainGbdt({&x, bad}, nullptr, Options(5), ctx).status().code(),
            StatusCode::kInvalidArgument);
  bad[3] = NAN;
  EXPECT_FALSE(TrainGbdt({&x, bad}, nullptr, Options(5), ctx).ok());
  TrainOptions o = Options(5);
  o.params.learning_rate = 0;
  EXPECT_FALSE(TrainGbdt({&x, s.y}, nullptr, o, ctx).ok());
  std::vector<float> short_labels(10, 0);
  EXPECT_FALSE(TrainGbdt({&x, short_labels}, nullptr, Options(5), ctx).ok());
}

// On data with fewer distinct values than bins, the histogram split equals the exact greedy
// split found by brute force over every threshold.
TEST(SplitTest, HistogramSplitMatchesExactGreedy) {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t rows = 60, features = 3;
    data::Dataset d;
    std::vector<data::Field> fields;
    for (size_t f = 0; f < features; ++f)
      fields.push_back({fmt::format("f{}", f), DataType::kFloat64});
    d.schema = *data::Schema::Make(fields);
    std::vector<std::vector<double>> v(features, std::vector<double>(rows));
    for (size_t f = 0; f < features; ++f) {
      Column c(DataType::kFloat64);
      for (size_t r = 0; r < rows; ++r) c.AppendFloat64(v[f][r] = static_cast<double>(rng() % 25));
      d.columns.push_back(c);
    }
    std::vector<GradPair> g(rows);
    for (auto& gp : g)
      gp = {static_cast<float>(static_cast<double>(rng() % 200) / 100 - 1),
            static_cast<float>(0.5 + static_cast<double>(rng() % 100) / 100.0)};
    ExecContext ctx(ExecContext::Options{.threads = 2});
    auto x = *BinDataset(d, {0, 1, 2}, 255, 1000, ctx);
    GbdtParams p;
    p.min_data_in_leaf = 1;
    p.min_child_weight = 0;
    gbdt::Layout layout(x);
    std::vector<uint8_t> use(features, 1);
    std::vector<uint32_t> all(rows);
    for (uint32_t r = 0; r < rows; ++r) all[r] = r;
    std::vector<gbdt::Sum> hist;
    gbdt::BuildHistogram(x, layout, use, g, all.data(), rows, &hist, ctx);
    gbdt::Sum total;
    for (auto& gp : g) total.Add({gp.g, gp.h, 1});
    gbdt::Split s = gbdt::FindBestSplit(x, layout, use, hist, total, p, ctx, true);
    // Brute force.
    auto score = [&](double gs, double hs) { return gs * gs / (hs + p.lambda); };
    double best = -1;
    size_t best_f = 0;
    double best_t = 0;
    for (size_t f = 0; f < features; ++f) {
      for (double t = 0; t < 24; t += 1) {
        double gl = 0, hl = 0;
        size_t nl = 0;
        for (size_t r = 0; r < rows; ++r) {
          if (v[f][r] <= t) gl += g[r].g, hl += g[r].h, ++nl;
        }
        if (nl == 0 || nl == rows) continue;
        const double gain =
            0.5 * (score(gl, hl) + score(total.g - gl, total.h - hl) - score(total.g, total.h));
        if (gain > best + 1e-12) best = gain, best_f = f, best_t = t;
      }
    }
    ASSERT_TRUE(s.valid());
    EXPECT_NEAR(s.gain, best, 1e-9) << trial;
    EXPECT_EQ(s.feature, best_f) << trial;
    // The histogram threshold sends every row the same way as the exact one.
    const double thr = x.features[s.feature].bin_edges[s.bin];
    for (size_t r = 0; r < rows; ++r) {
      EXPECT_EQ(v[best_f][r] <= thr, v[best_f][r] <= best_t) << trial << " row " << r;
    }
    // Subtraction trick: parent - left child == right child built directly.
    std::vector<uint32_t> left_rows, right_rows;
    for (uint32_t r = 0; r < rows; ++r) {
      (s.GoesLeft(x.column(s.feature)[r], x.num_bins[s.feature]) ? left_rows : right_rows)
          .push_back(r);
    }
    std::vector<gbdt::Sum> lh, rh;
    gbdt::BuildHistogram(x, layout, use, g, left_rows.data(), left_rows.size(), &lh, ctx);
    gbdt::BuildHistogram(x, layout, use, g, right_rows.data(), right_rows.size(), &rh, ctx);
    for (size_t i = 0; i < layout.total; ++i) {
      const gbdt::Sum diff = hist[i].Minus(lh[i]);
      EXPECT_NEAR(diff.g, rh[i].g, 1e-12);
      EXPECT_NEAR(diff.h, rh[i].h, 1e-12);
      EXPECT_EQ(diff.n, rh[i].n);
    }
  }
}

TEST(BinningTest, EdgesAndMissingBin) {
  EXPECT_EQ(ComputeEdges({1, 1, 2, 3}, 255), (std::vector<double>{1.5, 2.5, INFINITY}));
  std::vector<double> many;
  for (int i = 0; i < 1000; ++i) many.push_back(i);
  auto e = ComputeEdges(many, 10);
  EXPECT_LE(e.size(), 10u);
  EXPECT_TRUE(std::isinf(e.back()));
  data::Dataset d;
  d.schema = *data::Schema::Make({{"x", DataType::kFloat64}});
  Column c(DataType::kFloat64);
  c.AppendFloat64(1);
  c.AppendNull();
  c.AppendFloat64(3);
  d.columns = {c};
  ExecContext ctx;
  auto x = *BinDataset(d, {0}, 255, 10, ctx);
  EXPECT_EQ(x.column(0)[0], 0);
  EXPECT_EQ(x.column(0)[1], x.num_bins[0]);  // missing bin
  EXPECT_EQ(x.column(0)[2], 1);
}

}  // namespace
}  // namespace kiln::learn

namespace kiln::learn {
namespace {

// Margins of a model on binned rows (the trainer's view), for resuming in-process.
std::vector<double> MarginsOf(const model::TreeModel& m, const data::Dataset& d) {
  auto p = *model::Predictor::Create(std::make_shared<const model::TreeModel>(m));
  auto x = *p->Prepare(d);
  std::vector<double> out(x.rows * static_cast<size_t>(m.num_groups()));
  for (size_t r = 0; r < x.rows; ++r)
    p->PredictRowMargin(x.row(r), out.data() + r * m.num_groups());
  return out;
}

// A run interrupted after any checkpoint and resumed from it ends bit-identical to an
// uninterrupted run (subsampling, early-stopping state and all).
TEST(TrainerTest, ResumeFromACheckpointIsBitIdentical) {
  Synthetic s = MakeData(2000, 7), v = MakeData(500, 8);
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *BinDataset(s.d, {0, 1, 2}, 255, 100000, ctx);
  auto vx = *ApplyBins(v.d, x.features, ctx);
  TrainOptions o = Options(40);
  o.params.subsample = 0.7;
  o.params.colsample = 0.7;
  o.params.early_stopping_rounds = 50;
  TrainInput vin{&vx, v.y, {}};
  const std::string full = model::EncodeModel(*TrainGbdt({&x, s.y, {}}, &vin, o, ctx));
  for (int stop_at : {5, 20, 35}) {
    std::optional<model::TreeModel> saved;
    TrainOptions crash = o;
    crash.checkpoint_every = 5;
    crash.on_checkpoint = [&](const model::TreeModel& m) -> Status {
      saved = m;
      return static_cast<int>(m.trees.size()) == stop_at ? CancelledError("simulated crash")
                                                         : Status::Ok();
    };
    EXPECT_EQ(TrainGbdt({&x, s.y, {}}, &vin, crash, ctx).status().code(), StatusCode::kCancelled);
    ASSERT_TRUE(saved.has_value());
    // Through the file format, as a real resume reads it.
    model::TreeModel checkpoint = *model::DecodeModel(model::EncodeModel(*saved), "ckpt");
    TrainOptions resume = o;
    resume.init = &checkpoint;
    resume.resume = true;
    TrainInput tin{&x, s.y, MarginsOf(checkpoint, s.d)};
    TrainInput vres{&vx, v.y, MarginsOf(checkpoint, v.d)};
    auto m = TrainGbdt(tin, &vres, resume, ctx);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(model::EncodeModel(*m), full) << "stopped at " << stop_at;
  }
}

TEST(TrainerTest, WarmStartAddsTrees) {
  Synthetic s = MakeData(2000, 9);
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *BinDataset(s.d, {0, 1, 2}, 255, 100000, ctx);
  auto first = *TrainGbdt({&x, s.y, {}}, nullptr, Options(10), ctx);
  TrainOptions more = Options(15);
  more.init = &first;
  auto m = TrainGbdt({&x, s.y, MarginsOf(first, s.d)}, nullptr, more, ctx);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->trees.size(), 25u);
  // The first model's trees are kept unchanged in front.
  for (size_t t = 0; t < first.trees.size(); ++t) {
    ASSERT_EQ(m->trees[t].nodes.size(), first.trees[t].nodes.size());
    for (size_t i = 0; i < first.trees[t].nodes.size(); ++i) {
      EXPECT_EQ(m->trees[t].nodes[i].value, first.trees[t].nodes[i].value);
      EXPECT_EQ(m->trees[t].nodes[i].threshold, first.trees[t].nodes[i].threshold);
    }
  }
  // The added trees improve the fit on the training data.
  std::vector<double> before = MarginsOf(first, s.d), after = MarginsOf(*m, s.d);
  EXPECT_LT(*EvaluateMetric("logloss", model::Objective::kBinaryLogistic, 1, after, s.y),
            *EvaluateMetric("logloss", model::Objective::kBinaryLogistic, 1, before, s.y));
  // A model with other features is refused.
  model::TreeModel other = first;
  other.features[0].name = "renamed";
  more.init = &other;
  EXPECT_FALSE(TrainGbdt({&x, s.y, MarginsOf(first, s.d)}, nullptr, more, ctx).ok());
}

}  // namespace
}  // namespace kiln::learn

namespace kiln::learn {
namespace {

// Predicting from bins (each bin standing for its upper edge) gives exactly the margins of the
// raw values, so training can free the raw columns.
TEST(BinningTest, PredictBinnedEqualsRawPrediction) {
  Synthetic s = MakeData(3000, 12), other = MakeData(1000, 13);
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *BinDataset(s.d, {0, 1, 2}, 32, 100000, ctx);
  auto m = *TrainGbdt({&x, s.y, {}}, nullptr, Options(15), ctx);
  auto p = *model::Predictor::Create(std::make_shared<const model::TreeModel>(m));
  for (const data::Dataset* d : {&s.d, &other.d}) {
    auto binned = *ApplyBins(*d, x.features, ctx);
    auto from_bins = PredictBinned(*p, binned, ctx);
    ASSERT_TRUE(from_bins.ok()) << from_bins.status().ToString();
    auto raw = *p->Prepare(*d);
    for (size_t r = 0; r < raw.rows; ++r) {
      double margin;
      p->PredictRowMargin(raw.row(r), &margin);
      ASSERT_EQ((*from_bins)[r], margin) << r;
    }
  }
}

}  // namespace
}  // namespace kiln::learn

namespace kiln::learn {
namespace {

// A categorical feature wider than the bins: categories past the first 255 are unknown to the
// model, in training (missing bin) and in prediction alike.
TEST(BinningTest, WideCategoricalsPredictTheSameFromBinsAndRawValues) {
  std::mt19937_64 rng(17);
  data::Dataset d;
  d.schema = *data::Schema::Make({{"c", DataType::kCategorical}, {"x", DataType::kFloat64}});
  Column c(DataType::kCategorical), xc(DataType::kFloat64);
  data::Dictionary dict;
  for (int k = 0; k < 300; ++k) dict.push_back(fmt::format("k{}", k));
  std::vector<float> y;
  for (int i = 0; i < 60000; ++i) {  // ~200 rows per category (splits need 100)
    const uint32_t code = static_cast<uint32_t>(rng() % 300);
    c.AppendCode(code);
    xc.AppendFloat64(static_cast<double>(rng() % 1000) / 1000);
    y.push_back((code % 7 < 3) != (rng() % 10 == 0) ? 1.f : 0.f);
  }
  c.set_dictionary(std::make_shared<const data::Dictionary>(dict));
  d.columns = {c, xc};
  ExecContext ctx(ExecContext::Options{.threads = 2});
  auto x = *BinDataset(d, {0, 1}, 255, 100000, ctx);
  EXPECT_EQ(x.features[0].categories.size(), 255u);
  auto m = *TrainGbdt({&x, y, {}}, nullptr, Options(20), ctx);
  auto p = *model::Predictor::Create(std::make_shared<const model::TreeModel>(m));
  auto from_bins = *PredictBinned(*p, x, ctx);
  auto raw = *p->Prepare(d);
  for (size_t r = 0; r < raw.rows; ++r) {
    double margin;
    p->PredictRowMargin(raw.row(r), &margin);
    ASSERT_EQ(from_bins[r], margin) << r;
  }
  std::vector<double> md(from_bins.begin(), from_bins.end());
  EXPECT_GT(*EvaluateMetric("auc", model::Objective::kBinaryLogistic, 1, md, y), 0.85);
}

}  // namespace
}  // namespace kiln::learn
