// Shared CLI plumbing: global options, the handler signature and output helpers.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "kiln/base/exec_context.h"
#include "kiln/base/status.h"
#include "kiln/pipeline/home.h"

namespace kiln::app {

struct GlobalOptions {
  std::string home;
  bool create = false;  // --create: make the home if it does not exist
  int threads = 0;
  std::string log_level = "warn";
  bool log_json = false;
  ThreadPool* pool = nullptr;  // the process's one pool, owned by main()
};

// Every verb handler returns an exit code (0 ok, 1 failure) or a Status (printed, exit 1).
using ExitCode = int;

// Registers `kiln data ...` on `app`; the chosen handler is stored in `*run`.
void AddDataCommands(CLI::App& app, const GlobalOptions& global,
                     std::function<Result<ExitCode>()>* run);

// Registers `kiln train | eval | predict | model inspect`.
void AddTrainCommands(CLI::App& app, const GlobalOptions& global,
                      std::function<Result<ExitCode>()>* run);

// Registers `kiln runs ...` and `kiln models ...`.
void AddRunsCommands(CLI::App& app, const GlobalOptions& global,
                     std::function<Result<ExitCode>()>* run);

// Registers `kiln models promote` under `models` (app/promote_cmd.cc).
void AddPromoteCommand(CLI::App* models, const GlobalOptions& global,
                       std::function<Result<ExitCode>()>* run);

// Registers `kiln tune` (app/tune_cmd.cc).
void AddTuneCommand(CLI::App& app, const GlobalOptions& global,
                    std::function<Result<ExitCode>()>* run);

// A verb queued as a job instead of run (`kiln jobs submit VERB ...`, schedules): gets the
// verb, its options as a job payload, and whether the verb's --json was given.
using JobSink =
    std::function<Result<ExitCode>(const std::string& verb, const std::string& payload, bool json)>;
using Runner = std::function<Result<ExitCode>()>;

// The job verbs with the flags of their synchronous verbs, on `parent`; the one chosen sets
// `*run` to hand its payload to `sink`. File paths in the payload are made absolute (a worker
// runs in another directory). Defined next to each verb.
void AddIngestJobVerb(CLI::App& parent, Runner* run, const JobSink& sink);
void AddTrainJobVerbs(CLI::App& parent, Runner* run, const JobSink& sink);  // train eval predict
void AddTuneJobVerb(CLI::App& parent, Runner* run, const JobSink& sink);
void AddPromoteJobVerb(CLI::App& parent, Runner* run, const JobSink& sink);
void AddRetrainJobVerb(CLI::App& parent, Runner* run, const JobSink& sink);

// `path` made absolute when it names a file rather than a dataset (NAME[@vN]) or a registered
// model (NAME@ALIAS, NAME:N); "" stays "".
std::string AbsolutePath(const std::string& path);

// Registers `kiln jobs ...` and `kiln worker` (app/jobs_cmd.cc).
void AddJobsCommands(CLI::App& app, const GlobalOptions& global, Runner* run);

// Registers `kiln monitor status | drift` (app/monitor_cmd.cc).
void AddMonitorCommands(CLI::App& app, const GlobalOptions& global, Runner* run);

// A drift report (pipeline::DriftReportJson) as text: a summary and a feature table, the most
// drifted first (app/monitor_cmd.cc).
std::string DriftReportText(const std::string& report_json);

// Registers `kiln auth token create | list | revoke` (app/auth_cmd.cc).
void AddAuthCommands(CLI::App& app, const GlobalOptions& global, Runner* run);
// Registers `kiln audit log | verify` (app/auth_cmd.cc).
void AddAuditCommands(CLI::App& app, const GlobalOptions& global, Runner* run);

// Registers `kiln serve` (app/serve_cmd.cc).
void AddServeCommand(CLI::App& app, const GlobalOptions& global,
                     std::function<Result<ExitCode>()>* run);

// Writes `text` to stdout followed by a newline.
void Print(const std::string& text);
// Prints compact JSON text (pipeline/result_json.h, api/control_plane.h) indented by two
// spaces, for `--json`.
void PrintJson(std::string_view json_text);

// Blocks SIGTERM and SIGINT in this thread and every thread it starts from now on, so that
// they are taken synchronously (sigwait on the returned set) for an orderly shutdown.
sigset_t BlockStopSignals();

// A time for tables: UTC, or "-" for 0 (not yet).
std::string TimeText(int64_t ms);

// A compact JSON object with more fields: WithFields(R"({"a":1})", R"("b":2)") is
// R"({"a":1,"b":2})". For adding to the JSON the api and pipeline builders return.
std::string WithFields(std::string object_json, std::string_view fields);

// Registers `kiln init` (app/output.cc).
void AddInitCommand(CLI::App& app, const GlobalOptions& global, Runner* run);

// The kiln home the global options name, opened. A path that does not exist is an error naming
// it (a mistyped --home must not start an empty home) unless --create is given.
Result<std::unique_ptr<pipeline::Home>> OpenHome(const GlobalOptions& g);
// An execution context with `threads` threads (0: the global --threads).
ExecContext Context(const GlobalOptions& g, int threads = 0);

}  // namespace kiln::app
