// HttpServer: an HTTP/1.1 server with keep-alive on a fixed number of IO threads.
//
//   HttpServerOptions o;                      // 127.0.0.1:8080 by default
//   o.port = 0;                               // or any free port; port() says which
//   auto server = HttpServer::Start(o, [](HttpRequest req, Responder done) {
//     done(HttpResponse{200, "application/json", R"({"ok":true})"});
//   });
//   ...
//   (*server)->Shutdown(std::chrono::seconds(20));  // stop accepting, drain, close
//
// The handler runs on an IO thread and must not block: it answers through `done` — at once or
// later from any thread (a batcher, an inference pool) — exactly once per request. Requests of
// one connection are answered in order, one at a time. Limits (Limits::Default() unless set):
// header size and time (slowloris), body size (413 before it is read past the limit) and time
// (slow drip); a request over a size limit is answered with 431/413 and the connection closed,
// one over a time limit loses its connection. The handler never sees a request that broke a limit.
//
// TLS (options.tls): TLS 1.2 / 1.3 with forward-secret AEAD suites; client certificates when a
// client CA is given; a plaintext request to the TLS port is answered 400 in plaintext and the
// connection closed. ReloadTls() reads the files again for new connections (open ones keep
// theirs).
//
// Thread-safety: Start/Shutdown/ReloadTls from one controlling thread; the responder from any
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/base/tls_files.h"

namespace kiln::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent, e.g. "/v2/models/churn/infer"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_address;  // the client's IP address (server side; "" in a client)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Answers one request; callable from any thread, the first call counts (later ones are
// ignored). Must be called and destroyed before the HttpServer is: Shutdown() first, then stop
// whatever holds responders, then destroy the server.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest, Responder)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port
  int io_threads = 1;
  Limits limits = Limits::Default();
  TlsFiles tls;  // none: plaintext
  // Connections one client address may hold at once (0: any number); more are closed at once.
  uint32_t max_connections_per_address = 0;
};

class HttpServer {
 public:
  // Binds, listens and starts the IO threads; Unavailable if the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   Handler handler);
  // Shutdown(0) unless already shut down.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Requests received and not yet answered.
  int64_t in_flight() const;
  // Stops accepting at once, waits up to `drain` for in-flight requests to be answered (their
  // responses are written; keep-alive connections are closed after them), then closes every
  // connection and joins the IO threads. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);
  // Loads options.tls's files again; new connections get them, open ones keep theirs. On an
  // error (a file missing, a key that does not match) the old ones stay in force.
  Status ReloadTls();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// TLS for HttpClient: the server's certificate is checked against `ca_file` ("" = the system's
// roots, or $SSL_CERT_FILE) and must name the host (or its IP address); `cert_file` and
// `key_file` are the client's certificate for servers that ask for one.
struct ClientTls {
  std::string ca_file;
  std::string cert_file, key_file;
};

// A minimal blocking HTTP/1.1 client for tests, tools and the demo: one connection, keep-alive.
class HttpClient {
 public:
  // Reads and writes give up after `timeout`. With `tls`, the TLS handshake is made here.
  static Result<std::unique_ptr<HttpClient>> Connect(
      const std::string& host, uint16_t port,
      std::chrono::milliseconds timeout = std::chrono::seconds(60), const ClientTls* tls = nullptr);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // Sends one request (with `headers` besides Host, Content-Type and Content-Length) and reads
  // its response (status, content type, body, headers).
  Result<HttpResponse> Send(const std::string& method, const std::string& target,
                            const std::string& body = "",
                            const std::string& content_type = "application/json",
                            const std::vector<std::pair<std::string, std::string>>& headers = {});

  class Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::http
