// `kiln serve` end to end: ingest -> train -> register -> alias -> serve -> V2 requests, the
// golden request/response files in tests/golden/v2/, and SIGTERM.
//
// Golden files: {"request": {"method", "path", "body"}, "status", "response"}; the response
// body must equal "response" as JSON. KILN_UPDATE_GOLDEN=1 rewrites "status" and "response"
// from the server's answers (review the diff before committing it).
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "inference.grpc.pb.h"
#include "kiln/http/server.h"
#include "testing/kiln_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class ServeCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(kiln::testing::MakeTempDir("kiln-serve"));
    home_ = new std::string(*dir_ + "/home");
    fs::create_directories(*home_);
    const std::string data = kiln::testing::SourceDir() + "/examples/credit/credit_2024.csv";
    auto run = [](std::vector<std::string> args) {
      args.insert(args.begin(), {"--home", *home_});
      return kiln::testing::RunKiln(args, *dir_);
    };
    ASSERT_EQ(run({"data", "ingest", data, "--name", "credit"}).exit_code, 0);
    for (const char* depth : {"3", "4"}) {
      auto t = run({"train", "--data", "credit", "--target", "Status", "--param",
                    std::string("max_depth=") + depth, "--param", "num_trees=20", "--out",
                    *dir_ + "/m.kiln", "--json"});
      ASSERT_EQ(t.exit_code, 0) << t.err;
      const std::string id = json::parse(t.out)["run_id"];
      ASSERT_EQ(run({"models", "register", id, "--name", "credit-risk"}).exit_code, 0);
    }
    ASSERT_EQ(run({"models", "alias", "credit-risk", "1", "--set", "production"}).exit_code, 0);
    ASSERT_EQ(run({"models", "alias", "credit-risk", "2", "--set", "staging"}).exit_code, 0);
    ASSERT_TRUE(StartServer({"--io-threads", "2"}, &pid_, &port_, "", &grpc_port_));
  }
  // Starts `kiln serve` with `args` on a free port and waits until it is ready.
  // `home`: the suite's home when empty. gRPC listens on another free port (`grpc_port`).
  static bool StartServer(std::vector<std::string> args, pid_t* pid, int* port,
                          const std::string& home = "", int* grpc_port = nullptr) {
    kiln::testing::ServeProcess p;
    const bool ready = kiln::testing::StartServe(home.empty() ? *home_ : home, args, &p);
    EXPECT_TRUE(ready) << "kiln serve did not become ready";
    *pid = p.pid;
    *port = p.port;
    if (grpc_port) *grpc_port = p.grpc_port;
    return ready;
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(*dir_);
    delete dir_;
    delete home_;
  }

  static http::HttpResponse Send(const std::string& method, const std::string& path,
                                 const std::string& body = "", int port = 0) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(port ? port : port_));
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return {};
    auto r = (*c)->Send(method, path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::HttpResponse{};
  }

  // Polls `done` every 10 ms for up to `seconds`; its last answer.
  template <typename F>
  static bool Eventually(F done, int seconds = 20) {
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    while (!done() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }
  // A copy of the suite's home named `name`, with `kiln_yaml` as its kiln.yaml when given.
  static std::string CopyHome(const std::string& name, const std::string& kiln_yaml = "") {
    const std::string home = *dir_ + "/" + name;
    fs::copy(*home_, home, fs::copy_options::recursive);
    if (!kiln_yaml.empty()) std::ofstream(home + "/kiln.yaml") << kiln_yaml;
    return home;
  }

  static std::string* dir_;
  static std::string* home_;
  static int port_, grpc_port_;
  static pid_t pid_;
};

std::string* ServeCliTest::dir_ = nullptr;
std::string* ServeCliTest::home_ = nullptr;
int ServeCliTest::port_ = 0;
int ServeCliTest::grpc_port_ = 0;
pid_t ServeCliTest::pid_ = 0;

TEST_F(ServeCliTest, GoldenRequests) {
  const fs::path golden = fs::path(kiln::testing::SourceDir()) / "tests/golden/v2";
  const bool update = std::getenv("KILN_UPDATE_GOLDEN") != nullptr;
  int checked = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(golden)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    json g = json::parse(in);
    const json& req = g["request"];
    const std::string body = !req.contains("body")     ? ""
                             : req["body"].is_string() ? req["body"].get<std::string>()
                                                       : req["body"].dump();
    auto r = Send(req["method"], req["path"], body);
    json got = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (update) {
      g["status"] = r.status;
      g["response"] = got;
      std::ofstream(path) << g.dump(2) << "\n";
      continue;
    }
    EXPECT_EQ(r.status, g["status"].get<int>()) << path.filename() << ": " << r.body;
    EXPECT_EQ(got, g["response"]) << path.filename() << ": " << r.body;
    ++checked;
  }
  if (!update) {
    EXPECT_GE(checked, 20);
  }
}

// The first row of the training file, one tensor per feature.
json CreditRow() {
  json columns = {{"inputs", json::array()}};
  const std::vector<std::pair<std::string, json>> row = {
      {"Seniority", 9},       {"Home", "rent"},  {"Time", 60},         {"Age", 30},
      {"Marital", "married"}, {"Records", "no"}, {"Job", "freelance"}, {"Expenses", 73},
      {"Income", 129},        {"Assets", 0},     {"Debt", 0},          {"Amount", 800},
      {"Price", 846}};
  for (const auto& [name, v] : row) {
    columns["inputs"].push_back({{"name", name},
                                 {"shape", {1}},
                                 {"datatype", v.is_string() ? "BYTES" : "FP64"},
                                 {"data", {v}}});
  }
  return columns;
}

