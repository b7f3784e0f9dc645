#include "kiln/http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <utility>  // boost 1.74 asio/awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>

#include "kiln/base/logging.h"
#include "kiln/base/utf8.h"

// The server runs one io_context per IO thread: a connection belongs to one of them for its
// whole life, so its reads, writes and handler calls never overlap and need no strand. Requests
// are parsed by Beast's basic_parser straight into an HttpRequest (no field containers), out of
// the connection's own buffer; responses are sent with one non-blocking gather write, falling
// back to an asynchronous write only when the socket's buffer is full. Timeouts are deadlines
// that each IO thread's sweep timer checks a few times a second, instead of a timer per
// operation. With TLS a connection first reads what the client sends: a TLS handshake goes on
// from those bytes, anything else (a plaintext request to the TLS port) gets a plaintext 400 and
// the connection is closed. Responses over TLS are written with one asynchronous gather write.
namespace kiln::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using TlsStream = net::ssl::stream<Socket>;
using TlsContext = net::ssl::context;

constexpr int64_t kSweepMs = 100;
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kReadChunk = 64 << 10;
constexpr uint32_t kLingerMs = 2000;
constexpr uint64_t kLingerBytes = 1 << 20;

HttpResponse ErrorResponse(int status, std::string_view message) {
  return {status,
          "application/json",
          fmt::format(R"({{"error":"{}","code":"{}"}})", message,
                      status == 413   ? "RESOURCE_EXHAUSTED"
                      : status == 500 ? "INTERNAL"
                      : status == 501 ? "UNIMPLEMENTED"
                                      : "INVALID_ARGUMENT"),
          {}};
}

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A server TLS context from PEM files: TLS 1.2 and 1.3 only, forward-secret AEAD suites only for
// TLS 1.2 (TLS 1.3's are all AEAD), client certificates required when `files.client_ca` is set.
Result<std::shared_ptr<TlsContext>> ServerContext(const TlsFiles& files) {
  auto ctx = std::make_shared<TlsContext>(TlsContext::tls_server);
  ctx->set_options(TlsContext::default_workarounds | TlsContext::no_sslv2 | TlsContext::no_sslv3 |
                   TlsContext::no_tlsv1 | TlsContext::no_tlsv1_1 | TlsContext::no_compression |
                   TlsContext::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert, ec);
  if (ec) {
    return InvalidArgumentError(fmt::format("TLS certificate {}: {}", files.cert, ec.message()));
  }
  ctx->use_private_key_file(files.key, TlsContext::pem, ec);
  if (ec) {
    return InvalidArgumentError(fmt::format("TLS key {}: {} (it must be the PEM private key of {})",
                                            files.key, ec.message(), files.cert));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return InvalidArgumentError(
        fmt::format("TLS key {}: it must be the PEM private key of {}", files.key, files.cert));
  }
  if (!files.client_ca.empty()) {
    ctx->load_verify_file(files.client_ca, ec);
    if (ec) {
      return InvalidArgumentError(
          fmt::format("TLS client CA {}: {}", files.client_ca, ec.message()));
    }
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

class Connection;

// One IO thread with its io_context and the connections it owns.
struct Loop {
  std::mutex mu;                          // guards conns: connect, destroy, sweep
  std::unordered_set<Connection*> conns;  // declared before ioc: outlives the handlers in it
  int64_t now_ms = SteadyMillis();        // advanced by the sweep; read on this thread only
  net::io_context ioc{1};
  net::executor_work_guard<Executor> work{ioc.get_executor()};
  net::steady_timer sweep{ioc};
  std::thread thread;
};

// Beast's parser writing the request line, fields and body into an HttpRequest.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(HttpRequest* req) : req_(req) {}
  bool expect_continue = false;
  bool head = false;
  unsigned version = 11;

 private:
  void on_request_impl(bhttp::verb method, beast::string_view method_str, beast::string_view target,
                       int v, beast::error_code&) override {
    req_->method.assign(method_str.data(), method_str.size());
    req_->target.assign(target.data(), target.size());
    head = method == bhttp::verb::head;
    version = static_cast<unsigned>(v);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    if (is_header_done()) return;  // a chunked body's trailer fields: not headers
    if (f == bhttp::field::transfer_encoding) transfer_encoding_ = true;
    if (f == bhttp::field::expect && bhttp::token_list(value).exists("100-continue")) {
      expect_continue = true;  // curl and others wait for "100 Continue" before the body
    }
    req_->headers.emplace_back(AsciiLower({name.data(), name.size()}),
                               std::string(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code& ec) override {
    // Beast reads a body of any other coding as no body at all (RFC 7230 3.3.3 wants it
    // refused: its bytes would be read as the next request).
    if (transfer_encoding_ && !chunked()) ec = bhttp::error::bad_transfer_encoding;
  }
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    // A declared length was checked against the body limit; room for more than 1 MB is made
    // as the bytes come, not on the client's word.
    if (length) req_->body.reserve(static_cast<size_t>(std::min<uint64_t>(*length, 1 << 20)));
  }
  size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    req_->body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view s, beast::error_code&) override {
    req_->body.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  HttpRequest* req_;
  bool transfer_encoding_ = false;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {
    const int n = std::max(1, options_.io_threads);
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<Loop>());
    acceptor_.emplace(loops_[0]->ioc.get_executor());
    accept_retry_.emplace(loops_[0]->ioc);
  }

  Status Listen() {
    if (options_.tls.enabled()) {
      KILN_ASSIGN_OR_RETURN(auto ctx, ServerContext(options_.tls));
      std::lock_guard lock(mu_);
      tls_ = std::move(ctx);
    }
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options_.address, ec);
    if (ec) return InvalidArgumentError(fmt::format("bad listen address '{}'", options_.address));
    const tcp::endpoint ep(address, options_.port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return UnavailableError(
          fmt::format("cannot listen on {}:{}: {}", options_.address, options_.port, ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    Accept();
    for (auto& loop : loops_) {
      Sweep(loop.get());
      loop->thread = std::thread([this, l = loop.get()] { RunIo(l); });
    }
    return Status::Ok();
  }

  void Shutdown(std::chrono::milliseconds drain) {
    if (stopped_.exchange(true)) return;
    const auto until = std::chrono::steady_clock::now() + drain;
    // Each loop closes its connections that wait for a request (loop 0 first closes the
    // listener); the others answer what they have and close after.
    closing_left_ = static_cast<int>(loops_.size());
    for (size_t i = 0; i < loops_.size(); ++i) {
      net::post(loops_[i]->ioc, [this, i] {
        if (i == 0) {
          boost::system::error_code ec;
          acceptor_->close(ec);
          accept_retry_->cancel();
        }
        CloseReading(loops_[i].get());
        std::lock_guard lock(mu_);
        if (--closing_left_ == 0) drained_.notify_all();
      });
    }
    {
      std::unique_lock lock(mu_);
      drained_.wait_until(lock, until, [this] { return closing_left_ == 0; });
      drained_.wait_until(lock, until, [this] { return in_flight_.load() == 0; });
    }
    for (auto& loop : loops_) {
      loop->work.reset();
      loop->ioc.stop();
    }
    for (auto& loop : loops_) {
      if (loop->thread.joinable()) loop->thread.join();
    }
  }

  uint16_t port() const { return port_; }
  int64_t in_flight() const { return in_flight_.load(); }
  // New connections use the files as they are now; open ones keep their context.
  Status ReloadTls() {
    if (!options_.tls.enabled()) return Status::Ok();
    KILN_ASSIGN_OR_RETURN(auto ctx, ServerContext(options_.tls));
    std::lock_guard lock(mu_);
    tls_ = std::move(ctx);
    return Status::Ok();
  }
  std::shared_ptr<TlsContext> tls() {
    std::lock_guard lock(mu_);
    return tls_;
  }
  // Counts a new connection from `address`; false when it would hold more than the limit.
  bool Admit(const std::string& address) {
    if (options_.max_connections_per_address == 0) return true;
    std::lock_guard lock(mu_);
    auto it = per_address_.try_emplace(address, 0).first;
    if (it->second >= options_.max_connections_per_address) return false;
    ++it->second;
    return true;
  }
  void Release(const std::string& address) {
    if (options_.max_connections_per_address == 0) return;
    std::lock_guard lock(mu_);
    auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  const Limits& limits() const { return options_.limits; }
  bool stopping() const { return stopped_.load(); }

  // Called once per dispatched request, when its response is written (or failed).
  void RequestDone() {
    if (in_flight_.fetch_sub(1) == 1) {
      std::lock_guard lock(mu_);
      drained_.notify_all();
    }
  }
  // Runs the handler; the firewall: a handler that throws gets its request answered with 500
  // (a responder ignores every call after its first) and the server stays up.
  void Dispatch(HttpRequest req, const Responder& done) {
    in_flight_.fetch_add(1);
    try {
      handler_(std::move(req), done);
    } catch (const std::exception& e) {
      KILN_LOG_ERROR("http handler threw: {}", e.what());
      done(ErrorResponse(500, "internal error"));
    } catch (...) {
      KILN_LOG_ERROR("http handler threw a non-exception");
      done(ErrorResponse(500, "internal error"));
    }
  }

 private:
  void RunIo(Loop* loop) {
    while (true) {
      try {
        loop->ioc.run();
        return;
      } catch (const std::exception& e) {
        KILN_LOG_ERROR("http io thread: {}", e.what());
      }
    }
  }

  void Accept();
  void Sweep(Loop* loop);
  void CloseReading(Loop* loop);

  HttpServerOptions options_;
  Handler handler_;
  std::vector<std::unique_ptr<Loop>> loops_;
  size_t next_loop_ = 0;              // round robin; used by the accept handler only
  std::optional<Acceptor> acceptor_;  // on loops_[0]
  std::optional<net::steady_timer> accept_retry_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> in_flight_{0};
  std::mutex mu_;                    // guards tls_ and per_address_; with drained_
  std::shared_ptr<TlsContext> tls_;  // null: plaintext
  std::unordered_map<std::string, uint32_t> per_address_;  // open connections by client
  std::condition_variable drained_;                        // in_flight_ or closing_left_ reached 0
  int closing_left_ = 0;  // loops yet to close their connections at shutdown
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `address` was admitted (Impl::Admit) and is released when the connection goes.
  Connection(Socket socket, Loop* loop, HttpServer::Impl* server, std::shared_ptr<TlsContext> tls,
             std::string address)
      : socket_(std::move(socket)),
        loop_(loop),
        server_(server),
        tls_ctx_(std::move(tls)),
        address_(std::move(address)) {
    if (tls_ctx_) tls_.emplace(std::move(socket_), *tls_ctx_);
    std::lock_guard lock(loop_->mu);
    loop_->conns.insert(this);
  }
  ~Connection() {
    server_->Release(address_);
    std::lock_guard lock(loop_->mu);
    loop_->conns.erase(this);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // On the loop's thread from here on.
  void Start() {
    if (!tls_) return Process();
    // The first bytes decide: a TLS handshake record (0x16), or plaintext sent to the TLS port.
    state_ = State::kHandshake;
    SetDeadline(server_->limits().header_timeout_ms);
    Grow();
    Raw().async_read_some(net::buffer(buf_.get(), capacity_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            if (self->state_ == State::kClosed) return;
                            if (ec || n == 0) return self->Close();
                            if (static_cast<unsigned char>(self->buf_[0]) != 0x16)
                              return self->RefusePlaintext();
                            self->tls_->async_handshake(
                                net::ssl::stream_base::server, net::buffer(self->buf_.get(), n),
                                [self](boost::system::error_code hec, size_t) {
                                  if (self->state_ == State::kClosed) return;
                                  if (hec) {
                                    KILN_LOG_DEBUG("TLS handshake failed: {}", hec.message());
                                    return self->Close();
                                  }
                                  self->state_ = State::kReading;
                                  self->Process();
                                });
                          });
  }
  bool Expired(int64_t now_ms) const { return deadline_ms_ != 0 && now_ms >= deadline_ms_; }
  // Waiting for (the rest of) a request: closed at shutdown, while one with a request in hand
  // answers it and closes after.
  bool Reading() const { return state_ == State::kReading || state_ == State::kHandshake; }
  // Past its deadline: a slow client (or an idle keep-alive) loses its connection.
  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    deadline_ms_ = 0;
    boost::system::error_code ec;
    Raw().shutdown(tcp::socket::shutdown_send, ec);
    Raw().close(ec);
  }

 private:
  // kDraining: an answer over a limit was written; the rest of the request is read and dropped
  // for a while so that closing does not reset the connection before the client reads it.
  enum class State { kHandshake, kReading, kHandling, kWriting, kDraining, kClosed };

  // The TCP socket, under TLS or not.
  Socket& Raw() { return tls_ ? tls_->next_layer() : socket_; }

  // A plaintext request on the TLS port: answered in plaintext, then closed.
  void RefusePlaintext() {
    state_ = State::kReading;
    plaintext_reply_ = true;
    begin_ = end_ = 0;
    Fail(400, "this port speaks TLS: use https://");
  }

  void SetDeadline(uint32_t timeout_ms) {
    // The loop's clock lags by up to a sweep: a deadline is never early, at most a sweep late.
    deadline_ms_ = loop_->now_ms + timeout_ms + kSweepMs;
  }

  // Parses what is buffered and dispatches each complete request; reads when it needs more.
  // Re-entered from a response written within the handler: `processing_` keeps it one loop.
  void Process() {
    processing_ = true;
    const Limits& l = server_->limits();
    while (state_ == State::kReading) {
      if (!parser_) {
        request_ = HttpRequest{};
        request_.remote_address = address_;
        parser_.emplace(&request_);
        parser_->eager(true);
        parser_->header_limit(l.max_request_header_bytes);
        parser_->body_limit(l.max_request_body_bytes);
        SetDeadline(l.header_timeout_ms);  // idle keep-alive and slowloris
      }
      const bool had_header = parser_->is_header_done();
      // A chunked body ends with at least 5 bytes ("0\r\n\r\n") that the parser looks at
      // together, and Boost 1.74's parser asserts it is never handed fewer in that state: with
      // fewer buffered the request cannot be complete, so read on.
      if (begin_ == end_ || (had_header && parser_->chunked() && end_ - begin_ < 5)) break;
      beast::error_code ec;
      begin_ += parser_->put(net::const_buffer(buf_.get() + begin_, end_ - begin_), ec);
      if (ec == bhttp::error::header_limit) return Fail(431, "request header too large");
      if (ec == bhttp::error::body_limit) return Fail(413, "request body too large");
      if (ec == bhttp::error::bad_transfer_encoding) {
        return Fail(501, "transfer encodings other than chunked are not supported");
      }
      if (ec && ec != bhttp::error::need_more) {  // malformed
        processing_ = false;
        return Close();
      }
      if (!had_header && parser_->is_header_done()) {
        SetDeadline(l.body_timeout_ms);  // slow drip
        if (parser_->expect_continue && parser_->version == 11 && !parser_->is_done() &&
            !SendContinue()) {
          processing_ = false;
          return Close();
        }
      }
      if (!parser_->is_done()) break;
      DispatchRequest();
    }
    processing_ = false;
    if (state_ == State::kReading) Read();
  }

  // False if the connection cannot go on (a part of the line was sent).
  bool SendContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    if (tls_) {
      // Written while the body is read; a response waits for it (TlsSend).
      continue_writing_ = true;
      net::async_write(*tls_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](boost::system::error_code ec, size_t) {
                         self->continue_writing_ = false;
                         if (self->state_ == State::kClosed) return;
                         if (ec) return self->Close();
                         if (self->state_ == State::kWriting) self->TlsSend();
                       });
      return true;
    }
    boost::system::error_code ec;
    const size_t n = socket_.send(net::buffer(kContinue.data(), kContinue.size()), 0, ec);
    // Not sent at all (the socket's buffer is full): the client sends the body after its wait.
    if (ec == net::error::would_block || ec == net::error::try_again) return true;
    return !ec && n == kContinue.size();
  }

  void Read() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == capacity_) {
      if (begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      } else if (!Grow()) {
        // Only an unfinished header (or chunk header) fills the buffer: the parser takes body
        // bytes as they come and refuses a header over its limit before the buffer is full.
        return Close();
      }
    } else if (capacity_ == 0) {
      Grow();
    }
    auto on_read = [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (self->state_ == State::kClosed) return;
      if (ec) return self->Close();  // disconnect (or a close by the sweep)
      self->end_ += n;
      self->Process();
    };
    const auto into = net::buffer(buf_.get() + end_, capacity_ - end_);
    if (tls_) return tls_->async_read_some(into, std::move(on_read));
    socket_.async_read_some(into, std::move(on_read));
  }

  bool Grow() {
    const size_t cap =
        std::max<size_t>(kReadChunk, size_t{server_->limits().max_request_header_bytes} + 1);
    if (capacity_ >= cap) return false;
    const size_t size = capacity_ == 0 ? kInitialBuffer : std::min(cap, capacity_ * 2);
    auto grown = std::make_unique<char[]>(size);
    if (end_ > begin_) std::memcpy(grown.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    buf_ = std::move(grown);
    capacity_ = size;
    return true;
  }

  void DispatchRequest() {
    keep_alive_ = parser_->keep_alive() && !server_->stopping();
    version_ = parser_->version;
    head_request_ = parser_->head;
    parser_.reset();
    state_ = State::kHandling;
    deadline_ms_ = 0;  // the handler's own deadlines apply
    const uint64_t seq = ++seq_;
    awaiting_.store(seq);
    Responder done = [self = shared_from_this(), seq](HttpResponse resp) {
      uint64_t expected = seq;
      if (!self->awaiting_.compare_exchange_strong(expected, 0)) return;  // answered already
      // Answered within its own handler: written at once; from anywhere else (another thread,
      // or another connection's work on this loop): queued to the loop, so one connection's
      // handler never runs inside another's.
      if (self->loop_->ioc.get_executor().running_in_this_thread() && self->processing_) {
        return self->Write(std::move(resp), true);
      }
      net::post(self->loop_->ioc,
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), true); });
    };
    server_->Dispatch(std::move(request_), done);
  }

  // `counted`: the response to a dispatched request (RequestDone after it is written).
  void Write(HttpResponse resp, bool counted) {
    const bool keep = counted && keep_alive_ && !server_->stopping();
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(resp.status));
    head_.clear();
    fmt::format_to(std::back_inserter(head_),
                   "HTTP/1.{} {} {}\r\nServer: kiln\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                   version_ == 10 ? 0 : 1, resp.status,
                   std::string_view(reason.data(), reason.size()), resp.content_type,
                   resp.body.size());
    for (const auto& [k, v] : resp.headers)
      fmt::format_to(std::back_inserter(head_), "{}: {}\r\n", k, v);
    if (!keep) {
      head_ += "Connection: close\r\n";
    } else if (version_ == 10) {
      head_ += "Connection: keep-alive\r\n";
    }
    head_ += "\r\n";
    body_ = std::move(resp.body);
    if (head_request_) body_.clear();  // HEAD: the length of the body, not the body
    keep_after_write_ = keep;
    counted_ = counted;
    written_ = 0;
    if (state_ == State::kClosed) return AfterWrite(net::error::operation_aborted);
    state_ = State::kWriting;
    Send();
  }

  std::array<net::const_buffer, 2> Unsent() const {
    const size_t h = std::min(written_, head_.size());
    const size_t b = written_ - h;
    return {net::buffer(head_.data() + h, head_.size() - h),
            net::buffer(body_.data() + b, body_.size() - b)};
  }

  // Over TLS: one asynchronous gather write (after a 100 Continue still being written).
  void TlsSend() {
    if (continue_writing_) return;  // its completion calls this again
    SetDeadline(server_->limits().body_timeout_ms);
    net::async_write(*tls_, Unsent(),
                     [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                       if (self->state_ == State::kClosed) {
                         return self->AfterWrite(net::error::operation_aborted);
                       }
                       self->written_ += n;
                       self->AfterWrite(ec);
                     });
  }

  // One non-blocking gather write, usually all of it; the rest when the socket can take it.
  void Send() {
    if (tls_ && !plaintext_reply_) return TlsSend();
    Socket& sock = Raw();
    const size_t total = head_.size() + body_.size();
    while (written_ < total) {
      boost::system::error_code ec;
      const size_t n = sock.send(Unsent(), 0, ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        SetDeadline(server_->limits().body_timeout_ms);
        sock.async_write_some(
            Unsent(), [self = shared_from_this()](boost::system::error_code wec, size_t wn) {
              if (wec || self->state_ == State::kClosed) {
                return self->AfterWrite(wec ? wec : net::error::operation_aborted);
              }
              self->written_ += wn;
              self->Send();
            });
        return;
      }
      if (ec) return AfterWrite(ec);
      written_ += n;
    }
    AfterWrite({});
  }

  void AfterWrite(boost::system::error_code ec) {
    deadline_ms_ = 0;
    body_.clear();
    if (counted_) server_->RequestDone();  // a draining Shutdown may now go on
    counted_ = false;
    if (!ec && linger_) return Drain();
    if (ec || !keep_after_write_) return Close();
    state_ = State::kReading;
    if (!processing_) Process();
  }

  // After an answer over a limit: stop sending, read and drop what the client still sends (up
  // to kLingerBytes, for at most kLingerMs), then close. Closing with unread bytes would reset
  // the connection, and the client could lose the answer before reading it.
  void Drain() {
    Socket& sock = Raw();  // what is dropped needs no decrypting
    if (state_ != State::kDraining) {
      state_ = State::kDraining;
      boost::system::error_code ec;
      sock.shutdown(tcp::socket::shutdown_send, ec);
      SetDeadline(kLingerMs);
      if (capacity_ == 0) Grow();
    }
    sock.async_read_some(net::buffer(buf_.get(), capacity_),
                         [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                           if (self->state_ != State::kDraining) return;  // closed by the sweep
                           self->dropped_ += n;
                           if (ec || self->dropped_ > kLingerBytes) return self->Close();
                           self->Drain();
                         });
  }

  // Answers a request that broke a limit (the handler never saw it) and closes.
  void Fail(int status, std::string_view message) {
    processing_ = false;
    keep_alive_ = false;
    linger_ = true;
    if (parser_) version_ = parser_->version == 10 ? 10 : 11;
    head_request_ = false;
    parser_.reset();
    Write(ErrorResponse(status, message), false);
  }

  Socket socket_;  // plaintext; moved into tls_ under TLS
  Loop* loop_;
  HttpServer::Impl* server_;
  std::shared_ptr<TlsContext> tls_ctx_;  // kept while the connection lives
  const std::string address_;            // the client's IP address
  std::optional<TlsStream> tls_;
  bool plaintext_reply_ = false;   // the 400 to a plaintext request on the TLS port
  bool continue_writing_ = false;  // a 100 Continue is being written over TLS
  State state_ = State::kReading;
  bool processing_ = false;
  int64_t deadline_ms_ = 0;  // on the loop's clock; 0: none
  // Read buffer: [begin_, end_) not parsed yet.
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0, begin_ = 0, end_ = 0;
  HttpRequest request_;
  std::optional<RequestParser> parser_;
  // The request being answered.
  uint64_t seq_ = 0;
  std::atomic<uint64_t> awaiting_{0};  // its number until a responder call claims it
  bool keep_alive_ = false;
  bool head_request_ = false;
  unsigned version_ = 11;
  // The response being written.
  std::string head_, body_;
  size_t written_ = 0;
  bool keep_after_write_ = false;
  bool counted_ = false;
  bool linger_ = false;  // drain the input before closing (after an answer over a limit)
  uint64_t dropped_ = 0;
};

}  // namespace

