#include "kiln/jobs/operations.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/names.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/retrain.h"
#include "kiln/pipeline/run_recorder.h"
#include "kiln/pipeline/training_data.h"
#include "kiln/registry/audit.h"
#include "kiln/tune/space.h"

namespace kiln::jobs {

using nlohmann::json;

namespace {

// The payload's fields of each verb's options: one list used to write and to read them.
template <typename F>
void Fields(pipeline::IngestOptions& o, F&& f) {
  f("file", o.file), f("name", o.name), f("message", o.message), f("schema", o.schema);
  f("rules", o.rules), f("format", o.format), f("delimiter", o.delimiter);
  f("append", o.append), f("header", o.header);
}
template <typename F>
void Fields(pipeline::TrainOptions& o, F&& f) {
  f("data", o.data), f("target", o.target), f("task", o.task), f("params", o.params);
  f("features", o.features), f("valid", o.valid), f("valid_frac", o.valid_frac),
      f("metric", o.metric);
  f("experiment", o.experiment), f("run_name", o.run_name), f("tags", o.tags);
  f("record_curves", o.record_curves), f("init_model", o.init_model);
  f("checkpoint_every", o.checkpoint_every), f("out", o.out), f("register", o.register_name);
}
template <typename F>
void Fields(pipeline::TuneOptions& o, F&& f) {
  pipeline::TuneSettings& s = o.settings;
  f("data", s.data), f("target", s.target), f("task", s.task), f("space", s.space);
  f("sampler", s.sampler), f("scheduler", s.scheduler), f("metric", s.metric);
  f("params", s.params), f("trials", s.trials), f("cv", s.cv), f("grace", s.grace);
  f("startup", s.startup), f("eta", s.eta), f("valid_frac", s.valid_frac), f("seed", s.seed);
  f("resume", o.resume), f("experiment", o.experiment), f("register", o.register_name);
  f("parallel", o.parallel);
}
template <typename F>
void Fields(pipeline::BatchPredictOptions& o, F&& f) {
  f("model", o.model), f("data", o.data), f("out", o.out), f("kind", o.kind);
  f("explain", o.explain), f("drift", o.drift);
}
template <typename F>
void Fields(pipeline::EvalOptions& o, F&& f) {
  f("model", o.model), f("data", o.data);
}
template <typename F>
void Fields(pipeline::PromoteOptions& o, F&& f) {
  f("name", o.name), f("version", o.version), f("to", o.to), f("gate", o.gate), f("on", o.on);
  f("reason", o.reason);
}

template <typename F>
void Fields(pipeline::RetrainOptions& o, F&& f) {
  f("model", o.model), f("trigger", o.trigger);
}

template <typename T>
std::string ToPayload(T o) {
  json j = json::object();
  Fields(o, [&](const char* key, const auto& v) { j[key] = v; });
  return j.dump();
}

// Checked reads of one JSON value (no exceptions): false when the type is wrong.
bool Read(const json& v, std::string* out) {
  if (!v.is_string()) return false;
  *out = v.get_ref<const std::string&>();
  return true;
}
bool Read(const json& v, bool* out) {
  if (!v.is_boolean()) return false;
  *out = v.get<bool>();
  return true;
}
bool Read(const json& v, double* out) {
  if (!v.is_number()) return false;
  *out = v.get<double>();
  return true;
}
template <typename I>
requires std::is_integral_v<I>
bool Read(const json& v, I* out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<I>::max())) return false;
    *out = static_cast<I>(u);
    return true;
  }
  const auto i = v.get<int64_t>();
  if (i < static_cast<int64_t>(std::numeric_limits<I>::min()) ||
      (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<I>::max()))) {
    return false;
  }
  *out = static_cast<I>(i);
  return true;
}
bool Read(const json& v, std::vector<std::string>* out) {
  if (!v.is_array() || v.size() > 1000) return false;
  out->clear();
  for (const auto& e : v) {
    if (!e.is_string()) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}
bool Read(const json& v, std::map<std::string, std::string>* out) {
  if (!v.is_object() || v.size() > 1000) return false;
  out->clear();
  for (const auto& [k, e] : v.items()) {
    if (!e.is_string()) return false;
    (*out)[k] = e.get<std::string>();
  }
  return true;
}

template <typename T>
Result<T> FromPayload(std::string_view verb, std::string_view payload) {
  if (payload.size() > registry::kMaxJobPayloadBytes) {
    return InvalidArgumentError(fmt::format("{} job: payload too large", verb));
  }
  const json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError(fmt::format("{} job: the payload is not a JSON object", verb));
  }
  T o;
  std::vector<std::string_view> known;
  Status st = Status::Ok();
  Fields(o, [&](const char* key, auto& field) {
    known.push_back(key);
    auto it = j.find(key);
    if (it == j.end() || !st.ok()) return;
    if (!Read(*it, &field)) {
      st = InvalidArgumentError(fmt::format("{} job: '{}' has the wrong type", verb, key));
    }
  });
  KILN_RETURN_IF_ERROR(st);
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      const std::string guess = ClosestWord(key, known);
      return InvalidArgumentError(
          fmt::format("{} job: unknown option '{}'{}", verb, Printable(key),
                      guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)));
    }
  }
  return o;
}