TEST_F(ServeCliTest, InferByColumnsVersionsAliasesAndExplanations) {
  const json columns = CreditRow();
  auto by_col = Send("POST", "/v2/models/credit-risk/infer", columns.dump());
  ASSERT_EQ(by_col.status, 200) << by_col.body;
  json a = json::parse(by_col.body);
  EXPECT_EQ(a["model_version"], "1");
  ASSERT_EQ(a["outputs"][1]["name"], "probabilities");
  const double p_good = a["outputs"][1]["data"][0];
  EXPECT_GT(p_good, 0.0);
  EXPECT_LT(p_good, 1.0);
  // staging is version 2; version 1 by number is the production one.
  auto staged = Send("POST", "/v2/models/credit-risk/versions/staging/infer", columns.dump());
  ASSERT_EQ(staged.status, 200) << staged.body;
  EXPECT_EQ(json::parse(staged.body)["model_version"], "2");
  auto v1 = Send("POST", "/v2/models/credit-risk/versions/1/infer", columns.dump());
  EXPECT_EQ(json::parse(v1.body)["outputs"], a["outputs"]);
  // Explanations: contributions plus bias add up to the margin of the probability.
  json explain = columns;
  explain["parameters"] = {{"explain", true}};
  explain["outputs"] = {{{"name", "probabilities"}}, {{"name", "contributions"}}};
  auto e = Send("POST", "/v2/models/credit-risk/infer", explain.dump());
  ASSERT_EQ(e.status, 200) << e.body;
  json ej = json::parse(e.body);
  ASSERT_EQ(ej["outputs"].size(), 2u);
  double margin = 0;
  for (double c : ej["outputs"][1]["data"]) margin += c;
  const double p_bad = ej["outputs"][0]["data"][1];
  EXPECT_NEAR(1.0 / (1.0 + std::exp(-margin)), p_bad, 1e-5);
}

TEST_F(ServeCliTest, RepositoryUnloadAndLoadByName) {
  EXPECT_EQ(Send("POST", "/v2/repository/models/credit-risk/unload").status, 200);
  EXPECT_EQ(Send("GET", "/v2/models/credit-risk/ready").status, 404);
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", "{}").status, 404);
  // BI-27: a body naming files is not read; the model comes from the registry by name.
  EXPECT_EQ(Send("POST", "/v2/repository/models/credit-risk/load",
                 R"({"parameters":{"config":"/etc/passwd","file:1/model.kiln":"x"}})")
                .status,
            200);
  EXPECT_EQ(Send("GET", "/v2/models/credit-risk/ready").status, 200);
}

