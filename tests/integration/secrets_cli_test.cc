// SC-05: secrets never leave. Everything runs with API tokens, a PostgreSQL catalog whose URL
// carries a password, TLS with a private key and the home's audit key; then the server's log
// (at debug level), the access log, every response body (errors included), /metrics, the `ps`
// listing and every file of the home are searched for each secret.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "kiln/http/server.h"
#include "testing/postgres_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

TEST(SecretsCli, NoSecretLeavesAnywhere) {
  kiln::testing::PostgresServer pg;
  ASSERT_TRUE(pg.ok()) << pg.error();
  ASSERT_TRUE(pg.CreateDatabase("secrets"));
  const std::string dir = kiln::testing::MakeTempDir("kiln-secrets");
  const std::string home = dir + "/home";
  fs::create_directories(home);
  std::map<std::string, std::string> secrets;  // what -> the secret text
  secrets["postgres password"] = "pw-Q7x9kZr2Lm";
  std::ofstream(home + "/kiln.yaml")
      << fmt::format("catalog: postgresql://kiln:{}@127.0.0.1:{}/secrets\nauth: required\n",
                     secrets["postgres password"], pg.port());
  auto kiln = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home, "--log-level", "debug"});
    return kiln::testing::RunKiln(args, dir);
  };
  std::string cli_output;  // everything the CLI printed, minus the one-time token display
  auto run = [&](std::vector<std::string> args) {
    auto r = kiln(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    cli_output += r.out + r.err;
    return r;
  };
  const std::string data = kiln::testing::SourceDir() + "/examples/credit/credit_2024.csv";
  run({"data", "ingest", data, "--name", "credit"});
  auto trained = kiln({"train", "--data", "credit", "--target", "Status", "--param", "num_trees=5",
                       "--register", "credit-risk"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  run({"models", "alias", "credit-risk", "1", "--set", "production"});
  for (const char* role : {"admin", "viewer", "predictor"}) {
    auto t = kiln({"auth", "token", "create", "--name", role, "--role", role});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    secrets[std::string("token ") + role] = t.out.substr(0, t.out.find('\n'));
    cli_output += t.err;  // stdout is the token itself, shown once by design
  }
  run({"auth", "token", "list"});
  run({"auth", "token", "revoke", "viewer"});
  // TLS with a throw-away CA; the server's private key is a secret too.
  ASSERT_EQ(
      std::system(
          fmt::format(
              "cd '{}' && {{ openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
              "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
              "-keyout server.key -out server.crt; }} > /dev/null 2>&1",
              dir)
              .c_str()),
      0);
  std::string key_pem = kiln::testing::Slurp(dir + "/server.key");
  const size_t pem_body = key_pem.find('\n') + 1;
  secrets["TLS private key"] = key_pem.substr(pem_body, 40);
  secrets["audit key"] = kiln::testing::Slurp(home + "/keys/audit.key").substr(0, 64);
  ASSERT_EQ(secrets["audit key"].size(), 64u);

  const int port = kiln::testing::FreePort();
  const std::string server_log = dir + "/server.log", access_log = dir + "/access.log";
  const pid_t server = kiln::testing::SpawnKiln(
      {"--home", home, "--log-level", "debug", "serve", "--port", std::to_string(port),
       "--grpc-port", "-1", "--control-plane", "--tls-cert", dir + "/server.crt", "--tls-key",
       dir + "/server.key", "--access-log", access_log, "--access-log-sample", "1"},
      server_log);
  http::ClientTls tls{dir + "/server.crt", "", ""};
  auto connect = [&]() {
    return http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(port),
                                     std::chrono::seconds(10), &tls);
  };
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    auto c = connect();
    ready = c.ok() && (*c)->Send("GET", "/v2/health/ready").ok();
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << kiln::testing::Slurp(server_log);
  std::string responses;
  auto c = connect();
  ASSERT_TRUE(c.ok());
  auto send = [&](const std::string& method, const std::string& target, const std::string& who,
                  const std::string& body = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!who.empty()) headers.emplace_back("Authorization", "Bearer " + secrets["token " + who]);
    auto r = (*c)->Send(method, target, body, "application/json", headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) responses += fmt::format("{} {}\n", r->status, r->body);
  };
  send("GET", "/v2/models/credit-risk", "admin");
  send("GET", "/v2/models/credit-risk", "viewer");  // revoked: 401
  send("PUT", "/v2/models/credit-risk/routing", "predictor", R"({"split":{"production":1}})");
  send("POST", "/v2/models/credit-risk/infer", "predictor", R"({"inputs":[]})");
  send("POST", "/v2/models/credit-risk/infer", "predictor", "{not json");
  send("GET", "/api/v1/models/credit-risk", "admin");
  send("GET", "/api/v1/runs?filter=bad%20filter%20(", "admin");
  send("GET", "/metrics", "admin");
  send("GET", "/nothing", "admin");
  const std::string ps = [&] {
    std::system(fmt::format("ps -eo args > '{}/ps.txt'", dir).c_str());
    return kiln::testing::Slurp(dir + "/ps.txt");
  }();
  // A catalog that cannot be reached: the error names the URL with the password masked.
  const std::string other = dir + "/unreachable";
  fs::create_directories(other);
  std::ofstream(other + "/kiln.yaml")
      << fmt::format("catalog: postgresql://kiln:{}@127.0.0.1:1/none?password={}\n",
                     secrets["postgres password"], secrets["postgres password"]);
  auto refused = kiln::testing::RunKiln({"--home", other, "data", "list"}, dir);
  EXPECT_EQ(refused.exit_code, 1);
  cli_output += refused.out + refused.err;
  EXPECT_NE(refused.err.find("***"), std::string::npos) << refused.err;
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);

  std::map<std::string, std::string> places = {
      {"the server's log", kiln::testing::Slurp(server_log)},
      {"the access log", kiln::testing::Slurp(access_log)},
      {"responses and /metrics", responses},
      {"ps", ps},
      {"CLI output", cli_output}};
  ASSERT_NE(places["the server's log"].find("kiln serve: 1 model(s)"), std::string::npos)
      << "the server's output was captured";
  ASSERT_NE(places["responses and /metrics"].find("kiln_requests_total"), std::string::npos);
  for (const auto& e : fs::recursive_directory_iterator(home)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), home).string();
    places["home/" + rel] = kiln::testing::Slurp(e.path().string());
  }
  // The search finds what is there: the two secrets the home keeps by design.
  ASSERT_NE(places["home/kiln.yaml"].find(secrets["postgres password"]), std::string::npos);
  ASSERT_NE(places["home/keys/audit.key"].find(secrets["audit key"]), std::string::npos);
  for (const auto& [what, secret] : secrets) {
    for (const auto& [where, text] : places) {
      // Where a secret lives by design: the audit key in its file, the catalog URL in kiln.yaml.
      if ((what == "audit key" && where == "home/keys/audit.key") ||
          (what == "postgres password" && where == "home/kiln.yaml")) {
        continue;
      }
      EXPECT_EQ(text.find(secret), std::string::npos) << what << " found in " << where;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
