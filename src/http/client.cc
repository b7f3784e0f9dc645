#include <sys/socket.h>
#include <sys/time.h>

#include <utility>  // boost 1.74 asio/awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "kiln/base/utf8.h"
#include "kiln/http/server.h"

namespace kiln::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class HttpClient::Impl {
 public:
  Impl() : stream_(ioc_) {}
  net::io_context ioc_;
  beast::tcp_stream stream_;
  std::unique_ptr<net::ssl::context> ctx_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream&>> tls_;  // over stream_, when TLS
  beast::flat_buffer buffer_;
  std::string host_;

  template <typename Stream>
  Result<HttpResponse> Exchange(Stream& s, bhttp::request<bhttp::string_body>& req);
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  beast::error_code ec;
  impl_->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
}

namespace {

// A client context that checks the server's certificate against `tls.ca_file` (or the system's
// roots and $SSL_CERT_FILE) and its name or address against `host`.
Result<std::unique_ptr<net::ssl::context>> ClientContext(const ClientTls& tls) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (tls.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(tls.ca_file, ec);
  }
  if (ec) return InvalidArgumentError(fmt::format("TLS CA {}: {}", tls.ca_file, ec.message()));
  if (!tls.cert_file.empty()) {
    ctx->use_certificate_chain_file(tls.cert_file, ec);
    if (!ec) ctx->use_private_key_file(tls.key_file, net::ssl::context::pem, ec);
    if (ec) {
      return InvalidArgumentError(
          fmt::format("TLS client certificate {}: {}", tls.cert_file, ec.message()));
    }
  }
  ctx->set_verify_mode(net::ssl::verify_peer);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& host, uint16_t port,
                                                        std::chrono::milliseconds timeout,
                                                        const ClientTls* tls) {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc_);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (!ec) impl->stream_.connect(results, ec);
  if (ec) return UnavailableError(fmt::format("connect {}:{}: {}", host, port, ec.message()));
  // Blocking reads and writes give up after `timeout` instead of hanging on a silent server.
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  const int fd = impl->stream_.socket().native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  impl->host_ = fmt::format("{}:{}", host, port);
  if (tls != nullptr) {
    KILN_ASSIGN_OR_RETURN(impl->ctx_, ClientContext(*tls));
    impl->tls_ =
        std::make_unique<beast::ssl_stream<beast::tcp_stream&>>(impl->stream_, *impl->ctx_);
    SSL* ssl = impl->tls_->native_handle();
    boost::system::error_code not_ip;
    net::ip::make_address(host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI takes names only
    impl->tls_->set_verify_callback(net::ssl::host_name_verification(host));
    impl->tls_->handshake(net::ssl::stream_base::client, ec);
    if (ec) return UnavailableError(fmt::format("TLS with {}:{}: {}", host, port, ec.message()));
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
  req.set(bhttp::field::host, impl_->host_);
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty() || method == "POST") {
    req.set(bhttp::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  if (impl_->tls_) return impl_->Exchange(*impl_->tls_, req);
  return impl_->Exchange(impl_->stream_, req);
}

template <typename Stream>
Result<HttpResponse> HttpClient::Impl::Exchange(Stream& stream,
                                                bhttp::request<bhttp::string_body>& req) {
  beast::error_code ec;
  bhttp::write(stream, req, ec);
  if (ec) return UnavailableError(fmt::format("send: {}", ec.message()));
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1ull << 32);
  bhttp::read(stream, buffer_, parser, ec);
  if (ec) return UnavailableError(fmt::format("receive: {}", ec.message()));
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  const auto ct = res[bhttp::field::content_type];
  out.content_type = std::string(ct.data(), ct.size());
  for (const auto& f : res) {
    out.headers.emplace_back(AsciiLower({f.name_string().data(), f.name_string().size()}),
                             std::string(f.value().data(), f.value().size()));
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace kiln::http