void HttpServer::Impl::Accept() {
  Loop* loop = loops_[next_loop_++ % loops_.size()].get();
  acceptor_->async_accept(loop->ioc.get_executor(), [this, loop](boost::system::error_code ec,
                                                                 Socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
      // E.g. out of file descriptors under a connection flood: back off instead of spinning.
      KILN_LOG_WARN("accept: {}", ec.message());
      accept_retry_->expires_after(std::chrono::milliseconds(50));
      accept_retry_->async_wait([this](boost::system::error_code) {
        if (acceptor_->is_open()) Accept();
      });
      return;
    }
    if (stopped_.load()) return;  // accepted just before the listener closed: dropped
    boost::system::error_code nd;
    std::string address = socket.remote_endpoint(nd).address().to_string();
    if (nd || !Admit(address)) {  // gone already, or over its connection limit
      socket.close(nd);
      if (acceptor_->is_open()) Accept();
      return;
    }
    socket.set_option(tcp::no_delay(true), nd);
    socket.non_blocking(true, nd);  // Send() writes directly and takes would_block
    auto c = std::make_shared<Connection>(std::move(socket), loop, this, tls(), std::move(address));
    net::post(loop->ioc, [c] { c->Start(); });
    if (acceptor_->is_open()) Accept();
  });
}

