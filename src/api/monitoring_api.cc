#include "kiln/api/monitoring.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/json_reader.h"
#include "kiln/base/logging.h"
#include "kiln/base/names.h"
#include "kiln/http/server.h"
#include "kiln/jobs/triggers.h"
#include "kiln/monitor/metrics.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/registry/audit.h"

namespace kiln::api {

using nlohmann::json;

namespace {

json ReportJson(const monitor::DriftReport& r) { return json::parse(pipeline::DriftReportJson(r)); }

// The model's validation metrics, with accuracy where its error is known: what live metrics
// are compared with.
std::map<std::string, double> Baseline(const model::TreeModel& m) {
  std::map<std::string, double> out = m.reference.valid_metrics;
  for (const char* error : {"error", "merror"}) {
    if (auto it = out.find(error); it != out.end()) out["accuracy"] = 1 - it->second;
  }
  return out;
}

json WindowPerformance(const monitor::PerformanceReport& r,
                       const std::map<std::string, double>& baseline) {
  json metrics = json::object(), degradation = json::object();
  for (const auto& [k, v] : r.metrics) {
    metrics[k] = v;
    if (auto b = baseline.find(k); b != baseline.end()) degradation[k] = v - b->second;
  }
  return {{"labelled", r.labelled}, {"metrics", metrics}, {"degradation", degradation}};
}

// The confidence-based estimate of a binary classifier from a drift report's score histogram.
std::map<std::string, double> Estimate(const serve::ServedModel& s, const monitor::DriftReport& r) {
  if (!s.drift || s.drift->reference().score != monitor::DriftReference::Score::kProbability) {
    return {};
  }
  return monitor::EstimateBinaryPerformance(r.prediction_counts, s.drift->reference().score_edges);
}

// A number as a class label's text: "1", "2.5".
std::string LabelText(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

}  // namespace

Result<std::string> DriftJson(serve::ModelManager& models, const std::string& model,
                              const std::string& version) {
  KILN_ASSIGN_OR_RETURN(auto served, models.Get(model, version));
  json out = {{"model", served->name}, {"version", served->version}};
  if (!served->drift) {
    out["monitored"] = false;
    out["reason"] = served->model->reference.empty()
                        ? "the model carries no drift reference (imported, or written by an older "
                          "kiln): retrain it with kiln train"
                        : "drift monitoring is off (kiln.yaml monitoring.enabled)";
    return out.dump();
  }
  const auto& ref = served->model->reference;
  out["monitored"] = true;
  out["window_ms"] = served->drift->window().count();
  out["reference"] = {{"data", ref.data}, {"rows", ref.rows}, {"score_data", ref.score_data}};
  out["sliding"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kSliding));
  out["tumbling"] = ReportJson(served->drift->Measure(monitor::DriftWindow::kTumbling));
  const std::vector<uint64_t> totals = served->drift->OutOfRangeTotals();
  json range = json::object();
  for (size_t f = 0; f < totals.size() && f < served->model->features.size(); ++f) {
    range[served->model->features[f].name] = totals[f];
  }
  out["out_of_range_total"] = std::move(range);
  return out.dump();
}

Result<std::string> PerformanceJson(serve::ModelManager& models, const std::string& model,
                                    const std::string& version) {
  KILN_ASSIGN_OR_RETURN(auto served, models.Get(model, version));
  json out = {{"model", served->name}, {"version", served->version}};
  if (!served->performance) {
    out["monitored"] = false;
    out["reason"] = "monitoring is off (kiln.yaml monitoring.enabled)";
    return out.dump();
  }
  const auto baseline = Baseline(*served->model);
  out["monitored"] = true;
  out["window_ms"] = served->performance->window().count();
  out["baseline"] = baseline;
  for (auto [name, w] : {std::pair{"sliding", monitor::DriftWindow::kSliding},
                         std::pair{"tumbling", monitor::DriftWindow::kTumbling}}) {
    json window = WindowPerformance(served->performance->Measure(w), baseline);
    const auto estimate = served->drift ? Estimate(*served, served->drift->Measure(w))
                                        : std::map<std::string, double>{};
    window["estimated"] = estimate.empty() ? json(nullptr) : json(estimate);
    out[name] = std::move(window);
  }
  if (served->log) {
    const auto st = served->log->stats();
    out["prediction_log"] = {
        {"predictions", st.predictions}, {"bytes", st.bytes}, {"segments", st.segments}};
  } else {
    out["prediction_log"] = nullptr;
  }
  return out.dump();
}

Result<FeedbackOutcome> JoinFeedback(serve::ModelManager& models, const std::string& model,
                                     std::string_view body) {
  KILN_ASSIGN_OR_RETURN(auto primary, models.Get(model, ""));
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    return InvalidArgumentError(
        "feedback: expected a JSON array of {\"id\": ..., \"label\": ...} objects");
  }
  if (doc.size() > kMaxFeedbackItems) {
    return ResourceExhaustedError(
        fmt::format("feedback: {} items; at most {} per request", doc.size(), kMaxFeedbackItems));
  }
  // Every version of the model that is served now, the default alias's first.
  std::vector<std::shared_ptr<const serve::ServedModel>> versions = {primary};
  for (auto& s : models.Served()) {
    if (s->name == primary->name && s != primary) versions.push_back(s);
  }
  const model::TreeModel& m = *primary->model;
  const bool classification = m.is_classification();
  struct Item {
    std::string id;
    double label = 0;  // class index, or the value
  };
  std::vector<Item> items;
  items.reserve(doc.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < doc.size(); ++i) {
    JsonReader<json> r(doc[i], fmt::format("feedback[{}]", i));
    Item item;
    item.id = r.String("id");
    KILN_RETURN_IF_ERROR(r.status());
    if (!monitor::PredictionLog::ValidId(item.id)) {
      return InvalidArgumentError(
          fmt::format("feedback[{}].id: '{}' is not a request id (1-128 of A-Za-z0-9._:-#)", i,
                      Printable(item.id)));
    }
    if (!seen.insert(item.id).second) {
      return InvalidArgumentError(
          fmt::format("feedback[{}].id: '{}' is given twice", i, Printable(item.id)));
    }
    if (!r.Has("label")) return InvalidArgumentError(fmt::format("feedback[{}]: no label", i));
    const json& label = doc[i]["label"];
    if (classification) {
      if (!label.is_string() && !label.is_number()) {
        return InvalidArgumentError(
            fmt::format("feedback[{}].label: must be a class label (text or number)", i));
      }
      const std::string text =
          label.is_string() ? label.get<std::string>() : LabelText(label.get<double>());
      auto it = std::find(m.class_labels.begin(), m.class_labels.end(), text);
      if (it == m.class_labels.end()) {
        return InvalidArgumentError(fmt::format(
            "feedback[{}].label: '{}' is not a class of model '{}'", i, Printable(text), model));
      }
      item.label = static_cast<double>(it - m.class_labels.begin());
    } else {
      item.label = r.NumberOrText("label");
      KILN_RETURN_IF_ERROR(r.status());
      if (!std::isfinite(item.label)) {
        return InvalidArgumentError(fmt::format("feedback[{}].label: must be finite", i));
      }
    }
    items.push_back(std::move(item));
  }
  FeedbackOutcome out;
  out.received = items.size();
  std::vector<float> scores;
  for (const Item& item : items) {
    bool joined = false, duplicate = false;
    for (const auto& v : versions) {
      if (!v->log || !v->performance) continue;
      switch (v->log->Take(item.id, &scores)) {
        case monitor::PredictionLog::Join::kJoined:
          v->performance->Add(scores, item.label);
          joined = true;
          break;
        case monitor::PredictionLog::Join::kDuplicate:
          duplicate = true;
          break;
        case monitor::PredictionLog::Join::kUnknown:
          break;
      }
    }
    if (joined) {
      ++out.joined;
    } else if (duplicate) {
      ++out.duplicate;
    } else {
      ++out.unknown;
    }
  }
  return out;
}

