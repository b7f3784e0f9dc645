// GrpcServer: the gRPC transport — unary calls of any method on a fixed number of
// completion-queue threads. It knows nothing of the messages: a handler gets the method's full
// name and the serialized request, and answers with the serialized response or a Status (mapped
// to the gRPC status code; Internal errors go to the log and the client sees "internal error").
// The inference service on top of it is api::GrpcInferenceService.
//
//   GrpcServerOptions o;  // 127.0.0.1:8081 by default; port 0 = any free port
//   auto server = GrpcServer::Start(o, [](RpcCall call, RpcResponder done) {
//     done(std::string(...));   // at once or later, from any thread, exactly once
//   });
//   (*server)->Shutdown(std::chrono::seconds(20));  // stop accepting, drain, cancel the rest
//
// Limits: request messages over Limits::max_request_body_bytes are refused by gRPC itself
// (RESOURCE_EXHAUSTED) before the handler sees them.
// Thread-safety: Start/Shutdown from one controlling thread; responders from any thread, and
// all of them called before the server is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/base/tls_files.h"

namespace kiln::rpc {

struct RpcCall {
  std::string method;         // e.g. "/inference.GRPCInferenceService/ModelInfer"
  std::string request;        // the serialized request message
  std::string authorization;  // the `authorization` metadata, "" when the client sent none
  std::string peer;           // the client's address ("127.0.0.1", "::1"), "" if unknown
  // The client's deadline, if it set one.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};
// Answers one call: the serialized response, or an error status.
using RpcResponder = std::function<void(Result<std::string>)>;
using RpcHandler = std::function<void(RpcCall, RpcResponder)>;

struct GrpcServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8081;  // 0: any free port
  int threads = 1;       // completion-queue threads
  Limits limits = Limits::Default();
  // TLS from these files (none: plaintext); gRPC re-reads them every second, so a renewed
  // certificate is served without a restart.
  TlsFiles tls;
};

class GrpcServer {
 public:
  // Binds and starts; Unavailable if the address cannot be bound.
  static Result<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                   RpcHandler handler);
  ~GrpcServer();  // Shutdown(0) if not done, then stops the threads
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  uint16_t port() const;
  // Calls received and not yet answered.
  int64_t in_flight() const;
  // Stops accepting calls, waits up to `drain` for those in flight to be answered, then cancels
  // the rest. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

  class Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The gRPC status code (grpc::StatusCode's value) for a kiln Status.
int GrpcCodeFor(const Status& s);

}  // namespace kiln::rpc
