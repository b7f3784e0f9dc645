// `kiln monitor status` (the drift and live performance a running `kiln serve` measures, over
// HTTP), `kiln monitor feedback` (ground truth sent to it) and `kiln monitor drift` (a dataset
// against a model's reference): flags, calls, printing.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/drift_report.h"
#include "kiln/base/file_system.h"
#include "kiln/base/names.h"
#include "kiln/base/numbers.h"
#include "kiln/http/server.h"
#include "kiln/jobs/operations.h"
#include "kiln/monitor/alerts.h"
#include "kiln/pipeline/batch_predict.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/retrain.h"
#include "kiln/pipeline/training_data.h"

namespace kiln::app {

namespace {

using nlohmann::json;

struct MonitorArgs {
  std::string model, version, url = "http://127.0.0.1:8080", window = "sliding", data;
  std::string file, id_column = "id", label_column = "label", against, html;
  std::string alerts_url;  // monitor alerts: ask this server instead of reading the catalog
  int64_t limit = 50;
  uint64_t min_samples = 1;
  bool json = false, prometheus = false;
  std::string out;
};

struct Server : HttpUrl {
  bool tls = false;  // https://: the certificate checked against the system's roots and
                     // $SSL_CERT_FILE
};

// http://HOST[:PORT], https://HOST[:PORT] or HOST[:PORT]; the port defaults to kiln serve's 8080.
Result<Server> ParseServer(const std::string& url) {
  Server s;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    s.tls = true;
    rest.remove_prefix(8);
  }
  KILN_ASSIGN_OR_RETURN(HttpUrl parsed,
                        ParseHttpUrl(rest, "--url", 8080, /*scheme_optional=*/true));
  static_cast<HttpUrl&>(s) = std::move(parsed);
  return s;
}

// The JSON body of a request to the server; its error message for a non-2xx answer. A server
// with `auth: required` gets the token in $KILN_TOKEN (never a flag: it would show in `ps`).
Result<json> Ask(const Server& s, const std::string& method, const std::string& target,
                 const std::string& request = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (const char* token = std::getenv("KILN_TOKEN"); token != nullptr && *token != '\0') {
    headers.emplace_back("Authorization", fmt::format("Bearer {}", token));
  }
  const http::ClientTls tls;
  auto client =
      http::HttpClient::Connect(s.host, s.port, std::chrono::seconds(60), s.tls ? &tls : nullptr);
  if (!client.ok()) {
    return UnavailableError(fmt::format("cannot reach kiln serve at {}:{}: {}", s.host, s.port,
                                        client.status().message()));
  }
  KILN_ASSIGN_OR_RETURN(http::HttpResponse r,
                        (*client)->Send(method, target, request, "application/json", headers));
  json body = json::parse(r.body, nullptr, false);
  if (r.status / 100 != 2) {
    const std::string message =
        body.is_object() && body.contains("error") && body["error"].is_string()
            ? body["error"].get<std::string>()
            : fmt::format("HTTP {}", r.status);
    if (r.status == 404) return NotFoundError(message);
    if (r.status == 401) return UnauthenticatedError(message + " (set KILN_TOKEN)");
    if (r.status == 403) return PermissionDeniedError(message);
    if (r.status / 100 == 4) return InvalidArgumentError(message);
    return UnavailableError(message);
  }
  if (body.is_discarded()) return DataLossError(fmt::format("{}: the answer is not JSON", target));
  return body;
}

std::string Number(const json& v) {
  return v.is_number() ? fmt::format("{:.4g}", v.get<double>()) : "-";
}

std::string WindowText(int64_t ms) {
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  return fmt::format("{}s", ms / 1000);
}

// The feature table of a report (features most drifted first) and its summary lines.
std::string ReportText(const json& r) {
  const size_t n = r["features"].size();
  size_t drifted = 0;
  for (const auto& f : r["features"]) drifted += f["drifted"].get<bool>() ? 1 : 0;
  std::string text = fmt::format("  {} rows", r["rows"].get<uint64_t>());
  if (r["evaluated"].get<bool>()) {
    text += fmt::format("; {} of {} features drifted (share {:.3g})\n", drifted, n,
                        r["drift_share"].get<double>());
  } else {
    text += fmt::format(", fewer than the {} needed to decide\n", r["min_samples"].get<uint64_t>());
  }
  const json& p = r["prediction"];
  if (p.is_object()) {
    // ks and chi_square decide on a p-value (drifted below the threshold), the distances above.
    const std::string test = p["test"].get<std::string>();
    const bool p_value = test == "ks" || test == "chi_square";
    text += fmt::format("  prediction: {}{} {} (drifted {} {}){}, psi {}\n", test,
                        p_value ? " p-value" : "", Number(p["score"]), p_value ? "below" : "above",
                        Number(p["threshold"]), p["drifted"].get<bool>() ? " DRIFTED" : "",
                        Number(p["psi"]));
  }
  std::vector<const json*> rows;
  for (const auto& f : r["features"]) rows.push_back(&f);
  std::stable_sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
    const bool da = (*a)["drifted"].get<bool>(), db = (*b)["drifted"].get<bool>();
    if (da != db) return da;
    return (*a)["psi"].get<double>() > (*b)["psi"].get<double>();
  });
  text += fmt::format("\n  {:<24} {:<14} {:>9} {:>9} {:<7} {:>8} {:>8} {:>8}\n", "FEATURE", "TEST",
                      "SCORE", "THRESHOLD", "DRIFTED", "PSI", "MISSING", "OUTSIDE");
  for (const json* f : rows) {
    text += fmt::format("  {:<24} {:<14} {:>9} {:>9} {:<7} {:>8} {:>8} {:>8}\n",
                        Printable((*f)["name"].get<std::string>()), (*f)["test"].get<std::string>(),
                        Number((*f)["score"]), Number((*f)["threshold"]),
                        (*f)["drifted"].get<bool>() ? "yes" : "no", Number((*f)["psi"]),
                        (*f)["missing"].get<uint64_t>(), (*f)["out_of_range"].get<uint64_t>());
  }
  return text;
}

