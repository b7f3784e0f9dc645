// `kiln serve`: the inference server. Wiring and the shutdown order only: the protocol lives in
// src/api, the models in src/serve, the sockets in src/http.
//
// SIGTERM / SIGINT: readiness turns 503 at once, the listener closes, in-flight and queued
// requests are answered (up to --drain-seconds), then the process exits 0. SIGHUP: the TLS
// certificate and key are read again (new connections use them; none is dropped).
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/logging.h"
#include "kiln/base/names.h"

#include "app/cli.h"
#include "kiln/api/control_plane.h"
#include "kiln/api/grpc_service.h"
#include "kiln/api/monitoring.h"
#include "kiln/api/v2_service.h"
#include "kiln/http/server.h"
#include "kiln/jobs/queue.h"
#include "kiln/monitor/access_log.h"
#include "kiln/monitor/metrics.h"
#include "kiln/pipeline/home.h"
#include "kiln/pipeline/tokens.h"
#include "kiln/rpc/server.h"
#include "kiln/serve/batcher.h"
#include "kiln/serve/dispatcher.h"
#include "kiln/serve/model_manager.h"

namespace kiln::app {
namespace {

struct ServeArgs {
  std::string address = "127.0.0.1";
  int port = 8080;
  int grpc_port = 8081;
  int io_threads = 1;
  std::vector<std::string> models;
  int drain_seconds = 20;
  int inference_threads = 0;
  int64_t max_batch_size = -1;      // -1: kiln.yaml's serving.max_batch_size, else 256
  int64_t max_queue_delay_us = -1;  // -1: kiln.yaml's, else 0
  size_t max_queue = 4096;
  uint64_t inline_rows = 0;
  int reload_interval_ms = 1000;
  std::string access_log;
  double access_log_sample = 0.01;
  bool control_plane = false;
  bool insecure = false;
  TlsFiles tls;  // --tls-cert, --tls-key, --tls-client-ca
};

// The flags' ranges.
Status CheckServeArgs(const ServeArgs& a) {
  if (a.port < 0 || a.port > 65535) return InvalidArgumentError("--port must be 0..65535");
  if (a.grpc_port < -1 || a.grpc_port > 65535) {
    return InvalidArgumentError("--grpc-port must be 0..65535, or -1 for no gRPC");
  }
  if (a.io_threads < 1 || a.io_threads > 256) {
    return InvalidArgumentError("--io-threads must be 1..256");
  }
  if (a.drain_seconds < 0 || a.drain_seconds > 600) {
    return InvalidArgumentError("--drain-seconds must be 0..600");
  }
  if (a.inference_threads < 0 || a.inference_threads > 256) {
    return InvalidArgumentError("--inference-threads must be 0..256");
  }
  if (a.max_batch_size != -1 && (a.max_batch_size < 1 || a.max_batch_size > (1u << 20))) {
    return InvalidArgumentError("--max-batch-size must be 1..1048576 rows");
  }
  if (a.max_queue_delay_us < -1 || a.max_queue_delay_us > 1000000) {
    return InvalidArgumentError("--max-queue-delay-us must be 0..1000000");
  }
  if (a.inline_rows > 4096) return InvalidArgumentError("--inline-rows must be 0..4096");
  if (a.max_queue < 1 || a.max_queue > (1u << 20)) {
    return InvalidArgumentError("--max-queue must be 1..1048576 requests");
  }
  if (a.reload_interval_ms < 0 || a.reload_interval_ms > 3600000) {
    return InvalidArgumentError("--reload-interval-ms must be 0..3600000");
  }
  if (a.tls.cert.empty() != a.tls.key.empty()) {
    return InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!a.tls.client_ca.empty() && a.tls.cert.empty()) {
    return InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  return Status::Ok();
}

// Every model with a production alias, or the ones --model names.
Status LoadModels(serve::ModelManager& models, const ServeArgs& a) {
  if (a.models.empty()) return models.LoadAll();
  for (const auto& name : a.models) {
    Status s = models.Load(name);
    // A name that is not a model with a production alias is a usage error; a version that
    // does not load is reported unavailable while the other models are served.
    if (s.code() == StatusCode::kNotFound) return s;
    if (!s.ok()) KILN_LOG_ERROR("model '{}' is not served: {}", name, s.ToString());
  }
  return Status::Ok();
}

serve::BatcherOptions BatcherOptionsFor(const ServeArgs& a, const pipeline::ServingConfig& config) {
  serve::BatcherOptions bo;
  bo.policy = config.defaults;
  bo.threads = a.inference_threads;
  // Flags given on the command line override kiln.yaml's defaults for every model.
  if (a.max_batch_size != -1) bo.policy.max_batch_size = static_cast<uint64_t>(a.max_batch_size);
  if (a.max_queue_delay_us != -1) {
    bo.policy.max_queue_delay_us = static_cast<uint32_t>(a.max_queue_delay_us);
  }
  // Per-model settings from kiln.yaml over the defaults as the flags left them.
  bo.per_model = config.PerModel(bo.policy);
  bo.max_queue_requests = a.max_queue;
  bo.inline_max_rows = a.inline_rows;
  return bo;
}

// The versions routing sends traffic to are loaded and warmed now, not by their first request.
void WarmRoutes(serve::ModelManager& models, const pipeline::ServingConfig& config) {
  for (const auto& [name, policy] : config.routing) {
    for (const auto& t : policy.Targets()) {
      if (auto v = models.Get(name, t); !v.ok()) {
        KILN_LOG_WARN("routing of '{}': {} is not available yet: {}", name, t,
                      v.status().ToString());
      }
    }
  }
}

// Live drift of every served version that carries a reference: /metrics and
// GET /api/v1/models/{m}/drift (kiln.yaml `monitoring:`). Before the first model loads.
void WatchModels(serve::ModelManager& models, pipeline::Home& home,
                 monitor::MetricsRegistry* metrics) {
  const pipeline::MonitoringConfig& config = home.config().monitoring;
  if (!config.enabled) return;
  models.EnableMonitoring(
      {.drift = {.window = std::chrono::milliseconds(config.window_ms),
                 .min_samples = config.min_samples},
       .fs = &home.fs(),
       .log_root = home.path() + "/monitoring",
       .log = {.max_bytes = config.log_max_mb << 20, .sample = config.log_sample}});
  metrics->AddCollector([&models] { return api::DriftMetricsText(models); });
}

// The control plane, with the job endpoints and the queue's families on /metrics when the job
// queue opens (serving goes on without them when it does not: a Redis that is down).
struct ControlPlane {
  const ExecContext promote_ctx{ExecContext::Options{.threads = 1}};  // scoring for promotions
  std::unique_ptr<registry::JobQueue> jobs;
  std::unique_ptr<api::ControlPlaneService> service;
};

std::unique_ptr<ControlPlane> StartControlPlane(pipeline::Home* home,
                                                monitor::MetricsRegistry* metrics) {
  auto c = std::make_unique<ControlPlane>();
  if (auto q = jobs::OpenQueue(*home); q.ok()) {
    c->jobs = std::move(*q);
    metrics->AddCollector([q = c->jobs.get()] {
      auto stats = q->Stats();
      return stats.ok() ? api::JobMetricsText(*stats) : std::string();
    });
  } else {
    KILN_LOG_WARN("the job queue is not available: {}", q.status().ToString());
  }
  c->service = std::make_unique<api::ControlPlaneService>(home, &c->promote_ctx, c->jobs.get());
  return c;
}

// What the alert monitor reads and where it queues retrainings. The home's job queue is opened
// only when a rule retrains or names a jobs.* value (a queue that does not open is logged; the
// alerts go on without it).
api::AlertMonitorOptions AlertOptions(pipeline::Home& home, monitor::MetricsRegistry* metrics,
                                      std::unique_ptr<registry::JobQueue>* queue) {
  const auto& m = home.config().monitoring;
  api::AlertMonitorOptions o;
  o.every = std::chrono::milliseconds(m.evaluate_ms);
  o.catalog = &home.catalog();
  o.metrics = metrics;
  o.window_ms = m.window_ms;
  bool jobs = false;
  for (const auto& rule : m.alerts) {
    jobs = jobs || rule.retrain;
    for (size_t i = 0; i < rule.condition.clauses(); ++i) {
      for (const std::string& name : rule.condition.Names(i)) {
        jobs = jobs || name.starts_with("jobs.");
      }
    }
  }
  if (!jobs) return o;
  auto q = jobs::OpenQueue(home);
  if (!q.ok()) {
    KILN_LOG_WARN("alerts cannot read or queue jobs: {}", q.status().ToString());
    return o;
  }
  *queue = std::move(*q);
  o.jobs = queue->get();
  for (const auto& p : m.retraining) o.retrainable.insert(p.model);
  o.max_attempts = home.config().queue.max_attempts;
  return o;
}

// The gRPC front end on --grpc-port (null with -1).
Result<std::unique_ptr<rpc::GrpcServer>> StartGrpc(const ServeArgs& a, const Limits& limits,
                                                   api::GrpcInferenceService* service) {
  if (a.grpc_port < 0) return std::unique_ptr<rpc::GrpcServer>();
  rpc::GrpcServerOptions go;
  go.address = a.address;
  go.port = static_cast<uint16_t>(a.grpc_port);
  go.threads = a.io_threads;
  go.limits = limits;
  go.tls = a.tls;
  return rpc::GrpcServer::Start(go, [service](rpc::RpcCall call, rpc::RpcResponder done) {
    service->Handle(std::move(call), std::move(done));
  });
}

void PrintServing(const serve::ModelManager& models, const ServeArgs& a, int port,
                  const rpc::GrpcServer* grpc, const auth::Authenticator* auth) {
  std::string names;
  const auto loaded = models.List();
  for (const auto& m : loaded) {
    names += m.error.empty() ? fmt::format(" {}:{}", m.name, m.version)
                             : fmt::format(" {}:unavailable", m.name);
  }
  const bool tls = a.tls.enabled();
  std::string where = fmt::format("{}://{}:{}", tls ? "https" : "http", a.address, port);
  if (grpc)
    where += fmt::format(" and {}://{}:{}", tls ? "grpcs" : "grpc", a.address, grpc->port());
  if (auth) where += fmt::format(" (tokens required, {} active)", auth->active());
  std::printf("kiln serve: %zu model(s)%s on %s\n", loaded.size(), names.c_str(), where.c_str());
  std::fflush(stdout);
}

// Work the main thread does between signals, every `every_ms` (0: never).
struct Periodic {
  int64_t every_ms = 0;
  std::function<void()> run;
};

// Runs `tasks` until SIGTERM or SIGINT (`on_hup` on each SIGHUP); the signal.
int WaitForStop(const sigset_t& stop, const std::vector<Periodic>& tasks,
                const std::function<void()>& on_hup) {
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> due;
  for (const auto& t : tasks) due.push_back(Clock::now() + std::chrono::milliseconds(t.every_ms));
  while (true) {
    auto next = Clock::time_point::max();
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].every_ms > 0) next = std::min(next, due[i]);
    }
    int sig = 0;
    if (next == Clock::time_point::max()) {
      sigwait(&stop, &sig);
    } else {
      const int64_t wait_ms = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count());
      const timespec interval{wait_ms / 1000, (wait_ms % 1000) * 1000000L};
      sig = sigtimedwait(&stop, nullptr, &interval);
    }
    if (sig == SIGHUP) {
      on_hup();
    } else if (sig > 0) {
      return sig;
    }
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].every_ms <= 0 || Clock::now() < due[i]) continue;
      due[i] = Clock::now() + std::chrono::milliseconds(tasks[i].every_ms);
      tasks[i].run();
    }
  }
}

