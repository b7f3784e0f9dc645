// RunRecorder: records one job (a training) as a run in the catalog — created when the job
// starts, finished with its metrics, curves, resource use and model artifact (stored in the blob
// store under the shared home lock, so GC cannot collect it before the run references it). A
// recorder destroyed before Finish() marks its run failed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/home.h"
#include "kiln/registry/catalog_store.h"

namespace kiln::app {

class RunRecorder {
 public:
  // `run` carries experiment, name, params, tags and the data lineage; kiln version, build
  // commit and host are filled in here.
  static Result<std::unique_ptr<RunRecorder>> Start(KilnHome* home, registry::RunRecord run);
  ~RunRecorder();
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  const std::string& id() const { return run_.id; }
  // One point of a metric curve (e.g. "valid.auc" at iteration `step`).
  void AddPoint(const std::string& key, int64_t step, double value);
  // Stores `artifact` (model file bytes; none if empty) and ends the run as finished; returns
  // the object name ("" without an artifact).
  Result<std::string> Finish(std::string_view artifact,
                             const std::map<std::string, double>& metrics);
  Status SetTags(const std::map<std::string, std::string>& tags);

 private:
  RunRecorder(KilnHome* home, registry::RunRecord run) : home_(home), run_(std::move(run)) {}
  registry::RunAttributes ResourceUse() const;

  KilnHome* home_;
  registry::RunRecord run_;
  std::map<std::string, registry::Curve> curves_;
  bool ended_ = false;
};

}  // namespace kiln::app
