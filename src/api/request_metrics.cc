#include "kiln/api/request_metrics.h"

namespace kiln::api {

RequestMetrics::RequestMetrics(monitor::MetricsRegistry* metrics)
    : requests_(&metrics->AddCounter(
          "kiln_requests_total",
          "Requests answered, by route, model, version and status (HTTP status, gRPC code name).",
          {"route", "model", "version", "code"})),
      latency_(&metrics->AddHistogram("kiln_request_duration_seconds",
                                      "Time from a request's arrival to its answer, by route.",
                                      {"route"}, monitor::LatencyBuckets())),
      rows_(&metrics->AddHistogram("kiln_inference_rows", "Rows per inference request.", {"model"},
                                   monitor::SizeBuckets())),
      in_flight_(
          metrics->AddGauge("kiln_requests_in_flight", "Requests being answered.").With({})) {}

void RequestMetrics::Answered(const std::string& route, const std::string& model,
                              const std::string& version, const std::string& code,
                              std::chrono::steady_clock::time_point arrived) {
  requests_->With({route, model, version, code})->Add();
  latency_->With({route})->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
  in_flight_->Add(-1);
}

}  // namespace kiln::api
