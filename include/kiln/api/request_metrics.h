// RequestMetrics: what both front ends (REST and gRPC) record of every request, in one registry
// — requests by route, model, version and code; latency by route, model and version; rows per
// inference request; requests in flight — and, when the server keeps one, in the access log.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/monitor/access_log.h"
#include "kiln/monitor/metrics.h"

namespace kiln::api {

class RequestMetrics {
 public:
  // Registers (or finds) the families in `metrics`, which must outlive this.
  explicit RequestMetrics(monitor::MetricsRegistry* metrics,
                          monitor::AccessLog* access_log = nullptr);
  bool logging() const { return access_log_ != nullptr; }

  void Started() { in_flight_->Add(1); }
  // One answered request. `model` and `version` are empty unless a loaded model was resolved
  // (made-up names never become labels).
  struct Answer {
    std::string_view protocol;  // "http" | "grpc"
    const std::string& route;
    const std::string& model;
    const std::string& version;
    const std::string& code;  // HTTP status or gRPC code name
    bool ok;                  // 2xx / OK
    std::chrono::steady_clock::time_point arrived;
    std::string_view request_id;
  };
  void Answered(const Answer& a);
  void Rows(const std::string& model, double rows) { rows_->With({model})->Observe(rows); }

 private:
  monitor::Family<monitor::Counter>* requests_;
  monitor::Family<monitor::Histogram>* latency_;
  monitor::Family<monitor::Histogram>* rows_;
  monitor::Gauge* in_flight_;
  monitor::AccessLog* access_log_;
};

// The inference requests (REST `infer` and gRPC `grpc_infer`) of each (model, version) since the
// server started, read from the families RequestMetrics records in `metrics`: what the alert
// values `requests.count`, `errors.*` and `latency.*` are differences of.
struct VersionTraffic {
  uint64_t requests = 0;
  uint64_t errors = 0;            // not answered 2xx / OK
  std::vector<uint64_t> latency;  // per-bucket counts over monitor::LatencyBuckets(), +Inf last
};
using TrafficByVersion = std::map<std::pair<std::string, std::string>, VersionTraffic>;
TrafficByVersion InferenceTraffic(monitor::MetricsRegistry* metrics);

}  // namespace kiln::api
