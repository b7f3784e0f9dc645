// The job queue on the control plane: /api/v1/jobs (queue, list, show, cancel) and the queue's
// families on /metrics.
#include <algorithm>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/request_body.h"
#include "kiln/api/control_plane.h"
#include "kiln/api/permissions.h"
#include "kiln/api/v2_service.h"
#include "kiln/base/numbers.h"
#include "kiln/jobs/operations.h"

namespace kiln::api {

using nlohmann::json;
using registry::JobRecord;

std::string JobJson(const JobRecord& j) {
  json history = json::array();
  for (const auto& a : j.history) {
    history.push_back({{"number", a.number},
                       {"worker", a.worker},
                       {"start_ms", a.start_ms},
                       {"end_ms", a.end_ms},
                       {"outcome", a.outcome},
                       {"error", a.error}});
  }
  // Options and result are JSON the queue stored; shown as text if they no longer parse.
  auto embedded = [](const std::string& text, json fallback) {
    if (text.empty()) return fallback;
    json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
    return v.is_discarded() ? json(text) : v;
  };
  return json{{"job_id", j.id},
              {"verb", j.spec.verb},
              {"queue", j.spec.queue},
              {"state", registry::JobStateName(j.state)},
              {"attempts", j.attempts},
              {"max_attempts", j.spec.max_attempts},
              {"created_ms", j.created_ms},
              {"end_ms", j.end_ms},
              {"worker", j.worker},
              {"cancel_requested", j.cancel_requested},
              {"produced", j.produced},
              {"error", j.error},
              {"schedule", j.spec.schedule},
              {"idempotency_key", j.spec.idempotency_key},
              {"options", embedded(j.spec.payload, json::object())},
              {"result", embedded(j.result, nullptr)},
              {"history", std::move(history)}}
      .dump();
}

std::string JobMetricsText(const registry::JobStats& stats) {
  std::string out =
      "# HELP kiln_jobs Jobs by queue and state; the queued ones are the queue's depth.\n"
      "# TYPE kiln_jobs gauge\n";
  for (const auto& [key, n] : stats.jobs) {
    out += fmt::format("kiln_jobs{{queue=\"{}\",state=\"{}\"}} {}\n", key.first,
                       registry::JobStateName(key.second), n);
  }
  out += fmt::format(
      "# HELP kiln_job_attempts_total Attempts started, over every job.\n"
      "# TYPE kiln_job_attempts_total counter\nkiln_job_attempts_total {}\n",
      stats.attempts);
  out +=
      "# HELP kiln_job_duration_seconds Time from submit to end of the jobs that ended.\n"
      "# TYPE kiln_job_duration_seconds histogram\n";
  for (size_t i = 0; i < stats.duration_buckets.size(); ++i) {
    out += fmt::format("kiln_job_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       registry::kJobDurationBounds[i], stats.duration_buckets[i]);
  }
  out += fmt::format(
      "kiln_job_duration_seconds_bucket{{le=\"+Inf\"}} {0}\nkiln_job_duration_seconds_sum {1}\n"
      "kiln_job_duration_seconds_count {0}\n",
      stats.ended, stats.duration_seconds);
  return out;
}

namespace {

// POST /api/v1/jobs: the body as a checked job spec.
Result<registry::JobSpec> SpecFromBody(const std::string& body, int default_attempts) {
  KILN_ASSIGN_OR_RETURN(json b, BodyObject(body));
  for (const auto& [key, value] : b.items()) {
    if (key != "verb" && key != "options" && key != "queue" && key != "idempotency_key" &&
        key != "max_attempts") {
      return InvalidArgumentError(
          fmt::format("unknown field '{}' (verb, options, queue, idempotency_key, max_attempts)",
                      Printable(key)));
    }
  }
  registry::JobSpec spec;
  spec.max_attempts = default_attempts;
  KILN_ASSIGN_OR_RETURN(spec.verb, Text(b, "verb"));
  if (spec.verb.empty()) return InvalidArgumentError(R"(the body must name the "verb")");
  if (b.contains("options") && !b["options"].is_object()) {
    return InvalidArgumentError("'options' must be an object of the verb's options");
  }
  spec.payload = b.contains("options") ? b["options"].dump() : "{}";
  KILN_ASSIGN_OR_RETURN(std::string queue, Text(b, "queue"));
  if (!queue.empty()) spec.queue = queue;
  KILN_ASSIGN_OR_RETURN(spec.idempotency_key, Text(b, "idempotency_key"));
  if (b.contains("max_attempts")) {
    if (!b["max_attempts"].is_number_integer()) {
      return InvalidArgumentError("'max_attempts' must be a whole number");
    }
    const auto n = b["max_attempts"].get<int64_t>();
    if (n < 1 || n > 100) return InvalidArgumentError("'max_attempts' must be 1..100");
    spec.max_attempts = static_cast<int>(n);
  }
  KILN_RETURN_IF_ERROR(jobs::CheckRemotePayload(spec.verb, spec.payload));
  return spec;
}

}  // namespace

http::HttpResponse ControlPlaneService::HandleJobs(const http::HttpRequest& req,
                                                   const std::vector<std::string>& s,
                                                   const Caller& caller) {
  if (jobs_ == nullptr) return ErrorResponse(UnavailableError("no job queue is open here"));
  if (s.size() == 3) {
    if (req.method == "POST") {
      auto spec = SpecFromBody(req.body, home_->config().queue.max_attempts);
      if (!spec.ok()) return ErrorResponse(spec.status());
      if (const auth::Permission need = JobPermission(spec->verb);
          caller.role && !auth::Allows(*caller.role, need)) {
        return ErrorResponse(PermissionDeniedError(fmt::format(
            "{} (role {}) may not queue {} jobs: they need the '{}' permission ({} or above)",
            caller.actor, auth::RoleName(*caller.role), spec->verb, auth::PermissionName(need),
            auth::RoleName(auth::MinimumRole(need)))));
      }
      auto job = jobs_->Enqueue(*spec);
      if (!job.ok()) return ErrorResponse(job.status());
      return JsonResponse(JobJson(*job));
    }
    if (req.method != "GET") return MethodNotAllowed("GET, POST");
    auto q = QueryParameters(req.target);
    std::optional<registry::JobState> state;
    if (!q["state"].empty()) {
      auto st = registry::ParseJobState(q["state"]);
      if (!st.ok()) return ErrorResponse(st.status());
      state = *st;
    }
    int64_t limit = 100;
    if (!q["limit"].empty()) {
      auto l = ParseInteger(q["limit"], "limit", 1, 100000);
      if (!l.ok()) return ErrorResponse(l.status());
      limit = *l;
    }
    auto list = jobs_->List(state, limit);
    if (!list.ok()) return ErrorResponse(list.status());
    std::string out = "{\"jobs\":[";
    for (size_t i = 0; i < list->size(); ++i) {
      if (i > 0) out += ',';
      out += JobJson((*list)[i]);
    }
    return JsonResponse(out + "]}");
  }
  auto id = ParseInteger(s[3], "the job id", 1, INT64_MAX);
  if (!id.ok()) return ErrorResponse(id.status());
  if (s.size() == 4) {
    if (req.method != "GET") return MethodNotAllowed("GET");
    auto job = jobs_->Get(*id);
    return job.ok() ? JsonResponse(JobJson(*job)) : ErrorResponse(job.status());
  }
  if (s.size() == 5 && s[4] == "cancel") {
    if (req.method != "POST") return MethodNotAllowed("POST");
    auto job = jobs_->Cancel(*id);
    return job.ok() ? JsonResponse(JobJson(*job)) : ErrorResponse(job.status());
  }
  return ErrorResponse(NotFoundError("no such endpoint"));
}

}  // namespace kiln::api