// The gRPC service (inference.GRPCInferenceService) through the generated client: health,
// metadata, readiness, inference with typed and with raw contents (the same answers as REST),
// and errors as gRPC status codes.
TEST_F(ServeCliTest, GrpcInferenceService) {
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", grpc_port_),
                                     grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  auto context = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return c;
  };
  {
    inference::ServerLiveResponse live;
    grpc::Status live_status = stub->ServerLive(context().get(), {}, &live);
    ASSERT_TRUE(live_status.ok()) << live_status.error_code() << " " << live_status.error_message();
    EXPECT_TRUE(live.live());
    inference::ServerReadyResponse ready;
    ASSERT_TRUE(stub->ServerReady(context().get(), {}, &ready).ok());
    EXPECT_TRUE(ready.ready());
    inference::ServerMetadataResponse meta;
    ASSERT_TRUE(stub->ServerMetadata(context().get(), {}, &meta).ok());
    EXPECT_EQ(meta.name(), "kiln");
  }
  inference::ModelMetadataRequest mreq;
  mreq.set_name("credit-risk");
  inference::ModelMetadataResponse mmeta;
  ASSERT_TRUE(stub->ModelMetadata(context().get(), mreq, &mmeta).ok());
  EXPECT_EQ(mmeta.versions(0), "1");
  EXPECT_EQ(mmeta.inputs_size(), 13);
  inference::ModelReadyRequest rreq;
  inference::ModelReadyResponse rresp;
  rreq.set_name("credit-risk");
  rreq.set_version("staging");
  ASSERT_TRUE(stub->ModelReady(context().get(), rreq, &rresp).ok());
  EXPECT_TRUE(rresp.ready());
  rreq.set_name("no-such-model");
  ASSERT_TRUE(stub->ModelReady(context().get(), rreq, &rresp).ok());
  EXPECT_FALSE(rresp.ready());

  // The REST answer for the same row.
  const json rest =
      json::parse(Send("POST", "/v2/models/credit-risk/infer", CreditRow().dump()).body);
  const std::string label = rest["outputs"][0]["data"][0];
  const float p_good = rest["outputs"][1]["data"][0];
  // Typed contents, then the same request as raw_input_contents.
  inference::ModelInferRequest typed, raw;
  typed.set_model_name("credit-risk");
  typed.set_id("req-7");
  raw = typed;
  const json row = CreditRow();
  for (const auto& in : row["inputs"]) {
    for (auto* req : {&typed, &raw}) {
      auto* t = req->add_inputs();
      t->set_name(in["name"].get<std::string>());
      t->set_datatype(in["datatype"].get<std::string>());
      t->add_shape(1);
    }
    auto* t = typed.mutable_inputs(typed.inputs_size() - 1);
    std::string* bytes = raw.add_raw_input_contents();
    if (in["datatype"] == "BYTES") {
      const std::string v = in["data"][0];
      t->mutable_contents()->add_bytes_contents(v);
      const auto n = static_cast<uint32_t>(v.size());
      bytes->append(reinterpret_cast<const char*>(&n), 4).append(v);
    } else {
      const double v = in["data"][0];
      t->mutable_contents()->add_fp64_contents(v);
      bytes->append(reinterpret_cast<const char*>(&v), sizeof v);
    }
  }
  inference::ModelInferResponse out;
  grpc::Status st = stub->ModelInfer(context().get(), typed, &out);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  EXPECT_EQ(out.id(), "req-7");
  EXPECT_EQ(out.model_version(), "1");
  ASSERT_EQ(out.outputs_size(), 2);
  EXPECT_EQ(out.outputs(0).contents().bytes_contents(0), label);
  EXPECT_EQ(out.outputs(1).contents().fp32_contents(0), p_good);
  st = stub->ModelInfer(context().get(), raw, &out);
  ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  ASSERT_EQ(out.raw_output_contents_size(), 2);
  EXPECT_FALSE(out.outputs(1).has_contents());
  EXPECT_EQ(out.raw_output_contents(0), std::string("\x04\0\0\0", 4) + label);
  float p = 0;
  ASSERT_EQ(out.raw_output_contents(1).size(), 2 * sizeof(float));
  std::memcpy(&p, out.raw_output_contents(1).data(), sizeof p);
  EXPECT_EQ(p, p_good);

  // Errors.
  auto code = [&](const inference::ModelInferRequest& r) {
    return stub->ModelInfer(context().get(), r, &out).error_code();
  };
  inference::ModelInferRequest bad = raw;
  bad.set_model_name("no-such-model");
  EXPECT_EQ(code(bad), grpc::StatusCode::NOT_FOUND);
  bad = raw;
  bad.mutable_raw_input_contents(0)->pop_back();
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = raw;
  *bad.mutable_inputs(0)->mutable_contents() = typed.inputs(0).contents();
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = typed;
  bad.mutable_inputs(0)->add_shape(-3);
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = typed;
  (*bad.mutable_parameters())["timeout"].set_int64_param(-1);
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = typed;
  bad.set_model_name("../../etc/passwd");
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = typed;
  bad.mutable_inputs(0)->set_datatype("FP128");
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string page = Send("GET", "/metrics").body;
  EXPECT_NE(page.find("kiln_requests_total{route=\"grpc_infer\",model=\"credit-risk\","
                      "version=\"1\",code=\"OK\"} 2"),
            std::string::npos)
      << page;
}

// Interoperability: Python's grpcio (another gRPC implementation) with messages generated from
// src/rpc/inference.proto gets the REST answer, with typed and with raw contents.
TEST_F(ServeCliTest, GrpcFromPythonGrpcio) {
  ASSERT_EQ(std::system("/usr/bin/python3 -c 'import grpc' > /dev/null 2>&1"), 0)
      << "python3-grpcio is not installed (scripts/install-deps installs it)";
  const json row = CreditRow();
  const std::string request = *dir_ + "/grpc-request.json";
  std::ofstream(request) << row.dump();
  json rest = json::parse(Send("POST", "/v2/models/credit-risk/infer", row.dump()).body);
  for (std::string mode : {"", " --raw"}) {
    const std::string out = *dir_ + "/grpc-out.json";
    const std::string cmd = fmt::format(
        "/usr/bin/python3 {}/examples/serving/grpc_client.py 127.0.0.1:{} infer credit-risk {}{} "
        "> {} 2>&1",
        kiln::testing::SourceDir(), grpc_port_, request, mode, out);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << kiln::testing::Slurp(out);
    json got = json::parse(kiln::testing::Slurp(out));
    EXPECT_EQ(got["model_version"], rest["model_version"]);
    EXPECT_EQ(got["outputs"][0]["data"], rest["outputs"][0]["data"]) << mode;
    // FP32 on the wire: the same float either way.
    EXPECT_EQ(static_cast<float>(got["outputs"][1]["data"][0].get<double>()),
              rest["outputs"][1]["data"][0].get<float>())
        << mode;
  }
}

// Triton's statistics extension: per version, requests and rows counted as they were answered.
TEST_F(ServeCliTest, StatisticsPerVersion) {
  auto before = json::parse(Send("GET", "/v2/models/credit-risk/versions/1/stats").body);
  auto count = [](const json& stats, const char* field) -> uint64_t {
    return stats["model_stats"].empty() ? 0 : stats["model_stats"][0][field].get<uint64_t>();
  };
  json two = CreditRow();
  for (auto& in : two["inputs"]) {
    in["shape"] = {2};
    in["data"].push_back(in["data"][0]);
  }
  ASSERT_EQ(Send("POST", "/v2/models/credit-risk/versions/1/infer", two.dump()).status, 200);
  auto after = Send("GET", "/v2/models/credit-risk/versions/1/stats");
  ASSERT_EQ(after.status, 200) << after.body;
  const json a = json::parse(after.body);
  ASSERT_EQ(a["model_stats"].size(), 1u);
  EXPECT_EQ(a["model_stats"][0]["name"], "credit-risk");
  EXPECT_EQ(a["model_stats"][0]["version"], "1");
  EXPECT_EQ(count(a, "inference_count"), count(before, "inference_count") + 2);  // rows
  EXPECT_EQ(count(a, "execution_count"), count(before, "execution_count") + 1);
  const json& st = a["model_stats"][0]["inference_stats"];
  EXPECT_GE(st["success"]["count"].get<uint64_t>(), 1u);
  EXPECT_GT(st["compute_infer"]["ns"].get<uint64_t>(), 0u);
  EXPECT_GT(a["model_stats"][0]["last_inference"].get<int64_t>(), 1700000000000);
  // Every model, and the errors.
  const json all = json::parse(Send("GET", "/v2/models/stats").body);
  EXPECT_GE(all["model_stats"].size(), 1u);
  EXPECT_EQ(Send("GET", "/v2/models/no-such-model/stats").status, 404);
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/stats").status, 405);
}

