#include "kiln/api/drift.h"

#include <nlohmann/json.hpp>

#include "kiln/pipeline/result_json.h"

namespace kiln::api {

using nlohmann::json;

namespace {

json ReportJson(const monitor::DriftReport& r) { return json::parse(pipeline::DriftReportJson(r)); }

}  // namespace

Result<std::string> DriftJson(serve::ModelManager& models, const std::string& model,
                              const std::string& version) {
  KILN_ASSIGN_OR_RETURN(auto served, models.Get(model, version));
  json out = {{"model", served->name}, {"version", served->version}};
  if (!served->drift) {
    out["monitored"] = false;
    out["reason"] = served->model->reference.empty()
                        ? "the model carries no drift reference (imported, or written by an older "
                          "kiln): retrain it with kiln train"
                        : "drift monitoring is off (kiln.yaml monitoring.enabled)";
    return out.dump();
  }
  const auto& ref = served->model->reference;
  out["monitored"] = true;
  out["window_ms"] = served->drift->window().count();
  out["reference"] = {{"data", ref.data}, {"rows", ref.rows}, {"score_data", ref.score_data}};
  out["sliding"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kSliding));
  out["tumbling"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kTumbling));
  const std::vector<uint64_t> totals = served->drift->OutOfRangeTotals();
  json range = json::object();
  for (size_t f = 0; f < totals.size() && f < served->model->features.size(); ++f) {
    range[served->model->features[f].name] = totals[f];
  }
  out["out_of_range_total"] = std::move(range);
  return out.dump();
}

std::string DriftMetricsText(const serve::ModelManager& models) {
  std::vector<monitor::DriftSeries> series;
  for (const auto& served : models.Served()) {
    if (!served->drift) continue;
    series.push_back({served->name, served->version,
                      served->drift->Measure(monitor::DriftWindow::kSliding),
                      served->drift->OutOfRangeTotals()});
  }
  return monitor::DriftExposition(series);
}

}  // namespace kiln::api
