// What a job runs: a lifecycle operation (pipeline/) named by its verb, with the verb's options
// as a JSON payload — the same options as the synchronous verb's flags (`kiln jobs submit train
// --data churn@v3 ...` queues what `kiln train --data churn@v3 ...` would run).
//
// A payload read back from the queue is untrusted: RunJob parses it strictly (known keys only,
// each of its type, sizes limited) before anything runs. Effects happen once per job however
// often it is retried: a training or a tune is tagged with its job (`kiln.job`) and a retry
// continues or reuses it; a registration is made once per run; an ingest's version message
// names its job and a retry reuses a committed version; a promotion's alias move is recorded
// with actor `job N` and not made twice.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/pipeline/batch_predict.h"
#include "kiln/pipeline/home.h"
#include "kiln/pipeline/ingest.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/retrain.h"
#include "kiln/pipeline/train.h"
#include "kiln/pipeline/tune.h"
#include "kiln/registry/job_queue.h"

namespace kiln::jobs {

// The verbs a job may run.
const std::vector<std::string_view>& JobVerbs();

std::string Payload(const pipeline::IngestOptions& o);
std::string Payload(const pipeline::TrainOptions& o);
std::string Payload(const pipeline::TuneOptions& o);
std::string Payload(const pipeline::BatchPredictOptions& o);
std::string Payload(const pipeline::EvalOptions& o);
std::string Payload(const pipeline::PromoteOptions& o);
std::string Payload(const pipeline::RetrainOptions& o);

// Checks that `payload` is a valid payload of `verb` (what a worker would run), at submit time.
// InvalidArgument naming the verb (with a suggestion) or the key.
Status ValidatePayload(std::string_view verb, std::string_view payload);

// What a network client (POST /api/v1/jobs) may queue, on top of ValidatePayload: train, tune,
// eval and promote naming data by dataset version and models by registry reference or run id —
// never a file path, so nothing is read or written outside the kiln home (BI-27).
Status CheckRemotePayload(std::string_view verb, std::string_view payload);

struct JobOutput {
  std::string result;    // the operation's result as JSON
  std::string produced;  // a run id, a dataset version NAME@vN, a model version NAME:N, a file
};

// Runs `job` on `home`. `log` receives progress lines. A Cancelled status means `ctx` was
// cancelled. `ctx` carries the threads, deadline and cancellation.
Result<JobOutput> RunJob(pipeline::Home& home, const registry::JobRecord& job,
                         const ExecContext& ctx, const std::function<void(std::string)>& log);

}  // namespace kiln::jobs
