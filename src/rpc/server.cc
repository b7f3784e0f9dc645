#include "kiln/rpc/server.h"

#include <atomic>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "kiln/base/logging.h"

namespace kiln::rpc {

namespace {

// "ipv4:127.0.0.1:5000" -> "127.0.0.1", "ipv6:[::1]:5000" -> "::1"; "" for anything else.
std::string PeerAddress(std::string_view peer) {
  for (std::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (!peer.starts_with(scheme)) continue;
    peer.remove_prefix(scheme.size());
    const size_t colon = peer.rfind(':');
    if (colon == std::string_view::npos) return "";
    peer = peer.substr(0, colon);
    if (peer.size() >= 2 && peer.front() == '[' && peer.back() == ']') {
      peer = peer.substr(1, peer.size() - 2);
    }
    return std::string(peer);
  }
  return "";
}

}  // namespace

int GrpcCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

namespace {

grpc::Status ToGrpc(const Status& s) {
  const auto code = static_cast<grpc::StatusCode>(GrpcCodeFor(s));
  if (code == grpc::StatusCode::INTERNAL) {
    KILN_LOG_ERROR("internal error answering a gRPC call: {}", s.ToString());
    return {code, "internal error"};
  }
  return {code, s.message()};
}

}  // namespace

class GrpcServer::Impl {
 public:
  // One call, from its request to its answer; deletes itself when the answer is sent.
  class Call {
   public:
    Call(Impl* impl, grpc::ServerCompletionQueue* cq) : impl_(impl), cq_(cq), stream_(&ctx_) {
      impl_->service_.RequestCall(&ctx_, &stream_, cq_, cq_, this);
    }

    void Proceed(bool ok) {
      switch (state_) {
        case State::kRequested:
          if (!ok) {  // the server is shutting down
            delete this;
            return;
          }
          if (impl_->accepting_.load()) new Call(impl_, cq_);
          impl_->in_flight_.fetch_add(1);
          state_ = State::kReading;
          stream_.Read(&buffer_, this);
          return;
        case State::kReading:
          if (!ok) {
            Answer(InvalidArgumentError("the call carried no request message"));
            return;
          }
          Dispatch();
          return;
        case State::kFinishing:
          impl_->in_flight_.fetch_sub(1);
          delete this;
          return;
      }
    }

   private:
    enum class State { kRequested, kReading, kFinishing };

    void Dispatch() {
      RpcCall call;
      call.method = ctx_.method();
      for (const auto& [key, value] : ctx_.client_metadata()) {
        if (key == "authorization") call.authorization.assign(value.data(), value.size());
      }
      call.peer = PeerAddress(ctx_.peer());
      std::vector<grpc::Slice> slices;
      if (grpc::Status s = buffer_.Dump(&slices); !s.ok()) {
        Answer(InternalError("cannot read the request message"));
        return;
      }
      call.request.reserve(buffer_.Length());
      for (const auto& slice : slices) {
        call.request.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
      buffer_.Clear();
      const auto now = std::chrono::system_clock::now();
      const auto deadline = ctx_.deadline();
      if (deadline - now < std::chrono::hours(24 * 365)) {
        call.deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::max(deadline - now, std::chrono::system_clock::duration(0)));
      }
      // Once answered the call may be deleted at any moment: a later answer (or a throw after
      // the answer) touches only the shared flag, never the call.
      std::shared_ptr<std::atomic<bool>> answered = answered_;
      try {
        impl_->handler_(std::move(call), [this, answered](Result<std::string> r) {
          if (!answered->exchange(true)) Send(std::move(r));
        });
      } catch (const std::exception& e) {
        if (!answered->exchange(true)) {
          Send(InternalError(fmt::format("gRPC handler threw: {}", e.what())));
        }
      }
    }

    // Once (later calls are ignored); only while the call is not answered.
    void Answer(Result<std::string> r) {
      if (!answered_->exchange(true)) Send(std::move(r));
    }

