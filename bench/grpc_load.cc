// A closed-loop gRPC load generator for `kiln serve`'s ModelInfer (no such tool is packaged in
// Debian): CONNS channels, each with one call in flight at a time, for SECONDS, on one thread
// (one completion queue). Prints requests/s and latency percentiles as JSON.
//
//   grpc_load HOST:PORT MODEL ROWS SECONDS CONNS [CSV]
//
// The request is ROWS rows of an FP32 [ROWS, F] matrix taken from CSV (numeric columns, the
// last one — the label — dropped), sent as raw_input_contents.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "inference.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  grpc::ClientContext ctx;
  inference::ModelInferResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
  Clock::time_point start;
  size_t conn = 0;
};

inference::ModelInferRequest MakeRequest(const std::string& model, int rows,
                                         const std::string& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  std::vector<float> values;
  int cols = 0;
  for (int r = 0; r < rows && std::getline(in, line); ++r) {
    std::vector<float> row;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) row.push_back(std::stof(cell));
    row.pop_back();  // the label
    cols = static_cast<int>(row.size());
    values.insert(values.end(), row.begin(), row.end());
  }
  inference::ModelInferRequest req;
  req.set_model_name(model);
  auto* x = req.add_inputs();
  x->set_name("x");
  x->set_datatype("FP32");
  x->add_shape(static_cast<int64_t>(values.size() / std::max(cols, 1)));
  x->add_shape(cols);
  req.add_raw_input_contents(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(float));
  return req;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: grpc_load HOST:PORT MODEL ROWS SECONDS CONNS CSV\n");
    return 2;
  }
  const std::string target = argv[1], model = argv[2], csv = argv[6];
  const int rows = std::stoi(argv[3]);
  const double seconds = std::stod(argv[4]);
  const size_t conns = static_cast<size_t>(std::stoi(argv[5]));
  const inference::ModelInferRequest req = MakeRequest(model, rows, csv);
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> stubs;
  for (size_t i = 0; i < conns; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", static_cast<int>(i));  // one connection per channel
    stubs.push_back(inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue cq;
  auto start_call = [&](size_t conn) {
    auto* call = new Call;
    call->conn = conn;
    call->start = Clock::now();
    call->reader = stubs[conn]->AsyncModelInfer(&call->ctx, req, &cq);
    call->reader->Finish(&call->resp, &call->status, call);
  };
  const auto t0 = Clock::now();
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (size_t i = 0; i < conns; ++i) start_call(i);
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  size_t errors = 0, outstanding = conns;
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && cq.Next(&tag, &ok)) {
    auto* call = static_cast<Call*>(tag);
    const auto now = Clock::now();
    if (!ok || !call->status.ok()) {
      if (++errors == 1) std::fprintf(stderr, "error: %s\n", call->status.error_message().c_str());
    } else {
      latencies.push_back(std::chrono::duration<double, std::micro>(now - call->start).count());
    }
    const size_t conn = call->conn;
    delete call;
    if (now < end) {
      start_call(conn);
    } else {
      --outstanding;
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
  };
  std::printf(
      "{\"requests\": %zu, \"errors\": %zu, \"seconds\": %.3f, \"rps\": %.1f, \"p50_us\": %.1f, "
      "\"p99_us\": %.1f}\n",
      latencies.size(), errors, elapsed, static_cast<double>(latencies.size()) / elapsed, pct(0.5),
      pct(0.99));
  return errors == 0 ? 0 : 1;
}
