#include "kiln/api/request_metrics.h"

namespace kiln::api {

RequestMetrics::RequestMetrics(monitor::MetricsRegistry* metrics, monitor::AccessLog* access_log)
    : requests_(&metrics->AddCounter(
          "kiln_requests_total",
          "Requests answered, by route, model, version and status (HTTP status, gRPC code name).",
          {"route", "model", "version", "code"})),
      latency_(&metrics->AddHistogram("kiln_request_duration_seconds",
                                      "Time from a request's arrival to its answer, by route.",
                                      {"route"}, monitor::LatencyBuckets())),
      rows_(&metrics->AddHistogram("kiln_inference_rows", "Rows per inference request.", {"model"},
                                   monitor::SizeBuckets())),
      in_flight_(metrics->AddGauge("kiln_requests_in_flight", "Requests being answered.").With({})),
      access_log_(access_log) {}

void RequestMetrics::Answered(const Answer& a) {
  requests_->With({a.route, a.model, a.version, a.code})->Add();
  const auto elapsed = std::chrono::steady_clock::now() - a.arrived;
  latency_->With({a.route})->Observe(std::chrono::duration<double>(elapsed).count());
  in_flight_->Add(-1);
  if (access_log_) {
    access_log_->Log({a.request_id, a.protocol, a.route, a.model, a.version, a.code, a.ok,
                      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()});
  }
}

}  // namespace kiln::api