// The /metrics page passes `promtool check metrics` and counts the requests made so far.
TEST_F(ServeCliTest, MetricsPageIsPromtoolClean) {
  ASSERT_EQ(Send("GET", "/v2/models/credit-risk").status, 200);
  auto page = Send("GET", "/metrics");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(page.body.find("kiln_requests_total{route=\"model_metadata\",model=\"credit-risk\","
                           "version=\"1\",code=\"200\"}"),
            std::string::npos)
      << page.body;
  EXPECT_NE(page.body.find("kiln_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(page.body.find("process_resident_memory_bytes"), std::string::npos);
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool (Debian package prometheus) is not installed; scripts/install-deps installs it";
  const std::string file = *dir_ + "/metrics.txt";
  std::ofstream(file) << page.body;
  const std::string out = *dir_ + "/promtool.out";
  const int rc = std::system(("promtool check metrics < " + file + " > " + out + " 2>&1").c_str());
  EXPECT_EQ(rc, 0) << kiln::testing::Slurp(out);
}

// A second server whose batcher holds requests for half a second: a full queue answers 503
// with Retry-After at once, a request whose timeout passes while it waits gets 504, and
// SIGTERM answers what is queued before the process exits 0.
TEST_F(ServeCliTest, OverloadDeadlinesAndDrainOfQueuedRequests) {
  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({"--max-queue", "1", "--max-queue-delay-us", "500000", "--max-batch-size",
                           "1000", "--inference-threads", "1"},
                          &pid, &port));
  const std::string row = CreditRow().dump();
  auto queued = std::async(std::launch::async,
                           [&] { return Send("POST", "/v2/models/credit-risk/infer", row, port); });
  // Wait until the first request is queued (the depth gauge says so).
  auto one_queued = [&] {
    return Send("GET", "/metrics", "", port).body.find("kiln_queue_depth 1\n") != std::string::npos;
  };
  ASSERT_TRUE(Eventually(one_queued));
  const auto t0 = Clock::now();
  auto full = Send("POST", "/v2/models/credit-risk/infer", row, port);
  EXPECT_EQ(full.status, 503) << full.body;
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(400));
  const bool retry_after = std::any_of(full.headers.begin(), full.headers.end(), [](const auto& h) {
    return h.first == "retry-after" && h.second == "1";
  });
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(queued.get().status, 200);

  json timed = CreditRow();
  timed["parameters"] = {{"timeout", 1000}};  // 1 ms, the batcher waits 500
  auto late = Send("POST", "/v2/models/credit-risk/infer", timed.dump(), port);
  EXPECT_EQ(late.status, 504) << late.body;
  timed["parameters"] = {{"timeout", -1}};
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", timed.dump(), port).status, 400);

  // SIGTERM while a request waits in the queue: it is answered, then the process exits 0.
  auto draining = std::async(
      std::launch::async, [&] { return Send("POST", "/v2/models/credit-risk/infer", row, port); });
  ASSERT_TRUE(Eventually(one_queued));
  kill(pid, SIGTERM);
  EXPECT_EQ(draining.get().status, 200);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// LT-06: alias moves under load. A client sends requests without pause while production moves
// from version 1 to 2 and then to a version whose artifact is corrupt: no request fails, every
// answer is the one of the version it names, none comes from version 1 after the first from 2,
// and the corrupt version never serves. A server started while production is corrupt serves
// without it (503 for it, listed UNAVAILABLE). The test works on a copy of the home.
TEST_F(ServeCliTest, HotReloadUnderLoadAndCorruptVersions) {
  const std::string home = CopyHome("reload-home");
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home});
    return kiln::testing::RunKiln(args, *dir_);
  };
  // Version 3: another model whose stored artifact is then damaged.
  auto t = run({"train", "--data", "credit", "--target", "Status", "--param", "max_depth=5",
                "--param", "num_trees=20", "--out", *dir_ + "/m5.kiln", "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ASSERT_EQ(
      run({"models", "register", json::parse(t.out)["run_id"], "--name", "credit-risk"}).exit_code,
      0);
  const json shown = json::parse(run({"models", "show", "credit-risk", "--json"}).out);
  std::string artifact;
  for (const auto& v : shown["versions"]) {
    if (v["version"] == 3) artifact = v["artifact"];
  }
  ASSERT_EQ(artifact.size(), 64u);
  const fs::path blob = fs::path(home) / "objects" / artifact.substr(0, 2) / artifact.substr(2);
  ASSERT_TRUE(fs::exists(blob));
  fs::resize_file(blob, fs::file_size(blob) / 2);

  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({"--reload-interval-ms", "100"}, &pid, &port, home));
  const std::string row = CreditRow().dump();
  auto probability = [](const http::HttpResponse& r) -> double {
    return json::parse(r.body)["outputs"][1]["data"][0];
  };
  const double p1 = probability(Send("POST", "/v2/models/credit-risk/versions/1/infer", row, port));
  const double p2 = probability(Send("POST", "/v2/models/credit-risk/versions/2/infer", row, port));
  ASSERT_NE(p1, p2);

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, wrong{0}, v1_after_v2{0}, from_v2{0}, from_v3{0}, total{0};
  std::thread client([&] {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(port));
    ASSERT_TRUE(c.ok());
    bool seen_v2 = false;
    while (!stop.load()) {
      auto r = (*c)->Send("POST", "/v2/models/credit-risk/infer", row);
      ++total;
      if (!r.ok() || r->status != 200) {
        ++failed;
        continue;
      }
      const json j = json::parse(r->body);
      const std::string v = j["model_version"];
      const double p = j["outputs"][1]["data"][0];
      if (v == "1") {
        if (seen_v2) ++v1_after_v2;
        if (p != p1) ++wrong;
      } else if (v == "2") {
        seen_v2 = true;
        ++from_v2;
        if (p != p2) ++wrong;
      } else {
        ++from_v3;
      }
    }
  });
  ASSERT_EQ(run({"models", "alias", "credit-risk", "2", "--set", "production"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return from_v2.load() > 100; }));
  ASSERT_EQ(run({"models", "alias", "credit-risk", "3", "--set", "production"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] {
    return Send("GET", "/metrics", "", port)
               .body.find("kiln_model_load_failures_total{model=\"credit-risk\"} 1\n") !=
           std::string::npos;
  }));
  const int before = from_v2.load();
  EXPECT_TRUE(Eventually([&] { return from_v2.load() > before + 100; }));  // still serving v2
  stop = true;
  client.join();
  EXPECT_GT(total.load(), 200);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(v1_after_v2.load(), 0);
  EXPECT_EQ(from_v3.load(), 0);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);

  // Started while production is the corrupt version: up and ready, the model unavailable.
  ASSERT_TRUE(StartServer({"--reload-interval-ms", "100"}, &pid, &port, home));
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", row, port).status, 503);
  EXPECT_EQ(Send("GET", "/v2/models/credit-risk/ready", "", port).status, 503);
  const json index = json::parse(Send("POST", "/v2/repository/index", "", port).body);
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0]["state"], "UNAVAILABLE");
  EXPECT_FALSE(index[0]["reason"].get<std::string>().empty());
  // Moving production back to a sound version makes it available without a restart.
  ASSERT_EQ(run({"models", "alias", "credit-risk", "1", "--set", "production"}).exit_code, 0);
  EXPECT_TRUE(Eventually(
      [&] { return Send("POST", "/v2/models/credit-risk/infer", row, port).status == 200; }));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// kiln.yaml turns the prediction cache on for a model: a repeated request is answered from it
