// The retraining triggers a worker keeps (docs/monitoring.md, "Automatic retraining"), besides
// alerts with `retrain: true` (which `kiln serve` queues):
//   - a policy's schedule (`every` or `cron`) is the queue schedule `retrain-MODEL`, added when
//     the policy names one, replaced when it changes, removed with it; its jobs are
//     `retrain MODEL` with the trigger `schedule:retrain-MODEL`;
//   - `new_data: true`: when the newest version of the policy's dataset is newer than the one
//     the champion was trained on, one `retrain` job with the trigger `data:NAME@vN` (once per
//     version: its idempotency key names it).
// `kiln worker` runs both when it starts and then every 30 seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/pipeline/home.h"
#include "kiln/registry/job_queue.h"

namespace kiln::jobs {

// A `retrain` job of `model` started by `trigger` (pipeline::RetrainOptions::trigger).
registry::JobSpec RetrainJobSpec(const std::string& model, const std::string& trigger,
                                 int max_attempts);

// Makes the queue's `retrain-*` schedules those of the home's policies; returns the names
// added or replaced. InvalidArgument for a policy whose cron does not parse.
Result<std::vector<std::string>> SyncRetrainSchedules(pipeline::Home& home,
                                                      registry::JobQueue& queue, int64_t now_ms);

// Queues the retrainings new dataset versions call for; returns the jobs queued (a version
// already queued for returns that job again, unchanged).
Result<std::vector<registry::JobRecord>> QueueNewDataRetrainings(pipeline::Home& home,
                                                                 registry::JobQueue& queue);

}  // namespace kiln::jobs
