// Dispatcher: an inference request's way from a front end (REST or gRPC) to the batcher — the
// version that answers, the prepared rows, the deadline — and traffic routing:
//
//   - split: a request that names the model only (no version) goes to one of several aliases
//     or versions by weight (A/B, canary 90/10); with a `sticky_key`, the request parameter of
//     that name (a customer id, say) picks the route by its hash, so one client keeps one route
//     (the same on every replica); without one, at random.
//   - shadow: such a request is also mirrored to another alias or version; its answer is
//     discarded, its rows counted and compared with the answer the client got (the predicted
//     label, or the predicted value within 1e-6 relative), as metrics. A shadow never delays or
//     fails the request it mirrors: when it cannot be queued it is dropped and counted.
//
// A request that names a version or an alias is never routed.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/monitor/metrics.h"
#include "kiln/serve/batcher.h"
#include "kiln/serve/model_manager.h"
#include "kiln/serve/v2.h"

namespace kiln::serve {

struct Route {
  std::string target;  // an alias or a version number
  uint32_t weight = 0;
};

struct RoutingPolicy {
  std::vector<Route> split;  // empty: the default alias
  std::string sticky_key;    // request parameter that keeps a client on one route
  std::string shadow;        // alias or version mirrored; empty: none

  // Every alias or version the policy sends traffic to (the split's, then the shadow).
  std::vector<std::string> Targets() const {
    std::vector<std::string> out;
    for (const Route& r : split) out.push_back(r.target);
    if (!shadow.empty()) out.push_back(shadow);
    return out;
  }
};

// InvalidArgument unless every target is a valid name, weights are at most 1,000,000 and
// not all zero (when there is a split), and the sticky key and shadow are valid names or empty.
Status ValidateRouting(const RoutingPolicy& policy);

// The route for a request: by the hash of `sticky` when it is set, else by `random`.
// Null when the policy has no split.
const Route* PickRoute(const RoutingPolicy& policy, const std::optional<std::string>& sticky,
                       uint64_t random);

class Dispatcher {
 public:
  using Clock = std::chrono::steady_clock;
  // `models`, `batcher` and `metrics` (may be null) must outlive the dispatcher.
  Dispatcher(ModelManager* models, Batcher* batcher, monitor::MetricsRegistry* metrics,
             Limits limits, std::map<std::string, RoutingPolicy> routing = {});

  // Resolves the version (routing when `version` is empty), prepares the rows, queues them
  // with the deadline (the request's, capped by the client's) and mirrors the shadow.
  // `resolved` is called with the answering version as soon as it is known, before `done` can
  // run; `done` is called exactly once unless an error is returned.
  Status Submit(const std::string& model, const std::string& version, const InferRequest& req,
                Clock::time_point arrived, std::optional<Clock::time_point> client_deadline,
                const std::function<void(const ServedModel&)>& resolved, InferCallback done);

  // The routing of `model` (NotFound when it has none); SetRouting replaces it (an empty
  // policy removes it).
  Result<RoutingPolicy> Routing(const std::string& model) const;
  // The batcher's statistics of `model`'s versions ("" = every model).
  std::vector<std::shared_ptr<const InferStats>> Stats(const std::string& model) const {
    return batcher_->Stats(model);
  }
  Status SetRouting(const std::string& model, RoutingPolicy policy);

 private:
  // Prepares the shadow copy of a request to `primary` and wraps `done` to compare the answers;
  // returns what queues the shadow (null when there is nothing to mirror).
  std::function<void()> Mirror(const std::string& model, const std::string& shadow,
                               const InferRequest& req, const ServedModel& primary,
                               Clock::time_point deadline, InferCallback* done);

  ModelManager* models_;
  Batcher* batcher_;
  monitor::MetricsRegistry* metrics_;
  const Limits limits_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const RoutingPolicy>> routing_ KILN_GUARDED_BY(mu_);
  monitor::Family<monitor::Counter>* shadow_requests_ = nullptr;
  monitor::Family<monitor::Counter>* shadow_rows_ = nullptr;
  monitor::Family<monitor::Counter>* shadow_disagreements_ = nullptr;
};

}  // namespace kiln::serve
