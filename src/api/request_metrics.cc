#include "kiln/api/request_metrics.h"

namespace kiln::api {

namespace {

monitor::Family<monitor::Counter>& Requests(monitor::MetricsRegistry* metrics) {
  return metrics->AddCounter(
      "kiln_requests_total",
      "Requests answered, by route, model, version and status (HTTP status, gRPC code name).",
      {"route", "model", "version", "code"});
}

monitor::Family<monitor::Histogram>& Latency(monitor::MetricsRegistry* metrics) {
  return metrics->AddHistogram(
      "kiln_request_duration_seconds",
      "Time from a request's arrival to its answer, by route, model and version.",
      {"route", "model", "version"}, monitor::LatencyBuckets());
}

bool Inference(const std::string& route) { return route == "infer" || route == "grpc_infer"; }

}  // namespace

RequestMetrics::RequestMetrics(monitor::MetricsRegistry* metrics, monitor::AccessLog* access_log)
    : requests_(&Requests(metrics)),
      latency_(&Latency(metrics)),
      rows_(&metrics->AddHistogram("kiln_inference_rows", "Rows per inference request.", {"model"},
                                   monitor::SizeBuckets())),
      in_flight_(metrics->AddGauge("kiln_requests_in_flight", "Requests being answered.").With({})),
      access_log_(access_log) {}

void RequestMetrics::Answered(const Answer& a) {
  requests_->With({a.route, a.model, a.version, a.code})->Add();
  const auto elapsed = std::chrono::steady_clock::now() - a.arrived;
  latency_->With({a.route, a.model, a.version})
      ->Observe(std::chrono::duration<double>(elapsed).count());
  in_flight_->Add(-1);
  if (access_log_) {
    access_log_->Log({a.request_id, a.protocol, a.route, a.model, a.version, a.code, a.ok,
                      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()});
  }
}

TrafficByVersion InferenceTraffic(monitor::MetricsRegistry* metrics) {
  TrafficByVersion out;
  for (const auto& [labels, counter] : Requests(metrics).Series()) {
    if (!Inference(labels[0]) || labels[1].empty()) continue;
    VersionTraffic& t = out[{labels[1], labels[2]}];
    t.requests += counter->value();
    const std::string& code = labels[3];
    if (!(code == "OK" || (code.size() == 3 && code[0] == '2'))) t.errors += counter->value();
  }
  for (const auto& [labels, histogram] : Latency(metrics).Series()) {
    if (!Inference(labels[0]) || labels[1].empty()) continue;
    VersionTraffic& t = out[{labels[1], labels[2]}];
    const std::vector<uint64_t> counts = histogram->counts();
    t.latency.resize(counts.size());
    for (size_t i = 0; i < counts.size(); ++i) t.latency[i] += counts[i];
  }
  return out;
}

}  // namespace kiln::api