// (the hit counter says so) with its own id, the same answer as computed; a bad serving section
// stops the server with a message naming the key.
TEST_F(ServeCliTest, PredictionCacheFromKilnYaml) {
  const std::string home = CopyHome("cache-home",
                                    "serving:\n  models:\n    credit-risk:\n"
                                    "      cache: {max_entries: 100, ttl_seconds: 60}\n");
  pid_t pid = 0;
  int port = 0;
  const std::string log = *dir_ + "/access.log";
  ASSERT_TRUE(StartServer({"--access-log", log, "--access-log-sample", "1"}, &pid, &port, home));
  json req = CreditRow();
  req["id"] = "first";
  auto a = Send("POST", "/v2/models/credit-risk/infer", req.dump(), port);
  req["id"] = "second";
  auto b = Send("POST", "/v2/models/credit-risk/infer", req.dump(), port);
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(json::parse(b.body)["id"], "second");
  EXPECT_EQ(json::parse(a.body)["outputs"], json::parse(b.body)["outputs"]);
  const std::string page = Send("GET", "/metrics", "", port).body;
  EXPECT_NE(page.find("kiln_cache_hits_total{model=\"credit-risk\"} 1\n"), std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_cache_misses_total{model=\"credit-risk\"} 1\n"), std::string::npos);
  // The access log (every request at sample 1), and a client's request id sent back.
  auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(port));
  ASSERT_TRUE(c.ok());
  auto traced = (*c)->Send("GET", "/v2/models/credit-risk", "", "application/json",
                           {{"X-Request-Id", "trace-42"}});
  ASSERT_TRUE(traced.ok());
  EXPECT_TRUE(std::any_of(traced->headers.begin(), traced->headers.end(), [](const auto& h) {
    return h.first == "x-request-id" && h.second == "trace-42";
  }));
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::ifstream in(log);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  // Readiness polls, two infers, the metrics page, the metadata.
  auto infer =
      std::find_if(lines.begin(), lines.end(), [](const json& l) { return l["route"] == "infer"; });
  ASSERT_NE(infer, lines.end());
  EXPECT_EQ((*infer)["model"], "credit-risk");
  EXPECT_EQ((*infer)["status"], "200");
  EXPECT_EQ((*infer)["request_id"].get<std::string>().size(), 16u);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const json& l) { return l["route"] == "infer"; }),
            2);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                          [](const json& l) { return l["request_id"] == "trace-42"; }));

  std::ofstream(home + "/kiln.yaml") << "serving:\n  max_batch_sise: 3\n";
  auto r = kiln::testing::RunKiln({"--home", home, "serve", "--port", "0"}, *dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("serving.max_batch_sise"), std::string::npos) << r.err;
}