// The live performance lines of one version: labelled rows, metrics against the baseline, the
// estimate.
std::string PerformanceText(const json& p, const std::string& window) {
  if (!p.value("monitored", false)) return "";
  const json& w = p[window];
  std::string text;
  if (w["labelled"].get<uint64_t>() == 0) {
    text = "  live performance: no feedback in the window\n";
  } else {
    text = fmt::format("  live performance on {} labelled rows:", w["labelled"].get<uint64_t>());
    for (const auto& [k, v] : w["metrics"].items()) {
      text += fmt::format(" {} {:.4g}", k, v.get<double>());
      if (w["degradation"].contains(k)) {
        text += fmt::format(" ({:+.3g} vs validation)", w["degradation"][k].get<double>());
      }
      text += ",";
    }
    text.back() = '\n';
  }
  if (w["estimated"].is_object()) {
    text += "  estimated (CBPE, no labels needed):";
    for (const auto& [k, v] : w["estimated"].items()) {
      text += fmt::format(" {} {:.4g},", k.substr(k.find('_') + 1), v.get<double>());
    }
    text.back() = '\n';
  }
  return text;
}

std::string StatusText(const json& d, const std::string& window) {
  std::string text =
      fmt::format("{} v{}: ", d["model"].get<std::string>(), d["version"].get<int64_t>());
  if (!d["monitored"].get<bool>()) return text + "not monitored: " + d["reason"].get<std::string>();
  const json& ref = d["reference"];
  text += fmt::format(
      "{} window of {} against {} ({} training rows)\n", window,
      WindowText(d["window_ms"].get<int64_t>()),
      ref["data"].get<std::string>().empty() ? "its training data" : ref["data"].get<std::string>(),
      ref["rows"].get<uint64_t>());
  return text + ReportText(d[window]);
}

