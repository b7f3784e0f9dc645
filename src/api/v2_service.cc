#include "kiln/api/v2_service.h"

#include <chrono>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/api/monitoring.h"
#include "kiln/api/permissions.h"
#include "kiln/base/logging.h"
#include "kiln/base/names.h"
#include "kiln/registry/audit.h"
#include "kiln/serve/inference.h"
#include "kiln/serve/v2.h"

namespace kiln::api {

using http::HttpRequest;
using http::HttpResponse;
using serve::JsonQuote;

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 413;  // every limit a request can exceed here is a size
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

HttpResponse ErrorResponse(const Status& s) {
  HttpResponse r;
  r.status = HttpStatusFor(s);
  std::string message = s.message();
  if (r.status == 500) {
    KILN_LOG_ERROR("internal error answering a request: {}", s.ToString());
    message = "internal error";
  }
  r.body =
      fmt::format(R"({{"error":{},"code":"{}"}})", JsonQuote(message), StatusCodeName(s.code()));
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="kiln")");
  return r;
}

namespace {

HttpResponse Json(int status, std::string body) { return {status, "application/json", body, {}}; }

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// A decoded '/' stays inside its segment, so "..%2f" can never become a separator.
Result<std::vector<std::string>> PathSegments(std::string_view target) {
  const size_t q = target.find_first_of("?#");
  std::string_view path = target.substr(0, q);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::string seg;
    while (i < path.size() && path[i] != '/') {
      if (path[i] == '%') {
        if (i + 2 >= path.size() || Hex(path[i + 1]) < 0 || Hex(path[i + 2]) < 0) {
          return InvalidArgumentError("malformed percent-encoding in the path");
        }
        seg += static_cast<char>(Hex(path[i + 1]) * 16 + Hex(path[i + 2]));
        i += 3;
      } else {
        seg += path[i++];
      }
    }
    out.push_back(std::move(seg));
    if (out.size() > 8) return NotFoundError("no such endpoint");
  }
  return out;
}