// Traffic routing from kiln.yaml: requests naming the model only are split 70/30 between
// production (v1) and staging (v2), a customer keeps one version, a named version is never
// routed, and every request served by v1 is mirrored to the shadow v2 — counted and compared
// on /metrics.
// Adversarial inputs: with `reject_out_of_range` a value outside a feature's training range or
// a category the model never saw is a 400 naming the feature; without it, the same request is
// answered (and counted as drift).
TEST_F(ServeCliTest, RejectOutOfRange) {
  const std::string home = CopyHome("reject-home",
                                    "serving:\n  models:\n    credit-risk:\n"
                                    "      reject_out_of_range: true\n");
  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({}, &pid, &port, home));
  auto with = [](const std::string& feature, const json& value) {
    json req = CreditRow();
    for (auto& in : req["inputs"]) {
      if (in["name"] == feature) in["data"] = {value};
    }
    return req.dump();
  };
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", CreditRow().dump(), port).status, 200);
  for (const auto& [feature, value, expected] :
       std::vector<std::tuple<std::string, json, std::string>>{
           {"Income", 1e9, "outside its training range"},
           {"Age", -5, "outside its training range"},
           {"Home", "castle", "categories the model never saw"}}) {
    auto r = Send("POST", "/v2/models/credit-risk/infer", with(feature, value), port);
    EXPECT_EQ(r.status, 400) << feature << " " << r.body;
    EXPECT_NE(r.body.find("feature '" + feature + "'"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(expected), std::string::npos) << r.body;
    // The suite's server, without the setting, answers it.
    EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", with(feature, value)).status, 200);
  }
  // Missing values are not out of range.
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/infer", with("Income", nullptr), port).status,
            200);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