Result<ExitCode> Status(const MonitorArgs& a) {
  KILN_ASSIGN_OR_RETURN(Server server, ParseServer(a.url));
  std::vector<std::string> names;
  if (!a.model.empty()) {
    KILN_RETURN_IF_ERROR(ValidateName(a.model, "model name"));
    names.push_back(a.model);
  } else {
    KILN_ASSIGN_OR_RETURN(json index, Ask(server, "POST", "/v2/repository/index"));
    for (const auto& e : index) {
      if (e.value("state", "") == "READY") names.push_back(e["name"].get<std::string>());
    }
  }
  if (!a.version.empty()) KILN_RETURN_IF_ERROR(ValidateName(a.version, "model version"));
  json all = json::array();
  for (const auto& name : names) {
    const std::string query = a.version.empty() ? "" : "?version=" + a.version;
    KILN_ASSIGN_OR_RETURN(json d, Ask(server, "GET", "/api/v1/models/" + name + "/drift" + query));
    KILN_ASSIGN_OR_RETURN(json p,
                          Ask(server, "GET", "/api/v1/models/" + name + "/performance" + query));
    all.push_back({{"drift", std::move(d)}, {"performance", std::move(p)}});
  }
  if (a.json) {
    PrintJson((a.model.empty() ? all : all[0]).dump());
    return 0;
  }
  if (all.empty()) {
    Print("no models are served");
    return 0;
  }
  std::string text;
  for (const auto& d : all) {
    if (!text.empty()) text += "\n";
    text += StatusText(d["drift"], a.window);
    if (text.back() != '\n') text += '\n';
    text += PerformanceText(d["performance"], a.window);
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  Print(text);
  return 0;
}

// Sends the (id, label) pairs of a CSV or JSON Lines file to the server, a batch at a time.
Result<ExitCode> Feedback(const GlobalOptions& g, const MonitorArgs& a) {
  KILN_ASSIGN_OR_RETURN(Server server, ParseServer(a.url));
  KILN_RETURN_IF_ERROR(ValidateName(a.model, "model name"));
  auto fs = NewPosixFileSystem();
  KILN_ASSIGN_OR_RETURN(pipeline::LoadedData loaded,
                        pipeline::LoadData(nullptr, *fs, a.file, Context(g)));
  const data::Dataset& d = loaded.data;
  const auto id = d.schema.IndexOf(a.id_column), label = d.schema.IndexOf(a.label_column);
  if (!id || !label) {
    return InvalidArgumentError(fmt::format("{}: needs columns '{}' and '{}'", a.file,
                                            Printable(a.id_column), Printable(a.label_column)));
  }
  constexpr size_t kBatch = 5000;
  json total = {{"received", 0}, {"joined", 0}, {"unknown", 0}, {"duplicate", 0}};
  for (size_t first = 0; first < d.num_rows(); first += kBatch) {
    json batch = json::array();
    for (size_t r = first; r < std::min(d.num_rows(), first + kBatch); ++r) {
      const auto row = static_cast<data::RowIndex>(r);
      if (!d.columns[*id].IsValid(row) || !d.columns[*label].IsValid(row)) {
        return InvalidArgumentError(fmt::format("{}: row {} has no id or no label", a.file, r + 1));
      }
      batch.push_back(
          {{"id", d.columns[*id].TextAt(row)}, {"label", d.columns[*label].TextAt(row)}});
    }
    KILN_ASSIGN_OR_RETURN(
        json outcome, Ask(server, "POST", "/api/v1/models/" + a.model + "/feedback", batch.dump()));
    for (const char* k : {"received", "joined", "unknown", "duplicate"}) {
      total[k] = total[k].get<uint64_t>() + outcome.value(k, uint64_t{0});
    }
  }
  if (a.json) {
    PrintJson(total.dump());
  } else {
    Print(
        fmt::format("{} labels sent: {} joined to logged predictions, {} unknown ids, {} "
                    "already labelled",
                    total["received"].get<uint64_t>(), total["joined"].get<uint64_t>(),
                    total["unknown"].get<uint64_t>(), total["duplicate"].get<uint64_t>()));
  }
  return 0;
}

Result<ExitCode> Drift(const GlobalOptions& g, const MonitorArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(
      pipeline::DriftCheckResult r,
      pipeline::CheckDrift(*home, {a.model, a.data, a.min_samples, a.against}, ctx));
  if (!a.html.empty()) {
    KILN_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Open(home->fs(), a.html));
    KILN_RETURN_IF_ERROR(file->Append(DriftReportHtml(r, a.model)));
    KILN_RETURN_IF_ERROR(file->Commit());
  }
  if (a.json) {
    PrintJson(pipeline::DriftCheckResultJson(r));
    return 0;
  }
  Print(fmt::format("{} against the reference of {} ({}, {} rows)\n{}", r.data, a.model,
                    r.reference_data.empty() ? "its training data" : r.reference_data,
                    r.reference_rows, DriftReportText(pipeline::DriftReportJson(r.report))));
  if (!a.html.empty()) Print("report: " + a.html);
  return 0;
}

