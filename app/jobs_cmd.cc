// `kiln jobs ...` and `kiln worker`: flags, calls into jobs/, printing.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "app/cli.h"
#include "kiln/api/control_plane.h"
#include "kiln/base/logging.h"
#include "kiln/base/names.h"
#include "kiln/data/column.h"
#include "kiln/jobs/operations.h"
#include "kiln/jobs/queue.h"
#include "kiln/jobs/schedule.h"
#include "kiln/jobs/triggers.h"
#include "kiln/jobs/worker.h"
#include "kiln/pipeline/models.h"

namespace kiln::app {

namespace {

using registry::JobRecord;
using registry::JobState;

struct JobsArgs {
  int64_t id = 0;
  std::string state, queue = "default", idempotency_key, every, cron, name;
  int max_attempts = 0;  // 0: kiln.yaml's queue.max_attempts
  int64_t limit = 50;
  double timeout = 0;
  bool json = false;
  std::vector<std::string> job;  // schedule add: the job's verb and flags after --
  // worker
  int concurrency = 1;
  bool once = false;
  int drain_seconds = 30;
};

std::string JobLine(const JobRecord& j) {
  return fmt::format("{:>6}  {:<8} {:<10} {:>2}/{:<2} {:<19} {}", j.id, j.spec.verb,
                     registry::JobStateName(j.state), j.attempts, j.spec.max_attempts,
                     TimeText(j.created_ms),
                     j.produced.empty() ? j.error.substr(0, 60) : j.produced);
}

std::string JobText(const JobRecord& j) {
  std::string text = fmt::format(
      "job {}: {} on queue {}, {}\n  attempts {}/{}{}\n  created {}, ended {}\n  options {}\n",
      j.id, j.spec.verb, j.spec.queue, registry::JobStateName(j.state), j.attempts,
      j.spec.max_attempts, j.cancel_requested ? " (cancel requested)" : "", TimeText(j.created_ms),
      TimeText(j.end_ms), j.spec.payload);
  if (!j.produced.empty()) text += fmt::format("  produced {}\n", j.produced);
  if (!j.error.empty()) text += fmt::format("  error {}\n", j.error);
  for (const auto& a : j.history) {
    text +=
        fmt::format("  attempt {} on {}: {} .. {} {}{}\n", a.number, a.worker, TimeText(a.start_ms),
                    TimeText(a.end_ms), a.outcome.empty() ? "running" : a.outcome,
                    a.error.empty() ? "" : ": " + a.error);
  }
  return text;
}

struct Opened {
  std::unique_ptr<pipeline::Home> home;
  std::unique_ptr<registry::JobQueue> queue;
};

Result<Opened> OpenJobs(const GlobalOptions& g) {
  Opened o;
  KILN_ASSIGN_OR_RETURN(o.home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(o.queue, jobs::OpenQueue(*o.home));
  return o;
}

Result<ExitCode> Submit(const GlobalOptions& g, const JobsArgs& a, const std::string& verb,
                        const std::string& payload, bool json) {
  KILN_RETURN_IF_ERROR(jobs::ValidatePayload(verb, payload));
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  registry::JobSpec spec{verb,
                         payload,
                         a.queue,
                         a.idempotency_key,
                         a.max_attempts > 0 ? a.max_attempts : o.home->config().queue.max_attempts,
                         ""};
  KILN_ASSIGN_OR_RETURN(JobRecord j, o.queue->Enqueue(spec));
  if (json) {
    PrintJson(fmt::format(R"({{"job_id":{},"state":{}}})", j.id,
                          JsonQuote(registry::JobStateName(j.state))));
  } else {
    Print(std::to_string(j.id));
  }
  return 0;
}

Result<ExitCode> List(const GlobalOptions& g, const JobsArgs& a) {
  std::optional<JobState> state;
  if (!a.state.empty()) {
    KILN_ASSIGN_OR_RETURN(state, registry::ParseJobState(a.state));
  }
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_ASSIGN_OR_RETURN(auto list, o.queue->List(state, a.limit));
  if (a.json) {
    std::string out = "{\"jobs\":[";
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += ',';
      out += api::JobJson(list[i]);
    }
    PrintJson(out + "]}");
    return 0;
  }
  std::string text = fmt::format("{:>6}  {:<8} {:<10} {:<5} {:<19} {}\n", "job", "verb", "state",
                                 "tries", "created", "produced / error");
  for (const auto& j : list) text += JobLine(j) + "\n";
  Print(text);
  return 0;
}

Result<ExitCode> Show(const GlobalOptions& g, const JobsArgs& a) {
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_ASSIGN_OR_RETURN(JobRecord j, o.queue->Get(a.id));
  if (a.json) {
    PrintJson(api::JobJson(j));
  } else {
    Print(JobText(j));
  }
  return 0;
}

Result<ExitCode> Wait(const GlobalOptions& g, const JobsArgs& a) {
  if (a.timeout < 0) return InvalidArgumentError("--timeout must be >= 0 seconds");
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  while (true) {
    KILN_ASSIGN_OR_RETURN(JobRecord j, o.queue->Get(a.id));
    if (registry::IsFinal(j.state)) {
      if (a.json) {
        PrintJson(api::JobJson(j));
      } else {
        Print(fmt::format("job {} {}{}", j.id, registry::JobStateName(j.state),
                          j.error.empty() ? "" : ": " + j.error));
      }
      return j.state == JobState::kSucceeded ? 0 : 1;
    }
    if (a.timeout > 0 && std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(fmt::format("job {} is still {} after {} s", j.id,
                                               registry::JobStateName(j.state), a.timeout));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<ExitCode> Logs(const GlobalOptions& g, const JobsArgs& a) {
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_RETURN_IF_ERROR(o.queue->Get(a.id).status());
  KILN_ASSIGN_OR_RETURN(auto lines, o.queue->Logs(a.id));
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

Result<ExitCode> Cancel(const GlobalOptions& g, const JobsArgs& a) {
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_ASSIGN_OR_RETURN(JobRecord j, o.queue->Cancel(a.id));
  Print(j.state == JobState::kCancelled
            ? fmt::format("job {} cancelled", j.id)
            : fmt::format("job {} is running: asked it to stop at its next cancellation point",
                          j.id));
  return 0;
}

// Parses the job after `--` of `schedule add` with the job verbs' own flags.
Result<std::pair<std::string, std::string>> ParseScheduledJob(std::vector<std::string> args) {
  if (args.empty()) return InvalidArgumentError("give the job after --: -- VERB FLAGS...");
  CLI::App parser{"the scheduled job", "kiln jobs schedule add NAME ... --"};
  parser.require_subcommand(1);
  std::pair<std::string, std::string> job;
  Runner run;
  const JobSink capture = [&job](const std::string& verb, const std::string& payload, bool) {
    job = {verb, payload};
    return Result<ExitCode>(0);
  };
  AddIngestJobVerb(parser, &run, capture);
  AddTrainJobVerbs(parser, &run, capture);
  AddTuneJobVerb(parser, &run, capture);
  AddPromoteJobVerb(parser, &run, capture);
  AddRetrainJobVerb(parser, &run, capture);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments back to front
  try {
    parser.parse(args);
  } catch (const CLI::ParseError& e) {
    return InvalidArgumentError(fmt::format("the scheduled job: {}", e.what()));
  }
  if (!run) return InvalidArgumentError("the scheduled job needs a verb");
  KILN_RETURN_IF_ERROR(run().status());
  return job;
}

Result<ExitCode> ScheduleAdd(const GlobalOptions& g, const JobsArgs& a) {
  KILN_RETURN_IF_ERROR(ValidateName(a.name, "schedule name"));
  registry::Schedule s;
  s.name = a.name;
  s.every = a.every;
  s.cron = a.cron;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  KILN_ASSIGN_OR_RETURN(s.next_run_ms, jobs::NextRun(s, now));
  KILN_ASSIGN_OR_RETURN(auto job, ParseScheduledJob(a.job));
  KILN_RETURN_IF_ERROR(jobs::ValidatePayload(job.first, job.second));
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  s.job = {job.first,
           job.second,
           a.queue,
           "",
           a.max_attempts > 0 ? a.max_attempts : o.home->config().queue.max_attempts,
           ""};
  KILN_RETURN_IF_ERROR(o.queue->AddSchedule(s));
  Print(fmt::format("schedule {}: {} {}, next at {}", s.name, s.job.verb,
                    s.every.empty() ? "at '" + s.cron + "' (cron, UTC)" : "every " + s.every,
                    TimeText(s.next_run_ms)));
  return 0;
}

Result<ExitCode> ScheduleList(const GlobalOptions& g, const JobsArgs& a) {
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_ASSIGN_OR_RETURN(auto list, o.queue->ListSchedules());
  if (a.json) {
    std::string out = "{\"schedules\":[";
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& s = list[i];
      out +=
          fmt::format(R"({}{{"name":{},"every":{},"cron":{},"verb":{},"queue":{},"next_run_ms":{},)"
                      R"("last_run_ms":{},"last_job":{},"options":{}}})",
                      i ? "," : "", JsonQuote(s.name), JsonQuote(s.every), JsonQuote(s.cron),
                      JsonQuote(s.job.verb), JsonQuote(s.job.queue), s.next_run_ms, s.last_run_ms,
                      s.last_job, s.job.payload);
    }
    PrintJson(out + "]}");
    return 0;
  }
  std::string text;
  for (const auto& s : list) {
    text += fmt::format("{:<20} {:<8} {:<16} next {}  last job {}\n", s.name, s.job.verb,
                        s.every.empty() ? s.cron : "every " + s.every, TimeText(s.next_run_ms),
                        s.last_job == 0 ? "-" : std::to_string(s.last_job));
  }
  Print(text.empty() ? "no schedules" : text);
  return 0;
}

Result<ExitCode> ScheduleRemove(const GlobalOptions& g, const JobsArgs& a) {
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  KILN_RETURN_IF_ERROR(o.queue->RemoveSchedule(a.name));
  Print(fmt::format("schedule {} removed", a.name));
  return 0;
}

// The retraining policies' schedules and new-data triggers (jobs/triggers.h); what they queue
// is printed, what fails is logged (the worker goes on with the jobs it has).
void RetrainTriggers(pipeline::Home& home, registry::JobQueue& queue) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto schedules = jobs::SyncRetrainSchedules(home, queue, now);
  if (!schedules.ok()) {
    KILN_LOG_WARN("retraining schedules: {}", schedules.status().ToString());
  } else {
    for (const auto& name : *schedules) {
      std::fprintf(stderr, "kiln worker: schedule %s set from kiln.yaml\n", name.c_str());
    }
  }
  auto queued = jobs::QueueNewDataRetrainings(home, queue);
  if (!queued.ok()) {
    KILN_LOG_WARN("new-data retraining triggers: {}", queued.status().ToString());
    return;
  }
  for (const auto& job : *queued) {
    if (job.state == JobState::kQueued && job.attempts == 0) {
      std::fprintf(stderr, "kiln worker: new data: job %lld retrains (%s)\n",
                   static_cast<long long>(job.id), job.spec.payload.c_str());
    }
  }
}

Result<ExitCode> Work(const GlobalOptions& g, const JobsArgs& a) {
  if (a.concurrency < 1 || a.concurrency > 64) {
    return InvalidArgumentError("--concurrency must be 1..64");
  }
  if (a.drain_seconds < 0 || a.drain_seconds > 3600) {
    return InvalidArgumentError("--drain-seconds must be 0..3600");
  }
  KILN_RETURN_IF_ERROR(ValidateName(a.queue, "queue name"));
  const sigset_t stop = BlockStopSignals();
  KILN_ASSIGN_OR_RETURN(Opened o, OpenJobs(g));
  jobs::WorkerOptions wo;
  wo.queue = a.queue;
  wo.concurrency = a.concurrency;
  wo.once = a.once;
  wo.lease_ms = static_cast<int64_t>(o.home->config().queue.lease_seconds * 1000);
  wo.drain = std::chrono::seconds(a.drain_seconds);
  wo.threads = g.threads;
  wo.pool = g.pool;
  pipeline::Home* home = o.home.get();
  registry::JobQueue* queue = o.queue.get();
  auto last_triggers = std::chrono::steady_clock::now();
  RetrainTriggers(*home, *queue);
  wo.on_poll = [home, queue, &last_triggers] {
    if (std::chrono::steady_clock::now() - last_triggers < std::chrono::seconds(30)) return;
    last_triggers = std::chrono::steady_clock::now();
    RetrainTriggers(*home, *queue);
  };
  jobs::Worker worker(
      o.queue.get(),
      [home](const JobRecord& job, const ExecContext& ctx,
             const std::function<void(std::string)>& log) -> Result<jobs::JobResultOut> {
        KILN_ASSIGN_OR_RETURN(jobs::JobOutput out, jobs::RunJob(*home, job, ctx, log));
        return jobs::JobResultOut{std::move(out.result), std::move(out.produced)};
      },
      wo);
  std::fprintf(stderr, "kiln worker %s: queue %s, %d at a time\n", worker.id().c_str(),
               a.queue.c_str(), a.concurrency);
  std::atomic<bool> ended{false};
  std::thread signals([&worker, &ended, stop] {
    int sig = 0;
    sigwait(&stop, &sig);
    if (ended.load()) return;  // woken by Work() itself: the worker ended on its own (--once)
    std::fprintf(stderr, "kiln worker: %s, finishing or handing back its jobs\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    worker.Stop();
  });
  Status st = worker.Run();
  ended.store(true);
  pthread_kill(signals.native_handle(), SIGTERM);  // a no-op once the thread took a signal
  signals.join();
  KILN_RETURN_IF_ERROR(st);
  const jobs::WorkerStats s = worker.stats();
  std::fprintf(stderr,
               "kiln worker: %lld succeeded, %lld failed, %lld to retry, %lld cancelled, %lld "
               "handed back\n",
               static_cast<long long>(s.succeeded), static_cast<long long>(s.failed),
               static_cast<long long>(s.retried), static_cast<long long>(s.cancelled),
               static_cast<long long>(s.handed_back));
  return 0;
}

// `kiln jobs schedule add|list|rm`.
template <typename Bind>
void AddScheduleCommands(CLI::App* jobs_cmd, const std::shared_ptr<JobsArgs>& args,
                         const Bind& bind) {
  CLI::App* schedule = jobs_cmd->add_subcommand("schedule", "jobs queued on a schedule");
  schedule->require_subcommand(1);
  CLI::App* add = schedule->add_subcommand(
      "add", "NAME --every 6h|--cron \"0 3 * * *\" -- VERB FLAGS...: queue the job when due");
  add->add_option("name", args->name, "schedule name")->required();
  auto* every = add->add_option("--every", args->every, "e.g. 30m, 6h, 1d");
  auto* cron = add->add_option("--cron", args->cron, "five cron fields, UTC");
  every->excludes(cron);
  add->add_option("--queue", args->queue, "queue name (default: default)");
  add->add_option("--max-attempts", args->max_attempts, "attempts per job")
      ->check(CLI::Range(1, 100));
  add->add_option("job", args->job, "the job: VERB and its flags, after --")->required();
  add->callback(bind(ScheduleAdd));
  CLI::App* slist = schedule->add_subcommand("list", "schedules with their next run");
  slist->add_flag("--json", args->json, "machine-readable output");
  slist->callback(bind(ScheduleList));
  schedule->add_subcommand("rm", "remove a schedule")
      ->callback(bind(ScheduleRemove))
      ->add_option("name", args->name, "schedule name")
      ->required();
}

}  // namespace

std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path == "-") return path;
  const bool dataset = AsDatasetRef(path).has_value();
  const bool model = path.find_first_of("@:") != std::string::npos &&
                     path.find('/') == std::string::npos && !std::filesystem::exists(path);
  if (dataset || model) return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

void AddJobsCommands(CLI::App& app, const GlobalOptions& g, Runner* run) {
  auto args = std::make_shared<JobsArgs>();
  auto bind = [run, &g, args](auto handler) {
    return [run, &g, args, handler] { *run = [&g, args, handler] { return handler(g, *args); }; };
  };
  CLI::App* jobs_cmd = app.add_subcommand("jobs", "queue lifecycle operations as jobs");
  jobs_cmd->require_subcommand(1);

  CLI::App* submit = jobs_cmd->add_subcommand(
      "submit",
      "queue a verb with its usual flags: ingest, train, tune, predict, eval, promote, retrain");
  submit->require_subcommand(1);
  submit->fallthrough();
  submit->add_option("--idempotency-key", args->idempotency_key,
                     "a repeated key returns the job already queued under it");
  submit->add_option("--queue", args->queue, "queue name (default: default)");
  submit
      ->add_option("--max-attempts", args->max_attempts,
                   "attempts before the job is dead (default: kiln.yaml's queue.max_attempts, "
                   "else 3)")
      ->check(CLI::Range(1, 100));
  const JobSink sink = [&g, args](const std::string& verb, const std::string& payload, bool json) {
    return Submit(g, *args, verb, payload, json);
  };
  AddIngestJobVerb(*submit, run, sink);
  AddTrainJobVerbs(*submit, run, sink);
  AddTuneJobVerb(*submit, run, sink);
  AddPromoteJobVerb(*submit, run, sink);
  AddRetrainJobVerb(*submit, run, sink);

  CLI::App* list = jobs_cmd->add_subcommand("list", "jobs, newest first");
  list->add_option("--state", args->state,
                   "only queued|running|succeeded|failed|cancelled|dead jobs");
  list->add_option("--limit", args->limit, "at most this many (default 50)")
      ->check(CLI::Range(1, 100000));
  list->add_flag("--json", args->json, "machine-readable output");
  list->callback(bind(List));
  using Handler = Result<ExitCode> (*)(const GlobalOptions&, const JobsArgs&);
  const std::tuple<const char*, const char*, Handler> by_id[] = {
      {"show", "a job: state, attempts, what it produced", Show},
      {"wait", "wait until a job ends; exit 0 if it succeeded, 1 otherwise", Wait},
      {"logs", "a job's progress lines", Logs},
      {"cancel", "cancel a queued job, or ask a running one to stop", Cancel}};
  for (const auto& [name, help, handler] : by_id) {
    CLI::App* c = jobs_cmd->add_subcommand(name, help);
    c->add_option("id", args->id, "job id")->required()->check(CLI::Range(int64_t{1}, INT64_MAX));
    if (std::string_view(name) == "show" || std::string_view(name) == "wait") {
      c->add_flag("--json", args->json, "machine-readable output");
    }
    if (std::string_view(name) == "wait") {
      c->add_option("--timeout", args->timeout, "give up after this many seconds (exit 1)");
    }
    c->callback(bind(handler));
  }

  AddScheduleCommands(jobs_cmd, args, bind);

  CLI::App* worker = app.add_subcommand("worker", "lease and run queued jobs");
  worker->add_option("--concurrency", args->concurrency, "jobs at a time (default 1)");
  worker->add_flag("--once", args->once, "run the jobs that are ready, then exit");
  worker->add_option("--queue", args->queue, "the queue to serve (default: default)");
  worker->add_option("--drain-seconds", args->drain_seconds,
                     "on SIGTERM, wait this long for running jobs before handing them back "
                     "(default 30)");
  worker->callback(bind(Work));
}

}  // namespace kiln::app
