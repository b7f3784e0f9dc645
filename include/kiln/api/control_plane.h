// The control plane — datasets, runs, models and their aliases — as JSON: one implementation
// behind both the CLI's `--json` output (`kiln data list|show`, `kiln runs list|show`,
// `kiln models list|show|history|alias|rollback`) and the REST API (ControlPlaneService), so
// the two cannot drift apart. Every function returns compact JSON text.
//
// REST (served by `kiln serve --control-plane`):
//   GET  /api/v1/datasets                       every dataset's newest version
//   GET  /api/v1/datasets/{name}[@vN]           one version: source, schema, profiles
//   GET  /api/v1/runs?experiment=&filter=&order_by=&limit=
//   GET  /api/v1/runs/{id}                      one run with its metric curves
//   GET  /api/v1/runs/compare?ids=A,B[&curves=K,L]  runs side by side (`kiln runs compare`)
//   GET  /api/v1/models                         every registered model with its aliases
//   GET  /api/v1/models/{name}[@alias|:N]       its versions and gate reports, or one version
//   GET  /api/v1/models/{name}/history          every alias move
//   PUT  /api/v1/models/{name}/aliases/{alias}  {"version": N, "reason": "..."} moves it
//   POST /api/v1/models/{name}/aliases/{alias}/rollback {"reason": "..."}
//   POST /api/v1/models/{name}/versions/{N}/promote {"to", "gate", "on": "data@vN", "reason"}
//   POST /api/v1/jobs                           {"verb", "options", "queue", "idempotency_key",
//                                               "max_attempts"}: queue a job (`kiln jobs submit`)
//   GET  /api/v1/jobs?state=&limit=             jobs, newest first
//   GET  /api/v1/jobs/{id}                      one job with its attempts (`kiln jobs show`)
//   POST /api/v1/jobs/{id}/cancel
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/auth/token.h"
#include "kiln/base/exec_context.h"
#include "kiln/base/status.h"
#include "kiln/http/server.h"
#include "kiln/pipeline/home.h"
#include "kiln/registry/catalog_store.h"
#include "kiln/registry/job_queue.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::api {

std::string DatasetRecordJson(const storage::VersionRecord& r);
std::string DatasetVersionJson(const storage::VersionRecord& r, const storage::Manifest& m);
std::string RunJson(const registry::RunRecord& r);
std::string ModelVersionJson(const registry::ModelVersion& v);
std::string AliasMoveJson(const registry::AliasEvent& ev);

Result<std::string> ListDatasets(storage::DatasetStore& store);
Result<std::string> ShowDataset(storage::DatasetStore& store, const std::string& ref);
Result<std::string> ListRuns(registry::CatalogStore& c, const registry::RunQuery& query);
Result<std::string> ShowRun(registry::CatalogStore& c, const std::string& id);
// {"runs": [...]}: each run with its curves, only those named in `curves` unless it is empty
// (NotFound for a named curve no run has). 1 to 16 runs.
Result<std::string> CompareRuns(registry::CatalogStore& c, const std::vector<std::string>& ids,
                                const std::vector<std::string>& curves);
Result<std::string> ListModels(registry::CatalogStore& c);
Result<std::string> ShowModel(registry::CatalogStore& c, const std::string& ref);
Result<std::string> AliasHistory(registry::CatalogStore& c, const std::string& name);
// Points `alias` at `version` (0 removes it), recorded with `actor` and `reason`.
Result<std::string> MoveAlias(registry::CatalogStore& c, const std::string& name,
                              const std::string& alias, int64_t version, const std::string& actor,
                              const std::string& reason);
// Moves `alias` back to the version it pointed to before its current one (compare-and-set:
// FailedPrecondition if it moved meanwhile or has no earlier version).
Result<std::string> RollbackAlias(registry::CatalogStore& c, const std::string& name,
                                  const std::string& alias, const std::string& actor,
                                  const std::string& reason);

// A job as JSON (`kiln jobs show --json`, GET /api/v1/jobs/{id}).
std::string JobJson(const registry::JobRecord& j);
// The job queue's families for /metrics: kiln_jobs{queue,state} (queued = the queue depth),
// kiln_job_attempts_total, kiln_job_duration_seconds (submit to end, finished jobs).
std::string JobMetricsText(const registry::JobStats& stats);

// Who sent a control-plane request: the actor alias moves and promotions record, and the role
// job submissions are checked against (api::JobPermission). No role: authentication is off.
struct Caller {
  std::string actor = "api";
  std::optional<auth::Role> role;
};

// The REST API above. Alias moves and promotions are recorded with the caller's actor.
// Thread-safety: Handle() may run on several threads (the catalog serializes).
// Promotions (pipeline/promote.h) score datasets with `promote_ctx`'s threads; `home`,
// `promote_ctx` and `jobs` (null: no job endpoints) must outlive the service.
class ControlPlaneService {
 public:
  ControlPlaneService(pipeline::Home* home, const ExecContext* promote_ctx,
                      registry::JobQueue* jobs = nullptr)
      : home_(home),
        catalog_(&home->catalog()),
        datasets_(&home->datasets()),
        promote_ctx_(promote_ctx),
        jobs_(jobs) {}
  // True for a target under /api/v1/.
  static bool Handles(std::string_view target);
  http::HttpResponse Handle(const http::HttpRequest& req, std::string* route,
                            const Caller& caller = {});

 private:
  pipeline::Home* home_;
  registry::CatalogStore* catalog_;
  storage::DatasetStore* datasets_;
  http::HttpResponse HandleJobs(const http::HttpRequest& req, const std::vector<std::string>& s,
                                const Caller& caller);

  const ExecContext* promote_ctx_;
  registry::JobQueue* jobs_;
};

}  // namespace kiln::api