// The tag a job's runs carry.
constexpr const char* kJobTag = "kiln.job";

std::string JobLabel(const registry::JobRecord& job) { return fmt::format("job {}", job.id); }

// A run this job already made, in `status` ("" any), newest first.
Result<std::optional<registry::RunRecord>> JobRun(pipeline::Home& home, int64_t job,
                                                  const std::string& extra_filter) {
  registry::RunQuery q;
  q.filter = fmt::format("tags.`{}` = '{}'{}", kJobTag, job, extra_filter);
  q.order_by = "attributes.start_time desc";
  q.limit = 1;
  KILN_ASSIGN_OR_RETURN(auto runs, home.catalog().SearchRuns(q));
  if (runs.empty()) return std::optional<registry::RunRecord>();
  return std::optional<registry::RunRecord>(runs.front());
}

Result<JobOutput> RunTrain(pipeline::Home& home, const registry::JobRecord& job,
                           const ExecContext& ctx, const std::function<void(std::string)>& log) {
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TrainOptions>("train", job.spec.payload));
  // The dead attempt's run is killed; a finished one is this job's result.
  KILN_RETURN_IF_ERROR(pipeline::ReapKilledRuns(&home).status());
  KILN_ASSIGN_OR_RETURN(auto done, JobRun(home, job.id, " and attributes.status = 'finished'"));
  if (done) {
    log(fmt::format("run {} of an earlier attempt finished: reusing it", done->id));
    json result = {{"run_id", done->id}, {"reused", true}};
    if (!o.register_name.empty()) {
      KILN_ASSIGN_OR_RETURN(registry::ModelVersion v,
                            pipeline::RegisterRun(home, o.register_name, done->id,
                                                  "trained by " + JobLabel(job), JobLabel(job)));
      result["registered"] = {{"name", v.name}, {"version", v.version}};
    }
    return JobOutput{result.dump(), done->id};
  }
  o.tags[kJobTag] = std::to_string(job.id);
  o.actor = JobLabel(job);
  // A retry continues from the checkpoint the lost attempt left (bit-identical to one run).
  o.resume = job.attempts > 1;
  o.on_iteration = [&log](const learn::IterationLog& it) {
    if (it.valid) {
      log(fmt::format("[{}] valid {} {:.6f}", it.iteration + 1, it.metric, *it.valid));
    } else if ((it.iteration + 1) % 10 == 0) {
      log(fmt::format("[{}]", it.iteration + 1));
    }
  };
  KILN_ASSIGN_OR_RETURN(pipeline::TrainResult r, pipeline::Train(home, o, ctx));
  return JobOutput{pipeline::TrainResultJson(r), r.run_id};
}

Result<JobOutput> RunTune(pipeline::Home& home, const registry::JobRecord& job,
                          const ExecContext& ctx, const std::function<void(std::string)>& log) {
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TuneOptions>("tune", job.spec.payload));
  KILN_RETURN_IF_ERROR(pipeline::ReapKilledRuns(&home).status());
  // A search an earlier attempt started is continued, not begun again.
  KILN_ASSIGN_OR_RETURN(auto earlier, JobRun(home, job.id, " and tags.kind = 'tune'"));
  if (earlier) {
    log(fmt::format("continuing tune run {} of an earlier attempt", earlier->id));
    o.resume = earlier->id;
  }
  o.tags[kJobTag] = std::to_string(job.id);
  o.actor = JobLabel(job);
  o.on_trial = [&log](const pipeline::TrialReport& t) {
    log(fmt::format("trial {} {} {:.6f} rounds {} (run {})", t.index, t.metric, t.score, t.rounds,
                    t.run_id));
  };
  auto r = pipeline::Tune(home, o, ctx);
  if (!r.ok() && earlier && earlier->status == registry::RunStatus::kFinished &&
      r.status().code() == StatusCode::kFailedPrecondition) {
    // It had finished: the earlier attempt died after the search, before the job ended.
    return JobOutput{json{{"run_id", earlier->id}, {"reused", true}}.dump(), earlier->id};
  }
  KILN_RETURN_IF_ERROR(r.status());
  return JobOutput{pipeline::TuneResultJson(*r), r->run_id};
}

