// kiln: one binary for the life of a tabular model. This file parses global flags, picks the
// verb and turns every failure into a message and an exit code (0 ok, 1 failure, 2 usage).
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>

#include <fmt/format.h>

#include "app/cli.h"
#include "kiln/base/logging.h"
#include "kiln/base/names.h"
#include "kiln/base/thread_pool.h"
#include "kiln/registry/audit.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif
#ifndef KILN_GIT_COMMIT
#define KILN_GIT_COMMIT "unknown"
#endif

namespace {

// After a failed parse: the first word that is neither a verb of the command it follows nor an
// option's value, named with the closest verb ("" when no word is to blame).
std::string UnknownVerb(CLI::App& app, int argc, char** argv) {
  std::vector<CLI::App*> chain = {&app};
  CLI::App* at = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") return "";
    if (word.starts_with("-")) {
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* opt = nullptr;
      for (auto it = chain.rbegin(); it != chain.rend() && opt == nullptr; ++it) {
        opt = (*it)->get_option_no_throw(name);
      }
      if (opt == nullptr && name.starts_with("--") && name.size() > 2) {
        std::vector<std::string> names;
        for (const CLI::Option* o : at->get_options()) {
          for (const auto& n : o->get_lnames()) names.push_back("--" + n);
        }
        const std::string guess = kiln::ClosestWord(name, {names.begin(), names.end()});
        return fmt::format("unknown flag '{}' for '{}'{}", kiln::Printable(name), at->get_name(),
                           guess.empty() ? "" : fmt::format(": did you mean '{}'?", guess));
      }
      if (opt != nullptr && opt->get_type_size_max() > 0 && word.find('=') == std::string::npos) {
        ++i;  // its value
      }
      continue;
    }
    std::vector<std::string_view> verbs;
    CLI::App* next = nullptr;
    for (CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) {
      verbs.push_back(sub->get_name());
      if (sub->get_name() == word) next = sub;
    }
    if (verbs.empty()) return "";  // a verb's positional argument
    if (next == nullptr) {
      const std::string guess = kiln::ClosestWord(word, verbs);
      std::string list;
      for (auto v : verbs) list += (list.empty() ? "" : ", ") + std::string(v);
      return fmt::format("'{}' is not a verb of '{}'{} ({})", kiln::Printable(word), at->get_name(),
                         guess.empty() ? "" : fmt::format(": did you mean '{}'?", guess), list);
    }
    at = next;
    chain.push_back(at);
  }
  return "";
}

int Run(int argc, char** argv) {
  CLI::App app{"kiln: tabular machine learning from raw file to production model", "kiln"};
  app.set_version_flag("--version", fmt::format("kiln {} ({})", KILN_VERSION, KILN_GIT_COMMIT));
  app.require_subcommand(1);
  kiln::app::GlobalOptions global;
  kiln::ThreadPool pool(0);  // the process's one pool: workers start when a verb needs them
  global.pool = &pool;
  app.add_option("--home", global.home,
                 "kiln home directory (default: $KILN_HOME, then ./kiln-home)");
  app.add_flag("--create", global.create, "make the kiln home if it does not exist");
  app.add_option("--threads", global.threads, "worker threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--log-level", global.log_level, "debug|info|warn|error|off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  app.add_flag("--log-json", global.log_json, "structured JSON logs on stderr");

  std::function<kiln::Result<int>()> run;
  kiln::app::AddDataCommands(app, global, &run);
  kiln::app::AddTrainCommands(app, global, &run);
  kiln::app::AddRunsCommands(app, global, &run);
  kiln::app::AddTuneCommand(app, global, &run);
  kiln::app::AddServeCommand(app, global, &run);
  kiln::app::AddJobsCommands(app, global, &run);
  kiln::app::AddMonitorCommands(app, global, &run);
  kiln::app::AddInitCommand(app, global, &run);
  kiln::app::AddAuthCommands(app, global, &run);
  kiln::app::AddAuditCommands(app, global, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (const std::string unknown = UnknownVerb(app, argc, argv); !unknown.empty()) {
      std::fprintf(stderr, "error: %s\n", unknown.c_str());
      return 2;
    }
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  kiln::log::Level level;
  if (kiln::log::ParseLevel(global.log_level, &level)) kiln::log::SetLevel(level);
  if (global.log_json) kiln::log::SetFormat(kiln::log::Format::kJson);
  if (!run) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  // What this process changes is recorded in the audit log as the OS user's doing (a server
  // records each request as its token's).
  const passwd* pw = getpwuid(geteuid());
  kiln::registry::SetDefaultAuditActor(pw != nullptr ? fmt::format("user:{}", pw->pw_name)
                                                     : fmt::format("uid:{}", geteuid()));
  kiln::Result<int> result = run();
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", result.status().message().c_str());
    return 1;
  }
  return *result;
}

}  // namespace

int main(int argc, char** argv) {
  // Firewall: our code does not throw, but third-party code might; never crash with a trace.
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: internal: unknown exception\n");
  }
  return 1;
}
