// Shared CLI plumbing: global options, the handler signature and output helpers.
#pragma once

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
  int threads = 0;
  std::string log_level = "warn";
  bool log_json = false;
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

// Registers `kiln serve` (app/serve_cmd.cc).
void AddServeCommand(CLI::App& app, const GlobalOptions& global,
                     std::function<Result<ExitCode>()>* run);

// Writes `text` to stdout followed by a newline.
void Print(const std::string& text);
// Prints compact JSON text (pipeline/result_json.h, api/control_plane.h) indented by two
// spaces, for `--json`.
void PrintJson(std::string_view json_text);

// The kiln home the global options name, opened.
Result<std::unique_ptr<pipeline::Home>> OpenHome(const GlobalOptions& g);
// An execution context with `threads` threads (0: the global --threads).
std::unique_ptr<ExecContext> Context(const GlobalOptions& g, int threads = 0);

}  // namespace kiln::app