std::string FeedbackJson(const FeedbackOutcome& o) {
  return json{{"received", o.received},
              {"joined", o.joined},
              {"unknown", o.unknown},
              {"duplicate", o.duplicate}}
      .dump();
}

std::string DriftMetricsText(const serve::ModelManager& models) {
  std::vector<monitor::DriftSeries> series;
  std::string live, labelled, estimated;
  for (const auto& served : models.Served()) {
    const std::string labels = fmt::format("model=\"{}\",version=\"{}\"",
                                           monitor::LabelValue(served->name), served->version);
    if (served->drift) {
      series.push_back({served->name, served->version,
                        served->drift->Measure(monitor::DriftWindow::kSliding),
                        served->drift->OutOfRangeTotals()});
      for (const auto& [k, v] : Estimate(*served, series.back().report)) {
        estimated += fmt::format("kiln_estimated_metric{{{},metric=\"{}\"}} {}\n", labels, k,
                                 monitor::SampleValue(v));
      }
    }
    if (served->performance) {
      const auto r = served->performance->Measure(monitor::DriftWindow::kSliding);
      labelled += fmt::format("kiln_live_labelled_rows{{{}}} {}\n", labels, r.labelled);
      for (const auto& [k, v] : r.metrics) {
        live += fmt::format("kiln_live_metric{{{},metric=\"{}\"}} {}\n", labels, k,
                            monitor::SampleValue(v));
      }
    }
  }
  std::string valid;
  for (const auto& served : models.Served()) {
    for (const auto& [k, v] : Baseline(*served->model)) {
      valid +=
          fmt::format("kiln_model_valid_metric{{model=\"{}\",version=\"{}\",metric=\"{}\"}} {}\n",
                      monitor::LabelValue(served->name), served->version, monitor::LabelValue(k),
                      monitor::SampleValue(v));
    }
  }
  std::string out = monitor::DriftExposition(series);
  auto family = [&out](const char* name, const char* help, const std::string& samples) {
    if (samples.empty()) return;
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}", name, help, name, samples);
  };
  family("kiln_live_labelled_rows",
         "Predictions of a served version labelled by feedback in the sliding window.", labelled);
  family("kiln_live_metric", "A served version's metrics on the feedback of the sliding window.",
         live);
  family("kiln_estimated_metric",
         "Confidence-based performance estimate (CBPE) of a binary classifier, sliding window.",
         estimated);
  family("kiln_model_valid_metric", "A served version's metrics on its validation data.", valid);
  return out;
}

