// `kiln serve` over TLS (SC-03, and SC-07 with TLS): HTTPS checked by curl --cacert, gRPC by a
// secure channel (C++ and Python's grpcio), a plaintext request to the TLS port, protocol
// versions and cipher suites offered by `openssl s_client`, mutual TLS, and a certificate
// replaced and reloaded on SIGHUP while a connection stays open. The certificates are made by
// the openssl command for each test.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "inference.grpc.pb.h"
#include "kiln/http/server.h"
#include "testing/kiln_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class TlsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-tls");
    home_ = dir_ + "/home";
    fs::create_directories(home_);
    // A throw-away CA, a server certificate for 127.0.0.1 and a client certificate.
    ASSERT_EQ(Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "-days 2 -subj /CN=kiln-test-ca -keyout ca.key -out ca.crt"),
              0);
    ASSERT_TRUE(MakeCert("server-1", "subjectAltName=IP:127.0.0.1,DNS:localhost"));
    ASSERT_TRUE(MakeCert("client", "extendedKeyUsage=clientAuth"));
    fs::copy_file(dir_ + "/server-1.crt", dir_ + "/server.crt");
    fs::copy_file(dir_ + "/server-1.key", dir_ + "/server.key");
    std::ofstream(home_ + "/kiln.yaml") << "auth: required\n";
    auto t = Kiln({"auth", "token", "create", "--name", "t", "--role", "viewer"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    token_ = t.out.substr(0, t.out.find('\n'));
  }
  void TearDown() override {
    kiln::testing::StopServe(&server_, SIGKILL);
    fs::remove_all(dir_);
  }

  // Runs `cmd` with sh in the test's directory; its exit status.
  int Sh(const std::string& cmd) {
    const int rc =
        std::system(fmt::format("cd '{}' && {{ {}; }} > sh.out 2>&1", dir_, cmd).c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string ShOut() { return kiln::testing::Slurp(dir_ + "/sh.out"); }
  // NAME.key and NAME.crt signed by the test CA, with `ext` as its extension.
  bool MakeCert(const std::string& name, const std::string& ext) {
    std::ofstream(dir_ + "/" + name + ".ext") << ext << "\n";
    return Sh(fmt::format("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                          "-subj /CN={0} -keyout {0}.key -out {0}.csr && openssl x509 -req -in "
                          "{0}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "
                          "{0}.ext -out {0}.crt",
                          name)) == 0;
  }
  kiln::testing::RunResult Kiln(std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home_});
    return kiln::testing::RunKiln(args, dir_);
  }
  // kiln serve over TLS with `extra` flags, ready when /v2/health/ready answers over TLS.
  bool Serve(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--tls-cert", dir_ + "/server.crt", "--tls-key",
                                     dir_ + "/server.key"};
    args.insert(args.end(), extra.begin(), extra.end());
    http::ClientTls tls{dir_ + "/ca.crt", dir_ + "/client.crt", dir_ + "/client.key"};
    return kiln::testing::StartServe(home_, args, &server_, &tls);
  }
  std::string Url(const std::string& path) {
    return fmt::format("https://127.0.0.1:{}{}", server_.port, path);
  }
  std::string Curl(const std::string& flags, const std::string& path) {
    return fmt::format("curl -sS --max-time 10 -H 'Authorization: Bearer {}' {} {}", token_, flags,
                       Url(path));
  }
  std::shared_ptr<grpc::Channel> Channel(bool tls, bool client_cert = false) {
    const auto target = fmt::format("127.0.0.1:{}", server_.grpc_port);
    if (!tls) return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = kiln::testing::Slurp(dir_ + "/ca.crt");
    if (client_cert) {
      o.pem_cert_chain = kiln::testing::Slurp(dir_ + "/client.crt");
      o.pem_private_key = kiln::testing::Slurp(dir_ + "/client.key");
    }
    return grpc::CreateChannel(target, grpc::SslCredentials(o));
  }
  grpc::Status Metadata(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + token_);
    inference::ServerMetadataResponse r;
    return stub->ServerMetadata(&ctx, {}, &r);
  }
  // The subject of the certificate `port` presents to a new connection.
  std::string Subject(int port, const std::string& flags = "") {
    Sh(fmt::format("openssl s_client -connect 127.0.0.1:{} -CAfile ca.crt {} < /dev/null", port,
                   flags));
    const std::string out = ShOut();
    const size_t at = out.find("subject=");
    return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
  }

  std::string dir_, home_, token_;
  kiln::testing::ServeProcess server_;
};

