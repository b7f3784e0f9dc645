#include "kiln/serve/batcher.h"

#include <cmath>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

using std::chrono::milliseconds;
using Clock = Batcher::Clock;

// A regression model answering 10 * a + 1 for a in {0, 1, 2, 3} (three splits on a); with
// `drift` options, watched against a reference of one training row per step.
std::shared_ptr<const ServedModel> StepModel(const std::string& name = "step",
                                             const MonitoringOptions* monitoring = nullptr) {
  model::TreeModel m;
  m.objective = model::Objective::kRegressionL2;
  m.base_score = {1};
  m.features = {{"a", false, {}, {0.5, 1.5, 2.5, INFINITY}}};
  m.reference.rows = 4;
  m.reference.features = {{{1, 1, 1, 1}, 0, 0, 3}};
  m.reference.score_kind = model::ScoreKind::kValue;
  m.reference.score_edges = {5, 15, 25};
  m.reference.score_counts = {1, 1, 1, 1};
  model::Tree t;
  t.nodes.resize(7);
  t.nodes[0] = {.left = 1, .right = 2, .feature = 0, .threshold = 1.5, .cover = 4};
  t.nodes[1] = {.left = 3, .right = 4, .feature = 0, .threshold = 0.5, .cover = 2};
  t.nodes[2] = {.left = 5, .right = 6, .feature = 0, .threshold = 2.5, .cover = 2};
  const double leaf[] = {0, 10, 20, 30};
  for (int i = 0; i < 4; ++i) {
    t.nodes[3 + i].value = leaf[i];
    t.nodes[3 + i].cover = 1;
  }
  m.trees.push_back(t);
  auto served =
      ServedModel::Create(name, 1, std::make_shared<const model::TreeModel>(m), monitoring);
  EXPECT_TRUE(served.ok()) << served.status().ToString();
  return *served;
}

PreparedInfer Rows(std::vector<double> a, std::string id = "") {
  PreparedInfer p;
  p.id = std::move(id);
  p.x.rows = a.size();
  p.x.cols = 1;
  p.x.values = std::move(a);
  p.predict = true;
  return p;
}

Clock::time_point Later() { return Clock::now() + std::chrono::seconds(30); }

TEST(BatcherTest, MergedRequestsEachGetTheirOwnRows) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 2;
  o.policy = {.max_batch_size = 64, .max_queue_delay_us = 2000};
  Batcher batcher(o, &metrics);
  auto m = StepModel();
  constexpr int kClients = 4, kRequests = 200;
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0}, answered{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        // 1..3 rows, values depending on the client and the request.
        std::vector<double> a;
        for (int r = 0; r <= (i + c) % 3; ++r) a.push_back((i + c + r) % 4);
        std::promise<Result<InferResponse>> answer;
        auto got = answer.get_future();
        const std::string id = std::to_string(c) + "/" + std::to_string(i);
        Status s = batcher.Submit(m, Rows(a, id), Later(), [&answer](Result<InferResponse> r) {
          answer.set_value(std::move(r));
        });
        ASSERT_TRUE(s.ok()) << s.ToString();
        Result<InferResponse> r = got.get();
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        ++answered;
        if (r->id != id || r->outputs.size() != 1 || r->outputs[0].numbers.size() != a.size()) {
          ++wrong;
          continue;
        }
        for (size_t k = 0; k < a.size(); ++k) {
          if (r->outputs[0].numbers[k] != 10 * a[k] + 1) ++wrong;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(batcher.queued(), 0u);
}

TEST(BatcherTest, WaitsForAFullBatchUpToTheDelay) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 1;
  // A delay far longer than the test: the batch must go because it is full.
  o.policy = {.max_batch_size = 4, .max_queue_delay_us = 60'000'000};
  Batcher batcher(o, &metrics);
  auto m = StepModel();
  std::atomic<int> answered{0};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(batcher
                    .Submit(m, Rows({static_cast<double>(i)}), Later(),
                            [&](Result<InferResponse> r) {
                              EXPECT_TRUE(r.ok());
                              ++answered;
                            })
                    .ok());
  }
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (answered.load() < 4 && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(answered.load(), 4);
  const std::string page = metrics.Expose();
  EXPECT_NE(page.find("kiln_batch_size_count{model=\"step\"} 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_batch_size_sum{model=\"step\"} 4\n"), std::string::npos) << page;
}