// The alert events the catalog holds: those firing now (their last event fired), then the
// last `limit` events.
Result<ExitCode> StoredAlerts(const GlobalOptions& g, const MonitorArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto events, home->catalog().AlertEvents(a.limit));
  std::map<std::tuple<std::string, std::string, int64_t>, const registry::AlertEventRecord*> last;
  for (const auto& e : events) last[{e.rule, e.model, e.version}] = &e;
  json firing = json::array(), all = json::array();
  auto event_json = [](const registry::AlertEventRecord& e) {
    return json{{"rule", e.rule},         {"model", e.model},  {"version", e.version},
                {"severity", e.severity}, {"state", e.state},  {"time_ms", e.time_ms},
                {"since_ms", e.since_ms}, {"detail", e.detail}};
  };
  for (const auto& [key, e] : last) {
    if (e->state == "firing") firing.push_back(event_json(*e));
  }
  for (const auto& e : events) all.push_back(event_json(e));
  if (a.json) {
    PrintJson(json{{"firing", firing}, {"events", all}}.dump());
    return 0;
  }
  std::string text = firing.empty() ? "no alert is firing (as last recorded)\n"
                                    : fmt::format("{} firing:\n", firing.size());
  for (const auto& x : firing) {
    text += fmt::format("  {:<24} {} v{} ({}) since {}: {}\n",
                        Printable(x["rule"].get<std::string>()), x["model"].get<std::string>(),
                        x["version"].get<int64_t>(), x["severity"].get<std::string>(),
                        TimeText(x["since_ms"].get<int64_t>()), x["detail"].get<std::string>());
  }
  if (!events.empty()) text += "events:\n";
  for (const auto& e : events) {
    text += fmt::format("  {} {:<8} {:<24} {} v{}: {}\n", TimeText(e.time_ms), e.state,
                        Printable(e.rule), e.model, e.version, e.detail);
  }
  text.pop_back();
  Print(text);
  return 0;
}

// The alerts a running server holds: active ones first, then the last events.
Result<ExitCode> Alerts(const GlobalOptions& g, const MonitorArgs& a) {
  if (a.alerts_url.empty()) return StoredAlerts(g, a);
  KILN_ASSIGN_OR_RETURN(Server server, ParseServer(a.alerts_url));
  KILN_ASSIGN_OR_RETURN(json alerts, Ask(server, "GET", "/api/v1/alerts"));
  if (a.json) {
    PrintJson(alerts.dump());
    return 0;
  }
  std::string text = fmt::format("{} rules", alerts["rules"].size());
  if (alerts["active"].empty())
    text += "; no alert is pending or firing\n";
  else
    text += fmt::format("; {} active:\n", alerts["active"].size());
  for (const auto& x : alerts["active"]) {
    text += fmt::format("  {:<8} {:<24} {} v{} ({}) since {}: {}\n", x["state"].get<std::string>(),
                        Printable(x["rule"].get<std::string>()), x["model"].get<std::string>(),
                        x["version"].get<int64_t>(), x["severity"].get<std::string>(),
                        TimeText(x["since_ms"].get<int64_t>()), x["detail"].get<std::string>());
  }
  const json& events = alerts["events"];
  if (!events.empty()) text += "recent events:\n";
  for (size_t i = events.size() > 20 ? events.size() - 20 : 0; i < events.size(); ++i) {
    const json& e = events[i];
    text += fmt::format("  {} {:<8} {:<24} {} v{}: {}\n", TimeText(e["time_ms"].get<int64_t>()),
                        e["state"].get<std::string>(), Printable(e["rule"].get<std::string>()),
                        e["model"].get<std::string>(), e["version"].get<int64_t>(),
                        e["detail"].get<std::string>());
  }
  text.pop_back();
  Print(text);
  return 0;
}