bool IsLoopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address == "[::1]" ||
         address.starts_with("127.");
}

// Safe by default: a server other hosts can reach needs tokens and TLS, or --insecure.
Status CheckExposure(const ServeArgs& a, bool auth_required) {
  if (IsLoopback(a.address) || (auth_required && a.tls.enabled())) return Status::Ok();
  std::string missing;
  if (!a.tls.enabled()) missing = "TLS";
  if (!auth_required) missing += missing.empty() ? "tokens" : " and without tokens";
  if (a.insecure) {
    KILN_LOG_WARN("serving on {} without {} (--insecure)", a.address, missing);
    return Status::Ok();
  }
  return FailedPreconditionError(fmt::format(
      "refusing to listen on {}: it is not a loopback address, and requests would travel "
      "without {}. Give --tls-cert and --tls-key and set `auth: required` in kiln.yaml, listen "
      "on 127.0.0.1, or pass --insecure (behind a TLS proxy on a trusted network)",
      Printable(a.address), missing));
}

Result<ExitCode> Serve(const GlobalOptions& g, const ServeArgs& a) {
  KILN_RETURN_IF_ERROR(CheckServeArgs(a));
  sigset_t stop = BlockStopSignals();
  sigaddset(&stop, SIGHUP);  // certificate reloads, taken by the main thread like the others
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  const bool auth_required = home->config().auth_required;
  KILN_RETURN_IF_ERROR(CheckExposure(a, auth_required));
  std::unique_ptr<auth::Authenticator> authenticator;
  if (auth_required) {
    KILN_ASSIGN_OR_RETURN(authenticator, pipeline::OpenAuthenticator(*home));
    if (authenticator->active() == 0) {
      KILN_LOG_WARN(
          "auth is required and no token is active: every request but the health "
          "checks gets 401 (kiln auth token create --name N --role R)");
    }
  }
  const pipeline::ServingConfig& config = home->config().serving;
  const Limits limits = Limits::Default();
  monitor::MetricsRegistry metrics;
  metrics.AddProcessMetrics();
  serve::ModelManager models(&home->catalog(), &home->datasets().blobs(), limits, &metrics);
  WatchModels(models, *home, &metrics);
  models.RejectOutOfRange(config.reject_out_of_range, config.RejectOutOfRange());
  KILN_RETURN_IF_ERROR(LoadModels(models, a));
  serve::Batcher batcher(BatcherOptionsFor(a, config), &metrics);
  serve::Dispatcher dispatcher(&models, &batcher, &metrics, limits, config.routing);
  WarmRoutes(models, config);
  std::unique_ptr<monitor::AccessLog> access_log;
  if (!a.access_log.empty()) {
    KILN_ASSIGN_OR_RETURN(access_log, monitor::AccessLog::Open(a.access_log, a.access_log_sample));
  }
  std::unique_ptr<ControlPlane> control;
  if (a.control_plane) control = StartControlPlane(home.get(), &metrics);
  std::unique_ptr<registry::JobQueue> alert_jobs;  // outlives the monitor that reads it
  std::unique_ptr<api::AlertMonitor> alerts;
  if (const auto& m = home->config().monitoring; m.enabled) {
    alerts = std::make_unique<api::AlertMonitor>(&models, m.alerts,
                                                 AlertOptions(*home, &metrics, &alert_jobs));
    metrics.AddCollector([&alerts] { return alerts->engine().Exposition(); });
  }
  // kiln.yaml's rate limits, shared by both front ends.
  api::RateLimiter per_token({.rate = config.per_token.rate, .burst = config.per_token.burst});
  api::RateLimiter per_address(
      {.rate = config.per_address.rate, .burst = config.per_address.burst});
  api::RateLimiter* token_limit = per_token.enabled() ? &per_token : nullptr;
  api::RateLimiter* address_limit = per_address.enabled() ? &per_address : nullptr;
  api::V2Service service(
      &models, &dispatcher, &metrics,
      {"kiln", KILN_VERSION, limits, access_log.get(), control ? control->service.get() : nullptr,
       alerts.get(), authenticator.get(), token_limit, address_limit});
  http::HttpServerOptions o;
  o.address = a.address;
  o.port = static_cast<uint16_t>(a.port);
  o.io_threads = a.io_threads;
  o.limits = limits;
  o.tls = a.tls;
  o.max_connections_per_address = config.max_connections_per_address;
  KILN_ASSIGN_OR_RETURN(auto server, http::HttpServer::Start(o, [&service](http::HttpRequest req,
                                                                           http::Responder done) {
                          service.Handle(std::move(req), std::move(done));
                        }));
  api::GrpcInferenceService grpc_service(
      &models, &dispatcher, &metrics,
      api::GrpcServiceOptions{"kiln", KILN_VERSION, limits, access_log.get(), authenticator.get(),
                              token_limit, address_limit});
  auto grpc_server = StartGrpc(a, limits, &grpc_service);
  if (!grpc_server.ok()) {
    server->Shutdown(std::chrono::milliseconds(0));
    batcher.Stop();  // before the services its queued requests answer through are gone
    return grpc_server.status();
  }
  grpc_service.SetReady(*grpc_server != nullptr);
  service.SetReady(true);
  PrintServing(models, a, server->port(), grpc_server->get(), authenticator.get());
  // The windows are saved every slice (a fifth of the window, at least 5 s) and when the server
  // stops: a restart loses nothing, a crash at most the counts since the last save.
  const auto& monitoring = home->config().monitoring;
  const int64_t save_ms =
      monitoring.enabled ? std::max<int64_t>(5000, monitoring.window_ms / monitor::kSlicesPerWindow)
                         : 0;
  std::vector<Periodic> tasks;
  tasks.push_back({a.reload_interval_ms, [&models] {
                     if (auto changed = models.Refresh(); !changed.ok()) {
                       KILN_LOG_WARN("hot reload: cannot read the registry: {}",
                                     changed.status().ToString());
                     }
                   }});
  tasks.push_back({save_ms, [&models] {
                     if (Status saved = models.SaveMonitoring(); !saved.ok()) {
                       KILN_LOG_WARN("monitoring windows not saved: {}", saved.ToString());
                     }
                   }});
  // New and revoked tokens take effect within a second.
  if (authenticator) {
    tasks.push_back({1000, [&authenticator] {
                       if (Status s = authenticator->Refresh(); !s.ok()) {
                         KILN_LOG_WARN("tokens not refreshed: {}", s.ToString());
                       }
                     }});
  }
  const int sig = WaitForStop(stop, tasks, [&server] {
    if (Status s = server->ReloadTls(); !s.ok()) {
      KILN_LOG_WARN("SIGHUP: TLS files not reloaded, the old ones stay: {}", s.ToString());
    } else {
      KILN_LOG_INFO("SIGHUP: TLS files reloaded");
    }
  });
  service.SetReady(false);
  grpc_service.SetReady(false);
  std::fprintf(stderr, "kiln serve: %s, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  // Both front ends drain at once, within the one --drain-seconds.
  const auto drain = std::chrono::seconds(a.drain_seconds);
  std::thread grpc_drain([&] {
    if (*grpc_server) (*grpc_server)->Shutdown(drain);
  });
  server->Shutdown(drain);
  grpc_drain.join();
  batcher.Stop();  // answers what is still queued; the servers outlive every responder
  if (Status saved = models.SaveMonitoring(); !saved.ok()) {
    KILN_LOG_WARN("monitoring windows not saved: {}", saved.ToString());
  }
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, const GlobalOptions& g,
                     std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* s = app.add_subcommand(
      "serve", "serve registered models over the Open Inference Protocol (KServe V2) REST API");
  s->add_option("--address", args->address, "listen address (default 127.0.0.1)");
  s->add_option("--port", args->port, "listen port (default 8080, 0 = any free port)");
  s->add_option("--grpc-port", args->grpc_port,
                "gRPC (inference.GRPCInferenceService) port (default 8081, 0 = any free port, "
                "-1 = no gRPC)");
  s->add_option("--io-threads", args->io_threads, "HTTP IO threads (default 1)");
  s->add_option("--model", args->models,
                "serve only these registered models (repeatable; default: every model with a "
                "production alias)");
  s->add_option("--drain-seconds", args->drain_seconds,
                "on SIGTERM, wait this long for in-flight requests (default 20)");
  s->add_option("--inference-threads", args->inference_threads,
                "inference threads (default 0 = one per core)");
  s->add_option(
      "--max-batch-size", args->max_batch_size,
      "rows the dynamic batcher merges into one predictor call, for every model (default: "
      "kiln.yaml's serving.max_batch_size, else 256)");
  s->add_option("--max-queue-delay-us", args->max_queue_delay_us,
                "how long the batcher waits for more requests to merge, for every model (default: "
                "kiln.yaml's serving.max_queue_delay_us, else 0 = never)");
  s->add_option("--inline-rows", args->inline_rows,
                "compute requests of at most this many rows on the IO thread when their model has "
                "nothing queued (no thread hop; default 0 = never)");
  s->add_option("--max-queue", args->max_queue,
                "requests waiting for compute before new ones get 503 (default 4096)");
  s->add_option("--reload-interval-ms", args->reload_interval_ms,
                "how often to look for alias moves to hot-reload (default 1000, 0 = never)");
  s->add_option("--access-log", args->access_log,
                "write the access log (JSON lines) to this file, '-' for stderr (default: none)");
  s->add_option("--access-log-sample", args->access_log_sample,
                "share of successful requests logged (default 0.01; failures are always logged)");
  s->add_flag("--control-plane", args->control_plane,
              "also serve the control-plane REST API under /api/v1 (datasets, runs, models, "
              "alias moves, jobs); with `auth: required` in kiln.yaml each route needs its role");
  s->add_option("--tls-cert", args->tls.cert,
                "serve HTTPS and gRPC over TLS with this PEM certificate chain (reloaded on "
                "SIGHUP)");
  s->add_option("--tls-key", args->tls.key, "the PEM private key of --tls-cert");
  s->add_option("--tls-client-ca", args->tls.client_ca,
                "require client certificates signed by this PEM CA (mutual TLS)");
  s->add_flag("--insecure", args->insecure,
              "listen on a non-loopback --address without TLS or without `auth: required`: only "
              "behind a TLS proxy on a trusted network");
  s->callback([&g, run, args] { *run = [&g, args] { return Serve(g, *args); }; });
}

}  // namespace kiln::app