Result<JobOutput> RunIngest(pipeline::Home& home, const registry::JobRecord& job,
                            const ExecContext& ctx, const std::function<void(std::string)>& log) {
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::IngestOptions>("ingest", job.spec.payload));
  KILN_RETURN_IF_ERROR(ValidateName(o.name, "dataset name"));
  const std::string mark = fmt::format("({})", JobLabel(job));
  auto versions = home.catalog().ListVersions(o.name);
  if (versions.ok()) {
    for (const auto& v : *versions) {
      if (v.message.ends_with(mark)) {
        log(fmt::format("{}@v{} of an earlier attempt was committed: reusing it", v.name,
                        v.version));
        return JobOutput{json{{"dataset", v.name}, {"version", v.version}, {"reused", true}}.dump(),
                         fmt::format("{}@v{}", v.name, v.version)};
      }
    }
  }
  o.message = o.message.empty() ? mark : o.message + " " + mark;
  KILN_ASSIGN_OR_RETURN(pipeline::IngestResult r, pipeline::Ingest(home, o, ctx));
  const std::string version = fmt::format("{}@v{}", r.record.name, r.record.version);
  return JobOutput{json{{"dataset", r.record.name},
                        {"version", r.record.version},
                        {"rows", r.record.rows},
                        {"content_hash", r.record.content_hash},
                        {"source_bytes", r.source_bytes}}
                       .dump(),
                   version};
}

Result<JobOutput> RunPromote(pipeline::Home& home, const registry::JobRecord& job,
                             const ExecContext& ctx, const std::function<void(std::string)>& log) {
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::PromoteOptions>("promote", job.spec.payload));
  o.actor = JobLabel(job);
  o.dataset_only = true;
  auto history = home.catalog().AliasHistory(o.name);
  if (history.ok()) {
    for (const auto& ev : *history) {
      if (ev.actor == o.actor && ev.alias == o.to && ev.version == o.version) {
        log("an earlier attempt moved the alias: nothing to do");
        return JobOutput{json{{"name", o.name},
                              {"alias", o.to},
                              {"version", o.version},
                              {"moved", true},
                              {"reused", true}}
                             .dump(),
                         fmt::format("{}:{}", o.name, o.version)};
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(pipeline::PromoteResult r, pipeline::Promote(home, o, ctx));
  if (!r.moved) {
    return FailedPreconditionError(
        fmt::format("not promoted: {} (report {})", r.outcome, r.report_id));
  }
  return JobOutput{pipeline::PromoteResultJson(r), fmt::format("{}:{}", o.name, o.version)};
}

Result<JobOutput> RunRetrain(pipeline::Home& home, const registry::JobRecord& job,
                             const ExecContext& ctx, const std::function<void(std::string)>& log) {
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::RetrainOptions>("retrain", job.spec.payload));
  KILN_ASSIGN_OR_RETURN(pipeline::RetrainPolicy policy, pipeline::RetrainPolicyFor(home, o.model));
  KILN_RETURN_IF_ERROR(pipeline::ReapKilledRuns(&home).status());
  if (o.trigger == "manual" && !job.spec.schedule.empty()) {
    o.trigger = "schedule:" + job.spec.schedule;
  }
  o.job = std::to_string(job.id);
  o.actor = "monitor";
  o.log = [&log](const std::string& line) { log(line); };
  o.on_iteration = [&log](const learn::IterationLog& it) {
    if (it.valid && (it.iteration + 1) % 10 == 0) {
      log(fmt::format("[{}] valid {} {:.6f}", it.iteration + 1, it.metric, *it.valid));
    }
  };
  KILN_ASSIGN_OR_RETURN(pipeline::RetrainResult r, pipeline::Retrain(home, policy, o, ctx));
  if (r.outcome == "failed" || r.outcome == "rejected") {
    return FailedPreconditionError(fmt::format("retraining {}: {}", r.outcome, r.detail));
  }
  return JobOutput{pipeline::RetrainResultJson(r),
                   r.challenger > 0 ? fmt::format("{}:{}", r.model, r.challenger) : ""};
}

}  // namespace

const std::vector<std::string_view>& JobVerbs() {
  static const std::vector<std::string_view> verbs = {"ingest", "train",   "tune",   "predict",
                                                      "eval",   "promote", "retrain"};
  return verbs;
}

std::string Payload(const pipeline::IngestOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::TrainOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::TuneOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::BatchPredictOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::EvalOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::PromoteOptions& o) { return ToPayload(o); }
std::string Payload(const pipeline::RetrainOptions& o) { return ToPayload(o); }