struct RetrainArgs {
  pipeline::RetrainOptions options;
  bool json = false;
};

std::string RetrainText(const pipeline::RetrainResult& r) {
  std::string text =
      fmt::format("retrain {} ({}): {}\n  {}\n", r.model, r.trigger, r.outcome, r.detail);
  if (!r.recipe_run.empty()) {
    text += fmt::format("  champion {}@{} = version {} (recipe: run {})\n", r.model, r.alias,
                        r.champion, r.recipe_run);
  }
  if (!r.run_id.empty()) {
    text += fmt::format("  challenger: run {} on {}, version {}\n", r.run_id, r.data, r.challenger);
  }
  if (r.promotion) {
    for (const auto& c : r.promotion->clauses) text += "  " + registry::ClauseText(c) + "\n";
  }
  return text;
}

// `kiln monitor retrain MODEL`: one retraining under the model's policy, now, in this process.
Result<ExitCode> Retrain(const GlobalOptions& g, const RetrainArgs& a) {
  auto ctx = Context(g);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(pipeline::RetrainPolicy policy,
                        pipeline::RetrainPolicyFor(*home, a.options.model));
  pipeline::RetrainOptions o = a.options;
  o.actor = pipeline::Actor();
  if (!a.json) o.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  KILN_ASSIGN_OR_RETURN(pipeline::RetrainResult r, pipeline::Retrain(*home, policy, o, ctx));
  if (a.json) {
    PrintJson(pipeline::RetrainResultJson(r));
  } else {
    Print(RetrainText(r));
  }
  return r.outcome == "promoted" || r.outcome == "skipped" ? 0 : 1;
}

CLI::App* RetrainVerb(CLI::App& parent, RetrainArgs* a) {
  CLI::App* r = parent.add_subcommand(
      "retrain",
      "retrain a model under its kiln.yaml policy: the production run's recipe on the newest "
      "data, registered, promoted only through the policy's gate");
  r->add_option("model", a->options.model, "the registered model")->required();
  r->add_option("--trigger", a->options.trigger,
                "recorded as the run's trigger tag: manual (default), alert:RULE, "
                "schedule:NAME, data:NAME@vN");
  r->add_flag("--json", a->json, "machine-readable output");
  return r;
}

// The rules of kiln.yaml, as a table or as Prometheus alerting rules.
Result<ExitCode> Rules(const GlobalOptions& g, const MonitorArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  const auto& m = home->config().monitoring;
  if (a.prometheus) {
    const std::string rules = monitor::PrometheusRules(m.alerts, m.window_ms);
    if (a.out.empty()) {
      std::fputs(rules.c_str(), stdout);
      return 0;
    }
    KILN_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Open(home->fs(), a.out));
    KILN_RETURN_IF_ERROR(file->Append(rules));
    KILN_RETURN_IF_ERROR(file->Commit());
    Print(fmt::format("wrote {} rules to {}", m.alerts.size(), a.out));
    return 0;
  }
  if (m.alerts.empty()) {
    Print("no alert rules (kiln.yaml monitoring.alerts)");
    return 0;
  }
  std::string text;
  for (const auto& r : m.alerts) {
    text += fmt::format("{:<24} {:<8} {:<14} for {:>6}s  {}{}\n", r.name, r.severity,
                        r.model.empty() ? "(every model)" : r.model, r.for_ms / 1000, r.expr,
                        r.webhook.empty() ? "" : "  -> " + r.webhook);
  }
  text.pop_back();
  Print(text);
  return 0;
}

}  // namespace

