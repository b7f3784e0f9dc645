#include "kiln/serve/dispatcher.h"

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "kiln/base/hash.h"
#include "kiln/base/logging.h"
#include "kiln/base/names.h"
#include "kiln/serve/inference.h"

namespace kiln::serve {
namespace {

constexpr uint32_t kMaxWeight = 1000000;

// The answers of a request and of its shadow: the second to arrive compares them.
struct ShadowPair {
  Mutex mu;
  std::optional<OutputTensor> primary KILN_GUARDED_BY(mu);
  std::optional<OutputTensor> shadow KILN_GUARDED_BY(mu);
  int arrived KILN_GUARDED_BY(mu) = 0;
  monitor::Counter* rows = nullptr;
  monitor::Counter* disagreements = nullptr;

  // One side's `predict` output (or none when it failed or was not asked for).
  void Arrive(bool is_primary, const Result<InferResponse>& r) {
    std::optional<OutputTensor> predict;
    if (r.ok()) {
      for (const auto& o : r->outputs) {
        if (o.name == "predict") predict = o;
      }
    }
    MutexLock lock(&mu);
    (is_primary ? primary : shadow) = std::move(predict);
    if (++arrived < 2 || !primary || !shadow) return;
    const size_t n = std::max(primary->strings.size(), primary->numbers.size());
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!primary->strings.empty()) {
        differ += i >= shadow->strings.size() || shadow->strings[i] != primary->strings[i];
      } else {
        const double a = primary->numbers[i];
        differ += i >= shadow->numbers.size() ||
                  !(std::fabs(shadow->numbers[i] - a) <= 1e-6 * std::max(1.0, std::fabs(a)));
      }
    }
    if (rows) rows->Add(n);
    if (disagreements) disagreements->Add(differ);
  }
};

std::optional<std::string> StickyValue(const InferRequest& req, const std::string& key) {
  if (key.empty()) return std::nullopt;
  auto it = req.parameters.find(key);
  if (it == req.parameters.end()) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&it->second)) return *s;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return std::to_string(*i);
  return std::nullopt;
}

}  // namespace

Status ValidateRouting(const RoutingPolicy& policy) {
  uint64_t total = 0;
  for (const Route& r : policy.split) {
    KILN_RETURN_IF_ERROR(ValidateName(r.target, "route target"));
    if (r.weight > kMaxWeight) {
      return InvalidArgumentError(
          fmt::format("route '{}': weight must be at most {}", r.target, kMaxWeight));
    }
    total += r.weight;
  }
  if (!policy.split.empty() && total == 0) {
    return InvalidArgumentError("routes: at least one weight must be positive");
  }
  if (!policy.sticky_key.empty())
    KILN_RETURN_IF_ERROR(ValidateName(policy.sticky_key, "sticky key"));
  if (!policy.shadow.empty()) KILN_RETURN_IF_ERROR(ValidateName(policy.shadow, "shadow target"));
  return Status::Ok();
}

const Route* PickRoute(const RoutingPolicy& policy, const std::optional<std::string>& sticky,
                       uint64_t random) {
  uint64_t total = 0;
  for (const Route& r : policy.split) total += r.weight;
  if (total == 0) return nullptr;
  uint64_t at = (sticky ? Xxh3_64(*sticky) : random) % total;
  for (const Route& r : policy.split) {
    if (at < r.weight) return &r;
    at -= r.weight;
  }
  return nullptr;
}

Dispatcher::Dispatcher(ModelManager* models, Batcher* batcher, monitor::MetricsRegistry* metrics,
                       Limits limits, std::map<std::string, RoutingPolicy> routing)
    : models_(models), batcher_(batcher), metrics_(metrics), limits_(limits) {
  for (auto& [name, policy] : routing) {
    routing_[name] = std::make_shared<const RoutingPolicy>(std::move(policy));
  }
  if (metrics_) {
    shadow_requests_ = &metrics_->AddCounter(
        "kiln_shadow_requests_total",
        "Requests mirrored to a shadow version, by outcome (answered, failed, dropped).",
        {"model", "version", "outcome"});
    shadow_rows_ = &metrics_->AddCounter("kiln_shadow_rows_total",
                                         "Rows a shadow version answered alongside the served one.",
                                         {"model", "version"});
    shadow_disagreements_ = &metrics_->AddCounter(
        "kiln_shadow_disagreements_total",
        "Rows where a shadow version's prediction differs from the one served.",
        {"model", "version"});
  }
}

Result<RoutingPolicy> Dispatcher::Routing(const std::string& model) const {
  MutexLock lock(&mu_);
  auto it = routing_.find(model);
  if (it == routing_.end()) {
    return NotFoundError(fmt::format("model '{}' has no routing", Printable(model)));
  }
  return *it->second;
}

