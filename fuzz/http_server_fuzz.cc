// The HTTP/1.1 server on arbitrary bytes: one server (small limits, three IO threads) for the
// whole run; each input is written on a fresh connection in pieces (the first byte picks their
// size, so requests split at every point), the write side is closed, and everything the server
// answers is read until it closes. What the server sends must be HTTP/1.x responses, and it must
// close the connection (no hang, no crash, no sanitizer report).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "kiln/http/server.h"

namespace {

kiln::http::HttpServer* Server() {
  static kiln::http::HttpServer* server = [] {
    kiln::http::HttpServerOptions o;
    o.port = 0;
    o.io_threads = 3;
    o.limits.max_request_header_bytes = 1024;
    o.limits.max_request_body_bytes = 4096;
    o.limits.header_timeout_ms = 2000;
    o.limits.body_timeout_ms = 2000;
    auto s = kiln::http::HttpServer::Start(
        o, [](kiln::http::HttpRequest req, kiln::http::Responder done) {
          std::string text = req.method + " " + req.target + " " + std::to_string(req.body.size());
          for (const auto& [k, v] : req.headers) text += "\n" + k + ": " + v;
          done({req.target.size() % 2 ? 404 : 200, "text/plain", text, {{"X-Fuzz", "1"}}});
        });
    if (!s.ok()) __builtin_trap();
    return s->release();  // lives for the whole process
  }();
  return server;
}

// connect(), finished when libFuzzer's timer signal interrupts it.
bool Connect(int fd, const sockaddr_in& addr) {
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  if (errno != EINTR) return false;
  pollfd p{fd, POLLOUT, 0};
  while (poll(&p, 1, 5000) < 0) {
    if (errno != EINTR) return false;
  }
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  errno = error;
  return error == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(Server()->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Each connection from another loopback address: the server closes first, and its TIME_WAIT
  // entries would use up one address's ports within a run.
  static uint32_t next = 0;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | (next++ & 0xffff));
  const int late_port = 1;  // the port is picked by connect, which may reuse TIME_WAIT ones
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &late_port, sizeof late_port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 || !Connect(fd, addr)) {
    std::perror("http_server_fuzz: connect");
    __builtin_trap();
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (size_t at = 1; at < size; at += piece) {
    const size_t n = std::min(piece, size - at);
    // The server may close early (a request over a limit): no SIGPIPE, stop writing.
    ssize_t sent;
    do {
      sent = send(fd, data + at, n, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(n)) break;
  }
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  const int error = n < 0 ? errno : 0;
  close(fd);
  // A reset is a close (the server dropped a bad request with bytes still unread); a timeout
  // means the server neither answered nor closed within 5 s.
  if (n < 0 && error != ECONNRESET) {
    std::fprintf(stderr, "http_server_fuzz: read: %s after %zu bytes\n", std::strerror(error),
                 out.size());
    __builtin_trap();
  }
  if (!out.empty() && out.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
