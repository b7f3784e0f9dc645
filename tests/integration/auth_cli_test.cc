// Tokens and roles end to end (SC-01, SC-02, SC-07): `kiln auth token ...`, then a `kiln serve
// --control-plane` with `auth: required` asked every REST route and every gRPC method with no
// token, malformed / unknown / expired / revoked tokens and a token of each role.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "inference.grpc.pb.h"
#include "kiln/api/permissions.h"
#include "kiln/http/server.h"
#include "testing/kiln_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The roles in order; a credential's rank (-1: not a valid token).
const std::vector<std::string> kRoles = {"viewer", "predictor", "trainer", "deployer", "admin"};

class AuthCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(kiln::testing::MakeTempDir("kiln-auth"));
    home_ = new std::string(*dir_ + "/home");
    secrets_ = new std::map<std::string, std::string>();
    fs::create_directories(*home_);
    const std::string data = kiln::testing::SourceDir() + "/examples/credit/credit_2024.csv";
    ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "credit"}).exit_code, 0);
    auto t = Kiln(
        {"train", "--data", "credit", "--target", "Status", "--param", "num_trees=5", "--json"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    run_id_ = new std::string(json::parse(t.out)["run_id"].get<std::string>());
    ASSERT_EQ(Kiln({"models", "register", *run_id_, "--name", "credit-risk"}).exit_code, 0);
    ASSERT_EQ(Kiln({"models", "alias", "credit-risk", "1", "--set", "production"}).exit_code, 0);
    std::ofstream(*home_ + "/kiln.yaml") << "auth: required\n";
    for (const auto& role : kRoles) (*secrets_)[role] = MakeToken(role, role);
    (*secrets_)["expired"] = MakeToken("expired", "admin", "1s");
    (*secrets_)["revoked"] = MakeToken("revoked", "admin");
    ASSERT_EQ(Kiln({"auth", "token", "revoke", "revoked"}).exit_code, 0);
    access_log_ = new std::string(*dir_ + "/access.log");
    kiln::testing::ServeProcess p;
    ASSERT_TRUE(kiln::testing::StartServe(
        *home_, {"--control-plane", "--access-log", *access_log_, "--access-log-sample", "1"}, &p));
    server_ = p;
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // "expired" expires
  }
  static void TearDownTestSuite() {
    kiln::testing::StopServe(&server_, SIGKILL);
    fs::remove_all(*dir_);
    delete dir_;
    delete home_;
    delete run_id_;
    delete access_log_;
    delete secrets_;
  }

  static kiln::testing::RunResult Kiln(std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", *home_});
    return kiln::testing::RunKiln(args, *dir_);
  }
  // A new token's secret (printed alone on stdout).
  static std::string MakeToken(const std::string& name, const std::string& role,
                               const std::string& expires = "") {
    std::vector<std::string> args = {"auth", "token", "create", "--name", name, "--role", role};
    if (!expires.empty()) args.insert(args.end(), {"--expires", expires});
    auto r = Kiln(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string secret = r.out.substr(0, r.out.find('\n'));
    EXPECT_EQ(secret.size(), 69u) << r.out;
    return secret;
  }

  static http::HttpResponse Send(const std::string& method, const std::string& target,
                                 const std::string& body, const std::string& authorization) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server_.port));
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return {};
    std::vector<std::pair<std::string, std::string>> headers;
    if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
    auto r = (*c)->Send(method, target, body, "application/json", headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::HttpResponse{};
  }
  static std::string Bearer(const std::string& who) { return "Bearer " + secrets_->at(who); }

  // Every credential a request is tried with: the header and the role rank it carries.
  static std::vector<std::pair<std::string, int>> Credentials() {
    std::vector<std::pair<std::string, int>> out = {
        {"", -1},
        {"Bearer", -1},
        {"Bearer not-a-token", -1},
        {"Basic YWRtaW46YWRtaW4=", -1},
        {"Bearer kiln_" + std::string(64, '0'), -1},
        {Bearer("expired"), -1},
        {Bearer("revoked"), -1},
    };
    for (size_t i = 0; i < kRoles.size(); ++i) {
      out.emplace_back(Bearer(kRoles[i]), static_cast<int>(i));
    }
    return out;
  }

  template <typename F>
  static bool Eventually(F done, int seconds = 10) {
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    while (!done() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  static std::string* dir_;
  static std::string* home_;
  static std::string* run_id_;
  static std::string* access_log_;
  static std::map<std::string, std::string>* secrets_;
  static kiln::testing::ServeProcess server_;
};

std::string* AuthCliTest::dir_ = nullptr;
std::string* AuthCliTest::home_ = nullptr;
std::string* AuthCliTest::run_id_ = nullptr;
std::string* AuthCliTest::access_log_ = nullptr;
std::map<std::string, std::string>* AuthCliTest::secrets_ = nullptr;
kiln::testing::ServeProcess AuthCliTest::server_;

struct RouteCase {
  std::string method, target, body;
  int min_rank;  // -1: open to anyone; else the index of the least role in kRoles
};

// SC-01: every route × every credential. The expectations are written out here, not read from
// the server's table; the table must list every route below and nothing else.
TEST_F(AuthCliTest, EveryRouteTimesEveryCredential) {
  const int kPublic = -1, kViewer = 0, kPredictor = 1, kTrainer = 2, kDeployer = 3;
  const std::string infer =
      R"({"inputs":[{"name":"Seniority","datatype":"FP64","shape":[1],"data":[1]}]})";
  const std::string& run = *run_id_;
  const std::vector<RouteCase> routes = {
      {"GET", "/v2/health/live", "", kPublic},
      {"GET", "/v2/health/ready", "", kPublic},
      {"GET", "/v2", "", kViewer},
      {"GET", "/v2/models/stats", "", kViewer},
      {"GET", "/v2/models/credit-risk", "", kViewer},
      {"GET", "/v2/models/credit-risk/ready", "", kViewer},
      {"GET", "/v2/models/credit-risk/stats", "", kViewer},
      {"GET", "/v2/models/credit-risk/versions/1", "", kViewer},
      {"GET", "/v2/models/credit-risk/versions/1/ready", "", kViewer},
      {"GET", "/v2/models/credit-risk/versions/1/stats", "", kViewer},
      {"POST", "/v2/models/credit-risk/infer", infer, kPredictor},
      {"POST", "/v2/models/credit-risk/versions/1/infer", infer, kPredictor},
      {"GET", "/v2/models/credit-risk/routing", "", kViewer},
      {"PUT", "/v2/models/credit-risk/routing", R"({"split":{"production":100}})", kDeployer},
      {"POST", "/v2/repository/index", "", kViewer},
      {"POST", "/v2/repository/models/credit-risk/load", "", kDeployer},
      {"POST", "/v2/repository/models/no-such-model/unload", "", kDeployer},
      {"GET", "/metrics", "", kViewer},
      {"GET", "/api/v1/alerts", "", kViewer},
      {"GET", "/api/v1/models/credit-risk/drift", "", kViewer},
      {"GET", "/api/v1/models/credit-risk/performance", "", kViewer},
      {"POST", "/api/v1/models/credit-risk/feedback", R"({"id":"x"})", kPredictor},
      {"GET", "/api/v1/datasets", "", kViewer},
      {"GET", "/api/v1/datasets/credit", "", kViewer},
      {"GET", "/api/v1/runs?limit=5", "", kViewer},
      {"GET", "/api/v1/runs/" + run, "", kViewer},
      {"GET", "/api/v1/runs/compare?ids=" + run, "", kViewer},
      {"GET", "/api/v1/models", "", kViewer},
      {"GET", "/api/v1/models/credit-risk", "", kViewer},
      {"GET", "/api/v1/models/credit-risk/history", "", kViewer},
      {"PUT", "/api/v1/models/credit-risk/aliases/staging", R"({"version":1,"reason":"t"})",
       kDeployer},
      {"POST", "/api/v1/models/credit-risk/aliases/nothing/rollback", R"({"reason":"t"})",
       kDeployer},
      {"POST", "/api/v1/models/credit-risk/versions/1/promote", R"({"gate":"auc>0","on":"no@v9"})",
       kDeployer},
      {"GET", "/api/v1/jobs", "", kViewer},
      {"POST", "/api/v1/jobs",
       R"({"verb":"eval","options":{"model":"credit-risk@production","data":"credit@v1"}})",
       kTrainer},
      {"GET", "/api/v1/jobs/1", "", kViewer},
      {"POST", "/api/v1/jobs/999/cancel", "", kTrainer},
  };
  // The server's table lists every case, and every row of it has a case.
  for (const auto& r : routes) {
    EXPECT_TRUE(api::RestPermission(r.method, r.target).has_value())
        << r.method << " " << r.target << " is not in the table";
  }
  for (const auto& row : api::RestPermissions()) {
    bool hit = false;
    for (const auto& r : routes) {
      std::string path = r.target.substr(0, r.target.find('?'));
      // A row is exercised when a case's path has its shape.
      std::vector<std::string> a, b;
      for (size_t at = 1; at <= path.size();) {
        const size_t slash = std::min(path.find('/', at), path.size());
        a.push_back(path.substr(at, slash - at));
        at = slash + 1;
      }
      const std::string pattern(row.path);
      for (size_t at = 1; at <= pattern.size();) {
        const size_t slash = std::min(pattern.find('/', at), pattern.size());
        b.push_back(pattern.substr(at, slash - at));
        at = slash + 1;
      }
      bool same = r.method == row.method && a.size() == b.size();
      for (size_t i = 0; same && i < a.size(); ++i) same = b[i].starts_with("{") || a[i] == b[i];
      hit = hit || same;
    }
    EXPECT_TRUE(hit) << row.method << " " << row.path << " has no case here";
  }

  int checked = 0;
  for (const auto& r : routes) {
    for (const auto& [header, rank] : Credentials()) {
      const auto resp = Send(r.method, r.target, r.body, header);
      const std::string what = fmt::format("{} {} with '{}': {} {}", r.method, r.target,
                                           header.substr(0, 16), resp.status, resp.body);
      if (r.min_rank == kPublic) {
        EXPECT_NE(resp.status, 401) << what;
        EXPECT_NE(resp.status, 403) << what;
      } else if (rank < 0) {
        EXPECT_EQ(resp.status, 401) << what;
        bool challenge = false;
        for (const auto& [k, v] : resp.headers)
          challenge = challenge || k == "www-authenticate" || k == "WWW-Authenticate";
        EXPECT_TRUE(challenge) << what;
        EXPECT_EQ(json::parse(resp.body)["code"], "UNAUTHENTICATED") << what;
      } else if (rank < r.min_rank) {
        EXPECT_EQ(resp.status, 403) << what;
        EXPECT_EQ(json::parse(resp.body)["code"], "PERMISSION_DENIED") << what;
      } else {
        EXPECT_NE(resp.status, 401) << what;
        EXPECT_NE(resp.status, 403) << what;
        EXPECT_LT(resp.status, 500) << what;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(routes.size() * Credentials().size()));

  // Default deny: what the table does not list is refused to every role, admin included.
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"DELETE", "/api/v1/models"},
                                                        {"GET", "/v2/repository/index"},
                                                        {"GET", "/nothing"},
                                                        {"POST", "/v2/health/live"}}) {
    EXPECT_EQ(Send(method, target, "", "").status, 401) << method << " " << target;
    EXPECT_EQ(Send(method, target, "", Bearer("admin")).status, 403) << method << " " << target;
  }
}

