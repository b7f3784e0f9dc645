#include "kiln/tune/tuner.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kiln/base/thread_pool.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/objective.h"

namespace kiln::tune {

Asha::Asha(int max_rounds, int grace, double eta) : eta_(eta) {
  for (double r = std::max(1, grace); r < max_rounds; r = std::ceil(r * eta_)) {
    rungs_.push_back(static_cast<int>(r));
  }
  MutexLock lock(&mu_);
  recorded_.resize(rungs_.size());
}

bool Asha::Continue(int rounds, double score) {
  const auto it = std::find(rungs_.begin(), rungs_.end(), rounds);
  if (it == rungs_.end()) return true;
  MutexLock lock(&mu_);
  std::vector<double>& rec = recorded_[static_cast<size_t>(it - rungs_.begin())];
  rec.push_back(score);
  // The (1 - 1/eta) quantile of the scores at this rung, linearly interpolated.
  std::vector<double> sorted = rec;
  std::sort(sorted.begin(), sorted.end());
  const double pos = (1.0 - 1.0 / eta_) * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double cutoff = sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
  return score >= cutoff;
}

std::vector<Fold> MakeFolds(const learn::BinnedData& x, const std::vector<float>& labels, int k,
                            double valid_frac, uint64_t seed) {
  std::vector<uint32_t> perm(x.rows);
  std::iota(perm.begin(), perm.end(), 0u);
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 17);
  std::shuffle(perm.begin(), perm.end(), rng);
  const size_t n = x.rows;
  std::vector<std::pair<size_t, size_t>> valid_ranges;
  if (k >= 2) {
    for (int f = 0; f < k; ++f) {
      valid_ranges.emplace_back(n * static_cast<size_t>(f) / static_cast<size_t>(k),
                                n * static_cast<size_t>(f + 1) / static_cast<size_t>(k));
    }
  } else {
    valid_ranges.emplace_back(
        0, static_cast<size_t>(std::llround(static_cast<double>(n) * valid_frac)));
  }
  std::vector<Fold> folds;
  for (const auto& [begin, end] : valid_ranges) {
    std::vector<uint32_t> train_rows, valid_rows(perm.begin() + static_cast<ptrdiff_t>(begin),
                                                 perm.begin() + static_cast<ptrdiff_t>(end));
    train_rows.insert(train_rows.end(), perm.begin(), perm.begin() + static_cast<ptrdiff_t>(begin));
    train_rows.insert(train_rows.end(), perm.begin() + static_cast<ptrdiff_t>(end), perm.end());
    // Row order as in the data: the trainer's scans stay sequential.
    std::sort(train_rows.begin(), train_rows.end());
    std::sort(valid_rows.begin(), valid_rows.end());
    Fold f;
    f.train = learn::TakeBinnedRows(x, train_rows);
    f.valid = learn::TakeBinnedRows(x, valid_rows);
    for (uint32_t r : train_rows) f.train_labels.push_back(labels[r]);
    for (uint32_t r : valid_rows) f.valid_labels.push_back(labels[r]);
    folds.push_back(std::move(f));
  }
  return folds;
}

Result<learn::GbdtParams> Resolve(const SearchSpace& space, const learn::GbdtParams& base,
                                  const Assignment& a) {
  learn::GbdtParams p = base;
  for (const auto& spec : space.params) {
    auto it = a.find(spec.name);
    if (it == a.end()) return InvalidArgumentError(fmt::format("no value for {}", spec.name));
    KILN_RETURN_IF_ERROR(p.Set(spec.name, ValueText(spec, it->second)));
  }
  KILN_RETURN_IF_ERROR(p.Validate());
  return p;
}

