// RunRecorder: records one job (a training) as a run in the catalog — created when the job
// starts, finished with its metrics, curves, resource use and model artifact (stored in the blob
// store under the shared home lock, so GC cannot collect it before the run references it), or
// failed with its error (Fail). A recorder destroyed before Finish() marks its run failed.
//
// While the job lives it holds an exclusive flock on <home>/runs/<id>.lock, which the kernel
// drops when the process dies, kill -9 included: ReapKilledRuns() finds runs still `running`
// whose lock nobody holds and marks them `killed`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/file_lock.h"
#include "kiln/pipeline/home.h"
#include "kiln/registry/catalog_store.h"

namespace kiln::pipeline {

class RunRecorder {
 public:
  // `run` carries experiment, name, params, tags and the data lineage; kiln version, build
  // commit and host are filled in here.
  static Result<std::unique_ptr<RunRecorder>> Start(Home* home, registry::RunRecord run);
  // Takes over `run` again after its job died (`killed`, or still `running` with nobody holding
  // its liveness lock): FailedPrecondition while another process holds it or once it ended
  // otherwise.
  static Result<std::unique_ptr<RunRecorder>> Resume(Home* home, registry::RunRecord run);
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
  // Ends the run as failed, its error in the tag `error` (best effort: the caller reports
  // `error` itself whatever happens here).
  void Fail(const Status& error);

 private:
  RunRecorder(Home* home, registry::RunRecord run, std::unique_ptr<FileLock> alive)
      : home_(home), run_(std::move(run)), alive_(std::move(alive)) {}
  registry::RunAttributes ResourceUse() const;
  // Removes the liveness lock file (the run has ended).
  void ReleaseAlive();

  Home* home_;
  registry::RunRecord run_;
  std::unique_ptr<FileLock> alive_;
  std::map<std::string, registry::Curve> curves_;
  bool ended_ = false;
};

// Marks `killed` every run of this home that is still `running` but whose job no longer holds
// its liveness lock (the process died without ending the run). Returns how many it marked.
Result<int> ReapKilledRuns(Home* home);

}  // namespace kiln::pipeline