Status ValidatePayload(std::string_view verb, std::string_view payload) {
  if (verb == "ingest") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::IngestOptions>(verb, payload));
    return ValidateName(o.name, "dataset name");
  }
  if (verb == "train") {
    // What `kiln train` checks before it reads any data.
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TrainOptions>(verb, payload));
    KILN_RETURN_IF_ERROR(pipeline::ParseParams(o.params).status());
    if (!(o.valid_frac >= 0 && o.valid_frac < 1)) {
      return InvalidArgumentError("--valid-frac must be in [0, 1)");
    }
    if (o.data.empty() || o.target.empty()) {
      return InvalidArgumentError("train job: --data and --target are required");
    }
    if (!o.register_name.empty()) KILN_RETURN_IF_ERROR(ValidateName(o.register_name, "model name"));
    return Status::Ok();
  }
  if (verb == "tune") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TuneOptions>(verb, payload));
    KILN_RETURN_IF_ERROR(pipeline::ParseParams(o.settings.params).status());
    if (o.resume.empty()) KILN_RETURN_IF_ERROR(tune::ParseSpace(o.settings.space).status());
    return Status::Ok();
  }
  if (verb == "predict") return FromPayload<pipeline::BatchPredictOptions>(verb, payload).status();
  if (verb == "eval") return FromPayload<pipeline::EvalOptions>(verb, payload).status();
  if (verb == "promote") return FromPayload<pipeline::PromoteOptions>(verb, payload).status();
  if (verb == "retrain") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::RetrainOptions>(verb, payload));
    KILN_RETURN_IF_ERROR(ValidateName(o.model, "model name"));
    return pipeline::ValidateTrigger(o.trigger);
  }
  const std::string guess = ClosestWord(verb, JobVerbs());
  return InvalidArgumentError(fmt::format(
      "'{}' is not a job verb{} (ingest, train, tune, predict, eval, promote, retrain)",
      Printable(verb), guess.empty() ? "" : fmt::format(": did you mean '{}'?", guess)));
}

namespace {

Status NotAPath(std::string_view what, const std::string& value, bool model) {
  if (value.empty()) return Status::Ok();
  const bool dataset = AsDatasetRef(value).has_value();
  const bool registered =
      model && value.find('/') == std::string::npos &&
      (value.find_first_of("@:") != std::string::npos || registry::IsRunId(value));
  if (dataset || registered) return Status::Ok();
  return InvalidArgumentError(fmt::format(
      "'{}' must be {} over the API, not a path", what,
      model ? "a registered model (NAME@ALIAS, NAME:N) or a run id" : "a dataset NAME[@vN]"));
}

}  // namespace

Status CheckRemotePayload(std::string_view verb, std::string_view payload) {
  KILN_RETURN_IF_ERROR(ValidatePayload(verb, payload));
  if (verb == "train") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TrainOptions>(verb, payload));
    KILN_RETURN_IF_ERROR(NotAPath("data", o.data, false));
    KILN_RETURN_IF_ERROR(NotAPath("valid", o.valid, false));
    if (!o.out.empty() || !o.init_model.empty()) {
      return InvalidArgumentError("'out' and 'init_model' name files: not over the API");
    }
    return Status::Ok();
  }
  if (verb == "tune") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::TuneOptions>(verb, payload));
    return NotAPath("data", o.settings.data, false);
  }
  if (verb == "eval") {
    KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::EvalOptions>(verb, payload));
    KILN_RETURN_IF_ERROR(NotAPath("model", o.model, true));
    return NotAPath("data", o.data, false);
  }
  // Their data is always a dataset version.
  if (verb == "promote" || verb == "retrain") return Status::Ok();
  return InvalidArgumentError(fmt::format(
      "{} jobs read or write files: submit them with kiln jobs submit, not over the API", verb));
}

Result<JobOutput> RunJob(pipeline::Home& home, const registry::JobRecord& job,
                         const ExecContext& ctx, const std::function<void(std::string)>& log) {
  const std::string& verb = job.spec.verb;
  KILN_RETURN_IF_ERROR(ValidatePayload(verb, job.spec.payload));
  registry::AuditScope scope({JobLabel(job), ""});  // the job's changes are the job's
  if (verb == "train") return RunTrain(home, job, ctx, log);
  if (verb == "tune") return RunTune(home, job, ctx, log);
  if (verb == "ingest") return RunIngest(home, job, ctx, log);
  if (verb == "promote") return RunPromote(home, job, ctx, log);
  if (verb == "retrain") return RunRetrain(home, job, ctx, log);
  if (verb == "predict") {
    KILN_ASSIGN_OR_RETURN(auto o,
                          FromPayload<pipeline::BatchPredictOptions>(verb, job.spec.payload));
    KILN_ASSIGN_OR_RETURN(auto r, pipeline::BatchPredict(home, o, ctx));
    return JobOutput{pipeline::BatchPredictResultJson(r, o.out), o.out};
  }
  KILN_ASSIGN_OR_RETURN(auto o, FromPayload<pipeline::EvalOptions>(verb, job.spec.payload));
  KILN_ASSIGN_OR_RETURN(auto r, pipeline::Evaluate(home, o, ctx));
  return JobOutput{pipeline::EvalResultJson(r), ""};
}

}  // namespace kiln::jobs
