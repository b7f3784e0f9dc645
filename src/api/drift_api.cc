#include "kiln/api/drift.h"

#include <nlohmann/json.hpp>

namespace kiln::api {

using nlohmann::json;

namespace {

json StatisticsJson(const monitor::FeatureDrift& d) {
  return {{"rows", d.current_rows},
          {"reference_rows", d.reference_rows},
          {"test", d.test},
          {"score", d.score},
          {"threshold", d.threshold},
          {"drifted", d.drifted},
          {"psi", d.psi},
          {"jensen_shannon", d.jensen_shannon},
          {"ks", d.ks},
          {"ks_p_value", d.ks_p_value},
          {"chi_square_p_value", d.chi_square_p_value},
          {"wasserstein", d.wasserstein}};
}

json ReportJson(const monitor::DriftReport& r) {
  json features = json::array();
  for (const auto& f : r.features) {
    json one = StatisticsJson(f.drift);
    one["name"] = f.name;
    one["missing"] = f.missing;
    features.push_back(std::move(one));
  }
  json out = {{"rows", r.rows},
              {"min_samples", r.min_samples},
              {"evaluated", r.evaluated},
              {"drift_share", r.drift_share},
              {"features", std::move(features)}};
  out["prediction"] =
      r.prediction.reference_rows > 0 ? StatisticsJson(r.prediction) : json(nullptr);
  return out;
}

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
  out["reference"] = {{"data", ref.data}, {"rows", ref.rows}, {"score_data", ref.score_data}};
  out["sliding"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kSliding));
  out["tumbling"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kTumbling));
  return out.dump();
}

std::string DriftMetricsText(const serve::ModelManager& models) {
  std::vector<monitor::DriftSeries> series;
  for (const auto& served : models.Served()) {
    if (!served->drift) continue;
    series.push_back(
        {served->name, served->version, served->drift->Measure(monitor::DriftWindow::kSliding)});
  }
  return monitor::DriftExposition(series);
}

}  // namespace kiln::api
