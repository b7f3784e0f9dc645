#include "kiln/learn/gbdt/trainer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <queue>
#include <random>

#include <fmt/format.h>

#include "kiln/base/mutex.h"
#include "kiln/base/numbers.h"
#include "kiln/base/thread_pool.h"
#include "kiln/learn/objective.h"
#include "learn/gbdt/split.h"

namespace kiln::learn {

using gbdt::Split;
using gbdt::Sum;

namespace {

// A tree under construction: the model's nodes plus, for split nodes, the split in bin space.
struct GrownTree {
  model::Tree tree;
  std::vector<Split> splits;  // parallel to tree.nodes (unused for leaves)
};

struct Candidate {
  int32_t node = 0;
  uint32_t begin = 0, end = 0;  // segment of the row order
  int depth = 0;
  Sum total;
  std::vector<Sum> hist;
  Split split;
};

class TreeBuilder {
 public:
  TreeBuilder(const BinnedData& x, const gbdt::Layout& layout, const GbdtParams& p,
              const ExecContext& ctx)
      : x_(x), layout_(layout), p_(p), ctx_(ctx) {}

  // Grows one tree on rows (in order) with gradients `grad`; fills leaf_of_row for those rows.
  GrownTree Grow(const std::vector<uint32_t>& rows, const std::vector<GradPair>& grad,
                 const std::vector<uint8_t>& use, double learning_rate,
                 std::vector<int32_t>* leaf_of_row);

 private:
  Candidate MakeCandidate(int32_t node, uint32_t begin, uint32_t end, int depth, const Sum& total,
                          std::vector<Sum> hist);
  void ApplySplit(Candidate& c, GrownTree* t, Candidate* left, Candidate* right);
  // The pieces of a split: the node record (sequential: it appends categories), then the
  // row partition, child histograms and child candidates (safe in parallel across nodes).
  void WriteSplitNode(const Candidate& c, int32_t li, GrownTree* t);
  void SplitRows(Candidate& c, int32_t li, std::vector<uint32_t>* scratch, Candidate* left,
                 Candidate* right);
  void GrowLevels(Candidate root, GrownTree* t, std::vector<Candidate>* leaves);
  // Whether a node could be split at all: below the depth limit, with room for two leaves.
  bool Splittable(int depth, uint32_t rows) const {
    return (p_.max_depth == 0 || depth < p_.max_depth) &&
           rows >= 2u * static_cast<uint32_t>(p_.min_data_in_leaf);
  }
  // Finds the best split of each candidate that can split; the candidates are searched in
  // parallel with each other, and a large one also across features.
  void SearchSplits(Candidate* a, Candidate* b) {
    if (b == nullptr) return SearchOne(a);
    Candidate* cs[2] = {a, b};
    ParallelFor(ctx_, 2, [&](size_t i) {
      SearchOne(cs[i]);
      return Status::Ok();
    }).IgnoreError();  // the body cannot fail
  }
  // Best split of one candidate if it can split; large nodes also search features in parallel.
  void SearchOne(Candidate* c) {
    if (!Splittable(c->depth, c->end - c->begin)) return;
    const bool large = (c->end - c->begin) > 20000;
    c->split = gbdt::FindBestSplit(x_, layout_, *use_, c->hist, c->total, p_, ctx_, large);
  }
  bool CanSplit(const Candidate& c) const {
    return c.split.valid() && (p_.max_depth == 0 || c.depth < p_.max_depth);
  }

  const BinnedData& x_;
  const gbdt::Layout& layout_;
  const GbdtParams& p_;
  const ExecContext& ctx_;
  // Histogram buffers are large (features x bins) and needed for every node: reuse them.
  std::vector<Sum> AcquireHistogram() {
    MutexLock lock(&pool_mu_);
    if (pool_.empty()) return {};
    std::vector<Sum> h = std::move(pool_.back());
    pool_.pop_back();
    return h;
  }
  void Release(std::vector<Sum>* h) {
    if (h->capacity() > 0) {
      MutexLock lock(&pool_mu_);
      pool_.push_back(std::move(*h));
    }
    h->clear();
  }