std::map<std::string, std::string> QueryParameters(std::string_view target) {
  std::map<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  auto decode = [](std::string_view in) {
    std::string s;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        s += ' ';
      } else if (in[i] == '%' && i + 2 < in.size() && Hex(in[i + 1]) >= 0 && Hex(in[i + 2]) >= 0) {
        s += static_cast<char>(Hex(in[i + 1]) * 16 + Hex(in[i + 2]));
        i += 2;
      } else {
        s += in[i];
      }
    }
    return s;
  };
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (!pair.empty()) {
      out[decode(pair.substr(0, eq))] =
          eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

namespace {

HttpResponse MethodNotAllowed(std::string_view allowed) {
  HttpResponse r = Json(405, R"({"error":"method not allowed","code":"INVALID_ARGUMENT"})");
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

std::string ShapeJson(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

}  // namespace

Result<serve::RoutingPolicy> ParseRoutingJson(std::string_view body) {
  constexpr int kMaxDepth = 4;
  bool too_deep = false;
  const nlohmann::json j = nlohmann::json::parse(
      body,
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > kMaxDepth) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) return InvalidArgumentError("routing: JSON nested too deeply");
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError(
        R"(routing: expected {"split": {"ALIAS": WEIGHT, ...}, "sticky_key": "...", "shadow": "..."})");
  }
  serve::RoutingPolicy policy;
  for (const auto& [key, value] : j.items()) {
    if (key == "split") {
      if (!value.is_object()) return InvalidArgumentError("routing: split must be an object");
      for (const auto& [target, weight] : value.items()) {
        if (!weight.is_number_unsigned() || weight.get<uint64_t>() > UINT32_MAX) {
          return InvalidArgumentError(
              fmt::format("routing: weight of '{}' must be a whole number", Printable(target)));
        }
        policy.split.push_back({target, static_cast<uint32_t>(weight.get<uint64_t>())});
      }
    } else if (key == "sticky_key" || key == "shadow") {
      if (!value.is_string()) return InvalidArgumentError("routing: " + key + " must be text");
      (key == "shadow" ? policy.shadow : policy.sticky_key) = value.get<std::string>();
    } else {
      return InvalidArgumentError(
          fmt::format("routing: unknown key '{}' (split, sticky_key, shadow)", Printable(key)));
    }
  }
  KILN_RETURN_IF_ERROR(serve::ValidateRouting(policy));
  return policy;
}

std::string RoutingJson(const serve::RoutingPolicy& policy) {
  std::string split;
  for (const auto& r : policy.split) {
    split += fmt::format("{}{}:{}", split.empty() ? "" : ",", JsonQuote(r.target), r.weight);
  }
  return fmt::format(R"({{"split":{{{}}},"sticky_key":{},"shadow":{}}})", split,
                     JsonQuote(policy.sticky_key), JsonQuote(policy.shadow));
}

V2Service::V2Service(serve::ModelManager* models, serve::Dispatcher* dispatcher,
                     monitor::MetricsRegistry* metrics, V2Options options)
    : models_(models),
      dispatcher_(dispatcher),
      metrics_(metrics),
      options_(std::move(options)),
      stats_(metrics, options_.access_log) {
  if (metrics) {
    feedback_ = &metrics->AddCounter(
        "kiln_feedback_total",
        "Feedback labels by outcome: joined to a logged prediction, unknown id, duplicate.",
        {"model", "outcome"});
  }
}

void V2Service::Handle(HttpRequest req, http::Responder done) {
  stats_.Started();
  auto call = std::make_shared<Call>();
  call->arrived = std::chrono::steady_clock::now();
  call->done = std::move(done);
  for (const auto& [name, value] : req.headers) {
    if (name == "x-request-id") {
      call->request_id = monitor::AccessLog::RequestId(value);
      call->client_request_id = call->request_id == value;
    }
  }
  if (call->request_id.empty() && stats_.logging()) {
    call->request_id = monitor::AccessLog::RequestId("");
  }
  if (options_.auth || options_.per_address || options_.per_token) {
    // The route's permission, looked up once for both checks.
    const auto need = RestPermission(req.method, req.target);
    auto caller = Authorize(req, need);
    if (!caller.ok()) return Finish(*call, ErrorResponse(caller.status()));
    call->caller = std::move(*caller);
    if (need != auth::Permission::kPublic) {
      if (auto limited = Throttle(req, call->caller)) return Finish(*call, std::move(*limited));
    }
  }
  std::optional<HttpResponse> resp;
  // What the request changes in the catalog is recorded as its caller's, with its request id.
  registry::AuditScope scope({call->caller.actor, call->request_id});
  try {
    resp = Route(req, call);
  } catch (const std::exception& e) {
    resp = ErrorResponse(InternalError(e.what()));
  }
  if (resp) Finish(*call, std::move(*resp));
}

Result<Caller> V2Service::Authorize(const HttpRequest& req,
                                    std::optional<auth::Permission> need) const {
  Caller caller;
  if (options_.auth == nullptr) return caller;
  std::string_view authorization;
  for (const auto& [name, value] : req.headers) {
    if (name == "authorization") authorization = value;
  }
  // An endpoint missing from the table is refused to every token (and unknown without one).
  KILN_ASSIGN_OR_RETURN(
      auth::Principal who,
      options_.auth->Check(authorization, need.value_or(auth::Permission::kRead)));
  if (!need) {
    const std::string_view path = std::string_view(req.target).substr(0, 200);
    return PermissionDeniedError(fmt::format("{} {} is not an endpoint any role may use",
                                             Printable(req.method), Printable(path)));
  }
  if (*need == auth::Permission::kPublic) return caller;
  caller.actor = "token:" + who.name;
  caller.role = who.role;
  return caller;
}

std::optional<HttpResponse> V2Service::Throttle(const HttpRequest& req, const Caller& caller) {
  std::string who;
  int64_t wait = 0;
  if (options_.per_address && !req.remote_address.empty()) {
    wait = options_.per_address->Take(req.remote_address);
    who = "address " + req.remote_address;
  }
  if (wait == 0 && options_.per_token && caller.role) {
    wait = options_.per_token->Take(caller.actor);
    who = caller.actor;
  }
  if (wait == 0) return std::nullopt;
  HttpResponse r = Json(429, fmt::format(R"({{"error":{},"code":"RESOURCE_EXHAUSTED"}})",
                                         JsonQuote(fmt::format("rate limit of {} reached: retry "
                                                               "after {} s",
                                                               who, wait))));
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

void V2Service::Finish(Call& call, HttpResponse resp) {
  if (call.finished.exchange(true)) return;
  // Unknown model names are not labels: a client cannot grow the metrics without bound.
  const std::string code = std::to_string(resp.status);
  stats_.Answered({"http", call.labels.route, call.labels.model, call.labels.version, code,
                   resp.status / 100 == 2, call.arrived, call.request_id});
  if (!call.request_id.empty()) resp.headers.emplace_back("X-Request-Id", call.request_id);
  call.done(std::move(resp));
}

std::optional<HttpResponse> V2Service::Route(const HttpRequest& req,
                                             const std::shared_ptr<Call>& call) {
  RequestLabels* labels = &call->labels;
  // Monitoring is served with or without the control plane: it is the serving side's own view.
  if (options_.alerts &&
      (req.target == "/api/v1/alerts" || req.target.starts_with("/api/v1/alerts?"))) {
    labels->route = "alerts";
    if (req.method != "GET") return MethodNotAllowed("GET");
    return Json(200, options_.alerts->Json());
  }
  if (req.target.starts_with("/api/v1/models/")) {
    auto parsed = PathSegments(req.target);
    const std::string what = parsed.ok() && parsed->size() == 5 ? (*parsed)[4] : "";
    if (what == "drift" || what == "performance" || what == "feedback") {
      labels->route = what;
      const bool feedback = what == "feedback";
      if (req.method != (feedback ? "POST" : "GET"))
        return MethodNotAllowed(feedback ? "POST" : "GET");
      const std::string& name = (*parsed)[3];
      if (Status v = ValidateName(name, "model name"); !v.ok()) return ErrorResponse(v);
      labels->model = name;
      if (feedback) {
        auto outcome = JoinFeedback(*models_, name, req.body);
        if (!outcome.ok()) return ErrorResponse(outcome.status());
        if (feedback_) {
          for (auto [o, n] :
               {std::pair{"joined", outcome->joined}, std::pair{"unknown", outcome->unknown},
                std::pair{"duplicate", outcome->duplicate}}) {
            if (n > 0) feedback_->With({name, o})->Add(n);
          }
        }
        return Json(200, FeedbackJson(*outcome));
      }
      const std::string version = QueryParameters(req.target)["version"];
      if (!version.empty()) {
        if (Status v = ValidateName(version, "model version"); !v.ok()) return ErrorResponse(v);
      }
      auto answer = what == "drift" ? DriftJson(*models_, name, version)
                                    : PerformanceJson(*models_, name, version);
      if (!answer.ok()) return ErrorResponse(answer.status());
      return Json(200, std::move(*answer));
    }
  }
  if (options_.control_plane && ControlPlaneService::Handles(req.target)) {
    labels->route = "api";
    return options_.control_plane->Handle(req, &labels->route, call->caller);
  }
  auto parsed = PathSegments(req.target);
  if (!parsed.ok()) return ErrorResponse(parsed.status());
  const std::vector<std::string>& s = *parsed;
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (s.size() == 1 && s[0] == "metrics") {
    labels->route = "metrics";
    if (!get) return MethodNotAllowed("GET");
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_->Expose(), {}};
  }
  if (s.empty() || s[0] != "v2") return ErrorResponse(NotFoundError("no such endpoint"));
  if (s.size() == 1) {
    labels->route = "server_metadata";
    if (!get) return MethodNotAllowed("GET");
    return Json(200,
                fmt::format(R"({{"name":{},"version":{},"extensions":["model_repository"]}})",
                            JsonQuote(options_.server_name), JsonQuote(options_.server_version)));
  }
  if (s[1] == "health" && s.size() == 3) {
    labels->route = "health";
    if (!get) return MethodNotAllowed("GET");
    if (s[2] == "live") return Json(200, R"({"live":true})");
    if (s[2] == "ready") {
      return ready_.load() ? Json(200, R"({"ready":true})")
                           : ErrorResponse(UnavailableError("not ready"));
    }
  }
  if (s[1] == "models" && s.size() == 3 && s[2] == "stats") {
    labels->route = "stats";
    if (!get) return MethodNotAllowed("GET");
    return StatsResponse("", "");
  }
  if (s[1] == "models" && s.size() >= 3) {
    // models/{m}[/versions/{v}][/ready|/infer]
    std::string version, action;
    if (s.size() >= 5 && s[3] == "versions") {
      version = s[4];
      if (s.size() == 6) action = s[5];
      if (s.size() > 6) return ErrorResponse(NotFoundError("no such endpoint"));
    } else if (s.size() == 4) {
      action = s[3];
    } else if (s.size() != 3) {
      return ErrorResponse(NotFoundError("no such endpoint"));
    }
    labels->route = action.empty()        ? "model_metadata"
                    : action == "ready"   ? "model_ready"
                    : action == "infer"   ? "infer"
                    : action == "routing" ? "routing"
                    : action == "stats"   ? "stats"
                                          : "other";
    if (action == "stats") {
      if (!get) return MethodNotAllowed("GET");
      if (Status v = ValidateName(s[2], "model name"); !v.ok()) return ErrorResponse(v);
      if (!version.empty()) {
        if (Status v = ValidateName(version, "model version"); !v.ok()) return ErrorResponse(v);
      }
      return StatsResponse(s[2], version);
    }
    if (action == "routing" && version.empty()) {
      if (!get && req.method != "PUT") return MethodNotAllowed("GET, PUT");
      return RoutingRoute(req, s[2]);
    }
    if (action.empty() && !get) return MethodNotAllowed("GET");
    if (action == "ready" && !get) return MethodNotAllowed("GET");
    if (action == "infer" && !post) return MethodNotAllowed("POST");
    return ModelRoute(req, s[2], version, action, call);
  }
  if (s[1] == "repository") labels->route = "repository";
  if (s[1] == "repository" && s.size() == 3 && s[2] == "index") {
    if (!post) return MethodNotAllowed("POST");
    std::string body = "[";
    for (const auto& e : models_->List()) {
      if (body.size() > 1) body += ',';
      body += e.error.empty() ? fmt::format(R"({{"name":{},"version":"{}","state":"READY"}})",
                                            JsonQuote(e.name), e.version)
                              : fmt::format(R"({{"name":{},"state":"UNAVAILABLE","reason":{}}})",
                                            JsonQuote(e.name), JsonQuote(e.error));
    }
    return Json(200, body + "]");
  }
  if (s[1] == "repository" && s.size() == 5 && s[2] == "models" &&
      (s[4] == "load" || s[4] == "unload")) {
    if (!post) return MethodNotAllowed("POST");
    // By registry name only: the request body (Triton's load parameters, which may name files)
    // is not read, BI-27.
    if (Status v = ValidateName(s[3], "model name"); !v.ok()) return ErrorResponse(v);
    Status st = s[4] == "load" ? models_->Load(s[3]) : models_->Unload(s[3]);
    if (Status audited = models_->catalog()->AppendAudit(fmt::format("model.{}", s[4]), s[3],
                                                         st.ok() ? "ok" : st.ToString(), "");
        !audited.ok()) {
      KILN_LOG_WARN("audit log: {}", audited.ToString());
    }
    if (!st.ok()) return ErrorResponse(st);
    return Json(200, "{}");
  }
  return ErrorResponse(NotFoundError("no such endpoint"));
}

std::optional<HttpResponse> V2Service::ModelRoute(const HttpRequest& req, const std::string& model,
                                                  const std::string& version,
                                                  const std::string& action,
                                                  const std::shared_ptr<Call>& call) {
  RequestLabels* labels = &call->labels;
  if (Status v = ValidateName(model, "model name"); !v.ok()) return ErrorResponse(v);
  if (!version.empty()) {
    if (Status v = ValidateName(version, "model version"); !v.ok()) return ErrorResponse(v);
  }
  if (action == "infer") return Infer(req, model, version, call);
  if (!action.empty() && action != "ready") {
    return ErrorResponse(NotFoundError("no such endpoint"));
  }
  auto m = models_->Get(model, version);
  if (!m.ok()) return ErrorResponse(m.status());
  labels->model = (*m)->name;
  labels->version = std::to_string((*m)->version);
  if (action == "ready") {
    return Json(200, fmt::format(R"({{"name":{},"ready":true}})", JsonQuote(model)));
  }
  return Metadata(**m);
}

HttpResponse V2Service::RoutingRoute(const HttpRequest& req, const std::string& model) {
  if (Status v = ValidateName(model, "model name"); !v.ok()) return ErrorResponse(v);
  if (auto m = models_->Get(model, ""); !m.ok()) return ErrorResponse(m.status());
  if (req.method == "PUT") {
    auto policy = ParseRoutingJson(req.body);
    if (!policy.ok()) return ErrorResponse(policy.status());
    // Every target must be a version this model serves (loaded now, before traffic needs it).
    for (const auto& t : policy->Targets()) {
      if (auto v = models_->Get(model, t); !v.ok()) return ErrorResponse(v.status());
    }
    if (Status s = dispatcher_->SetRouting(model, *policy); !s.ok()) return ErrorResponse(s);
  }
  auto policy = dispatcher_->Routing(model);
  return Json(200, RoutingJson(policy.ok() ? *policy : serve::RoutingPolicy{}));
}

HttpResponse V2Service::StatsResponse(const std::string& model, const std::string& version) {
  int64_t number = 0;
  if (!model.empty()) {
    // The model must be served; a version may be named by number or alias.
    auto m = models_->Get(model, version);
    if (!m.ok()) return ErrorResponse(m.status());
    if (!version.empty()) number = (*m)->version;
  }
  auto duration = [](const serve::InferStats::Duration& d) {
    return fmt::format(R"({{"count":{},"ns":{}}})", d.count.load(), d.ns.load());
  };
  std::string out = R"({"model_stats":[)";
  bool first = true;
  for (const auto& st : dispatcher_->Stats(model)) {
    if (number != 0 && st->version != number) continue;
    if (!first) out += ',';
    first = false;
    out += fmt::format(
        R"({{"name":{},"version":"{}","last_inference":{},"inference_count":{},)"
        R"("execution_count":{},"inference_stats":{{"success":{},"fail":{},"queue":{},)"
        R"("compute_infer":{},"compute_output":{},"cache_hit":{},"cache_miss":{}}}}})",
        JsonQuote(st->name), st->version, st->last_inference_ms.load(), st->inference_count.load(),
        st->execution_count.load(), duration(st->success), duration(st->fail), duration(st->queue),
        duration(st->compute_infer), duration(st->compute_output), duration(st->cache_hit),
        duration(st->cache_miss));
  }
  return Json(200, out + "]}");
}

HttpResponse V2Service::Metadata(const serve::ServedModel& m) {
  auto tensors = [](const std::vector<serve::TensorInfo>& ts) {
    std::string out = "[";
    for (const auto& t : ts) {
      if (out.size() > 1) out += ',';
      out += fmt::format(R"({{"name":{},"datatype":"{}","shape":{}}})", JsonQuote(t.name),
                         serve::DataTypeName(t.datatype), ShapeJson(t.shape));
    }
    return out + "]";
  };
  return Json(200, fmt::format(R"({{"name":{},"versions":["{}"],"platform":"kiln_gbdt",)"
                               R"("inputs":{},"outputs":{}}})",
                               JsonQuote(m.name), m.version, tensors(serve::ModelInputs(m)),
                               tensors(serve::ModelOutputs(m))));
}

std::optional<HttpResponse> V2Service::Infer(const HttpRequest& req, const std::string& model,
                                             const std::string& version,
                                             const std::shared_ptr<Call>& call) {
  auto parsed = serve::ParseInferRequest(req.body, options_.limits);
  if (!parsed.ok()) {
    // An unknown model is a 404 whatever the body holds (looked up only on this error path:
    // the dispatcher resolves the model of a request that parses).
    auto addressed = models_->Get(model, version);
    if (!addressed.ok()) return ErrorResponse(addressed.status());
    call->labels.model = (*addressed)->name;
    call->labels.version = std::to_string((*addressed)->version);
    return ErrorResponse(parsed.status());
  }
  if (call->client_request_id) parsed->trace_id = call->request_id;
  Status queued = dispatcher_->Submit(
      model, version, *parsed, call->arrived, std::nullopt,
      [&call](const serve::ServedModel& m) {
        call->labels.model = m.name;
        call->labels.version = std::to_string(m.version);
      },
      [this, call](Result<serve::InferResponse> resp) {
        if (!resp.ok()) return Finish(*call, ErrorResponse(resp.status()));
        if (!resp->outputs.empty() && !resp->outputs[0].shape.empty()) {
          stats_.Rows(call->labels.model, static_cast<double>(resp->outputs[0].shape[0]));
        }
        Finish(*call, Json(200, serve::WriteInferResponse(*resp)));
      });
  if (!queued.ok()) return ErrorResponse(queued);
  return std::nullopt;
}

}  // namespace kiln::api