TEST(BatcherTest, FullQueueRefusesAndStopAnswersWhatWaits) {
  BatcherOptions o;
  o.threads = 1;
  o.policy = {.max_batch_size = 1000, .max_queue_delay_us = 60'000'000};
  o.max_queue_requests = 2;
  Batcher batcher(o, nullptr);
  auto m = StepModel();
  std::atomic<int> ok{0};
  auto count = [&](Result<InferResponse> r) { ok += r.ok() ? 1 : 0; };
  ASSERT_TRUE(batcher.Submit(m, Rows({1}), Later(), count).ok());
  ASSERT_TRUE(batcher.Submit(m, Rows({2}), Later(), count).ok());
  Status full = batcher.Submit(m, Rows({3}), Later(), [](Result<InferResponse>) {
    ADD_FAILURE() << "a refused request must not be answered";
  });
  EXPECT_EQ(full.code(), StatusCode::kUnavailable) << full.ToString();
  EXPECT_EQ(batcher.queued(), 2u);
  batcher.Stop();  // computes the two waiting requests
  EXPECT_EQ(ok.load(), 2);
  Status stopped = batcher.Submit(m, Rows({1}), Later(), [](Result<InferResponse>) {});
  EXPECT_EQ(stopped.code(), StatusCode::kUnavailable);
}

TEST(BatcherTest, QueueBytesAreBounded) {
  BatcherOptions o;
  o.threads = 1;
  o.policy = {.max_batch_size = 1000, .max_queue_delay_us = 60'000'000};
  o.max_queue_bytes = 100 * sizeof(double);
  Batcher batcher(o, nullptr);
  auto m = StepModel();
  ASSERT_TRUE(batcher.Submit(m, Rows(std::vector<double>(60, 1)), Later(), [](auto) {}).ok());
  EXPECT_EQ(batcher.Submit(m, Rows(std::vector<double>(60, 1)), Later(), [](auto) {}).code(),
            StatusCode::kUnavailable);
  EXPECT_TRUE(batcher.Submit(m, Rows(std::vector<double>(30, 1)), Later(), [](auto) {}).ok());
}

TEST(BatcherTest, ExpiredRequestsAreAnsweredWithoutCompute) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 1;
  o.policy = {.max_batch_size = 1000, .max_queue_delay_us = 300'000};
  Batcher batcher(o, &metrics);
  auto m = StepModel();
  EXPECT_EQ(batcher.Submit(m, Rows({1}), Clock::now() - milliseconds(1), [](auto) {}).code(),
            StatusCode::kDeadlineExceeded);
  std::promise<Status> expired, live;
  ASSERT_TRUE(batcher
                  .Submit(m, Rows({1}), Clock::now() + milliseconds(20),
                          [&](Result<InferResponse> r) { expired.set_value(r.status()); })
                  .ok());
  ASSERT_TRUE(batcher
                  .Submit(m, Rows({2}), Later(),
                          [&](Result<InferResponse> r) { live.set_value(r.status()); })
                  .ok());
  EXPECT_EQ(expired.get_future().get().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(live.get_future().get().ok());
  // Only the live request was computed.
  EXPECT_NE(metrics.Expose().find("kiln_batch_size_sum{model=\"step\"} 1\n"), std::string::npos);
}

TEST(BatcherTest, PerModelPolicyAndVersionsDoNotMix) {
  BatcherOptions o;
  o.threads = 1;
  o.policy = {.max_batch_size = 1000, .max_queue_delay_us = 60'000'000};
  o.per_model["fast"] = {.max_batch_size = 8, .max_queue_delay_us = 0};
  Batcher batcher(o, nullptr);
  auto slow = StepModel("slow"), fast = StepModel("fast");
  std::atomic<bool> slow_done{false};
  ASSERT_TRUE(batcher.Submit(slow, Rows({1}), Later(), [&](auto) { slow_done = true; }).ok());
  std::promise<Result<InferResponse>> answer;
  ASSERT_TRUE(batcher
                  .Submit(fast, Rows({3}), Later(),
                          [&](Result<InferResponse> r) { answer.set_value(std::move(r)); })
                  .ok());
  auto r = answer.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model_name, "fast");
  EXPECT_EQ(r->outputs[0].numbers[0], 31);
  EXPECT_FALSE(slow_done.load());  // still waiting for its batch to fill
  batcher.Stop();
  EXPECT_TRUE(slow_done.load());
}