// Every gRPC method × every credential, through the `authorization` metadata.
TEST_F(AuthCliTest, EveryGrpcMethodTimesEveryCredential) {
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", server_.grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  using Call = std::function<grpc::Status(grpc::ClientContext*)>;
  inference::ModelMetadataRequest meta;
  meta.set_name("credit-risk");
  inference::ModelReadyRequest ready;
  ready.set_name("credit-risk");
  inference::ModelInferRequest infer;
  infer.set_model_name("credit-risk");
  auto* in = infer.add_inputs();
  in->set_name("Seniority");
  in->set_datatype("FP64");
  in->add_shape(1);
  in->mutable_contents()->add_fp64_contents(1);
  const std::vector<std::tuple<std::string, int, Call>> methods = {
      {"ServerLive", -1,
       [&](grpc::ClientContext* c) {
         inference::ServerLiveResponse r;
         return stub->ServerLive(c, {}, &r);
       }},
      {"ServerReady", -1,
       [&](grpc::ClientContext* c) {
         inference::ServerReadyResponse r;
         return stub->ServerReady(c, {}, &r);
       }},
      {"ServerMetadata", 0,
       [&](grpc::ClientContext* c) {
         inference::ServerMetadataResponse r;
         return stub->ServerMetadata(c, {}, &r);
       }},
      {"ModelMetadata", 0,
       [&](grpc::ClientContext* c) {
         inference::ModelMetadataResponse r;
         return stub->ModelMetadata(c, meta, &r);
       }},
      {"ModelReady", 0,
       [&](grpc::ClientContext* c) {
         inference::ModelReadyResponse r;
         return stub->ModelReady(c, ready, &r);
       }},
      {"ModelInfer", 1,
       [&](grpc::ClientContext* c) {
         inference::ModelInferResponse r;
         return stub->ModelInfer(c, infer, &r);
       }},
  };
  EXPECT_EQ(methods.size(), api::GrpcPermissions().size());
  for (const auto& [name, min_rank, call] : methods) {
    ASSERT_TRUE(api::GrpcPermission("/inference.GRPCInferenceService/" + name).has_value());
    for (const auto& [header, rank] : Credentials()) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      if (!header.empty()) ctx.AddMetadata("authorization", header);
      const grpc::Status s = call(&ctx);
      const std::string what = fmt::format("{} with '{}': {} {}", name, header.substr(0, 16),
                                           static_cast<int>(s.error_code()), s.error_message());
      if (min_rank < 0 || rank >= min_rank) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      } else if (rank < 0) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      }
    }
  }
}

