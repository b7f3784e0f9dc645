#include <sys/socket.h>
#include <sys/time.h>

#include <utility>  // boost 1.74 asio/awaitable.hpp uses std::exchange without it

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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
  beast::flat_buffer buffer_;
  std::string host_;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  beast::error_code ec;
  impl_->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
}

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& host, uint16_t port,
                                                        std::chrono::milliseconds timeout) {
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
  beast::error_code ec;
  bhttp::write(impl_->stream_, req, ec);
  if (ec) return UnavailableError(fmt::format("send: {}", ec.message()));
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1ull << 32);
  bhttp::read(impl_->stream_, impl_->buffer_, parser, ec);
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
