#include "app/model_ops.h"

#include "kiln/api/control_plane.h"

#include <cstdlib>

#include <fmt/format.h>

#include "app/training_data.h"
#include "kiln/learn/objective.h"
#include "kiln/model/model_io.h"
#include "kiln/model/predictor.h"
#include "kiln/serve/model_manager.h"

namespace kiln::app {

std::string Actor() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  return "unknown";
}

Result<std::unique_ptr<KilnHome>> OpenHome(const GlobalOptions& g) {
  return KilnHome::Open(KilnHome::Resolve(g.home));
}

std::unique_ptr<ExecContext> Context(const GlobalOptions& g, int threads) {
  return std::make_unique<ExecContext>(
      ExecContext::Options{.threads = threads > 0 ? threads : g.threads});
}

Result<std::shared_ptr<const model::TreeModel>> LoadRegisteredModel(KilnHome& home,
                                                                    const std::string& name,
                                                                    int64_t version) {
  return serve::LoadModelVersion(home.catalog(), home.datasets().blobs(), name, version,
                                 Limits::Default());
}

Result<std::shared_ptr<const model::TreeModel>> LoadModelRef(KilnHome& home,
                                                             const std::string& ref) {
  KILN_ASSIGN_OR_RETURN(bool is_file, home.fs().Exists(ref));
  if (is_file) return model::LoadModel(home.fs(), ref);
  KILN_ASSIGN_OR_RETURN(auto r, api::ResolveModelRef(home.catalog(), ref));
  return LoadRegisteredModel(home, r.first, r.second);
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

}  // namespace kiln::app
