#include "kiln/pipeline/models.h"

#include <cstdlib>

#include <fmt/format.h>

#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "kiln/pipeline/training_data.h"
#include "kiln/serve/model_manager.h"

namespace kiln::pipeline {

std::string Actor() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  return "unknown";
}

Result<std::shared_ptr<const model::TreeModel>> LoadRegisteredModel(Home& home,
                                                                    const std::string& name,
                                                                    int64_t version) {
  return serve::LoadModelVersion(home.catalog(), home.datasets().blobs(), name, version,
                                 Limits::Default());
}

Result<std::shared_ptr<const model::TreeModel>> LoadModelRef(Home& home, const std::string& ref) {
  KILN_ASSIGN_OR_RETURN(bool is_file, home.fs().Exists(ref));
  if (is_file) return model::LoadModel(home.fs(), ref);
  if (registry::IsRunId(ref)) {
    KILN_ASSIGN_OR_RETURN(registry::RunRecord run, home.catalog().GetRun(ref));
    if (run.attributes.artifact.empty()) {
      return FailedPreconditionError(fmt::format("run {} has no model", ref));
    }
    KILN_ASSIGN_OR_RETURN(std::string bytes,
                          home.datasets().blobs().ReadVerified(run.attributes.artifact,
                                                               Limits::Default().max_model_bytes));
    KILN_ASSIGN_OR_RETURN(model::TreeModel m, model::DecodeModel(bytes, "run " + ref));
    return std::shared_ptr<const model::TreeModel>(
        std::make_shared<model::TreeModel>(std::move(m)));
  }
  KILN_ASSIGN_OR_RETURN(auto r, registry::ResolveModelRef(home.catalog(), ref));
  return LoadRegisteredModel(home, r.first, r.second);
}

Result<registry::ModelVersion> RegisterRun(Home& home, const std::string& name,
                                           const std::string& run_id,
                                           const std::string& description,
                                           const std::string& actor) {
  // A run is registered under a name once: a retried job finds its earlier registration.
  auto versions = home.catalog().ListModelVersions(name);
  if (versions.ok()) {
    for (const auto& v : *versions) {
      if (v.run_id == run_id) return v;
    }
  } else if (versions.status().code() != StatusCode::kNotFound) {
    return versions.status();
  }
  registry::ModelVersion mv;
  mv.name = name;
  mv.run_id = run_id;
  mv.description = description;
  mv.actor = actor.empty() ? Actor() : actor;
  return home.catalog().RegisterModel(mv);
}

std::map<std::string, double> MetricsFromMargins(const model::TreeModel& m,
                                                 const std::vector<double>& margins,
                                                 const std::vector<float>& labels) {
  std::map<std::string, double> out;
  for (const auto& name : learn::DefaultMetrics(m.objective)) {
    auto v = learn::EvaluateMetric(name, m.objective, m.num_groups(), margins, labels);
    if (v.ok()) out[name] = *v;
  }
  return out;
}

Result<std::map<std::string, double>> ScoreModel(
    const std::shared_ptr<const model::TreeModel>& model, const data::Dataset& d,
    const ExecContext& ctx) {
  const model::TreeModel& m = *model;
  const bool classification = m.is_classification();
  KILN_ASSIGN_OR_RETURN(Labels l, MakeLabels(d, m.target, classification ? "" : "regression",
                                             classification ? &m.class_labels : nullptr));
  KILN_ASSIGN_OR_RETURN(auto pred, model::Predictor::Create(model));
  KILN_ASSIGN_OR_RETURN(model::FeatureMatrix x, pred->Prepare(d));
  const size_t groups = static_cast<size_t>(m.num_groups());
  std::vector<float> margins(x.rows * groups);
  KILN_RETURN_IF_ERROR(pred->Predict(x, model::PredictKind::kMargin, margins, ctx));
  return MetricsFromMargins(m, std::vector<double>(margins.begin(), margins.end()), l.values);
}

}  // namespace kiln::pipeline
