// Test helper: `kiln serve` as a child process on free loopback ports, started and waited for
// until /v2/health/ready answers 200. Tests using it link kiln_http.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kiln/http/server.h"
#include "testing/run_kiln.h"

namespace kiln::testing {

struct ServeProcess {
  pid_t pid = 0;
  int port = 0;       // HTTP
  int grpc_port = 0;  // gRPC
};

// Starts `kiln --home HOME serve --port P --grpc-port G ARGS...`; false when it is not ready
// within 30 seconds (it is killed then). `tls`: the server speaks TLS; readiness is asked so.
inline bool StartServe(const std::string& home, const std::vector<std::string>& args,
                       ServeProcess* out, const http::ClientTls* tls = nullptr) {
  out->port = FreePort();
  out->grpc_port = FreePort();
  while (out->grpc_port == out->port) out->grpc_port = FreePort();
  std::vector<std::string> argv = {"--home",
                                   home,
                                   "serve",
                                   "--port",
                                   std::to_string(out->port),
                                   "--grpc-port",
                                   std::to_string(out->grpc_port)};
  argv.insert(argv.end(), args.begin(), args.end());
  out->pid = SpawnKiln(argv);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(out->port),
                                       std::chrono::seconds(60), tls);
    if (c.ok()) {
      auto r = (*c)->Send("GET", "/v2/health/ready");
      if (r.ok() && r->status == 200) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(out->pid, SIGKILL);
  waitpid(out->pid, nullptr, 0);
  out->pid = 0;
  return false;
}

// Sends `signal` and waits for the process; its exit status as RunKiln reports one.
inline int StopServe(ServeProcess* s, int signal = SIGTERM) {
  if (s->pid <= 0) return -1;
  kill(s->pid, signal);
  int status = 0;
  waitpid(s->pid, &status, 0);
  s->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace kiln::testing
