#include "kiln/http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <utility>  // boost 1.74 asio/awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "kiln/base/logging.h"

namespace kiln::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpResponse ErrorResponse(int status, std::string_view message) {
  return {status,
          "application/json",
          fmt::format(R"({{"error":"{}","code":"{}"}})", message,
                      status == 413   ? "RESOURCE_EXHAUSTED"
                      : status == 500 ? "INTERNAL"
                                      : "INVALID_ARGUMENT"),
          {}};
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& options, Handler handler)
      : options_(options),
        handler_(std::move(handler)),
        work_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)) {}

  Status Listen() {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options_.address, ec);
    if (ec) return InvalidArgumentError(fmt::format("bad listen address '{}'", options_.address));
    const tcp::endpoint ep(address, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return UnavailableError(
          fmt::format("cannot listen on {}:{}: {}", options_.address, options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    const int n = std::max(1, options_.io_threads);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { RunIo(); });
    return Status::Ok();
  }

  void Shutdown(std::chrono::milliseconds drain) {
    if (stopped_.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      accept_retry_.cancel();
    });
    {
      std::unique_lock lock(mu_);
      drained_.wait_for(lock, drain, [this] { return in_flight_.load() == 0; });
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  uint16_t port() const { return port_; }
  int64_t in_flight() const { return in_flight_.load(); }
  const Limits& limits() const { return options_.limits; }
  bool stopping() const { return stopped_.load(); }

  // Called by the handler's responder, once per request.
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
  void RunIo() {
    while (true) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        KILN_LOG_ERROR("http io thread: {}", e.what());
      }
    }
  }

  void Accept();

  HttpServerOptions options_;
  Handler handler_;
  net::io_context ioc_;
  // Keeps the IO threads running while requests wait for their responders and no socket
  // operation is pending (e.g. draining after the listener closed).
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;  // on a strand: its handlers and Shutdown's close never overlap
  net::steady_timer accept_retry_{acceptor_.get_executor()};
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> in_flight_{0};
  std::mutex mu_;
  std::condition_variable drained_;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    const Limits& l = server_->limits();
    parser_.emplace();
    parser_->header_limit(l.max_request_header_bytes);
    parser_->body_limit(l.max_request_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(l.header_timeout_ms));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) return Fail(431, "request header too large");
    if (ec == bhttp::error::body_limit) return Fail(413, "request body too large");
    if (ec == beast::error::timeout) return Close();  // idle keep-alive or slowloris
    if (ec) return Close();                           // disconnect or malformed
    const Limits& l = server_->limits();
    stream_.expires_after(std::chrono::milliseconds(l.body_timeout_ms));
    auto& req = parser_->get();
    if (bhttp::token_list(req[bhttp::field::expect]).exists("100-continue")) {
      // curl and others wait for this before sending a body.
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                           if (wec) return self->Close();
                           self->ReadBody();
                         });
      return;
    }
    // A small request's body usually came with its header: parse what is buffered in place
    // and go on at once, instead of another asynchronous read (a GET has no body at all).
    while (!parser_->is_done() && buffer_.size() > 0) {
      beast::error_code pec;
      const size_t used = parser_->put(buffer_.data(), pec);
      buffer_.consume(used);
      if (pec == bhttp::error::need_more) break;
      if (pec) return OnBody(pec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return OnBody({});
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) return Fail(413, "request body too large");
    // A timed-out stream is already closed: the slow-drip client just loses its connection.
    if (ec == beast::error::timeout) return Close();
    if (ec) return Close();
    stream_.expires_never();
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive() && !server_->stopping();
    version_ = msg.version();
    head_request_ = msg.method() == bhttp::verb::head;
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& f : msg) {
      const auto name = f.name_string();
      req.headers.emplace_back(Lower({name.data(), name.size()}),
                               std::string(f.value().data(), f.value().size()));
    }
    req.body = std::move(msg.body());
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Responder done = [self = shared_from_this(), answered](HttpResponse resp) {
      if (answered->exchange(true)) return;  // answered already: a second call is ignored
      // On the connection's strand already (answered within the handler): written at once;
      // from another thread: queued to the strand.
      net::dispatch(self->stream_.get_executor(),
                    [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
    };
    server_->Dispatch(std::move(req), done);
  }

  void Write(HttpResponse resp) {
    // The head is formatted here and written with the body in one gather write (no
    // serializer: the fields are few and ours).
    const bool keep = keep_alive_ && !server_->stopping();
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(resp.status));
    head_ = fmt::format(
        "HTTP/1.{} {} {}\r\nServer: kiln\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        version_ == 10 ? 0 : 1, resp.status, std::string_view(reason.data(), reason.size()),
        resp.content_type, resp.body.size());
    for (const auto& [k, v] : resp.headers) head_ += fmt::format("{}: {}\r\n", k, v);
    if (!keep) {
      head_ += "Connection: close\r\n";
    } else if (version_ == 10) {
      head_ += "Connection: keep-alive\r\n";
    }
    head_ += "\r\n";
    body_ = std::move(resp.body);
    if (head_request_) body_.clear();  // HEAD: the length of the body, not the body
    keep_after_write_ = keep;
    stream_.expires_after(std::chrono::milliseconds(server_->limits().body_timeout_ms));
    const std::array<net::const_buffer, 2> out{net::buffer(head_), net::buffer(body_)};
    net::async_write(stream_, out, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    const bool keep = keep_after_write_;
    body_.clear();
    server_->RequestDone();  // written (or failed): a draining Shutdown may now go on
    if (ec || !keep) return Close();
    ReadHeader();
  }

  // Answers a request that broke a limit (the handler never saw it) and closes.
  void Fail(int status, std::string_view message) {
    HttpResponse r = ErrorResponse(status, message);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "kiln");
    res->set(bhttp::field::content_type, r.content_type);
    res->keep_alive(false);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(5));
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      self->Close();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string head_, body_;  // the response being written
  bool keep_after_write_ = false;
  bool head_request_ = false;
  bool keep_alive_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      // E.g. out of file descriptors under a connection flood: back off instead of spinning.
      KILN_LOG_WARN("accept: {}", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(50));
      accept_retry_.async_wait([this](beast::error_code) {
        if (acceptor_.is_open()) Accept();
      });
      return;
    } else {
      boost::system::error_code nd;
      socket.set_option(tcp::no_delay(true), nd);
      std::make_shared<Session>(std::move(socket), this)->Start();
    }
    if (acceptor_.is_open()) Accept();
  });
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

}  // namespace kiln::http
