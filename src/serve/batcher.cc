#include "kiln/serve/batcher.h"

#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "kiln/base/exec_context.h"
#include "kiln/base/logging.h"

namespace kiln::serve {
namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Batcher::Batcher(BatcherOptions options, monitor::MetricsRegistry* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  if (metrics_) {
    depth_ =
        metrics_->AddGauge("kiln_queue_depth", "Inference requests waiting for compute.").With({});
  }
  const int threads = ExecContext(ExecContext::Options{.threads = options_.threads}).threads();
  pool_ = std::make_unique<ThreadPool>(threads);
  for (int i = 0; i < threads; ++i) {
    Status s = pool_->Submit([this] { Worker(); });
    if (!s.ok()) KILN_LOG_ERROR("batcher: {}", s.ToString());
  }
}

Batcher::~Batcher() { Stop(); }

void Batcher::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  pool_->Stop();
}

size_t Batcher::queued() const {
  MutexLock lock(&mu_);
  return queued_;
}

const BatchPolicy& Batcher::PolicyFor(const std::string& model) const {
  auto it = options_.per_model.find(model);
  return it == options_.per_model.end() ? options_.policy : it->second;
}

Batcher::QueueMetrics Batcher::MetricsFor(const std::string& model) {
  if (!metrics_) return {};
  auto [it, added] = metrics_by_model_.try_emplace(model);
  if (added) {
    const std::vector<std::string> label{model};
    it->second.queue_time = metrics_
                                ->AddHistogram("kiln_queue_duration_seconds",
                                               "Time an inference request waited for compute.",
                                               {"model"}, monitor::LatencyBuckets())
                                .With(label);
    it->second.compute_time = metrics_
                                  ->AddHistogram("kiln_inference_compute_seconds",
                                                 "Model compute time of an inference request (its "
                                                 "batch's predictor call and its own outputs).",
                                                 {"model"}, monitor::LatencyBuckets())
                                  .With(label);
    it->second.batch_rows =
        metrics_
            ->AddHistogram("kiln_batch_size", "Rows per predictor call of the batcher.", {"model"},
                           monitor::SizeBuckets())
            .With(label);
  }
  return it->second;
}

InferStats* Batcher::StatsFor(const ServedModel& m) {
  auto& stats = stats_[{m.name, m.version}];
  if (!stats) {
    stats = std::make_shared<InferStats>();
    stats->name = m.name;
    stats->version = m.version;
  }
  return stats.get();
}

std::vector<std::shared_ptr<const InferStats>> Batcher::Stats(const std::string& model) const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const InferStats>> out;
  for (const auto& [key, stats] : stats_) {
    if (model.empty() || key.first == model) out.push_back(stats);
  }
  return out;
}

Batcher::ModelCache* Batcher::CacheFor(const std::string& model) {
  auto& c = caches_[model];
  if (!c) {
    const CachePolicy& policy = PolicyFor(model).cache;
    if (policy.max_entries == 0) return nullptr;
    c = std::make_unique<ModelCache>(policy);
    if (metrics_) {
      const std::vector<std::string> label{model};
      c->hits =
          metrics_
              ->AddCounter("kiln_cache_hits_total",
                           "Inference requests answered from the prediction cache.", {"model"})
              .With(label);
      c->misses =
          metrics_
              ->AddCounter("kiln_cache_misses_total",
                           "Inference requests the prediction cache could not answer.", {"model"})
              .With(label);
      c->entries =
          metrics_
              ->AddGauge("kiln_cache_entries", "Answers held by the prediction cache.", {"model"})
              .With(label);
    }
  }
  return c.get();
}