Status Dispatcher::SetRouting(const std::string& model, RoutingPolicy policy) {
  KILN_RETURN_IF_ERROR(ValidateRouting(policy));
  MutexLock lock(&mu_);
  if (policy.split.empty() && policy.shadow.empty()) {
    routing_.erase(model);
  } else {
    routing_[model] = std::make_shared<const RoutingPolicy>(std::move(policy));
  }
  return Status::Ok();
}

Status Dispatcher::Submit(const std::string& model, const std::string& version,
                          const InferRequest& req, Clock::time_point arrived,
                          std::optional<Clock::time_point> client_deadline,
                          const std::function<void(const ServedModel&)>& resolved,
                          InferCallback done) {
  std::shared_ptr<const RoutingPolicy> policy;
  std::string target = version;
  if (version.empty()) {
    MutexLock lock(&mu_);
    if (auto it = routing_.find(model); it != routing_.end()) policy = it->second;
  }
  if (policy) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    if (const Route* r = PickRoute(*policy, StickyValue(req, policy->sticky_key), rng())) {
      target = r->target;
    }
  }
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ServedModel> m, models_->Get(model, target));
  resolved(*m);
  KILN_ASSIGN_OR_RETURN(Clock::time_point deadline, RequestDeadline(req, arrived, limits_));
  if (client_deadline) deadline = std::min(deadline, *client_deadline);
  KILN_ASSIGN_OR_RETURN(PreparedInfer prepared, PrepareInfer(*m, req, limits_));
  // The shadow is prepared (and `done` wrapped to compare) before the request is queued — its
  // answer may come at once — and queued after it, so it never goes ahead of it.
  std::function<void()> queue_shadow;
  if (policy && !policy->shadow.empty()) {
    queue_shadow = Mirror(model, policy->shadow, req, *m, deadline, &done);
  }
  KILN_RETURN_IF_ERROR(
      batcher_->Submit(std::move(m), std::move(prepared), deadline, std::move(done)));
  if (queue_shadow) {
    // The request is queued (its answer may even be written): nothing here may fail it now.
    try {
      queue_shadow();
    } catch (const std::exception& e) {
      KILN_LOG_ERROR("shadow request for '{}' not queued: {}", model, e.what());
    }
  }
  return Status::Ok();
}

std::function<void()> Dispatcher::Mirror(const std::string& model, const std::string& shadow,
                                         const InferRequest& req, const ServedModel& primary,
                                         Clock::time_point deadline, InferCallback* done) {
  auto count = [&](const std::string& version, const char* outcome) {
    if (shadow_requests_) shadow_requests_->With({model, version, outcome})->Add();
  };
  auto target = models_->Get(model, shadow);
  if (!target.ok()) {
    count("", "failed");
    return nullptr;
  }
  std::shared_ptr<const ServedModel> s = std::move(*target);
  if (s.get() == &primary) return nullptr;  // routed to the shadow itself: nothing to compare
  const std::string version = std::to_string(s->version);
  auto prepared = PrepareInfer(*s, req, limits_);
  if (!prepared.ok()) {
    count(version, "failed");
    return nullptr;
  }
  // The shadow computes the prediction only (no probabilities, no explanations).
  prepared->predict = true;
  prepared->probabilities = false;
  prepared->contributions = false;
  auto pair = std::make_shared<ShadowPair>();
  if (shadow_rows_) {
    pair->rows = shadow_rows_->With({model, version});
    pair->disagreements = shadow_disagreements_->With({model, version});
  }
  *done = [pair, inner = std::move(*done)](Result<InferResponse> r) {
    pair->Arrive(true, r);
    inner(std::move(r));
  };
  monitor::Counter* answered = nullptr;
  monitor::Counter* failed = nullptr;
  monitor::Counter* dropped = nullptr;
  if (shadow_requests_) {
    answered = shadow_requests_->With({model, version, "answered"});
    failed = shadow_requests_->With({model, version, "failed"});
    dropped = shadow_requests_->With({model, version, "dropped"});
  }
  return [this, pair, s = std::move(s), p = std::make_shared<PreparedInfer>(std::move(*prepared)),
          deadline, answered, failed, dropped] {
    Status queued = batcher_->Submit(
        s, std::move(*p), deadline,
        [pair, answered, failed](Result<InferResponse> r) {
          if (auto* c = r.ok() ? answered : failed) c->Add();
          pair->Arrive(false, r);
        },
        /*allow_inline=*/false);
    if (!queued.ok() && dropped) dropped->Add();
  };
}

}  // namespace kiln::serve