std::vector<monitor::AlertSubject> AlertSubjects(
    const serve::ModelManager& models,
    const std::function<void(const std::string& model, int64_t version, AlertValues*)>& more) {
  std::vector<monitor::AlertSubject> out;
  for (const auto& served : models.Served()) {
    auto v = std::make_shared<AlertValues>();
    if (served->drift) {
      const monitor::DriftReport r = served->drift->Measure(monitor::DriftWindow::kSliding);
      (*v)["drift.share"] = r.drift_share;
      (*v)["drift.rows"] = static_cast<double>(r.rows);
      (*v)["drift.evaluated"] = r.evaluated ? 1 : 0;
      auto statistics = [&](const std::string& prefix, const monitor::FeatureDrift& d) {
        (*v)[prefix + "psi"] = d.psi;
        (*v)[prefix + "jensen_shannon"] = d.jensen_shannon;
        (*v)[prefix + "ks"] = d.ks;
        (*v)[prefix + "wasserstein"] = d.wasserstein;
        (*v)[prefix + "chi_square_p_value"] = d.chi_square_p_value;
        (*v)[prefix + "score"] = d.score;
      };
      for (const auto& f : r.features) {
        statistics("feature_drift." + f.name + ".", f.drift);
        (*v)["feature_missing." + f.name] = static_cast<double>(f.missing);
        (*v)["feature_out_of_range." + f.name] = static_cast<double>(f.out_of_range);
      }
      if (r.prediction.reference_rows > 0) statistics("prediction_drift.", r.prediction);
      for (const auto& [k, e] : Estimate(*served, r)) {
        (*v)["estimated." + k.substr(k.find('_') + 1)] = e;
      }
    }
    if (served->performance) {
      const auto r = served->performance->Measure(monitor::DriftWindow::kSliding);
      (*v)["live.labelled"] = static_cast<double>(r.labelled);
      for (const auto& [k, m] : r.metrics) (*v)["live." + k] = m;
    }
    for (const auto& [k, b] : Baseline(*served->model)) (*v)["model.valid." + k] = b;
    if (more) more(served->name, served->version, v.get());
    out.push_back(
        {served->name, served->version, [v](std::string_view name) -> std::optional<double> {
           auto it = v->find(name);
           return it == v->end() ? std::nullopt : std::optional<double>(it->second);
         }});
  }
  return out;
}