TEST_F(TlsCliTest, HttpsAndGrpcOverTls) {
  ASSERT_TRUE(Serve());
  // HTTPS, checked against the test CA; the system's roots do not know it.
  EXPECT_EQ(Sh(Curl("--cacert ca.crt", "/v2")), 0) << ShOut();
  EXPECT_NE(ShOut().find("\"name\":\"kiln\""), std::string::npos) << ShOut();
  EXPECT_EQ(Sh(Curl("", "/v2")), 60) << ShOut();
  // A plaintext request to the TLS port: a plaintext 400 that says so, then the connection ends.
  EXPECT_EQ(Sh(fmt::format("curl -sS --max-time 10 http://127.0.0.1:{}/v2", server_.port)), 0)
      << ShOut();
  EXPECT_NE(ShOut().find("this port speaks TLS"), std::string::npos) << ShOut();
  // The kiln CLI as a client: https:// with the CA in SSL_CERT_FILE, the token in KILN_TOKEN.
  setenv("SSL_CERT_FILE", (dir_ + "/ca.crt").c_str(), 1);
  setenv("KILN_TOKEN", token_.c_str(), 1);
  auto alerts = Kiln({"monitor", "alerts", "--url", Url("")});
  EXPECT_EQ(alerts.exit_code, 0) << alerts.err;
  // gRPC: a secure channel works, a plaintext one does not.
  EXPECT_TRUE(Metadata(Channel(true)).ok());
  EXPECT_FALSE(Metadata(Channel(false)).ok());
  // Python's grpcio with a secure channel (the example client).
  const std::string py =
      fmt::format("/usr/bin/python3 {}/examples/serving/grpc_client.py 127.0.0.1:{} ",
                  kiln::testing::SourceDir(), server_.grpc_port);
  EXPECT_EQ(Sh(py + "--ca ca.crt server"), 0) << ShOut();
  EXPECT_NE(ShOut().find("kiln"), std::string::npos) << ShOut();
  ASSERT_EQ(Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
               "-days 2 -subj /CN=other-ca -keyout other.key -out other.crt"),
            0);
  EXPECT_NE(Sh(py + "--ca other.crt server"), 0) << "a CA that did not sign it";
  EXPECT_NE(Sh(py + "server"), 0) << "plaintext to the TLS port";
  unsetenv("SSL_CERT_FILE");
  unsetenv("KILN_TOKEN");
}

// SC-03: TLS 1.2 and 1.3 with AEAD suites only.
TEST_F(TlsCliTest, OnlyModernProtocolsAndSuites) {
  ASSERT_TRUE(Serve());
  const std::string connect = fmt::format(
      "openssl s_client -connect 127.0.0.1:{} -CAfile ca.crt -verify_return_error", server_.port);
  EXPECT_EQ(Sh(connect + " -tls1_3 < /dev/null"), 0) << ShOut();
  EXPECT_EQ(Sh(connect + " -tls1_2 < /dev/null"), 0) << ShOut();
  EXPECT_EQ(Sh(connect + " -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 < /dev/null"), 0)
      << ShOut();
  // What an old client offers is refused by the server (the client is told to allow it).
  EXPECT_NE(Sh(connect + " -tls1_1 -cipher DEFAULT@SECLEVEL=0 < /dev/null"), 0) << ShOut();
  EXPECT_NE(Sh(connect + " -tls1 -cipher DEFAULT@SECLEVEL=0 < /dev/null"), 0) << ShOut();
  EXPECT_NE(Sh(connect + " -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA < /dev/null"), 0) << ShOut();
  EXPECT_NE(Sh(connect + " -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 < /dev/null"), 0) << ShOut();
}