TEST_F(ServeCliTest, RoutingSplitsStickyKeysAndShadows) {
  const std::string home = CopyHome("routing-home",
                                    "serving:\n  models:\n    credit-risk:\n      routing:\n"
                                    "        split: {production: 70, staging: 30}\n"
                                    "        sticky_key: customer\n        shadow: \"2\"\n");
  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({}, &pid, &port, home));
  auto version_for = [&](const json& params, const std::string& path) {
    json req = CreditRow();
    if (!params.is_null()) req["parameters"] = params;
    auto r = Send("POST", path, req.dump(), port);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body)["model_version"].get<std::string>() : "";
  };
  std::map<std::string, int> counts;
  int served_by_v1 = 0;
  for (int c = 0; c < 200; ++c) {
    const json params = {{"customer", fmt::format("c{}", c)}};
    const std::string v = version_for(params, "/v2/models/credit-risk/infer");
    ++counts[v];
    served_by_v1 += v == "1";
    // The same customer again: the same version.
    EXPECT_EQ(version_for(params, "/v2/models/credit-risk/infer"), v);
    served_by_v1 += v == "1";
  }
  EXPECT_EQ(counts["1"] + counts["2"], 200);
  EXPECT_GT(counts["1"], 110);  // 70% of 200 = 140
  EXPECT_LT(counts["1"], 170);
  // Without a customer: at random, both versions.
  std::map<std::string, int> random;
  for (int i = 0; i < 60; ++i) ++random[version_for(nullptr, "/v2/models/credit-risk/infer")];
  served_by_v1 += random["1"];
  EXPECT_GT(random["1"], 0);
  EXPECT_GT(random["2"], 0);
  // A named version is not routed.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(version_for(nullptr, "/v2/models/credit-risk/versions/1/infer"), "1");
  }
  // Every request v1 answered through routing was mirrored to v2 and compared, one row each.
  const std::string answered = fmt::format(
      "kiln_shadow_requests_total{{model=\"credit-risk\",version=\"2\",outcome=\"answered\"}} {}\n",
      served_by_v1);
  std::string page;
  EXPECT_TRUE(Eventually([&] {
    page = Send("GET", "/metrics", "", port).body;
    return page.find(answered) != std::string::npos;
  })) << page;
  EXPECT_NE(
      page.find(fmt::format("kiln_shadow_rows_total{{model=\"credit-risk\",version=\"2\"}} {}\n",
                            served_by_v1)),
      std::string::npos);
  // The same row every time: v1 and v2 either agree on it or not, for all of them.
  const bool all =
      page.find(
          fmt::format("kiln_shadow_disagreements_total{{model=\"credit-risk\",version=\"2\"}} {}\n",
                      served_by_v1)) != std::string::npos;
  const bool none =
      page.find("kiln_shadow_disagreements_total{model=\"credit-risk\",version=\"2\"} 0\n") !=
      std::string::npos;
  EXPECT_TRUE(all || none) << page;

  // The routing API: read, replace, refuse mistakes, remove.
  auto routing = Send("GET", "/v2/models/credit-risk/routing", "", port);
  ASSERT_EQ(routing.status, 200);
  EXPECT_EQ(json::parse(routing.body),
            json::parse(R"({"split":{"production":70,"staging":30},"sticky_key":"customer",)"
                        R"("shadow":"2"})"));
  auto put = Send("PUT", "/v2/models/credit-risk/routing", R"({"split": {"2": 1}})", port);
  ASSERT_EQ(put.status, 200) << put.body;
  for (int c = 0; c < 20; ++c) {
    EXPECT_EQ(version_for({{"customer", fmt::format("c{}", c)}}, "/v2/models/credit-risk/infer"),
              "2");
  }
  for (const char* bad :
       {R"({"split": {"2": 0}})", R"({"split": {"../x": 1}})", R"({"mirror": "2"})",
        R"({"split": {"2": -1}})", "[[[[[[[[[[1]]]]]]]]]]", "not json"}) {
    EXPECT_EQ(Send("PUT", "/v2/models/credit-risk/routing", bad, port).status, 400) << bad;
  }
  EXPECT_EQ(Send("PUT", "/v2/models/no-such-model/routing", R"({"split": {"1": 1}})", port).status,
            404);
  // Targets must exist: a typo would send its share of the traffic to 404s.
  EXPECT_EQ(Send("PUT", "/v2/models/credit-risk/routing", R"({"split": {"7": 1}})", port).status,
            404);
  EXPECT_EQ(
      Send("PUT", "/v2/models/credit-risk/routing", R"({"shadow": "no-such-alias"})", port).status,
      404);
  EXPECT_EQ(Send("POST", "/v2/models/credit-risk/routing", "{}", port).status, 405);
  ASSERT_EQ(Send("PUT", "/v2/models/credit-risk/routing", "{}", port).status, 200);
  EXPECT_EQ(version_for(nullptr, "/v2/models/credit-risk/infer"), "1");  // production again
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// The control-plane REST API answers what the CLI's --json answers (one implementation), and
// alias moves through it are recorded and hot-reloaded like the CLI's. Off unless asked for.
TEST_F(ServeCliTest, ControlPlaneApi) {
  EXPECT_EQ(Send("GET", "/api/v1/models").status, 404);  // the suite's server has it off
  const std::string home = CopyHome("control-home");
  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({"--control-plane", "--reload-interval-ms", "100"}, &pid, &port, home));
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home});
    auto r = kiln::testing::RunKiln(args, *dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  auto get = [&](const std::string& path) {
    auto r = Send("GET", path, "", port);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  };
  EXPECT_EQ(get("/api/v1/datasets"), cli({"data", "list", "--json"}));
  EXPECT_EQ(get("/api/v1/datasets/credit@v1"), cli({"data", "show", "credit@v1", "--json"}));
  EXPECT_EQ(get("/api/v1/models"), cli({"models", "list", "--json"}));
  EXPECT_EQ(get("/api/v1/models/credit-risk"), cli({"models", "show", "credit-risk", "--json"}));
  EXPECT_EQ(get("/api/v1/models/credit-risk@staging"),
            cli({"models", "show", "credit-risk@staging", "--json"}));
  const json runs = get("/api/v1/runs?limit=1&order_by=metrics.train.auc%20desc");
  ASSERT_EQ(runs.size(), 1u);
  const std::string run = runs[0]["run_id"];
  EXPECT_EQ(get("/api/v1/runs/" + run), cli({"runs", "show", run, "--json"}));
  EXPECT_EQ(get("/api/v1/runs?filter=" + std::string("params.max_depth%20%3D%20%274%27")).size(),
            1u);
  const json all_runs = get("/api/v1/runs");
  ASSERT_GE(all_runs.size(), 2u);
  const std::string a = all_runs[0]["run_id"], b = all_runs[1]["run_id"];
  EXPECT_EQ(get("/api/v1/runs/compare?ids=" + a + "," + b + "&curves=train.logloss"),
            cli({"runs", "compare", a, b, "--curve", "train.logloss", "--json"}));
  EXPECT_EQ(Send("GET", "/api/v1/runs/compare?ids=" + a + "&curves=nope", "", port).status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/runs/compare", "", port).status, 400);
  // Move production to v2 through the API: recorded with actor "api", served after a reload.
  auto moved = Send("PUT", "/api/v1/models/credit-risk/aliases/production",
                    R"({"version": 2, "reason": "canary passed"})", port);
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(json::parse(moved.body)["previous"], 1);
  const json history = get("/api/v1/models/credit-risk/history");
  EXPECT_EQ(history.back()["actor"], "api");
  EXPECT_EQ(history.back()["reason"], "canary passed");
  EXPECT_TRUE(Eventually([&] {
    auto r = Send("POST", "/v2/models/credit-risk/infer", CreditRow().dump(), port);
    return json::parse(r.body)["model_version"] == "2";
  }));
  auto back = Send("POST", "/api/v1/models/credit-risk/aliases/production/rollback", "", port);
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(json::parse(back.body)["version"], 1);
  // A gated promotion: the CLI's, scored on a dataset version, never a path.
  auto promoted = Send("POST", "/api/v1/models/credit-risk/versions/2/promote",
                       R"({"gate": "auc >= 0", "on": "credit@v1", "reason": "api gate"})", port);
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  const json report = json::parse(promoted.body);
  EXPECT_EQ(report["moved"], true);
  EXPECT_EQ(report["champion"]["version"], 1);
  EXPECT_EQ(report["data"], "credit@v1");
  EXPECT_EQ(get("/api/v1/models/credit-risk@production")["version"], 2);
  EXPECT_EQ(Send("POST", "/api/v1/models/credit-risk/versions/1/promote",
                 R"({"gate": "auc >= 0", "on": "/etc/passwd"})", port)
                .status,
            400);
  EXPECT_EQ(
      Send("POST", "/api/v1/models/credit-risk/versions/1/promote", R"({"on": "credit@v1"})", port)
          .status,
      400);
  // Mistakes are 4xx with a message.
  for (const auto& [method, path, body, status] :
       std::vector<std::tuple<std::string, std::string, std::string, int>>{
           {"PUT", "/api/v1/models/credit-risk/aliases/production", R"({"version": -1})", 400},
           {"PUT", "/api/v1/models/credit-risk/aliases/production", "[1]", 400},
           {"PUT", "/api/v1/models/credit-risk/aliases/production", R"({"version": 99})", 404},
           {"GET", "/api/v1/models/credit-risk/aliases/production", "", 405},
           {"POST", "/api/v1/models", "", 405},
           {"GET", "/api/v1/runs?limit=abc", "", 400},
           {"GET", "/api/v1/runs?filter=params.x%20%3D%3D", "", 400},
           {"GET", "/api/v1/datasets/..%2f..%2fetc", "", 400},
           {"GET", "/api/v1/runs/0123456789abcdef0123456789abcdef", "", 404},
           {"GET", "/api/v1/runs/nope", "", 400},
           {"GET", "/api/v1/nothing", "", 404}}) {
    EXPECT_EQ(Send(method, path, body, port).status, status) << method << " " << path;
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// Jobs over the control plane: queued with the CLI's options, listed, shown and cancelled as
// `kiln jobs` shows them, never naming a file; the queue's depth on /metrics.
TEST_F(ServeCliTest, JobsOverTheControlPlane) {
  const std::string home = CopyHome("jobs-home");
  pid_t pid = 0;
  int port = 0;
  ASSERT_TRUE(StartServer({"--control-plane"}, &pid, &port, home));
  auto post = Send("POST", "/api/v1/jobs",
                   R"({"verb": "train", "options": {"data": "credit@v1", "target": "Status",
                       "params": ["num_trees=5"], "register": "credit-risk"},
                       "idempotency_key": "k1"})",
                   port);
  ASSERT_EQ(post.status, 200) << post.body;
  const json job = json::parse(post.body);
  const int64_t id = job["job_id"];
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["options"]["params"][0], "num_trees=5");
  auto again = Send("POST", "/api/v1/jobs",
                    R"({"verb": "train", "options": {"data": "credit@v1", "target": "Status"},
                        "idempotency_key": "k1"})",
                    port);
  EXPECT_EQ(json::parse(again.body)["job_id"], id);
  auto listed = Send("GET", "/api/v1/jobs?state=queued", "", port);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(json::parse(listed.body)["jobs"].size(), 1u);
  auto cli =
      kiln::testing::RunKiln({"--home", home, "jobs", "show", std::to_string(id), "--json"}, *dir_);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(json::parse(Send("GET", "/api/v1/jobs/" + std::to_string(id), "", port).body),
            json::parse(cli.out));
  // The queue's depth on /metrics, for an autoscaler.
  EXPECT_NE(Send("GET", "/metrics", "", port)
                .body.find("kiln_jobs{queue=\"default\",state=\"queued\"} 1"),
            std::string::npos);
  auto cancelled = Send("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "", port);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(json::parse(cancelled.body)["state"], "cancelled");
  for (const auto& [method, path, body, status] :
       std::vector<std::tuple<std::string, std::string, std::string, int>>{
           {"POST", "/api/v1/jobs", R"({"verb": "trian"})", 400},
           {"POST", "/api/v1/jobs", R"({"verb": "train", "options": {"data": "/etc/passwd",
             "target": "y"}})",
            400},
           {"POST", "/api/v1/jobs", R"({"verb": "train", "options": {"data": "credit",
             "target": "y", "out": "/tmp/x.kiln"}})",
            400},
           {"POST", "/api/v1/jobs", R"({"verb": "ingest", "options": {"file": "/etc/passwd",
             "name": "x"}})",
            400},
           {"POST", "/api/v1/jobs", R"({"verb": "train", "options": {"data": "credit",
             "target": "y", "bogus": 1}})",
            400},
           {"POST", "/api/v1/jobs", R"({"verb": "train", "max_attempts": 0})", 400},
           {"POST", "/api/v1/jobs", R"({"verb": "train", "colour": "red"})", 400},
           {"POST", "/api/v1/jobs", "[]", 400},
           {"GET", "/api/v1/jobs?state=done", "", 400},
           {"GET", "/api/v1/jobs/abc", "", 400},
           {"GET", "/api/v1/jobs/999", "", 404},
           {"POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "", 409},
           {"DELETE", "/api/v1/jobs", "", 405}}) {
    EXPECT_EQ(Send(method, path, body, port).status, status) << method << " " << path << body;
  }
  EXPECT_EQ(json::parse(Send("GET", "/api/v1/jobs", "", port).body)["jobs"].size(), 1u);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// Defined last: in a whole-binary run it stops the server the other tests use.
TEST_F(ServeCliTest, SigtermDrainsAndExitsZero) {
  const auto t0 = Clock::now();
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = 0;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(25));
}

}  // namespace
}  // namespace kiln
