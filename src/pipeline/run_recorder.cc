#include "kiln/pipeline/run_recorder.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "kiln/base/file_lock.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif
#ifndef KILN_GIT_COMMIT
#define KILN_GIT_COMMIT "unknown"
#endif

namespace kiln::pipeline {

using registry::RunRecord;
using registry::RunStatus;

namespace {

std::string RunsDir(const Home& home) { return JoinPath(home.path(), "runs"); }

std::string AlivePath(const Home& home, const std::string& run_id) {
  return JoinPath(RunsDir(home), run_id + ".lock");
}

}  // namespace

Result<std::unique_ptr<RunRecorder>> RunRecorder::Start(Home* home, RunRecord run) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  run.attributes.host = host;
  run.attributes.kiln_version = KILN_VERSION;
  run.attributes.build_commit = KILN_GIT_COMMIT;
  // The liveness lock is taken before the run exists, so a run is never `running` unlocked.
  if (run.id.empty()) run.id = registry::NewRunId();
  KILN_RETURN_IF_ERROR(home->fs().CreateDirs(RunsDir(*home)));
  KILN_ASSIGN_OR_RETURN(auto alive,
                        FileLock::Acquire(AlivePath(*home, run.id), LockMode::kExclusive));
  auto created = home->catalog().CreateRun(run);
  if (!created.ok()) {
    home->fs().Remove(AlivePath(*home, run.id)).IgnoreError();
    return created.status();
  }
  return std::unique_ptr<RunRecorder>(new RunRecorder(home, std::move(*created), std::move(alive)));
}

Result<std::unique_ptr<RunRecorder>> RunRecorder::Resume(Home* home, RunRecord run) {
  KILN_RETURN_IF_ERROR(home->fs().CreateDirs(RunsDir(*home)));
  KILN_ASSIGN_OR_RETURN(auto alive,
                        FileLock::TryAcquire(AlivePath(*home, run.id), LockMode::kExclusive));
  if (!alive) {
    return FailedPreconditionError(
        fmt::format("run {} is still running in another process", run.id));
  }
  if (run.status == RunStatus::kKilled) {
    KILN_RETURN_IF_ERROR(home->catalog().ReopenRun(run.id));
    run.status = RunStatus::kRunning;
  } else if (run.status != RunStatus::kRunning) {
    return FailedPreconditionError(
        fmt::format("run {} has already ended ({})", run.id, registry::RunStatusName(run.status)));
  }
  return std::unique_ptr<RunRecorder>(new RunRecorder(home, std::move(run), std::move(alive)));
}

RunRecorder::~RunRecorder() {
  // Best effort: the job's own error is what gets reported. If the run cannot be ended (the
  // catalog is unreachable), its lock file stays, so the next reaper marks it killed.
  if (!ended_) {
    ended_ = home_->catalog().FinishRun(run_.id, RunStatus::kFailed, {}, {}, ResourceUse()).ok();
  }
  if (ended_) ReleaseAlive();
}

void RunRecorder::ReleaseAlive() {
  if (!alive_) return;
  // Removed while still held: a reaper that opened the file just before gets the lock only after
  // the run has ended, and ending a run is conditional on it still running.
  home_->fs().Remove(AlivePath(*home_, run_.id)).IgnoreError();
  alive_.reset();
}

Result<int> ReapKilledRuns(Home* home) {
  const std::string dir = RunsDir(*home);
  KILN_ASSIGN_OR_RETURN(bool exists, home->fs().Exists(dir));
  if (!exists) return 0;
  KILN_ASSIGN_OR_RETURN(auto names, home->fs().ListDir(dir));
  int reaped = 0;
  for (const auto& name : names) {
    if (!name.ends_with(".lock")) continue;
    const std::string id = name.substr(0, name.size() - 5);
    if (!registry::IsRunId(id)) continue;
    KILN_ASSIGN_OR_RETURN(auto lock,
                          FileLock::TryAcquire(JoinPath(dir, name), LockMode::kExclusive));
    if (!lock) continue;  // its job is alive
    // Ending a run is conditional on it still running: FailedPrecondition means it ended.
    const Status st = home->catalog().FinishRun(id, RunStatus::kKilled, {}, {}, {});
    // Not in the catalog yet: a job between taking its lock and creating its run. Leave it.
    if (st.code() == StatusCode::kNotFound) continue;
    if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) return st;
    reaped += st.ok();
    home->fs().Remove(JoinPath(dir, name)).IgnoreError();
  }
  return reaped;
}

void RunRecorder::AddPoint(const std::string& key, int64_t step, double value) {
  registry::Curve& c = curves_[key];
  c.key = key;
  c.steps.push_back(step);
  c.values.push_back(value);
}

registry::RunAttributes RunRecorder::ResourceUse() const {
  registry::RunAttributes a = run_.attributes;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    a.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    a.peak_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  }
  return a;
}

Result<std::string> RunRecorder::Finish(std::string_view artifact,
                                        const std::map<std::string, double>& metrics) {
  // Shared home lock from publishing the object to recording it: GC cannot run in between.
  KILN_ASSIGN_OR_RETURN(auto lock, home_->datasets().Lock(LockMode::kShared));
  std::string object;
  if (!artifact.empty()) {
    KILN_ASSIGN_OR_RETURN(object, home_->datasets().blobs().Put(artifact));
  }
  registry::RunAttributes a = ResourceUse();
  a.artifact = object;
  std::vector<registry::Curve> curves;
  for (auto& [k, c] : curves_) curves.push_back(c);
  KILN_RETURN_IF_ERROR(
      home_->catalog().FinishRun(run_.id, RunStatus::kFinished, metrics, curves, a));
  ended_ = true;
  ReleaseAlive();
  return object;
}

Status RunRecorder::SetTags(const std::map<std::string, std::string>& tags) {
  return home_->catalog().SetRunTags(run_.id, tags);
}

void RunRecorder::Fail(const Status& error) {
  if (ended_) return;
  SetTags({{"error", error.ToString().substr(0, 1000)}}).IgnoreError();
  ended_ = home_->catalog().FinishRun(run_.id, RunStatus::kFailed, {}, {}, ResourceUse()).ok();
  if (ended_) ReleaseAlive();
}

}  // namespace kiln::pipeline