// Mutual TLS: without a certificate from the client CA, no request gets through.
TEST_F(TlsCliTest, MutualTls) {
  ASSERT_TRUE(Serve({"--tls-client-ca", dir_ + "/ca.crt"}));
  EXPECT_NE(Sh(Curl("--cacert ca.crt", "/v2")), 0) << ShOut();
  EXPECT_EQ(Sh(Curl("--cacert ca.crt --cert client.crt --key client.key", "/v2")), 0) << ShOut();
  EXPECT_FALSE(Metadata(Channel(true)).ok());
  EXPECT_TRUE(Metadata(Channel(true, true)).ok());
}

// A renewed certificate is served after SIGHUP (HTTPS) and within seconds (gRPC re-reads its
// files); a connection opened before goes on.
TEST_F(TlsCliTest, SighupReloadsWithoutDroppingConnections) {
  ASSERT_TRUE(Serve());
  http::ClientTls tls{dir_ + "/ca.crt", "", ""};
  auto kept = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server_.port),
                                        std::chrono::seconds(10), &tls);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ((*kept)->Send("GET", "/v2/health/ready")->status, 200);
  EXPECT_NE(Subject(server_.port).find("server-1"), std::string::npos) << ShOut();

  ASSERT_TRUE(MakeCert("server-2", "subjectAltName=IP:127.0.0.1"));
  fs::copy_file(dir_ + "/server-2.crt", dir_ + "/server.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(dir_ + "/server-2.key", dir_ + "/server.key", fs::copy_options::overwrite_existing);
  ASSERT_EQ(kill(server_.pid, SIGHUP), 0);
  const auto until = Clock::now() + std::chrono::seconds(15);
  bool http_renewed = false, grpc_renewed = false;
  while (Clock::now() < until && !(http_renewed && grpc_renewed)) {
    http_renewed = http_renewed || Subject(server_.port).find("server-2") != std::string::npos;
    grpc_renewed = grpc_renewed ||
                   Subject(server_.grpc_port, "-alpn h2").find("server-2") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(http_renewed);
  EXPECT_TRUE(grpc_renewed);
  auto again = (*kept)->Send("GET", "/v2/health/ready");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, 200);
  EXPECT_TRUE(Metadata(Channel(true)).ok());
  // A broken file on SIGHUP keeps the current certificate in force.
  std::ofstream(dir_ + "/server.key") << "not a key\n";
  ASSERT_EQ(kill(server_.pid, SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Sh(Curl("--cacert ca.crt", "/v2")), 0) << ShOut();
}

// SC-07: with TLS and tokens a non-loopback address needs no --insecure; bad TLS files are a
// clean error at start.
TEST_F(TlsCliTest, ExposedWithTlsAndTokensAndBadFiles) {
  kiln::testing::ServeProcess p;
  http::ClientTls tls{dir_ + "/ca.crt", "", ""};
  ASSERT_TRUE(kiln::testing::StartServe(home_,
                                        {"--address", "0.0.0.0", "--tls-cert", dir_ + "/server.crt",
                                         "--tls-key", dir_ + "/server.key"},
                                        &p, &tls));
  EXPECT_EQ(kiln::testing::StopServe(&p), 0);
  auto serve = [&](std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"serve", "--port", "0", "--grpc-port", "-1"});
    return Kiln(flags);
  };
  auto wrong_key = serve({"--tls-cert", dir_ + "/server.crt", "--tls-key", dir_ + "/client.key"});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.err.find("must be the PEM private key of"), std::string::npos)
      << wrong_key.err;
  auto missing = serve({"--tls-cert", dir_ + "/nope.crt", "--tls-key", dir_ + "/server.key"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.crt"), std::string::npos) << missing.err;
  EXPECT_EQ(serve({"--tls-cert", dir_ + "/server.crt"}).exit_code, 1);
  EXPECT_EQ(serve({"--tls-client-ca", dir_ + "/ca.crt"}).exit_code, 1);
}

}  // namespace
}  // namespace kiln
