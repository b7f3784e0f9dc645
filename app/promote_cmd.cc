// `kiln models promote NAME K --to ALIAS --gate EXPR --on DATA` (pipeline/promote.h): flags,
// the call, the report.
#include <fmt/format.h>

#include "app/cli.h"
#include "kiln/jobs/operations.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/result_json.h"

namespace kiln::app {

namespace {

struct PromoteArgs {
  pipeline::PromoteOptions options;
  bool json = false;
};

std::string PromoteText(const pipeline::PromoteResult& p) {
  const std::string champion = p.champion == 0 ? "none" : fmt::format("version {}", p.champion);
  std::string text = fmt::format("{} version {} -> {} on {} ({} rows), champion: {}\n", p.name,
                                 p.challenger, p.alias, p.data, p.rows, champion);
  for (const auto& c : p.clauses) text += "  " + registry::ClauseText(c) + "\n";
  text += p.moved ? fmt::format("{}@{} -> version {} (was {})", p.name, p.alias, p.challenger,
                                p.champion == 0 ? "unset" : champion)
                  : fmt::format("not promoted: {}", p.outcome);
  return text;
}

Result<ExitCode> Promote(const GlobalOptions& g, const PromoteArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  pipeline::PromoteOptions o = a.options;
  o.actor = pipeline::Actor();
  KILN_ASSIGN_OR_RETURN(pipeline::PromoteResult p, pipeline::Promote(*home, o, ctx));
  if (a.json) {
    PrintJson(pipeline::PromoteResultJson(p));
  } else {
    Print(PromoteText(p));
  }
  return p.moved ? 0 : 1;
}

CLI::App* PromoteVerb(CLI::App& parent, PromoteArgs* a) {
  pipeline::PromoteOptions& o = a->options;
  CLI::App* p = parent.add_subcommand(
      "promote", "move an alias to a version if it passes a gate against the current one");
  p->add_option("name", o.name, "model name")->required();
  p->add_option("version", o.version, "the challenger version")->required();
  p->add_option("--to", o.to, "alias to move (default production)");
  p->add_option("--gate", o.gate,
                "e.g. \"auc >= champion.auc - 0.001 and logloss <= champion.logloss\"")
      ->required();
  p->add_option("--on", o.on, "dataset NAME@vN both versions are scored on")->required();
  p->add_option("--reason", o.reason, "recorded in the alias history");
  p->add_flag("--json", a->json, "machine-readable report");
  return p;
}

}  // namespace

void AddPromoteCommand(CLI::App* models, const GlobalOptions& g,
                       std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<PromoteArgs>();
  PromoteVerb(*models, args.get())->callback([&g, run, args] {
    *run = [&g, args] { return Promote(g, *args); };
  });
}

void AddPromoteJobVerb(CLI::App& parent, Runner* run, const JobSink& sink) {
  auto args = std::make_shared<PromoteArgs>();
  PromoteVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args] { return sink("promote", jobs::Payload(args->options), args->json); };
  });
}

}  // namespace kiln::app
