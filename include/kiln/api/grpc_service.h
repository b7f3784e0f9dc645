// GrpcInferenceService: the Open Inference Protocol's gRPC service
// (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady, ServerMetadata,
// ModelMetadata, ModelInfer) over the same ModelManager and Batcher as the REST endpoints,
// served by rpc::GrpcServer.
//
// ModelInfer takes inputs as typed `contents` or as `raw_input_contents` (little-endian,
// row-major; BYTES length-prefixed) and answers in the same form the request used. Everything
// REST checks is checked here too (tensor count, element counts against shapes, limits, the
// model's features), with the same errors as gRPC status codes; the call's deadline and the
// `timeout` parameter both bound the request.
//
// Thread-safety: Handle() may run on several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "kiln/api/rate_limiter.h"
#include "kiln/api/request_metrics.h"
#include "kiln/auth/authenticator.h"
#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/monitor/metrics.h"
#include "kiln/rpc/server.h"
#include "kiln/serve/dispatcher.h"
#include "kiln/serve/model_manager.h"

namespace kiln::api {

struct GrpcServiceOptions {
  std::string server_name = "kiln";
  std::string server_version;
  Limits limits = Limits::Default();
  monitor::AccessLog* access_log = nullptr;  // when set, calls are logged
  // When set, calls but ServerLive / ServerReady need `authorization: Bearer <token>` metadata
  // whose role has the method's permission (api/permissions.h): UNAUTHENTICATED without a
  // valid token, PERMISSION_DENIED without the permission.
  const auth::Authenticator* auth = nullptr;
  // When set, calls but ServerLive / ServerReady take from their token's / peer address's
  // bucket; past it they get RESOURCE_EXHAUSTED.
  RateLimiter* per_token = nullptr;
  RateLimiter* per_address = nullptr;
};

// A serialized ModelInferRequest -> the request REST would have made; InvalidArgument /
// ResourceExhausted for what does not parse or breaks a limit (the fuzzed entry point).
Result<serve::InferRequest> ParseGrpcInferRequest(const std::string& bytes, const Limits& limits);

class GrpcInferenceService {
 public:
  // `models`, `dispatcher` and `metrics` must outlive the service.
  GrpcInferenceService(serve::ModelManager* models, serve::Dispatcher* dispatcher,
                       monitor::MetricsRegistry* metrics, GrpcServiceOptions options);

  void Handle(rpc::RpcCall call, rpc::RpcResponder done);
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  struct Call;
  void Finish(Call& call, Result<std::string> resp);
  // The serialized response, or an empty optional when `call` is answered later.
  Result<std::optional<std::string>> Route(const rpc::RpcCall& rpc,
                                           const std::shared_ptr<Call>& call);
  Result<std::optional<std::string>> Infer(const rpc::RpcCall& rpc,
                                           const std::shared_ptr<Call>& call);

  serve::ModelManager* models_;
  serve::Dispatcher* dispatcher_;
  GrpcServiceOptions options_;
  RequestMetrics stats_;
  std::atomic<bool> ready_{false};
};

}  // namespace kiln::api
