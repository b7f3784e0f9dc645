#include "kiln/pipeline/result_json.h"

#include <nlohmann/json.hpp>

namespace kiln::pipeline {

using nlohmann::json;

namespace {

void AddRegistered(json* out, const std::string& name, int64_t version) {
  if (version > 0) (*out)["registered"] = {{"name", name}, {"version", version}};
}

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
    one["out_of_range"] = f.out_of_range;
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

std::string TrainResultJson(const TrainResult& r) {
  json out = {{"run_id", r.run_id},
              {"experiment", r.experiment},
              {"data", r.data},
              {"artifact", r.artifact},
              {"objective", r.objective},
              {"trees", r.trees},
              {"best_iteration", r.best_iteration},
              {"binning_seconds", r.binning_seconds},
              {"train_seconds", r.train_seconds},
              {"train_metrics", r.train_metrics}};
  if (!r.valid_metrics.empty()) out["valid_metrics"] = r.valid_metrics;
  if (!r.out.empty()) out["model"] = r.out;
  if (!r.skipped_columns.empty()) out["skipped_columns"] = r.skipped_columns;
  AddRegistered(&out, r.registered_name, r.registered_version);
  return out.dump();
}

std::string EvalResultJson(const EvalResult& r) {
  return json{{"model", r.model},
              {"data", r.data},
              {"rows", r.rows},
              {"metrics", r.metrics},
              {"predict_rows_per_second", r.rows_per_second}}
      .dump();
}

std::string ImportResultJson(const ImportResult& r) {
  json out{{"trees", r.trees}, {"objective", r.objective}};
  if (!r.out.empty()) out["model"] = r.out;
  if (!r.run_id.empty()) out["run_id"] = r.run_id;
  AddRegistered(&out, r.registered_name, r.registered_version);
  return out.dump();
}

std::string PromoteResultJson(const PromoteResult& r) {
  json clauses = json::array();
  for (const auto& c : r.clauses) {
    clauses.push_back({{"clause", c.text},
                       {"left", c.left},
                       {"right", c.right},
                       {"passed", c.passed},
                       {"skipped", c.skipped}});
  }
  json out = {{"name", r.name},
              {"alias", r.alias},
              {"gate", r.gate},
              {"data", r.data},
              {"data_hash", r.data_hash},
              {"rows", r.rows},
              {"challenger", {{"version", r.challenger}, {"metrics", r.challenger_metrics}}},
              {"champion", r.champion == 0 || !r.champion_metrics
                               ? json(nullptr)
                               : json{{"version", r.champion}, {"metrics", *r.champion_metrics}}},
              {"clauses", clauses},
              {"passed", r.passed},
              {"moved", r.moved},
              {"outcome", r.outcome}};
  if (r.report_id > 0) out["report_id"] = r.report_id;
  return out.dump();
}

std::string RetrainResultJson(const RetrainResult& r) {
  json out = {{"model", r.model},           {"alias", r.alias},   {"trigger", r.trigger},
              {"outcome", r.outcome},       {"detail", r.detail}, {"champion", r.champion},
              {"recipe_run", r.recipe_run}, {"run_id", r.run_id}, {"data", r.data},
              {"challenger", r.challenger}};
  out["promotion"] = r.promotion ? json::parse(PromoteResultJson(*r.promotion)) : json(nullptr);
  return out.dump();
}

std::string TuneResultJson(const TuneResult& r) {
  json out = {{"run_id", r.run_id},
              {"metric", r.metric},
              {"best_run", r.best_run},
              {"best_score", r.best_score},
              {"best_params", r.best_params},
              {"model_run", r.model_run},
              {"trials_resumed", r.trials_resumed},
              {"trials_run", r.trials_run},
              {"rounds", r.rounds}};
  AddRegistered(&out, r.registered_name, r.registered_version);
  return out.dump();
}

std::string BatchPredictResultJson(const BatchPredictResult& r, const std::string& out) {
  json j{{"rows", r.rows}, {"out", out}, {"data", r.data}, {"parts", r.parts}};
  if (r.drift) j["drift"] = ReportJson(*r.drift);
  return j.dump();
}

std::string DriftReportJson(const monitor::DriftReport& r) { return ReportJson(r).dump(); }

std::string DriftCheckResultJson(const DriftCheckResult& r) {
  json out = ReportJson(r.report);
  out["data"] = r.data;
  out["reference"] = {{"data", r.reference_data}, {"rows", r.reference_rows}};
  return out.dump();
}

}  // namespace kiln::pipeline
