// The results of the lifecycle operations as JSON (compact text): the one place their JSON
// is built, for the CLI's `--json`, the control-plane API, the stored promotion reports and the
// outcomes jobs record.
#pragma once

#include <string>

#include "kiln/pipeline/batch_predict.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/retrain.h"
#include "kiln/pipeline/train.h"
#include "kiln/pipeline/tune.h"

namespace kiln::pipeline {

std::string TrainResultJson(const TrainResult& r);
std::string EvalResultJson(const EvalResult& r);
std::string ImportResultJson(const ImportResult& r);
std::string PromoteResultJson(const PromoteResult& r);
std::string RetrainResultJson(const RetrainResult& r);
std::string TuneResultJson(const TuneResult& r);
std::string BatchPredictResultJson(const BatchPredictResult& r, const std::string& out);
// A drift report: rows, min_samples, evaluated, drift_share, features[] (name, missing,
// out_of_range and the statistics), prediction (null without a score histogram).
std::string DriftReportJson(const monitor::DriftReport& r);
std::string DriftCheckResultJson(const DriftCheckResult& r);

}  // namespace kiln::pipeline