// A job's verb needs its own permission; alias moves record the token that made them.
TEST_F(AuthCliTest, JobVerbsAndActors) {
  const std::string promote =
      R"({"verb":"promote","options":{"name":"credit-risk","version":1,"to":"staging",
          "gate":"auc > 0","on":"credit@v1"}})";
  auto denied = Send("POST", "/api/v1/jobs", promote, Bearer("trainer"));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_NE(denied.body.find("promote"), std::string::npos) << denied.body;
  auto queued = Send("POST", "/api/v1/jobs", promote, Bearer("deployer"));
  EXPECT_EQ(queued.status, 200) << queued.body;

  auto moved = Send("PUT", "/api/v1/models/credit-risk/aliases/canary",
                    R"({"version":1,"reason":"try"})", Bearer("deployer"));
  ASSERT_EQ(moved.status, 200) << moved.body;
  auto history = Kiln({"models", "history", "credit-risk", "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_NE(history.out.find("\"token:deployer\""), std::string::npos) << history.out;
}

// New tokens and revocations reach a running server within a refresh; `token list` shows
// states and last use, never a token; no secret is written to the home or the access log.
TEST_F(AuthCliTest, RevocationAndSecrets) {
  const std::string fresh = "Bearer " + MakeToken("fresh", "viewer", "1h");
  EXPECT_TRUE(Eventually([&] { return Send("GET", "/v2", "", fresh).status == 200; }));
  ASSERT_EQ(Kiln({"auth", "token", "revoke", "fresh"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return Send("GET", "/v2", "", fresh).status == 401; }));
  EXPECT_EQ(Kiln({"auth", "token", "revoke", "fresh"}).exit_code, 1);  // not active any more

  ASSERT_EQ(Send("GET", "/v2", "", Bearer("viewer")).status, 200);
  json listed;
  EXPECT_TRUE(Eventually([&] {
    auto l = Kiln({"auth", "token", "list", "--json"});
    listed = json::parse(l.out);
    for (const auto& t : listed) {
      if (t["name"] == "viewer" && t["last_used_ms"].get<int64_t>() > 0) return true;
    }
    return false;
  }));
  std::map<std::string, std::string> state;
  for (const auto& t : listed) state[t["name"].get<std::string>()] = t["state"];
  EXPECT_EQ(state["admin"], "active");
  EXPECT_EQ(state["expired"], "expired");
  EXPECT_EQ(state["revoked"], "revoked");
  EXPECT_EQ(state["fresh"], "revoked");

  // SC-02: the secrets are nowhere on disk (the catalog keeps hashes) nor in the access log.
  std::vector<std::string> files = {*access_log_};
  for (const auto& e : fs::recursive_directory_iterator(*home_)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  const std::string listing = Kiln({"auth", "token", "list"}).out + listed.dump();
  for (const auto& [who, secret] : *secrets_) {
    const std::string hex = secret.substr(5);
    for (const auto& f : files) {
      EXPECT_EQ(kiln::testing::Slurp(f).find(hex), std::string::npos) << who << " in " << f;
    }
    EXPECT_EQ(listing.find(hex), std::string::npos) << who;
  }
}

TEST(AuthCli, TokenVerbsRejectBadInput) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-auth-cli");
  const std::string home = dir + "/new-home";
  auto kiln = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home});
    return kiln::testing::RunKiln(args, dir);
  };
  ASSERT_EQ(kiln({"init"}).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(stat(home.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "a new home is private";
  auto bad_role = kiln({"auth", "token", "create", "--name", "x", "--role", "root"});
  EXPECT_EQ(bad_role.exit_code, 1);
  EXPECT_NE(bad_role.err.find("unknown role 'root'"), std::string::npos) << bad_role.err;
  EXPECT_EQ(kiln({"auth", "token", "create", "--name", "../x", "--role", "admin"}).exit_code, 1);
  EXPECT_EQ(kiln({"auth", "token", "create", "--name", "x", "--role", "admin", "--expires", "-1d"})
                .exit_code,
            1);
  EXPECT_EQ(kiln({"auth", "token", "create", "--name", "x", "--role", "admin"}).exit_code, 0);
  auto twice = kiln({"auth", "token", "create", "--name", "x", "--role", "viewer"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("revoke it first"), std::string::npos) << twice.err;
  EXPECT_EQ(kiln({"auth", "token", "revoke", "nobody"}).exit_code, 1);
  EXPECT_EQ(kiln({"auth", "token"}).exit_code, 2);
  std::ofstream(home + "/kiln.yaml") << "auth: maybe\n";
  auto bad_yaml = kiln({"auth", "token", "list"});
  EXPECT_EQ(bad_yaml.exit_code, 1);
  EXPECT_NE(bad_yaml.err.find("auth must be 'required' or 'off'"), std::string::npos);
  fs::remove_all(dir);
}

// SC-07: a non-loopback address without TLS is refused unless --insecure says otherwise.
TEST(AuthCli, ExposedAddressNeedsInsecure) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-auth-bind");
  const std::string home = dir + "/home";
  fs::create_directories(home);
  for (const std::string yaml : {"", "auth: required\n"}) {
    std::ofstream(home + "/kiln.yaml") << yaml;
    auto r = kiln::testing::RunKiln(
        {"--home", home, "serve", "--address", "0.0.0.0", "--port", "0", "--grpc-port", "-1"}, dir);
    EXPECT_EQ(r.exit_code, 1) << yaml;
    EXPECT_NE(r.err.find("refusing to listen on 0.0.0.0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--insecure"), std::string::npos) << r.err;
  }
  kiln::testing::ServeProcess p;
  ASSERT_TRUE(kiln::testing::StartServe(home, {"--address", "0.0.0.0", "--insecure"}, &p));
  EXPECT_EQ(kiln::testing::StopServe(&p), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// SC-04: every change is in the audit log with its actor (the OS user on the CLI, the token and
// request id over the API); `kiln audit verify` passes, and fails naming the record after an
// edit, a deletion, a reorder, an appended forgery or a removed checkpoint.
TEST_F(AuthCliTest, AuditLogAndTampering) {
  for (const char* name : {"extra-1", "extra-2"}) {
    MakeToken(name, "viewer");
    ASSERT_EQ(Kiln({"auth", "token", "revoke", name}).exit_code, 0);
  }
  auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server_.port));
  ASSERT_TRUE(c.ok());
  auto moved = (*c)->Send("PUT", "/api/v1/models/credit-risk/aliases/audited",
                          R"({"version":1,"reason":"audit"})", "application/json",
                          {{"Authorization", Bearer("deployer")}, {"X-Request-Id", "req-audit-1"}});
  ASSERT_TRUE(moved.ok());
  ASSERT_EQ(moved->status, 200) << moved->body;

  auto log = Kiln({"audit", "log", "--json", "--limit", "1000"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  const json records = json::parse(log.out);
  std::map<std::string, json> by_action;
  for (const auto& r : records)
    by_action[r["action"].get<std::string>() + " " + r["target"].get<std::string>()] = r;
  ASSERT_TRUE(by_action.count("dataset.commit credit@v1")) << log.out;
  EXPECT_TRUE(
      by_action["dataset.commit credit@v1"]["actor"].get<std::string>().starts_with("user:"));
  EXPECT_TRUE(by_action.count("model.register credit-risk:1"));
  EXPECT_TRUE(by_action.count("token.create deployer"));
  EXPECT_TRUE(by_action.count("token.revoke revoked"));
  ASSERT_TRUE(by_action.count("alias.set credit-risk@audited")) << log.out;
  EXPECT_EQ(by_action["alias.set credit-risk@audited"]["actor"], "token:deployer");
  EXPECT_EQ(by_action["alias.set credit-risk@audited"]["request_id"], "req-audit-1");
  auto mine = json::parse(Kiln({"audit", "log", "--actor", "token:deployer", "--json"}).out);
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_GE(records.size(), 16u) << "enough records for a signed checkpoint";

  auto verify = Kiln({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("intact"), std::string::npos) << verify.out;

  kiln::testing::StopServe(&server_);
  struct Tamper {
    std::string sql;
    std::string expected;  // in the error
  };
  const std::vector<Tamper> tampers = {
      {"UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 3", "record 3: its contents"},
      {"DELETE FROM audit_log WHERE seq = 4", "record 5: records 4..4 are missing"},
      {"UPDATE audit_log SET seq = -6 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = 7; "
       "UPDATE audit_log SET seq = 7 WHERE seq = -6",
       "record 6:"},
      {"INSERT INTO audit_log SELECT seq + 1000, time_ms, actor, 'token.create', 'root', outcome, "
       "request_id, detail, hash, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM "
       "audit_log)",
       "are missing"},
      {"DELETE FROM audit_checkpoints", "record 16: the signed checkpoint at record 16 is missing"},
  };
  int n = 0;
  for (const auto& t : tampers) {
    const std::string copy = fmt::format("{}/tampered-{}", *dir_, n++);
    fs::copy(*home_, copy, fs::copy_options::recursive);
    ASSERT_EQ(std::system(fmt::format("sqlite3 '{}/meta.db' \"{}\"", copy, t.sql).c_str()), 0)
        << t.sql;
    auto r = kiln::testing::RunKiln({"--home", copy, "audit", "verify"}, *dir_);
    EXPECT_EQ(r.exit_code, 1) << t.sql;
    EXPECT_NE(r.err.find(t.expected), std::string::npos) << t.sql << "\n" << r.err;
  }
  // The untouched home still verifies.
  EXPECT_EQ(Kiln({"audit", "verify"}).exit_code, 0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// SC-06: past its token's or its address's bucket a client gets 429 with Retry-After (gRPC:
// RESOURCE_EXHAUSTED); health checks are never limited; an address holding its maximum of
// connections has new ones closed until one ends.
TEST(AuthCli, RateAndConnectionLimits) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-limits");
  const std::string home = dir + "/home";
  fs::create_directories(home);
  std::ofstream(home + "/kiln.yaml") << "auth: required\n"
                                        "serving:\n"
                                        "  rate_limit:\n"
                                        "    per_token: {rate: 0.01, burst: 3}\n"
                                        "    per_address: {rate: 0.01, burst: 5}\n"
                                        "  max_connections_per_address: 4\n";
  auto token = [&](const std::string& name) {
    auto r = kiln::testing::RunKiln(
        {"--home", home, "auth", "token", "create", "--name", name, "--role", "viewer"}, dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return "Bearer " + r.out.substr(0, r.out.find('\n'));
  };
  const std::string a = token("a"), b = token("b");
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  auto client = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port));
  ASSERT_TRUE(client.ok());
  auto get = [&](const std::string& path, const std::string& authorization) {
    auto r =
        (*client)->Send("GET", path, "", "application/json", {{"Authorization", authorization}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::HttpResponse{};
  };
  // Token a: its burst of 3, then 429 with a Retry-After of about 1/rate seconds.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/v2", a).status, 200) << i;
  auto limited = get("/v2", a);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_NE(limited.body.find("token:a"), std::string::npos) << limited.body;
  std::string retry;
  for (const auto& [k, v] : limited.headers) {
    if (k == "retry-after") retry = v;
  }
  EXPECT_GE(std::atoi(retry.c_str()), 90) << retry;
  // Token b has its own bucket, but the address's (5) runs out after one more request.
  EXPECT_EQ(get("/v2", b).status, 200);
  auto by_address = get("/v2", b);
  EXPECT_EQ(by_address.status, 429);
  EXPECT_NE(by_address.body.find("address 127.0.0.1"), std::string::npos) << by_address.body;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(get("/v2/health/ready", "").status, 200);
  // gRPC shares the buckets.
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", server.grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", b);
  inference::ServerMetadataResponse meta;
  EXPECT_EQ(stub->ServerMetadata(&ctx, {}, &meta).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Connections: the client above holds one; three more fit, the fifth is closed at once.
  // (The readiness probes' connections are closed by now; give the server a moment to see it.)
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<std::unique_ptr<http::HttpClient>> held;
  for (int i = 0; i < 3; ++i) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port));
    ASSERT_TRUE(c.ok());
    ASSERT_EQ((*c)->Send("GET", "/v2/health/live")->status, 200) << i;
    held.push_back(std::move(*c));
  }
  auto fifth = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port),
                                         std::chrono::seconds(5));
  ASSERT_TRUE(fifth.ok());  // the TCP handshake completes; the server then closes it
  EXPECT_FALSE((*fifth)->Send("GET", "/v2/health/live").ok());
  held.pop_back();
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port));
    admitted = c.ok() && (*c)->Send("GET", "/v2/health/live").ok();
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(admitted) << "a closed connection frees its place";
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// Model poisoning: a registered version's artifact swapped on disk for another valid model is
// refused on load (its SHA-256 no longer matches the name it is registered under).
TEST_F(AuthCliTest, SwappedArtifactIsRefused) {
  auto t = Kiln({"train", "--data", "credit", "--target", "Status", "--param", "num_trees=2",
                 "--param", "max_depth=2", "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const std::string other = json::parse(t.out)["run_id"];
  auto artifact_of = [&](const std::string& run) {
    return json::parse(Kiln({"runs", "show", run, "--json"}).out)["attributes"]["artifact"]
        .get<std::string>();
  };
  const std::string victim = artifact_of(*run_id_), swapped = artifact_of(other);
  ASSERT_EQ(victim.size(), 64u);
  auto path = [&](const std::string& hash) {
    return fmt::format("{}/objects/{}/{}", *home_, hash.substr(0, 2), hash.substr(2));
  };
  ASSERT_TRUE(fs::exists(path(victim)));
  auto before = Kiln({"eval", "--model", "credit-risk:1", "--data", "credit"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  fs::remove(path(victim));
  fs::copy_file(path(swapped), path(victim));
  for (const std::string& model : std::vector<std::string>{"credit-risk:1", *run_id_}) {
    auto r = Kiln({"eval", "--model", model, "--data", "credit"});
    EXPECT_EQ(r.exit_code, 1) << model;
    EXPECT_NE(r.err.find("does not match its SHA-256"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// Training-data integrity: with train.require_validated, training and tuning read only dataset
// versions whose latest check against their rules passed; the run records the check.
TEST(AuthCli, RequireValidatedTraining) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-validated");
  const std::string home = dir + "/home";
  fs::create_directories(home);
  std::ofstream(home + "/kiln.yaml") << "train: {require_validated: true}\n";
  auto kiln = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home});
    return kiln::testing::RunKiln(args, dir);
  };
  const std::string ex = kiln::testing::SourceDir() + "/examples/credit";
  const std::string rules = ex + "/rules.yaml", strict = dir + "/strict.yaml";
  std::ofstream(strict) << "rows: {max: 10}\n";
  ASSERT_EQ(kiln({"data", "ingest", ex + "/credit_2024.csv", "--name", "credit"}).exit_code, 0);
  auto train = [&](const std::string& data) {
    return kiln(
        {"train", "--data", data, "--target", "Status", "--param", "num_trees=3", "--json"});
  };
  auto never = train("credit@v1");
  EXPECT_EQ(never.exit_code, 1);
  EXPECT_NE(never.err.find("never been checked against its rules"), std::string::npos) << never.err;
  auto file = train(ex + "/credit_2024.csv");
  EXPECT_EQ(file.exit_code, 1);
  EXPECT_NE(file.err.find("not a dataset version"), std::string::npos) << file.err;
  EXPECT_EQ(kiln({"data", "validate", "credit@v1", "--rules", strict}).exit_code, 1);
  auto failed = train("credit@v1");
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_NE(failed.err.find("failed its latest check: max_rows"), std::string::npos) << failed.err;
  std::ofstream(dir + "/space.yaml") << "max_depth: {type: int, low: 2, high: 3}\n";
  auto tune_refused = kiln({"tune", "--data", "credit@v1", "--target", "Status", "--space",
                            dir + "/space.yaml", "--trials", "1"});
  EXPECT_EQ(tune_refused.exit_code, 1);
  EXPECT_NE(tune_refused.err.find("require_validated"), std::string::npos) << tune_refused.err;

  ASSERT_EQ(kiln({"data", "validate", "credit@v1", "--rules", rules}).exit_code, 0);
  auto ok = train("credit@v1");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string run = json::parse(ok.out)["run_id"];
  const json shown = json::parse(kiln({"runs", "show", run, "--json"}).out);
  const std::string validated = shown["tags"]["kiln.validated"];
  EXPECT_TRUE(validated.starts_with("rules sha256:")) << validated;
  // A version that passed its rules at ingest is validated by the ingest itself.
  ASSERT_EQ(kiln({"data", "ingest", ex + "/credit_2025q1.csv", "--name", "credit", "--append",
                  "--rules", rules})
                .exit_code,
            0);
  EXPECT_EQ(train("credit").exit_code, 0);
  // Each check is in the audit log.
  const json log = json::parse(kiln({"audit", "log", "--json"}).out);
  int checks = 0;
  for (const auto& r : log) checks += r["action"] == "dataset.validate";
  EXPECT_EQ(checks, 3);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