namespace {

json EventJson(const monitor::AlertEvent& e) {
  return {{"rule", e.rule},         {"model", e.model},  {"version", e.version},
          {"severity", e.severity}, {"state", e.state},  {"time_ms", e.time_ms},
          {"since_ms", e.since_ms}, {"detail", e.detail}};
}

}  // namespace

AlertMonitor::AlertMonitor(const serve::ModelManager* models, std::vector<monitor::AlertRule> rules,
                           AlertMonitorOptions options)
    : models_(models), options_(std::move(options)), engine_(std::move(rules)) {
  thread_ = std::thread([this] { Loop(); });
}

AlertMonitor::~AlertMonitor() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void AlertMonitor::Loop() {
  // What this thread records (alert events, queued retrainings) is the monitor's doing.
  registry::AuditScope scope({"monitor", ""});
  while (true) {
    {
      MutexLock lock(&mu_);
      const auto until = std::chrono::steady_clock::now() + options_.every;
      while (!stop_ && cv_.WaitUntil(&mu_, until)) {
      }
      if (stop_) return;
    }
    EvaluateNow();
  }
}

struct AlertMonitor::RoundValues {
  TrafficByVersion traffic;  // in the window
  std::map<std::string, double> jobs;
};

AlertMonitor::RoundValues AlertMonitor::ReadRound() {
  RoundValues round;
  if (options_.metrics) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    TrafficByVersion current = InferenceTraffic(options_.metrics);
    MutexLock lock(&history_mu_);
    // Keep at most about 60 snapshots per window, and one at or before a window ago.
    if (history_.empty() || now - history_.back().first >= options_.window_ms / 60) {
      history_.emplace_back(now, current);
    }
    while (history_.size() > 1 && history_[1].first <= now - options_.window_ms) {
      history_.pop_front();
    }
    const bool whole = history_.front().first <= now - options_.window_ms;
    for (auto& [key, t] : current) {
      if (whole) {
        auto base = history_.front().second.find(key);
        if (base != history_.front().second.end()) {
          t.requests -= base->second.requests;
          t.errors -= base->second.errors;
          for (size_t i = 0; i < t.latency.size() && i < base->second.latency.size(); ++i) {
            t.latency[i] -= base->second.latency[i];
          }
        }
      }
    }
    round.traffic = std::move(current);
  }
  if (options_.jobs) {
    auto stats = options_.jobs->Stats();
    if (stats.ok()) {
      for (auto state : {registry::JobState::kQueued, registry::JobState::kRunning,
                         registry::JobState::kFailed, registry::JobState::kDead}) {
        round.jobs[fmt::format("jobs.{}", registry::JobStateName(state))] = 0;
      }
      for (const auto& [key, n] : stats->jobs) {
        const std::string name = fmt::format("jobs.{}", registry::JobStateName(key.second));
        if (round.jobs.count(name)) round.jobs[name] += static_cast<double>(n);
      }
    } else {
      KILN_LOG_WARN("alerts: the job queue's counts are not available: {}",
                    stats.status().ToString());
    }
  }
  return round;
}