Status Batcher::Submit(std::shared_ptr<const ServedModel> model, PreparedInfer request,
                       Clock::time_point deadline, InferCallback done, bool allow_inline) {
  const Clock::time_point now = Clock::now();
  if (now >= deadline) return DeadlineExceededError("the request's deadline passed before compute");
  const BatchPolicy& policy = PolicyFor(model->name);
  const bool may_inline = allow_inline && options_.inline_max_rows > 0 &&
                          request.x.rows <= options_.inline_max_rows && !request.contributions &&
                          policy.max_queue_delay_us == 0;
  ModelCache* cache = nullptr;
  InferStats* stats = nullptr;
  QueueMetrics metrics;
  bool idle = false;  // nothing of this version queued: an inline computation overtakes nothing
  {
    MutexLock lock(&mu_);
    if (stopping_) return UnavailableError("the server is shutting down");
    cache = CacheFor(model->name);
    stats = StatsFor(*model);
    if (may_inline) {
      idle = queues_.find(model.get()) == queues_.end();
      metrics = MetricsFor(model->name);
    }
  }
  std::string cache_key;
  // Requests too large to be stored are not looked up either.
  if (cache && request.bytes() < policy.cache.max_bytes / 2) {
    cache_key = PredictionCache::Key(*model, request);
    if (auto hit = cache->cache.Get(cache_key, now)) {
      if (cache->hits) cache->hits->Add();
      stats->cache_hit.Add(Clock::now() - now);
      stats->success.Add(Clock::now() - now);
      // The rows still count for drift; the scores of a cached answer are not counted again.
      if (model->drift) {
        model->drift->Record(request.x.rows, request.x.cols, request.x.values.data(), nullptr, 0,
                             request.unseen.empty() ? nullptr : request.unseen.data());
      }
      InferResponse answer = *hit;
      answer.id = request.id;
      done(std::move(answer));
      return Status::Ok();
    }
    if (cache->misses) cache->misses->Add();
    stats->cache_miss.Add(Clock::now() - now);
  } else {
    cache = nullptr;
  }
  const uint64_t bytes = request.bytes();
  if (may_inline && idle) {
    thread_local ExecContext ctx(ExecContext::Options{.threads = 1});
    std::vector<Item> one;
    one.push_back(
        {std::move(request), now, deadline, std::move(done), cache, std::move(cache_key), stats});
    Run(*model, metrics, one, ctx);
    return Status::Ok();
  }
  {
    MutexLock lock(&mu_);
    if (stopping_) return UnavailableError("the server is shutting down");
    if (queued_ >= options_.max_queue_requests ||
        queued_bytes_ + bytes > options_.max_queue_bytes) {
      return UnavailableError(
          fmt::format("the inference queue is full ({} requests waiting); retry later", queued_));
    }
    auto& q = queues_[model.get()];
    if (!q) {
      q = std::make_unique<ModelQueue>();
      q->policy = policy;
      q->metrics = MetricsFor(model->name);
      q->model = std::move(model);
    }
    q->rows += request.x.rows;
    q->items.push_back(
        {std::move(request), now, deadline, std::move(done), cache, std::move(cache_key), stats});
    ++queued_;
    queued_bytes_ += bytes;
    if (depth_) depth_->Set(static_cast<double>(queued_));
  }
  cv_.Signal();
  return Status::Ok();
}

Batcher::ModelQueue* Batcher::Pick(Clock::time_point* wake) {
  ModelQueue* best = nullptr;
  *wake = Clock::time_point::max();
  const Clock::time_point now = Clock::now();
  for (auto& [key, q] : queues_) {
    const Clock::time_point arrived = q->items.front().arrived;
    const Clock::time_point ready =
        arrived + std::chrono::microseconds(q->policy.max_queue_delay_us);
    if (stopping_ || q->rows >= q->policy.max_batch_size || ready <= now) {
      if (!best || arrived < best->items.front().arrived) best = q.get();
    } else {
      *wake = std::min(*wake, ready);
    }
  }
  return best;
}

void Batcher::Worker() {
  ExecContext ctx(ExecContext::Options{.threads = 1});
  std::vector<Item> batch;
  while (true) {
    std::shared_ptr<const ServedModel> model;
    QueueMetrics metrics;
    {
      MutexLock lock(&mu_);
      ModelQueue* q = nullptr;
      while (true) {
        Clock::time_point wake;
        q = Pick(&wake);
        if (q) break;
        if (stopping_ && queues_.empty()) return;
        if (wake == Clock::time_point::max()) {
          cv_.Wait(&mu_);
        } else {
          cv_.WaitUntil(&mu_, wake);
        }
      }
      uint64_t rows = 0;
      while (!q->items.empty()) {
        Item& head = q->items.front();
        const uint64_t r = head.request.x.rows;
        if (!batch.empty() && rows + r > q->policy.max_batch_size) break;
        rows += r;
        q->rows -= r;
        --queued_;
        queued_bytes_ -= head.request.bytes();
        batch.push_back(std::move(head));
        q->items.pop_front();
      }
      model = q->model;
      metrics = q->metrics;
      const bool more = !q->items.empty();
      if (!more) queues_.erase(model.get());
      if (depth_) depth_->Set(static_cast<double>(queued_));
      if (more) cv_.Signal();  // the rest is another worker's
    }
    Run(*model, metrics, batch, ctx);
    batch.clear();
  }
}