    void Send(Result<std::string> r) {
      state_ = State::kFinishing;
      if (!r.ok()) {
        stream_.Finish(ToGrpc(r.status()), this);
        return;
      }
      grpc::Slice slice(std::move(*r));
      grpc::ByteBuffer out(&slice, 1);
      stream_.WriteAndFinish(out, grpc::WriteOptions(), grpc::Status::OK, this);
    }

    Impl* impl_;
    grpc::ServerCompletionQueue* cq_;
    grpc::GenericServerContext ctx_;
    grpc::GenericServerAsyncReaderWriter stream_;
    grpc::ByteBuffer buffer_;
    State state_ = State::kRequested;
    std::shared_ptr<std::atomic<bool>> answered_ = std::make_shared<std::atomic<bool>>(false);
  };

  Impl(RpcHandler handler) : handler_(std::move(handler)) {}

  RpcHandler handler_;
  grpc::AsyncGenericService service_;
  // Destroyed in reverse: the server before its completion queues, both before the service.
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::atomic<bool> accepting_{true};
  std::atomic<int64_t> in_flight_{0};
  bool shut_down_ = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {

// Plaintext, or TLS (gRPC's own minimum, TLS 1.2) from PEM files gRPC re-reads every
// kTlsRefreshSeconds, so a renewed certificate is served without a restart; with a client CA,
// clients must present a certificate it signed.
std::shared_ptr<grpc::ServerCredentials> Credentials(const TlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  constexpr unsigned kTlsRefreshSeconds = 1;
  using grpc::experimental::FileWatcherCertificateProvider;
  auto provider = tls.client_ca.empty() ? std::make_shared<FileWatcherCertificateProvider>(
                                              tls.key, tls.cert, kTlsRefreshSeconds)
                                        : std::make_shared<FileWatcherCertificateProvider>(
                                              tls.key, tls.cert, tls.client_ca, kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions o(provider);
  o.watch_identity_key_cert_pairs();
  if (!tls.client_ca.empty()) {
    o.watch_root_certs();
    o.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(o);
}

}  // namespace

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options,
                                                      RpcHandler handler) {
  if (options.threads < 1) return InvalidArgumentError("gRPC threads must be at least 1");
  auto impl = std::make_unique<Impl>(std::move(handler));
  grpc::ServerBuilder builder;
  const std::string host = options.address.find(':') != std::string::npos
                               ? "[" + options.address + "]"
                               : options.address;
  builder.AddListeningPort(fmt::format("{}:{}", host, options.port), Credentials(options.tls),
                           &impl->port_);
  // gRPC sets SO_REUSEPORT by default: a second server would share a taken port in silence.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(options.limits.max_request_body_bytes, INT32_MAX)));
  builder.RegisterAsyncGenericService(&impl->service_);
  for (int i = 0; i < options.threads; ++i) impl->cqs_.push_back(builder.AddCompletionQueue());
  impl->server_ = builder.BuildAndStart();
  if (!impl->server_ || impl->port_ == 0) {
    for (auto& cq : impl->cqs_) cq->Shutdown();
    return UnavailableError(
        fmt::format("cannot listen for gRPC on {}:{}", options.address, options.port));
  }
  Impl* raw = impl.get();
  for (auto& cq : impl->cqs_) {
    grpc::ServerCompletionQueue* q = cq.get();
    new Impl::Call(raw, q);
    impl->threads_.emplace_back([q] {
      void* tag = nullptr;
      bool ok = false;
      while (q->Next(&tag, &ok)) static_cast<Impl::Call*>(tag)->Proceed(ok);
    });
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

GrpcServer::~GrpcServer() {
  Shutdown(std::chrono::milliseconds(0));
  for (auto& cq : impl_->cqs_) cq->Shutdown();
  for (auto& t : impl_->threads_) t.join();
}

uint16_t GrpcServer::port() const { return static_cast<uint16_t>(impl_->port_); }

int64_t GrpcServer::in_flight() const { return impl_->in_flight_.load(); }

void GrpcServer::Shutdown(std::chrono::milliseconds drain) {
  if (impl_->shut_down_) return;
  impl_->shut_down_ = true;
  impl_->accepting_.store(false);
  impl_->server_->Shutdown(std::chrono::system_clock::now() + drain);
}

}  // namespace kiln::rpc