TEST(BatcherTest, SmallRequestsComputeInlineWhenNothingWaits) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 1;
  o.inline_max_rows = 2;
  Batcher batcher(o, &metrics);
  auto m = StepModel();
  auto on_caller = [&](std::vector<double> a, bool explain) {
    const auto caller = std::this_thread::get_id();
    std::promise<std::thread::id> where;
    PreparedInfer p = Rows(std::move(a));
    p.contributions = explain;
    EXPECT_TRUE(batcher
                    .Submit(m, std::move(p), Later(),
                            [&](Result<InferResponse> r) {
                              EXPECT_TRUE(r.ok());
                              where.set_value(std::this_thread::get_id());
                            })
                    .ok());
    return where.get_future().get() == caller;
  };
  EXPECT_TRUE(on_caller({1, 2}, false));
  EXPECT_FALSE(on_caller({1, 2, 3}, false));  // more rows than inline_max_rows
  EXPECT_FALSE(on_caller({1}, true));         // explanations always go to the pool
  EXPECT_NE(metrics.Expose().find("kiln_batch_size_count{model=\"step\"} 3\n"), std::string::npos);
}

TEST(BatcherTest, RepeatedRequestsComeFromTheCache) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 1;
  o.per_model["step"].cache = {.max_entries = 100, .max_bytes = 1 << 20, .ttl_ms = 60000};
  Batcher batcher(o, &metrics);
  auto m = StepModel(), other = StepModel("other");
  auto ask = [&](const std::shared_ptr<const ServedModel>& model, std::vector<double> a,
                 const std::string& id, bool* answered_inside) {
    std::promise<Result<InferResponse>> answer;
    const auto caller = std::this_thread::get_id();
    EXPECT_TRUE(batcher
                    .Submit(model, Rows(std::move(a), id), Later(),
                            [&](Result<InferResponse> r) {
                              // On the caller's thread only when answered within Submit.
                              *answered_inside = std::this_thread::get_id() == caller;
                              answer.set_value(std::move(r));
                            })
                    .ok());
    return answer.get_future().get();
  };
  bool inside = true;
  auto first = ask(m, {1, 2}, "a", &inside);
  EXPECT_FALSE(inside);  // computed by the inference thread
  auto second = ask(m, {1, 2}, "b", &inside);
  EXPECT_TRUE(inside);  // answered from the cache within Submit
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, "b");
  EXPECT_EQ(second->outputs[0].numbers, first->outputs[0].numbers);
  EXPECT_TRUE(ask(m, {2, 1}, "c", &inside).ok());
  EXPECT_FALSE(inside);  // other rows
  EXPECT_TRUE(ask(other, {1, 2}, "d", &inside).ok());
  EXPECT_FALSE(inside);  // a model without a cache
  EXPECT_TRUE(ask(other, {1, 2}, "e", &inside).ok());
  EXPECT_FALSE(inside);
  const std::string page = metrics.Expose();
  EXPECT_NE(page.find("kiln_cache_hits_total{model=\"step\"} 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("kiln_cache_misses_total{model=\"step\"} 2\n"), std::string::npos);
  EXPECT_NE(page.find("kiln_cache_entries{model=\"step\"} 2\n"), std::string::npos);
  EXPECT_EQ(page.find("kiln_cache_hits_total{model=\"other\"}"), std::string::npos);
}

// A cached answer's rows still count for drift; only its scores are not counted twice.
TEST(BatcherTest, CachedAnswersStillCountForDrift) {
  monitor::MetricsRegistry metrics;
  BatcherOptions o;
  o.threads = 1;
  o.per_model["step"].cache = {.max_entries = 100, .max_bytes = 1 << 20, .ttl_ms = 60000};
  Batcher batcher(o, &metrics);
  const MonitoringOptions watch{.drift = {.window = std::chrono::minutes(10), .min_samples = 1}};
  auto m = StepModel("step", &watch);
  ASSERT_TRUE(m->drift);
  for (const char* id : {"a", "b"}) {
    std::promise<Result<InferResponse>> answer;
    ASSERT_TRUE(batcher
                    .Submit(m, Rows({1, 2, 7}, id), Later(),
                            [&](Result<InferResponse> r) { answer.set_value(std::move(r)); })
                    .ok());
    ASSERT_TRUE(answer.get_future().get().ok());
  }
  const auto report = m->drift->Measure(monitor::DriftWindow::kSliding);
  EXPECT_EQ(report.rows, 6u);
  EXPECT_EQ(report.features[0].drift.current_rows, 6u);
  EXPECT_EQ(report.features[0].out_of_range, 2u);  // a = 7 is above the training range [0, 3]
  EXPECT_EQ(report.prediction.current_rows, 3u);   // the first answer's scores only
}

}  // namespace
}  // namespace kiln::serve
