// RequestMetrics: the request series both front ends (REST and gRPC) record, in one registry —
// requests by route, model, version and code; latency by route; rows per inference request;
// requests in flight.
#pragma once

#include <chrono>
#include <string>

#include "kiln/monitor/metrics.h"

namespace kiln::api {

class RequestMetrics {
 public:
  // Registers (or finds) the families in `metrics`, which must outlive this.
  explicit RequestMetrics(monitor::MetricsRegistry* metrics);

  void Started() { in_flight_->Add(1); }
  // One answered request. `model` and `version` are empty unless a loaded model was resolved
  // (made-up names never become labels).
  void Answered(const std::string& route, const std::string& model, const std::string& version,
                const std::string& code, std::chrono::steady_clock::time_point arrived);
  void Rows(const std::string& model, double rows) { rows_->With({model})->Observe(rows); }

 private:
  monitor::Family<monitor::Counter>* requests_;
  monitor::Family<monitor::Histogram>* latency_;
  monitor::Family<monitor::Histogram>* rows_;
  monitor::Gauge* in_flight_;
};

}  // namespace kiln::api