  const std::vector<GradPair>* grad_ = nullptr;
  const std::vector<uint8_t>* use_ = nullptr;
  std::vector<uint32_t> rows_, scratch_;
  Mutex pool_mu_;
  std::vector<std::vector<Sum>> pool_ KILN_GUARDED_BY(pool_mu_);
};

Candidate TreeBuilder::MakeCandidate(int32_t node, uint32_t begin, uint32_t end, int depth,
                                     const Sum& total, std::vector<Sum> hist) {
  Candidate c;
  c.node = node;
  c.begin = begin;
  c.end = end;
  c.depth = depth;
  c.total = total;
  c.hist = std::move(hist);
  return c;
}

void TreeBuilder::WriteSplitNode(const Candidate& c, int32_t li, GrownTree* t) {
  const Split& s = c.split;
  model::Node& n = t->tree.nodes[static_cast<size_t>(c.node)];
  n.left = li;
  n.right = li + 1;
  n.feature = s.feature;
  n.default_left = s.default_left;
  n.categorical = s.categorical;
  n.gain = s.gain;
  if (s.categorical) {
    n.cat_begin = static_cast<uint32_t>(t->tree.categories.size());
    for (uint32_t k = 0; k < x_.num_bins[s.feature]; ++k) {
      if (gbdt::Test(s.left_cats, k)) t->tree.categories.push_back(k);
    }
    n.cat_end = static_cast<uint32_t>(t->tree.categories.size());
  } else {
    n.threshold = x_.features[s.feature].bin_edges[s.bin];
  }
  t->splits[static_cast<size_t>(c.node)] = s;
  t->tree.nodes[static_cast<size_t>(li)].cover = s.left.h;
  t->tree.nodes[static_cast<size_t>(li) + 1].cover = s.right.h;
}

void TreeBuilder::SplitRows(Candidate& c, int32_t li, std::vector<uint32_t>* scratch,
                            Candidate* left, Candidate* right) {
  const Split& s = c.split;
  const uint8_t* col = x_.column(s.feature);
  const uint16_t missing = x_.num_bins[s.feature];
  // Stable partition of the segment: left rows keep their order, then right rows. Branch-free
  // (a bin -> side table; every row is written to both outputs, one cursor advances), with the
  // bins of scattered rows fetched ahead.
  std::array<uint8_t, 256> left_bin;
  for (uint32_t b = 0; b < 256; ++b) left_bin[b] = s.GoesLeft(static_cast<uint8_t>(b), missing);
  uint32_t nl = 0, nr = 0;
  scratch->resize(c.end - c.begin);
  uint32_t* out_right = scratch->data();
  constexpr uint32_t kAhead = 32;
  for (uint32_t i = c.begin; i < c.end; ++i) {
    if (i + kAhead < c.end) __builtin_prefetch(col + rows_[i + kAhead]);
    const uint32_t r = rows_[i];
    const uint32_t goes_left = left_bin[col[r]];
    rows_[c.begin + nl] = r;
    out_right[nr] = r;
    nl += goes_left;
    nr += 1 - goes_left;
  }
  std::copy(out_right, out_right + nr, rows_.begin() + c.begin + nl);
  const uint32_t mid = c.begin + nl;
  if (!Splittable(c.depth + 1, nl) && !Splittable(c.depth + 1, c.end - mid)) {
    // Both children will be leaves: no histograms needed (the deepest level is the largest).
    Release(&c.hist);
    *left = MakeCandidate(li, c.begin, mid, c.depth + 1, s.left, {});
    *right = MakeCandidate(li + 1, mid, c.end, c.depth + 1, s.right, {});
    return;
  }
  // Histogram of the smaller child; the sibling's is parent - smaller.
  const bool left_smaller = nl <= c.end - mid;
  std::vector<Sum> small = AcquireHistogram();
  const uint32_t sb = left_smaller ? c.begin : mid, se = left_smaller ? mid : c.end;
  gbdt::BuildHistogram(x_, layout_, *use_, *grad_, rows_.data() + sb, se - sb, &small, ctx_);
  // The parent's buffer becomes the larger child's: parent - smaller, in place.
  std::vector<Sum> large = std::move(c.hist);
  for (size_t i = 0; i < layout_.total; ++i) large[i] = large[i].Minus(small[i]);
  std::vector<Sum>& lh = left_smaller ? small : large;
  std::vector<Sum>& rh = left_smaller ? large : small;
  *left = MakeCandidate(li, c.begin, mid, c.depth + 1, s.left, std::move(lh));
  *right = MakeCandidate(li + 1, mid, c.end, c.depth + 1, s.right, std::move(rh));
}

void TreeBuilder::ApplySplit(Candidate& c, GrownTree* t, Candidate* left, Candidate* right) {
  const int32_t li = static_cast<int32_t>(t->tree.nodes.size());
  t->tree.nodes.resize(t->tree.nodes.size() + 2);
  t->splits.resize(t->tree.nodes.size());
  WriteSplitNode(c, li, t);
  SplitRows(c, li, &scratch_, left, right);
  SearchSplits(left, right);
}

// Depth-wise growth one level at a time: the level's nodes are split, their children's
// histograms built and searched in parallel across nodes. Node numbering (breadth first, in
// order) and every sum are independent of the thread count.
void TreeBuilder::GrowLevels(Candidate root, GrownTree* t, std::vector<Candidate>* leaves) {
  std::vector<Candidate> level;
  level.push_back(std::move(root));
  while (!level.empty()) {
    std::vector<size_t> splitting;
    for (size_t i = 0; i < level.size(); ++i) {
      if (CanSplit(level[i])) {
        splitting.push_back(i);
      } else {
        Release(&level[i].hist);
        leaves->push_back(std::move(level[i]));
      }
    }
    if (splitting.empty()) break;
    const int32_t base = static_cast<int32_t>(t->tree.nodes.size());
    t->tree.nodes.resize(t->tree.nodes.size() + 2 * splitting.size());
    t->splits.resize(t->tree.nodes.size());
    for (size_t j = 0; j < splitting.size(); ++j) {
      WriteSplitNode(level[splitting[j]], base + 2 * static_cast<int32_t>(j), t);
    }
    std::vector<Candidate> next(2 * splitting.size());
    ParallelFor(ctx_, splitting.size(), [&](size_t j) -> Status {
      thread_local std::vector<uint32_t> scratch;
      Candidate& c = level[splitting[j]];
      Candidate* l = &next[2 * j];
      Candidate* r = &next[2 * j + 1];
      SplitRows(c, base + 2 * static_cast<int32_t>(j), &scratch, l, r);
      SearchOne(l);  // the level already runs its nodes in parallel
      SearchOne(r);
      return Status::Ok();
    }).IgnoreError();  // the body cannot fail
    level = std::move(next);
  }
}

GrownTree TreeBuilder::Grow(const std::vector<uint32_t>& rows, const std::vector<GradPair>& grad,
                            const std::vector<uint8_t>& use, double learning_rate,
                            std::vector<int32_t>* leaf_of_row) {
  grad_ = &grad;
  use_ = &use;
  rows_.assign(rows.begin(), rows.end());  // reuses the buffer across trees
  GrownTree t;
  t.tree.nodes.resize(1);
  t.splits.resize(1);
  std::vector<Sum> root_hist = AcquireHistogram();
  gbdt::BuildHistogram(x_, layout_, use, grad, rows_.data(), rows_.size(), &root_hist, ctx_);
  Sum total;
  for (uint32_t r : rows_) total.Add({grad[r].g, grad[r].h, 1});
  t.tree.nodes[0].cover = total.h;

  const bool leaf_wise = p_.num_leaves > 0;
  const size_t max_leaves = leaf_wise ? static_cast<size_t>(p_.num_leaves) : SIZE_MAX;
  // Leaf-wise: best gain first (ties: lower node index). Depth-wise: node order (level by level).
  auto worse = [&](const Candidate& a, const Candidate& b) {
    if (!leaf_wise) return a.node > b.node;
    return a.split.gain != b.split.gain ? a.split.gain < b.split.gain : a.node > b.node;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> open(worse);
  std::vector<Candidate> leaves;
  Candidate root =
      MakeCandidate(0, 0, static_cast<uint32_t>(rows_.size()), 0, total, std::move(root_hist));
  SearchSplits(&root, nullptr);
  if (!leaf_wise) {
    GrowLevels(std::move(root), &t, &leaves);
  } else {
    open.push(std::move(root));
  }
  size_t num_leaves = 1;
  while (!open.empty()) {
    Candidate c = std::move(const_cast<Candidate&>(open.top()));
    open.pop();
    if (!CanSplit(c) || num_leaves >= max_leaves) {
      Release(&c.hist);
      leaves.push_back(std::move(c));
      continue;
    }
    Candidate l, r;
    ApplySplit(c, &t, &l, &r);
    ++num_leaves;
    open.push(std::move(l));
    open.push(std::move(r));
  }
  for (const Candidate& c : leaves) {
    model::Node& n = t.tree.nodes[static_cast<size_t>(c.node)];
    n.value = gbdt::LeafWeight(c.total, p_) * learning_rate;
    for (uint32_t i = c.begin; i < c.end; ++i) (*leaf_of_row)[rows_[i]] = c.node;
  }
  return t;
}

// Leaf reached by row r of `x` in a grown tree (bin space).
int32_t LeafOfBinned(const GrownTree& t, const BinnedData& x, size_t r) {
  int32_t i = 0;
  while (!t.tree.nodes[static_cast<size_t>(i)].is_leaf()) {
    const Split& s = t.splits[static_cast<size_t>(i)];
    const bool left = s.GoesLeft(x.column(s.feature)[r], x.num_bins[s.feature]);
    i = left ? t.tree.nodes[static_cast<size_t>(i)].left
             : t.tree.nodes[static_cast<size_t>(i)].right;
  }
  return i;
}

Status CheckInputs(const TrainInput& train, const TrainInput* valid, const TrainOptions& o) {
  KILN_RETURN_IF_ERROR(o.params.Validate());
  if (!train.x || train.x->rows == 0) return InvalidArgumentError("no training rows");
  if (train.labels.size() != train.x->rows) return InvalidArgumentError("label count mismatch");
  if (train.x->rows > UINT32_MAX) return InvalidArgumentError("more than 2^32 training rows");
  if (valid && (!valid->x || valid->labels.size() != valid->x->rows)) {
    return InvalidArgumentError("validation label count mismatch");
  }
  for (const auto* in : {&train, valid}) {
    if (!in) continue;
    for (float y : in->labels) {
      if (!std::isfinite(y)) return InvalidArgumentError("labels must be finite");
      if (o.objective == model::Objective::kMulticlassSoftmax &&
          (y < 0 || y >= static_cast<float>(o.num_classes) || y != std::floor(y))) {
        return InvalidArgumentError("multiclass labels must be class indices");
      }
      if (o.objective == model::Objective::kBinaryLogistic && y != 0 && y != 1) {
        return InvalidArgumentError("binary labels must be 0 or 1");
      }
      if (o.objective == model::Objective::kPoisson && y < 0) {
        return InvalidArgumentError("poisson labels must be >= 0");
      }
    }
  }
  return Status::Ok();
}

Status CheckInit(const model::TreeModel& init, const model::TreeModel& m, const TrainInput& train,
                 const TrainInput* valid) {
  if (init.objective != m.objective || init.num_groups() != m.num_groups()) {
    return InvalidArgumentError("init model has another objective or number of classes");
  }
  if (init.features.size() != m.features.size()) {
    return InvalidArgumentError("init model has other features");
  }
  for (size_t f = 0; f < m.features.size(); ++f) {
    const auto& a = init.features[f];
    const auto& b = m.features[f];
    if (a.name != b.name || a.categorical != b.categorical || a.categories != b.categories) {
      return InvalidArgumentError(fmt::format("init model feature '{}' differs", a.name));
    }
  }
  const size_t groups = static_cast<size_t>(m.num_groups());
  if (train.init_margins.size() != train.x->rows * groups ||
      (valid && valid->init_margins.size() != valid->x->rows * groups)) {
    return InvalidArgumentError("init margins missing or of the wrong size");
  }
  return Status::Ok();
}

std::vector<double> InitialMargins(const TrainInput& in, const std::vector<double>& base,
                                   bool from_init) {
  if (from_init) return in.init_margins;
  std::vector<double> m(in.x->rows * base.size());
  for (size_t r = 0; r < in.x->rows; ++r) {
    std::copy(base.begin(), base.end(), m.begin() + static_cast<ptrdiff_t>(r * base.size()));
  }
  return m;
}

std::vector<uint8_t> SampleFeatures(size_t features, double colsample, std::mt19937_64* rng) {
  std::vector<uint8_t> use(features, 1);
  if (colsample >= 1) return use;
  std::vector<size_t> order(features);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), *rng);
  const size_t keep = std::max<size_t>(1, static_cast<size_t>(std::ceil(colsample * features)));
  std::fill(use.begin(), use.end(), 0);
  for (size_t i = 0; i < keep; ++i) use[order[i]] = 1;
  return use;
}

// "iteration=12;best_iteration=7;best_score=0.81" (a checkpoint's train_state_json). Doubles
// use the shortest round-trip form, so a resumed early-stopping comparison is exact.
std::string WriteTrainState(int iteration, int best_iteration, double best_score) {
  return fmt::format("iteration={};best_iteration={};best_score={}", iteration, best_iteration,
                     best_score);
}

Status ReadTrainState(const std::string& text, int trees_iterations, int* best_iteration,
                      double* best_score) {
  int iteration = -1;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string::npos) semi = text.size();
    const std::string item = text.substr(pos, semi - pos);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return InvalidArgumentError("bad checkpoint state");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    bool ok = true;
    if (key == "iteration") {
      auto v = ParseInteger(value, "iteration", 0, INT32_MAX);
      ok = v.ok();
      if (ok) iteration = static_cast<int>(*v);
    } else if (key == "best_iteration") {
      auto v = ParseInteger(value, "best_iteration", -1, INT32_MAX);
      ok = v.ok();
      if (ok) *best_iteration = static_cast<int>(*v);
    } else if (key == "best_score") {
      auto v = ParseDouble(value, "best_score");
      ok = v.ok();
      if (ok) *best_score = *v;
    }
    if (!ok) return InvalidArgumentError("bad checkpoint state");
    pos = semi + 1;
  }
  if (iteration != trees_iterations) {
    return InvalidArgumentError("checkpoint state does not match its trees");
  }
  return Status::Ok();
}

}  // namespace

