// What several operations share about models: who acts, model references
// (NAME, NAME:k, NAME@alias, or a model file), loading a model from the registry, and scoring a
// model on a dataset with its default metrics.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "kiln/base/exec_context.h"
#include "kiln/data/column.h"
#include "kiln/model/tree_model.h"
#include "kiln/pipeline/home.h"

namespace kiln::pipeline {

// The actor recorded in alias moves and registrations ($USER, else "unknown").
std::string Actor();

// Version `version` (0: latest) of registered model `name`, read from the blob store.
Result<std::shared_ptr<const model::TreeModel>> LoadRegisteredModel(Home& home,
                                                                    const std::string& name,
                                                                    int64_t version);

// A model file path if such a file exists, else a run id (the run's model artifact), else a
// registry reference (NAME, NAME:k, NAME@alias).
Result<std::shared_ptr<const model::TreeModel>> LoadModelRef(Home& home, const std::string& ref);

// Registers run `run_id`'s model as the next version of `name`, or returns the version that
// already holds it (so a retried job registers once).
Result<registry::ModelVersion> RegisterRun(Home& home, const std::string& name,
                                           const std::string& run_id,
                                           const std::string& description,
                                           const std::string& actor);

// The model's default metrics for `margins` (rows x groups) against `labels`.
std::map<std::string, double> MetricsFromMargins(const model::TreeModel& m,
                                                 const std::vector<double>& margins,
                                                 const std::vector<float>& labels);

// The model's default metrics on `d`, whose target column the model names.
Result<std::map<std::string, double>> ScoreModel(
    const std::shared_ptr<const model::TreeModel>& model, const data::Dataset& d,
    const ExecContext& ctx);

}  // namespace kiln::pipeline