namespace {

// Closes the loop's connections that `close(connection)` picks; on the loop's thread.
template <typename Pick>
void CloseWhere(Loop* loop, Pick close) {
  std::vector<std::shared_ptr<Connection>> picked;
  {
    std::lock_guard lock(loop->mu);
    for (Connection* c : loop->conns) {
      // A connection whose last owner is gone waits in its destructor for this lock.
      if (close(*c)) {
        if (auto s = c->weak_from_this().lock()) picked.push_back(std::move(s));
      }
    }
  }
  for (auto& c : picked) c->Close();
  picked.clear();  // destructors take the lock: outside it
}

}  // namespace

void HttpServer::Impl::Sweep(Loop* loop) {
  loop->now_ms = SteadyMillis();
  CloseWhere(loop, [now = loop->now_ms](const Connection& c) { return c.Expired(now); });
  loop->sweep.expires_after(std::chrono::milliseconds(kSweepMs));
  loop->sweep.async_wait([this, loop](boost::system::error_code ec) {
    if (!ec) Sweep(loop);
  });
}

void HttpServer::Impl::CloseReading(Loop* loop) {
  CloseWhere(loop, [](const Connection& c) { return c.Reading(); });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  KILN_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port(); }
int64_t HttpServer::in_flight() const { return impl_->in_flight(); }
void HttpServer::Shutdown(std::chrono::milliseconds drain) { impl_->Shutdown(drain); }
Status HttpServer::ReloadTls() { return impl_->ReloadTls(); }

}  // namespace kiln::http
