// The gRPC transport on its own: any method's bytes in and out, errors as gRPC status codes,
// answers from other threads, deadlines, the message size limit, drain on shutdown, and a port
// that is taken. The client is grpc++'s generic stub, as a client of an unknown service is.
#include "kiln/rpc/server.h"

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

namespace kiln::rpc {
namespace {

using namespace std::chrono_literals;

struct Reply {
  grpc::Status status;
  std::string body;
};

Reply Call(uint16_t port, const std::string& method, const std::string& request,
           std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout.value_or(10s));
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &in, &out,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  Reply r{done.get_future().get(), ""};
  std::vector<grpc::Slice> slices;
  if (r.status.ok() && out.Dump(&slices).ok()) {
    for (const auto& s : slices) r.body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return r;
}

std::unique_ptr<GrpcServer> Serve(RpcHandler handler, GrpcServerOptions o = {}) {
  o.port = 0;
  auto server = GrpcServer::Start(o, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(GrpcServerTest, AnswersAnyMethodWithTheHandlersBytes) {
  auto server =
      Serve([](RpcCall call, RpcResponder done) { done(call.method + "|" + call.request); });
  ASSERT_NE(server, nullptr);
  const std::string binary("a\0b\xff", 4);
  Reply r = Call(server->port(), "/pkg.Service/Method", binary);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.body, "/pkg.Service/Method|" + binary);
  // The call leaves the count once its answer is written, which the client may see first.
  for (int i = 0; i < 500 && server->in_flight() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(GrpcServerTest, ErrorsBecomeGrpcCodesAndInternalDetailsStayInTheLog) {
  auto server = Serve([](RpcCall call, RpcResponder done) {
    if (call.request == "missing") return done(NotFoundError("no model 'm'"));
    if (call.request == "bad") return done(InvalidArgumentError("shape [2] for 3 values"));
    if (call.request == "throw") throw std::runtime_error("secret detail");
    done(InternalError("secret detail"));
  });
  ASSERT_NE(server, nullptr);
  Reply missing = Call(server->port(), "/s/M", "missing");
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.status.error_message(), "no model 'm'");
  EXPECT_EQ(Call(server->port(), "/s/M", "bad").status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* request : {"internal", "throw"}) {
    Reply r = Call(server->port(), "/s/M", request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL) << request;
    EXPECT_EQ(r.status.error_message(), "internal error") << request;
  }
}

TEST(GrpcServerTest, CodeTable) {
  EXPECT_EQ(GrpcCodeFor(Status::Ok()), grpc::StatusCode::OK);
  EXPECT_EQ(GrpcCodeFor(ResourceExhaustedError("")), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(DeadlineExceededError("")), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(GrpcCodeFor(UnavailableError("")), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcCodeFor(FailedPreconditionError("")), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GrpcCodeFor(CancelledError("")), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(GrpcCodeFor(DataLossError("")), grpc::StatusCode::INTERNAL);
}

TEST(GrpcServerTest, AnswersLaterFromAnotherThread) {
  std::mutex mu;
  std::vector<RpcResponder> pending;
  auto server = Serve([&](RpcCall, RpcResponder done) {
    std::lock_guard lock(mu);
    pending.push_back(std::move(done));
  });
  ASSERT_NE(server, nullptr);
  auto reply = std::async(std::launch::async, [&] { return Call(server->port(), "/s/M", "x"); });
  // The call is counted before its handler runs: wait for the handler to have kept it.
  auto kept = [&] {
    std::lock_guard lock(mu);
    return pending.size();
  };
  for (int i = 0; i < 500 && kept() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->in_flight(), 1);
  std::thread answer([&] {
    std::lock_guard lock(mu);
    ASSERT_EQ(pending.size(), 1u);
    pending[0](std::string("later"));
    pending[0](InternalError("a second answer is ignored"));
  });
  answer.join();
  Reply r = reply.get();
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.body, "later");
}

TEST(GrpcServerTest, PassesTheClientsDeadline) {
  std::mutex mu;
  std::vector<std::optional<std::chrono::steady_clock::time_point>> seen;
  auto server = Serve([&](RpcCall call, RpcResponder done) {
    std::lock_guard lock(mu);
    seen.push_back(call.deadline);
    done(std::string());
  });
  ASSERT_NE(server, nullptr);
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(Call(server->port(), "/s/M", "", 3s).status.ok());
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].has_value());
  EXPECT_GT(*seen[0], before + 1s);
  EXPECT_LE(*seen[0], before + 3s + 100ms);
}

TEST(GrpcServerTest, RefusesMessagesOverTheLimitBeforeTheHandler) {
  std::atomic<int> calls{0};
  GrpcServerOptions o;
  o.limits.max_request_body_bytes = 1024;
  auto server = Serve(
      [&](RpcCall, RpcResponder done) {
        calls.fetch_add(1);
        done(std::string("ok"));
      },
      o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Call(server->port(), "/s/M", std::string(4096, 'x')).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(Call(server->port(), "/s/M", std::string(512, 'x')).status.ok());
  EXPECT_EQ(calls.load(), 1);
}

TEST(GrpcServerTest, ShutdownLetsACallInFlightFinish) {
  std::mutex mu;
  std::vector<std::thread> answering;
  auto server = Serve([&](RpcCall, RpcResponder done) {
    std::lock_guard lock(mu);
    answering.emplace_back([done = std::move(done)] {
      std::this_thread::sleep_for(200ms);
      done(std::string("finished"));
    });
  });
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  auto reply = std::async(std::launch::async, [&] { return Call(port, "/s/M", "x"); });
  for (int i = 0; i < 500 && server->in_flight() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server->in_flight(), 1);
  server->Shutdown(5s);
  server->Shutdown(5s);  // idempotent
  Reply r = reply.get();
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.body, "finished");
  std::lock_guard lock(mu);
  for (auto& t : answering) t.join();
  // Nothing listens any more.
  EXPECT_EQ(Call(port, "/s/M", "x", 1s).status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(GrpcServerTest, ATakenPortIsUnavailable) {
  auto first = Serve([](RpcCall, RpcResponder done) { done(std::string()); });
  ASSERT_NE(first, nullptr);
  GrpcServerOptions o;
  o.port = first->port();
  auto second = GrpcServer::Start(o, [](RpcCall, RpcResponder done) { done(std::string()); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(std::to_string(o.port)), std::string::npos);
  GrpcServerOptions none;
  none.threads = 0;
  EXPECT_EQ(GrpcServer::Start(none, [](RpcCall, RpcResponder) {}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::rpc
