// V2Service: the Open Inference Protocol (KServe V2) REST endpoints and Triton's model
// repository extension, over a ModelManager.
//
//   GET  /v2/health/live                       200 {"live":true}
//   GET  /v2/health/ready                      200 {"ready":true} | 503 while starting/stopping
//   GET  /v2                                   server metadata
//   GET  /v2/models/{m}[/versions/{v}]         model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready   200 when loaded, 404 otherwise
//   POST /v2/models/{m}[/versions/{v}]/infer   inference
//   GET|PUT /v2/models/{m}/routing             traffic routing (split, sticky key, shadow)
//   GET  /v2/models[/{m}[/versions/{v}]]/stats Triton's statistics extension
//   POST /v2/repository/index                  the loaded models
//   POST /v2/repository/models/{m}/load|unload by registry name only (never a path)
//   GET  /metrics                              Prometheus text format
//   GET  /api/v1/models/{m}/drift|performance  monitoring (monitoring.h), always
//   POST /api/v1/models/{m}/feedback           ground truth joined to logged predictions
//   GET  /api/v1/alerts                        alert rules, active alerts, recent events
//   /api/v1/...                                the control plane (control_plane.h), when enabled
//
// `{v}` is a version number or an alias; a bare model name means its `production` alias.
// With an authenticator every request but the health checks needs `Authorization: Bearer
// <token>` whose role has the route's permission (api/permissions.h): 401 (with
// WWW-Authenticate) without a valid token, 403 without the permission.
// Errors are {"error": "...", "code": "NOT_FOUND"} with the status of HttpStatusFor().
// Thread-safety: Handle() may run on several IO threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/api/control_plane.h"
#include "kiln/api/rate_limiter.h"
#include "kiln/api/request_metrics.h"
#include "kiln/auth/authenticator.h"
#include "kiln/base/exec_context.h"
#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/http/server.h"
#include "kiln/monitor/metrics.h"
#include "kiln/serve/dispatcher.h"
#include "kiln/serve/model_manager.h"

namespace kiln::api {

// Status -> HTTP (docs/design/conventions.md): InvalidArgument/OutOfRange 400,
// Unauthenticated 401, PermissionDenied 403, NotFound 404,
// AlreadyExists/FailedPrecondition 409, ResourceExhausted 413 (the limits a request can
// exceed are sizes: tensors, elements, rows), DeadlineExceeded 504, Unavailable 503,
// Unimplemented 501, the rest 500.
int HttpStatusFor(const Status& s);
// The error response for `s` (503 carries Retry-After). Internal errors are answered with a
// generic message; the detail goes to the log only (BI-26).
http::HttpResponse ErrorResponse(const Status& s);
// A request target's path segments, each percent-decoded once (a decoded '/' stays inside its
// segment); InvalidArgument for a malformed escape, NotFound past 8 segments.
Result<std::vector<std::string>> PathSegments(std::string_view target);
// Its query string's parameters, percent- and '+'-decoded (the last of a repeated name wins).
std::map<std::string, std::string> QueryParameters(std::string_view target);

// A model's routing as the REST API reads and writes it:
//   {"split": {"production": 90, "canary": 10}, "sticky_key": "customer", "shadow": "staging"}
Result<serve::RoutingPolicy> ParseRoutingJson(std::string_view body);
std::string RoutingJson(const serve::RoutingPolicy& policy);

class AlertMonitor;

struct V2Options {
  std::string server_name = "kiln";
  std::string server_version;
  Limits limits = Limits::Default();
  monitor::AccessLog* access_log = nullptr;      // when set, requests get ids and are logged
  ControlPlaneService* control_plane = nullptr;  // when set, /api/v1/... is served
  const AlertMonitor* alerts = nullptr;          // when set, GET /api/v1/alerts is served
  const auth::Authenticator* auth = nullptr;     // when set, requests need a token
  // When set, requests but the health checks take from their token's / address's bucket;
  // past it they get 429 with Retry-After.
  RateLimiter* per_token = nullptr;
  RateLimiter* per_address = nullptr;
};

// What a request was, for its metrics: the route and, once resolved, the served model version.
struct RequestLabels {
  std::string route = "other";
  std::string model, version;
};

class V2Service {
 public:
  // Inference requests are prepared on the IO thread and handed to `dispatcher` (routing, the
  // batcher). Request
  // metrics are registered in `metrics`, which /metrics exposes; all three must outlive the
  // service.
  V2Service(serve::ModelManager* models, serve::Dispatcher* dispatcher,
            monitor::MetricsRegistry* metrics, V2Options options);

  void Handle(http::HttpRequest req, http::Responder done);
  // Readiness: false until SetReady(true) and again once shutdown begins.
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  // One request on its way: answered once, through Finish.
  struct Call {
    std::chrono::steady_clock::time_point arrived;
    RequestLabels labels;
    http::Responder done;
    std::string request_id;             // the client's X-Request-Id, or one made for the access log
    bool client_request_id = false;     // request_id is the client's
    std::atomic<bool> finished{false};  // answered once, whatever calls Finish again
    Caller caller;                      // who sent it
  };
  void Finish(Call& call, http::HttpResponse resp);
  // The response, or nullopt when `call` is answered later (inference).
  std::optional<http::HttpResponse> Route(const http::HttpRequest& req,
                                          const std::shared_ptr<Call>& call);
  // Who may make `req`, which needs `need` (nullopt: a route no row lists) — options_.auth's
  // answer; the caller the control plane records.
  Result<Caller> Authorize(const http::HttpRequest& req,
                           std::optional<auth::Permission> need) const;
  // A 429 when `req` (not a public route) is over its address's or its token's rate limit.
  std::optional<http::HttpResponse> Throttle(const http::HttpRequest& req, const Caller& caller);
  std::optional<http::HttpResponse> ModelRoute(const http::HttpRequest& req,
                                               const std::string& model, const std::string& version,
                                               const std::string& action,
                                               const std::shared_ptr<Call>& call);
  std::optional<http::HttpResponse> Infer(const http::HttpRequest& req, const std::string& model,
                                          const std::string& version,
                                          const std::shared_ptr<Call>& call);
  http::HttpResponse Metadata(const serve::ServedModel& m);
  http::HttpResponse RoutingRoute(const http::HttpRequest& req, const std::string& model);
  // Triton's statistics extension: every version of `model` that took requests ("" = every
  // model), or only `version`'s.
  http::HttpResponse StatsResponse(const std::string& model, const std::string& version);

  serve::ModelManager* models_;
  serve::Dispatcher* dispatcher_;
  monitor::MetricsRegistry* metrics_;
  monitor::Family<monitor::Counter>* feedback_ = nullptr;  // kiln_feedback_total{model,outcome}
  V2Options options_;
  RequestMetrics stats_;
  std::atomic<bool> ready_{false};
};

}  // namespace kiln::api