void AlertMonitor::EvaluateNow() {
  const RoundValues round = ReadRound();
  auto more = [&round](const std::string& model, int64_t version, AlertValues* v) {
    for (const auto& [k, n] : round.jobs) (*v)[k] = n;
    auto t = round.traffic.find({model, std::to_string(version)});
    if (t == round.traffic.end()) {
      (*v)["requests.count"] = 0;
      (*v)["errors.count"] = 0;
      return;  // no rate or latency without requests
    }
    const VersionTraffic& w = t->second;
    (*v)["requests.count"] = static_cast<double>(w.requests);
    (*v)["errors.count"] = static_cast<double>(w.errors);
    if (w.requests == 0) return;
    (*v)["errors.rate"] = static_cast<double>(w.errors) / static_cast<double>(w.requests);
    for (const auto& [name, q] :
         {std::pair{"latency.p50", 0.5}, {"latency.p90", 0.9}, {"latency.p99", 0.99}}) {
      if (auto l = monitor::HistogramQuantile(q, monitor::LatencyBuckets(), w.latency)) {
        (*v)[name] = *l;
      }
    }
  };
  for (const monitor::AlertEvent& e : engine_.Evaluate(AlertSubjects(*models_, more))) {
    KILN_LOG_WARN("alert {} {} for {} v{}: {}", e.rule, e.state, e.model, e.version, e.detail);
    if (options_.catalog) {
      auto stored = options_.catalog->RecordAlertEvent(
          {0, e.rule, e.model, e.version, e.severity, e.state, e.time_ms, e.since_ms, e.detail});
      if (!stored.ok()) {
        KILN_LOG_WARN("alert {}: not stored in the catalog: {}", e.rule, stored.status().message());
      }
    }
    Deliver(e);
    QueueRetraining(e);
  }
}

const monitor::AlertRule* AlertMonitor::Rule(const std::string& name) const {
  for (const auto& r : engine_.rules()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

void AlertMonitor::QueueRetraining(const monitor::AlertEvent& e) {
  const monitor::AlertRule* rule = Rule(e.rule);
  if (e.state != "firing" || !rule || !rule->retrain || !options_.jobs) return;
  if (!options_.retrainable.count(e.model)) {
    KILN_LOG_WARN("alert {}: {} has no retraining policy: nothing queued", e.rule, e.model);
    return;
  }
  registry::JobSpec spec = jobs::RetrainJobSpec(e.model, "alert:" + e.rule, options_.max_attempts);
  // One job per firing, however many times this round is repeated.
  spec.idempotency_key = fmt::format("retrain:{}:alert:{}:{}", e.model, e.rule, e.since_ms);
  auto job = options_.jobs->Enqueue(spec);
  if (job.ok()) {
    KILN_LOG_WARN("alert {}: retraining of {} queued as job {}", e.rule, e.model, job->id);
  } else {
    KILN_LOG_WARN("alert {}: the retraining of {} was not queued: {}", e.rule, e.model,
                  job.status().ToString());
  }
}

void AlertMonitor::Deliver(const monitor::AlertEvent& e) {
  const monitor::AlertRule* rule = Rule(e.rule);
  if (!rule || rule->webhook.empty()) return;
  auto url = ParseHttpUrl(rule->webhook, "webhook", 80);  // checked when kiln.yaml was read
  if (!url.ok()) return;
  json body = EventJson(e);
  body["expr"] = rule->expr;
  auto client = http::HttpClient::Connect(url->host, url->port, std::chrono::seconds(5));
  Status sent = client.status();
  if (client.ok()) {
    auto r = (*client)->Send("POST", url->path, body.dump());
    sent = !r.ok()                ? r.status()
           : r->status / 100 == 2 ? Status::Ok()
                                  : UnavailableError(fmt::format("answered HTTP {}", r->status));
  }
  if (!sent.ok()) {
    KILN_LOG_WARN("alert {} webhook {}: {}", e.rule, rule->webhook, sent.message());
  }
}

std::string AlertMonitor::Json() const {
  json rules = json::array(), active = json::array(), events = json::array();
  for (const auto& r : engine_.rules()) {
    rules.push_back({{"name", r.name},
                     {"model", r.model},
                     {"expr", r.expr},
                     {"for_ms", r.for_ms},
                     {"severity", r.severity},
                     {"webhook", r.webhook},
                     {"retrain", r.retrain}});
  }
  for (const auto& a : engine_.Active()) {
    active.push_back({{"rule", a.rule},
                      {"model", a.model},
                      {"version", a.version},
                      {"severity", a.severity},
                      {"state", monitor::AlertStateName(a.state)},
                      {"since_ms", a.since_ms},
                      {"firing_since_ms", a.firing_since_ms},
                      {"detail", a.detail}});
  }
  for (const auto& e : engine_.Recent()) events.push_back(EventJson(e));
  return json{{"rules", rules}, {"active", active}, {"events", events}}.dump();
}

}  // namespace kiln::api