Result<model::TreeModel> TrainGbdt(const TrainInput& train, const TrainInput* valid,
                                   const TrainOptions& o, const ExecContext& ctx) {
  KILN_RETURN_IF_ERROR(CheckInputs(train, valid, o));
  const GbdtParams& p = o.params;
  const BinnedData& x = *train.x;
  const size_t n = x.rows;
  model::TreeModel m;
  m.objective = o.objective;
  m.num_classes = o.objective == model::Objective::kMulticlassSoftmax ? o.num_classes : 1;
  const int32_t groups = m.num_groups();
  m.features = x.features;
  m.target = o.target;
  m.class_labels = o.class_labels;
  m.params_json = p.ToJson();
  m.base_score = BaseScore(o.objective, groups, train.labels);
  const std::string metric =
      o.eval_metric.empty() ? DefaultMetrics(o.objective).front() : o.eval_metric;
  if (const auto known = DefaultMetrics(o.objective);
      std::find(known.begin(), known.end(), metric) == known.end()) {
    return InvalidArgumentError(fmt::format("metric '{}' does not fit objective {} (use one of {})",
                                            metric, model::ObjectiveName(o.objective),
                                            fmt::join(known, ", ")));
  }
  // The training curve: the loss over a fixed sample of rows.
  const std::string train_metric = LossMetric(o.objective);
  std::vector<uint32_t> curve_rows;
  std::vector<float> curve_labels;
  std::vector<double> curve_margins;
  if (o.train_curve_rows > 0) {
    curve_rows.resize(x.rows);
    std::iota(curve_rows.begin(), curve_rows.end(), 0u);
    if (o.train_curve_rows < x.rows) {
      std::mt19937_64 rng(p.seed ^ 0x5eed5eed5eedull);
      std::shuffle(curve_rows.begin(), curve_rows.end(), rng);
      curve_rows.resize(o.train_curve_rows);
      std::sort(curve_rows.begin(), curve_rows.end());
    }
    for (uint32_t r : curve_rows) curve_labels.push_back(train.labels[r]);
    curve_margins.resize(curve_rows.size() * static_cast<size_t>(groups));
  }
  double best_score = HigherIsBetter(metric) ? -INFINITY : INFINITY;
  int start = 0, end = p.num_trees, best_iter = 0;
  if (o.init) {
    KILN_RETURN_IF_ERROR(CheckInit(*o.init, m, train, valid));
    m.base_score = o.init->base_score;
    m.trees = o.init->trees;
    start = static_cast<int>(m.trees.size()) / groups;
    if (o.resume) {
      KILN_RETURN_IF_ERROR(
          ReadTrainState(o.init->train_state_json, start, &best_iter, &best_score));
    } else {
      end = start + p.num_trees;
      best_iter = start > 0 ? start - 1 : 0;
    }
  }

  const gbdt::Layout layout(x);
  TreeBuilder builder(x, layout, p, ctx);
  std::vector<double> margin = InitialMargins(train, m.base_score, o.init != nullptr), vmargin;
  if (valid) vmargin = InitialMargins(*valid, m.base_score, o.init != nullptr);
  std::vector<GradPair> grad_all(n * groups), grad(n);
  std::vector<int32_t> leaf_of_row(n);
  std::vector<uint32_t> rows;
  rows.reserve(n);
  for (int it = start; it < end; ++it) {
    KILN_RETURN_IF_ERROR(ctx.CheckAlive());
    ComputeGradients(o.objective, groups, margin, train.labels, grad_all);
    // Seeded by the iteration number, so a resumed run draws what the uninterrupted one drew.
    std::mt19937_64 rng(p.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(it));
    rows.clear();
    std::bernoulli_distribution take_row(p.subsample);
    for (uint32_t r = 0; r < n; ++r) {
      if (p.subsample >= 1 || take_row(rng)) rows.push_back(r);
    }
    const std::vector<uint8_t> use = SampleFeatures(x.num_features(), p.colsample, &rng);
    for (int32_t k = 0; k < groups; ++k) {
      for (size_t r = 0; r < n; ++r) grad[r] = grad_all[r * groups + k];
      std::fill(leaf_of_row.begin(), leaf_of_row.end(), -1);
      GrownTree t = builder.Grow(rows, grad, use, p.learning_rate, &leaf_of_row);
      t.tree.class_index = k;
      for (size_t r = 0; r < n; ++r) {
        int32_t leaf = leaf_of_row[r] >= 0 ? leaf_of_row[r] : LeafOfBinned(t, x, r);
        margin[r * groups + k] += t.tree.nodes[static_cast<size_t>(leaf)].value;
      }
      if (valid) {
        for (size_t r = 0; r < valid->x->rows; ++r) {
          vmargin[r * groups + k] +=
              t.tree.nodes[static_cast<size_t>(LeafOfBinned(t, *valid->x, r))].value;
        }
      }
      m.trees.push_back(std::move(t.tree));
    }
    IterationLog log{it, metric, std::nullopt, best_iter};
    if (valid) {
      KILN_ASSIGN_OR_RETURN(double score,
                            EvaluateMetric(metric, o.objective, groups, vmargin, valid->labels));
      log.valid = score;
      const bool better = HigherIsBetter(metric) ? score > best_score : score < best_score;
      if (better) best_score = score, best_iter = it;
      log.best_iteration = best_iter;
    }
    if (!curve_rows.empty()) {
      const size_t g = static_cast<size_t>(groups);
      for (size_t i = 0; i < curve_rows.size(); ++i) {
        for (size_t k = 0; k < g; ++k) curve_margins[i * g + k] = margin[curve_rows[i] * g + k];
      }
      log.train_metric = train_metric;
      KILN_ASSIGN_OR_RETURN(log.train, EvaluateMetric(train_metric, o.objective, groups,
                                                      curve_margins, curve_labels));
    }
    if (o.on_iteration) o.on_iteration(log);
    const bool stop =
        (valid && p.early_stopping_rounds > 0 && it - best_iter >= p.early_stopping_rounds) ||
        (o.keep_going && !o.keep_going(log));
    if (o.on_checkpoint && o.checkpoint_every > 0 && (it + 1) % o.checkpoint_every == 0 && !stop &&
        it + 1 < end) {
      model::TreeModel checkpoint = m;
      checkpoint.train_state_json = WriteTrainState(it + 1, best_iter, best_score);
      KILN_RETURN_IF_ERROR(o.on_checkpoint(checkpoint));
    }
    if (stop) break;
  }
  if (valid && p.early_stopping_rounds > 0) m.best_iteration = best_iter;
  KILN_RETURN_IF_ERROR(m.Validate());
  return m;
}

}  // namespace kiln::learn
