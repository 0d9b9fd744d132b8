#include "smtpd/endpoint.h"

#include "base/strings.h"
#include "ipc/async_stream.h"

namespace postern::smtpd {

Result<std::string> parse_endpoint(std::string_view text, std::string_view queue_directory, bool inet_default) {
  std::string_view ep = str::trim(text);
  if (ep.starts_with("unix:")) {
    std::string path(ep.substr(5));
    if (path.empty()) return make_error("empty path in \"{}\"", str::printable(ep));
    if (path.front() != '/') path = std::string(queue_directory) + "/" + path;
    return "unix:" + path;
  }
  std::string_view hp = ep;
  if (ep.starts_with("inet:")) hp = ep.substr(5);
  else if (!inet_default) return make_error("\"{}\" is not inet:host:port or unix:path", str::printable(ep));
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hp.size() ||
      hp.find_first_of(" \t") != std::string_view::npos)
    return make_error("\"{}\" is not inet:host:port", str::printable(ep));
  return "inet:" + std::string(hp);
}

asio::awaitable<Result<asio::generic::stream_protocol::socket>> connect_endpoint(
    asio::io_context& io, const std::string& endpoint, const std::chrono::milliseconds& timeout) {
  asio::generic::stream_protocol::socket sock(io);
  error_code ec;
  asio::generic::stream_protocol::endpoint ep;
  std::string_view e = endpoint;
  if (e.starts_with("unix:")) {
    ep = asio::local::stream_protocol::endpoint(std::string(e.substr(5)));
  } else {
    std::string_view hp = e.substr(5);
    auto colon = hp.rfind(':');
    std::string host(hp.substr(0, colon)), port(hp.substr(colon + 1));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    asio::ip::tcp::resolver resolver(io);
    auto found = co_await resolver.async_resolve(host, port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || found.empty()) co_return make_error("cannot find {}: {}", host, ec ? ec.message() : "no address");
    ep = asio::generic::stream_protocol::endpoint(found.begin()->endpoint());
  }
  {
    ipc::detail::Watchdog<asio::generic::stream_protocol::socket> dog(sock, timeout);
    co_await sock.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    if (dog.fired()) co_return make_error("connect: timeout");
  }
  if (ec) co_return make_error("connect: {}", ec.message());
  co_return std::move(sock);
}

}  // namespace postern::smtpd
