// `kiln auth token create | list | revoke`: the API tokens `kiln serve` accepts when kiln.yaml
// says `auth: required` (docs/security.md). Anyone who can open the home is its administrator:
// these verbs need no token. `kiln audit log | verify`: the home's audit log.
#include <chrono>
#include <cstdint>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "kiln/base/clock.h"
#include "kiln/base/numbers.h"
#include "kiln/pipeline/audit.h"
#include "kiln/pipeline/tokens.h"

namespace kiln::app {
namespace {

using nlohmann::json;

struct TokenArgs {
  std::string name;
  std::string role;
  std::string expires;  // "" = never
  bool json = false;
};

json TokenJson(const auth::TokenRecord& t, int64_t now) {
  return {{"name", t.name},
          {"role", auth::RoleName(t.role)},
          {"state", pipeline::TokenState(t, now)},
          {"created_ms", t.created_ms},
          {"expires_ms", t.expires_ms},
          {"revoked_ms", t.revoked_ms},
          {"last_used_ms", t.last_used_ms}};
}

Result<ExitCode> Create(const GlobalOptions& g, const TokenArgs& a) {
  KILN_ASSIGN_OR_RETURN(auth::Role role, auth::ParseRole(a.role));
  int64_t lifetime = 0;
  if (!a.expires.empty() && a.expires != "never") {
    constexpr int64_t kTenYears = 3650LL * 86'400'000;
    KILN_ASSIGN_OR_RETURN(lifetime, ParseDuration(a.expires, "--expires", 1000, kTenYears));
  }
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto made, pipeline::CreateToken(*home, a.name, role, lifetime));
  if (a.json) {
    json j = TokenJson(made.record, UnixMillis());
    j["token"] = made.secret;
    PrintJson(j.dump());
    return 0;
  }
  // The token alone on stdout (TOKEN=$(kiln auth token create ...)); the rest on stderr.
  Print(made.secret);
  std::fprintf(stderr, "token '%s' (role %s, expires %s): shown once, kiln keeps only its hash\n",
               made.record.name.c_str(), std::string(auth::RoleName(role)).c_str(),
               made.record.expires_ms == 0 ? "never" : TimeText(made.record.expires_ms).c_str());
  return 0;
}

Result<ExitCode> List(const GlobalOptions& g, const TokenArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto tokens, pipeline::ListTokens(*home));
  const int64_t now = UnixMillis();
  if (a.json) {
    json out = json::array();
    for (const auto& t : tokens) out.push_back(TokenJson(t, now));
    PrintJson(out.dump());
    return 0;
  }
  std::string text = fmt::format("{:<24} {:<10} {:<8} {:<20} {:<20} {}\n", "name", "role", "state",
                                 "created", "expires", "last used");
  for (const auto& t : tokens) {
    text +=
        fmt::format("{:<24} {:<10} {:<8} {:<20} {:<20} {}\n", t.name, auth::RoleName(t.role),
                    pipeline::TokenState(t, now), TimeText(t.created_ms),
                    t.expires_ms == 0 ? "never" : TimeText(t.expires_ms), TimeText(t.last_used_ms));
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

Result<ExitCode> Revoke(const GlobalOptions& g, const TokenArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto t, pipeline::RevokeToken(*home, a.name));
  Print(fmt::format("revoked token '{}' (role {}); servers refuse it within a second", t.name,
                    auth::RoleName(t.role)));
  return 0;
}

struct AuditArgs {
  std::string since;  // a duration back from now ("24h"); "" = from the start
  std::string actor;
  int64_t limit = 100;
  bool json = false;
};

Result<ExitCode> ShowAudit(const GlobalOptions& g, const AuditArgs& a) {
  int64_t since_ms = 0;
  if (!a.since.empty()) {
    KILN_ASSIGN_OR_RETURN(int64_t back, ParseDuration(a.since, "--since", 1, INT64_MAX / 2));
    since_ms = UnixMillis() - back;
  }
  if (a.limit < 1 || a.limit > 1'000'000) return InvalidArgumentError("--limit must be 1..1000000");
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto records, pipeline::AuditLog(*home, since_ms, a.actor, a.limit));
  if (a.json) {
    json out = json::array();
    for (const auto& r : records) {
      out.push_back({{"seq", r.seq},
                     {"time_ms", r.time_ms},
                     {"actor", r.actor},
                     {"action", r.action},
                     {"target", r.target},
                     {"outcome", r.outcome},
                     {"request_id", r.request_id},
                     {"detail", r.detail},
                     {"hash", r.hash}});
    }
    PrintJson(out.dump());
    return 0;
  }
  std::string text;
  for (const auto& r : records) {
    text +=
        fmt::format("{:>6}  {}  {:<18} {:<15} {:<28} {}{}{}\n", r.seq, TimeText(r.time_ms), r.actor,
                    r.action, r.target, r.outcome, r.detail.empty() ? "" : "  " + r.detail,
                    r.request_id.empty() ? "" : "  [" + r.request_id + "]");
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

Result<ExitCode> VerifyAudit(const GlobalOptions& g) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auth::AuditVerdict v, pipeline::VerifyAuditLog(*home));
  if (v.ok) {
    Print(fmt::format("audit log intact: {} records, {} signed checkpoints", v.records,
                      v.checkpoints));
    return 0;
  }
  std::fprintf(stderr, "audit log damaged at record %lld: %s\n",
               static_cast<long long>(v.first_bad), v.problem.c_str());
  return 1;
}

}  // namespace