std::string DriftReportText(const std::string& report_json) {
  return ReportText(json::parse(report_json));
}

void AddMonitorCommands(CLI::App& app, const GlobalOptions& global, Runner* run) {
  auto args = std::make_shared<MonitorArgs>();
  CLI::App* monitor = app.add_subcommand(
      "monitor", "drift and live performance of served models, drift of datasets");
  monitor->require_subcommand(1);

  CLI::App* status =
      monitor->add_subcommand("status", "the drift a running kiln serve measures, per model");
  status->add_option("model", args->model, "a served model (default: every one)");
  status->add_option("--version", args->version, "a version or alias (default: the served one)");
  status->add_option("--url", args->url, "the server (default http://127.0.0.1:8080)");
  status->add_option("--window", args->window, "sliding (default) or tumbling")
      ->check(CLI::IsMember({"sliding", "tumbling"}));
  status->add_flag("--json", args->json, "the server's drift and performance JSON");
  status->callback([run, args] { *run = [args] { return Status(*args); }; });

  CLI::App* feedback = monitor->add_subcommand(
      "feedback", "send ground truth for logged predictions to a running kiln serve");
  feedback->add_option("model", args->model, "the served model")->required();
  feedback->add_option("file", args->file, "CSV or JSON Lines file with an id and a label column")
      ->required();
  feedback->add_option("--id-column", args->id_column, "the request id column (default id)");
  feedback->add_option("--label-column", args->label_column, "the label column (default label)");
  feedback->add_option("--url", args->url, "the server (default http://127.0.0.1:8080)");
  feedback->add_flag("--json", args->json, "machine-readable output");
  feedback->callback(
      [run, args, &global] { *run = [args, &global] { return Feedback(global, *args); }; });

  CLI::App* alerts = monitor->add_subcommand(
      "alerts", "alerts firing and recent alert events (from the catalog, or a server)");
  alerts->add_option("--url", args->alerts_url,
                     "ask this running kiln serve (pending alerts too) instead of the catalog");
  alerts->add_option("--limit", args->limit, "events to show (default 50)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  alerts->add_flag("--json", args->json, "machine-readable output");
  alerts->callback(
      [run, args, &global] { *run = [args, &global] { return Alerts(global, *args); }; });

  CLI::App* rules = monitor->add_subcommand("rules", "the alert rules of kiln.yaml");
  rules->add_flag("--prometheus", args->prometheus,
                  "write them as Prometheus alerting rules (promtool check rules accepts them)");
  rules->add_option("--out", args->out, "write to this file instead of stdout");
  rules->callback(
      [run, args, &global] { *run = [args, &global] { return Rules(global, *args); }; });

  auto retrain = std::make_shared<RetrainArgs>();
  RetrainVerb(*monitor, retrain.get())->callback([run, retrain, &global] {
    *run = [retrain, &global] { return Retrain(global, *retrain); };
  });

  CLI::App* drift = monitor->add_subcommand(
      "drift", "a dataset version or file against a model's training reference");
  drift->add_option("--model", args->model, "model file, NAME@ALIAS, NAME:VERSION or a run id")
      ->required();
  drift->add_option("--data", args->data, "dataset NAME[@vN] or a CSV/JSONL file")->required();
  drift
      ->add_option("--min-samples", args->min_samples,
                   "rows needed before a feature can be called drifted (default 1)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  drift->add_option("--against", args->against,
                    "compare with this dataset NAME[@vN] or file instead of the training data");
  drift->add_option("--html", args->html, "also write a self-contained HTML report with plots");
  drift->add_flag("--json", args->json, "machine-readable output");
  drift->callback(
      [run, args, &global] { *run = [args, &global] { return Drift(global, *args); }; });
}

void AddRetrainJobVerb(CLI::App& parent, Runner* run, const JobSink& sink) {
  auto args = std::make_shared<RetrainArgs>();
  RetrainVerb(parent, args.get())->callback([run, sink, args] {
    *run = [sink, args] { return sink("retrain", jobs::Payload(args->options), args->json); };
  });
}

}  // namespace kiln::app