void Batcher::Answer(Item& item, Result<InferResponse> resp) {
  // A callback that throws must not take the inference thread (and the rest of its batch)
  // with it.
  try {
    item.done(std::move(resp));
  } catch (const std::exception& e) {
    KILN_LOG_ERROR("inference callback threw: {}", e.what());
  } catch (...) {
    KILN_LOG_ERROR("inference callback threw a non-standard exception");
  }
}

void Batcher::Run(const ServedModel& m, const QueueMetrics& metrics, std::vector<Item>& batch,
                  const ExecContext& ctx) {
  const Clock::time_point start = Clock::now();
  // Requests whose deadline passed while they waited are answered without compute.
  std::vector<Item*> live;
  uint64_t rows = 0;
  for (Item& item : batch) {
    if (metrics.queue_time) metrics.queue_time->Observe(Seconds(start - item.arrived));
    item.stats->queue.Add(start - item.arrived);
    if (start >= item.deadline) {
      item.stats->fail.Add(start - item.arrived);
      Answer(item,
             DeadlineExceededError("the request's deadline passed while it waited for compute"));
      continue;
    }
    live.push_back(&item);
    rows += item.request.x.rows;
  }
  if (live.empty()) return;
  const size_t width = m.predictor->output_width(model::PredictKind::kProbability);
  std::vector<float> probs(rows * width);
  Status predicted;
  try {
    if (live.size() == 1) {
      predicted =
          m.predictor->Predict(live[0]->request.x, model::PredictKind::kProbability, probs, ctx);
    } else {
      model::FeatureMatrix x;
      x.rows = rows;
      x.cols = live[0]->request.x.cols;
      x.values.reserve(rows * x.cols);
      for (const Item* item : live) {
        x.values.insert(x.values.end(), item->request.x.values.begin(),
                        item->request.x.values.end());
      }
      predicted = m.predictor->Predict(x, model::PredictKind::kProbability, probs, ctx);
    }
  } catch (const std::exception& e) {
    predicted = InternalError(fmt::format("predictor threw: {}", e.what()));
  }
  const Clock::time_point computed = Clock::now();
  if (metrics.batch_rows) metrics.batch_rows->Observe(static_cast<double>(rows));
  InferStats& stats = *live[0]->stats;  // one version per batch
  stats.execution_count.fetch_add(1, std::memory_order_relaxed);
  stats.inference_count.fetch_add(rows, std::memory_order_relaxed);
  stats.last_inference_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count(),
                                std::memory_order_relaxed);
  size_t offset = 0;
  for (Item* item : live) {
    const size_t n = item->request.x.rows * width;
    const Clock::time_point own = Clock::now();
    Result<InferResponse> resp = InternalError("not computed");
    if (!predicted.ok()) {
      resp = predicted;
    } else {
      try {
        resp = FinishInfer(m, item->request, std::span<const float>(probs).subspan(offset, n), ctx);
      } catch (const std::exception& e) {
        resp = InternalError(fmt::format("inference threw: {}", e.what()));
      }
    }
    offset += n;
    if (resp.ok() && item->cache) {
      auto stored = std::make_shared<InferResponse>(*resp);
      stored->id.clear();
      item->cache->cache.Put(std::move(item->cache_key), std::move(stored), Clock::now());
      if (item->cache->entries) {
        item->cache->entries->Set(static_cast<double>(item->cache->cache.entries()));
      }
    }
    const Clock::time_point finished = Clock::now();
    if (metrics.compute_time) {
      metrics.compute_time->Observe(Seconds(computed - start) + Seconds(finished - own));
    }
    stats.compute_infer.Add(computed - start);
    stats.compute_output.Add(finished - own);
    (resp.ok() ? stats.success : stats.fail).Add(finished - item->arrived);
    Answer(*item, std::move(resp));
  }
}

}  // namespace kiln::serve