namespace {

struct Shared {
  const TuneOptions* options;
  const std::vector<Fold>* folds;
  TrialObserver* observer;
  const ExecContext* trial_ctx;  // threads_per_trial, sharing the tune's pool and cancellation
  std::string metric;
  bool higher = true;
  int threads_per_trial = 1;
  std::optional<Asha> asha;
  Mutex mu;
  std::unique_ptr<Sampler> sampler KILN_GUARDED_BY(mu);
  std::vector<Observation> history KILN_GUARDED_BY(mu);
  int next_index KILN_GUARDED_BY(mu) = 0;
  int to_start KILN_GUARDED_BY(mu) = 0;
  Status error KILN_GUARDED_BY(mu);
  TuneSummary summary KILN_GUARDED_BY(mu);
};

Result<TrialResult> RunTrial(Shared& s, int index, const Assignment& a) {
  const TuneOptions& o = *s.options;
  TrialResult r;
  r.index = index;
  r.params = a;
  KILN_ASSIGN_OR_RETURN(r.resolved, Resolve(o.space, o.base, a));
  r.resolved.threads = s.threads_per_trial;
  KILN_RETURN_IF_ERROR(s.observer->TrialStarted(index, r.resolved, a));
  const ExecContext& ctx = *s.trial_ctx;
  double sum = 0;
  int trained = 0;
  for (size_t f = 0; f < s.folds->size(); ++f) {
    const Fold& fold = (*s.folds)[f];
    learn::TrainOptions t;
    t.params = r.resolved;
    t.objective = o.objective;
    t.num_classes = o.num_classes;
    t.target = o.target;
    t.class_labels = o.class_labels;
    t.eval_metric = s.metric;
    double best = s.higher ? -INFINITY : INFINITY;
    int best_iter = 0, rounds = 0;
    t.on_iteration = [&](const learn::IterationLog& log) {
      rounds = log.iteration + 1;
      if (!log.valid) return;
      if (s.higher ? *log.valid > best : *log.valid < best)
        best = *log.valid, best_iter = log.iteration;
      if (f == 0) r.curve.push_back(*log.valid);
    };
    // ASHA decides on the first fold; a trial it stops trains no further folds.
    if (s.asha && f == 0) {
      t.keep_going = [&](const learn::IterationLog& log) {
        const bool go = s.asha->Continue(log.iteration + 1, s.higher ? best : -best);
        if (!go) r.stopped_at = log.iteration + 1;
        return go;
      };
    }
    learn::TrainInput train{&fold.train, fold.train_labels, {}};
    learn::TrainInput valid{&fold.valid, fold.valid_labels, {}};
    KILN_ASSIGN_OR_RETURN(model::TreeModel m, learn::TrainGbdt(train, &valid, t, ctx));
    r.rounds += rounds;
    sum += best;
    ++trained;
    if (f == 0) r.best_iteration = best_iter;
    if (s.folds->size() == 1) r.model = std::move(m);
    if (r.stopped_at > 0) break;
  }
  r.score = sum / trained;
  KILN_RETURN_IF_ERROR(s.observer->TrialFinished(r));
  return r;
}

// One of the `parallel` trial loops, each a task on the pool: a trial at a time until none is
// left to start, an error stopped the search, or the context was cancelled.
Status Worker(Shared& s) {
  while (true) {
    int index = 0;
    Assignment a;
    KILN_RETURN_IF_ERROR(s.trial_ctx->CheckAlive());
    {
      MutexLock lock(&s.mu);
      if (s.to_start <= 0 || !s.error.ok()) return Status::Ok();
      --s.to_start;
      index = s.next_index++;
      std::mt19937_64 rng(s.options->seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(index));
      a = s.sampler->Suggest(s.history, rng);
    }
    Result<TrialResult> r = RunTrial(s, index, a);
    MutexLock lock(&s.mu);
    if (!r.ok()) {
      if (s.error.ok()) s.error = r.status().WithContext(fmt::format("trial {}", index));
      return Status::Ok();  // reported through s.error, with the trial's index
    }
    s.history.push_back({a, s.higher ? -r->score : r->score});
    s.summary.total_rounds += r->rounds;
    r->model.reset();
    s.summary.trials.push_back(std::move(*r));
  }
}

}  // namespace

Result<TuneSummary> RunTune(const TuneOptions& options, const std::vector<Fold>& folds,
                            std::vector<Observation> history, int start_index,
                            TrialObserver* observer, const ExecContext& ctx) {
  if (folds.empty()) return InvalidArgumentError("no folds to train on");
  if (options.trials < 1 || options.trials > 100000) {
    return InvalidArgumentError("trials must be 1..100000");
  }
  if (options.sampler != "tpe" && options.sampler != "random") {
    return InvalidArgumentError("sampler must be tpe or random");
  }
  if (options.asha && (!(options.eta > 1) || options.grace < 1)) {
    return InvalidArgumentError("ASHA needs eta > 1 and grace >= 1");
  }
  Shared s;
  s.options = &options;
  s.folds = &folds;
  s.observer = observer;
  s.metric =
      options.metric.empty() ? learn::DefaultMetrics(options.objective).front() : options.metric;
  s.higher = learn::HigherIsBetter(s.metric);
  int max_rounds = options.base.num_trees;
  for (const auto& p : options.space.params) {
    if (p.name == "num_trees") {  // names in a validated space are canonical
      max_rounds = static_cast<int>(p.high);
    }
  }
  if (options.asha) s.asha.emplace(max_rounds, options.grace, options.eta);
  const int remaining = options.trials - static_cast<int>(history.size());
  const int workers = std::clamp(options.parallel, 1, std::max(1, remaining));
  s.threads_per_trial = std::max(1, ctx.threads() / workers);
  const ExecContext trial_ctx = ctx.WithThreads(s.threads_per_trial);
  s.trial_ctx = &trial_ctx;
  {
    MutexLock lock(&s.mu);
    s.sampler = options.sampler == "tpe" ? NewTpeSampler(options.space, options.startup)
                                         : NewRandomSampler(options.space);
    s.history = std::move(history);
    s.next_index = start_index;
    s.to_start = remaining;
    s.summary.metric = s.metric;
    s.summary.higher_is_better = s.higher;
  }
  // The trial loops and the trials' own ParallelFor helpers all run on the caller's pool:
  // workers * threads_per_trial <= ctx.threads(), so a pool of ctx.threads() - 1 holds them.
  ctx.pool();
  Status run = ParallelFor(ctx.WithThreads(workers), static_cast<size_t>(workers),
                           [&s](size_t) { return Worker(s); });
  MutexLock lock(&s.mu);
  if (!s.error.ok()) return s.error;
  KILN_RETURN_IF_ERROR(run);
  return std::move(s.summary);
}

}  // namespace kiln::tune