void AddAuditCommands(CLI::App& app, const GlobalOptions& g, Runner* run) {
  CLI::App* audit = app.add_subcommand("audit", "the audit log: every state change, hash-chained");
  audit->require_subcommand(1);
  auto args = std::make_shared<AuditArgs>();
  CLI::App* log = audit->add_subcommand("log", "the newest records, oldest first");
  log->add_option("--since", args->since, "only the last D (e.g. 24h, 7d)");
  log->add_option("--actor", args->actor, "only this actor (token:NAME, user:NAME, job N, ...)");
  log->add_option("--limit", args->limit, "at most N records (default 100)");
  log->add_flag("--json", args->json, "JSON output");
  log->callback([&g, run, args] { *run = [&g, args] { return ShowAudit(g, *args); }; });
  CLI::App* verify = audit->add_subcommand(
      "verify",
      "check the hash chain and the signed checkpoints; exit 1 naming the first bad "
      "record");
  verify->callback([&g, run] { *run = [&g] { return VerifyAudit(g); }; });
}

void AddAuthCommands(CLI::App& app, const GlobalOptions& g, Runner* run) {
  CLI::App* a = app.add_subcommand("auth", "API tokens for kiln serve (kiln.yaml: auth: required)");
  a->require_subcommand(1);
  CLI::App* token = a->add_subcommand("token", "create, list and revoke API tokens");
  token->require_subcommand(1);
  auto args = std::make_shared<TokenArgs>();

  CLI::App* create =
      token->add_subcommand("create", "make a token (printed once; only its SHA-256 is stored)");
  create->add_option("--name", args->name, "the token's name (recorded as its actor)")->required();
  create->add_option("--role", args->role, "viewer, predictor, trainer, deployer or admin")
      ->required();
  create->add_option("--expires", args->expires,
                     "lifetime, e.g. 12h, 30d (default: never expires)");
  create->add_flag("--json", args->json, "print the token and its record as JSON");
  create->callback([&g, run, args] { *run = [&g, args] { return Create(g, *args); }; });

  CLI::App* list = token->add_subcommand("list", "every token: name, role, state, times");
  list->add_flag("--json", args->json, "JSON output");
  list->callback([&g, run, args] { *run = [&g, args] { return List(g, *args); }; });

  CLI::App* revoke = token->add_subcommand("revoke", "revoke a token by name");
  revoke->add_option("name", args->name, "the token's name")->required();
  revoke->callback([&g, run, args] { *run = [&g, args] { return Revoke(g, *args); }; });
}

}  // namespace kiln::app
