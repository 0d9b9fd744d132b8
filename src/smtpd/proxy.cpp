#include "smtpd/proxy.h"

#include <array>

#include "base/strings.h"
#include "ipc/async_stream.h"
#include "smtp/xtext.h"
#include "smtpd/endpoint.h"

namespace postern::smtpd {

namespace {

using Socket = asio::generic::stream_protocol::socket;

// Content is sent in writes of about this size.
constexpr std::size_t kProxyChunk = 64 * 1024;
// The filter's replies: an endless or huge one cannot exhaust memory.
constexpr smtp::ReplyLimits kProxyReplyLimits{.max_line = 2048, .max_lines = 100, .max_reply_bytes = 64 * 1024,
                                              .max_queued = 10};

}  // namespace

Result<ProxySettings> ProxySettings::from_config(const config::Config& cfg) {
  ProxySettings s;
  s.timeout = cfg.time("smtpd_proxy_timeout");
  s.ehlo = cfg.str("smtpd_proxy_ehlo");
  if (s.ehlo.empty()) s.ehlo = cfg.str("myhostname");
  for (const auto& o : cfg.list("smtpd_proxy_options"))
    return make_error("smtpd_proxy_options: \"{}\" is not implemented (only the default, empty, is)",
                      str::printable(o, 64));
  const std::string value = cfg.str("smtpd_proxy_filter");
  // Postfix: "port" or ":port" means localhost.
  std::string spec(str::trim(value));
  if (spec.empty()) return s;
  if (!spec.starts_with("unix:") && !spec.starts_with("inet:")) {
    if (spec.find(':') == std::string::npos) spec = "localhost:" + spec;
    else if (spec.front() == ':') spec = "localhost" + spec;
  }
  auto ep = parse_endpoint(spec, cfg.str("queue_directory"), true);
  if (!ep) return make_error("smtpd_proxy_filter: {}", ep.error().message);
  s.endpoint = std::move(*ep);
  return s;
}

struct ProxyFilter::Impl {
  Impl(Socket s, std::chrono::seconds t) : sock(std::move(s)), timeout(t) {}
  Socket sock;
  std::chrono::seconds timeout;
  smtp::ReplyParser parser{kProxyReplyLimits};

  asio::awaitable<Status> write(const std::string& data) {
    error_code ec;
    ipc::detail::Watchdog<Socket> dog(sock, timeout);
    co_await asio::async_write(sock, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error("write: {}", dog.fired() ? std::string("timeout") : ec.message());
    co_return Status{};
  }

  asio::awaitable<Result<smtp::Reply>> read_reply() {
    if (auto r = parser.next()) co_return std::move(r->reply);
    if (parser.failed()) co_return make_error("malformed reply");
    ipc::detail::Watchdog<Socket> dog(sock, timeout);
    std::array<char, 4096> buf;
    for (;;) {
      error_code ec;
      std::size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_return make_error("read: {}", dog.fired()               ? std::string("timeout")
                                         : ec == asio::error::eof ? std::string("connection closed")
                                                                  : ec.message());
      }
      auto st = parser.feed(std::string_view(buf.data(), n));
      if (auto r = parser.next()) co_return std::move(r->reply);
      if (!st) co_return make_error("{}", st.error().message);
    }
  }
};

ProxyFilter::ProxyFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyFilter::~ProxyFilter() = default;

asio::awaitable<Result<std::unique_ptr<ProxyFilter>>> ProxyFilter::open(asio::io_context& io,
                                                                        const ProxySettings& settings) {
  const std::chrono::milliseconds timeout = settings.timeout;
  auto sock = co_await connect_endpoint(io, settings.endpoint, timeout);
  if (!sock) co_return sock.take_error();
  std::unique_ptr<ProxyFilter> p(new ProxyFilter(std::make_unique<Impl>(std::move(*sock), settings.timeout)));
  auto greeting = co_await p->impl_->read_reply();
  if (!greeting) co_return make_error("greeting: {}", greeting.error().message);
  if (greeting->klass() != 2) co_return make_error("greeting: {}", greeting->to_string());
  std::string ehlo = "EHLO " + settings.ehlo;
  auto r = co_await p->command(ehlo);
  if (r && r->klass() == 5) {
    std::string helo = "HELO " + settings.ehlo;
    r = co_await p->command(helo);
  }
  if (!r) co_return make_error("EHLO: {}", r.error().message);
  if (r->klass() != 2) co_return make_error("EHLO: {}", r->to_string());
  for (std::size_t i = 1; i < r->lines.size(); ++i) {
    auto words = str::split(r->lines[i], " \t");
    if (words.empty() || !str::iequals(words[0], "XFORWARD")) continue;
    for (std::size_t w = 1; w < words.size(); ++w) {
      std::string a(words[w]);
      for (auto& c : a) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      p->xforward_.push_back(std::move(a));
    }
  }
  co_return p;
}

asio::awaitable<Result<smtp::Reply>> ProxyFilter::command(const std::string& line) {
  std::string wire = line + "\r\n";
  if (auto st = co_await impl_->write(wire); !st) co_return st.take_error();
  co_return co_await impl_->read_reply();
}

asio::awaitable<Status> ProxyFilter::flush(bool force) {
  if (out_.empty() || (!force && out_.size() < kProxyChunk)) co_return Status{};
  std::string data = std::move(out_);
  out_.clear();
  co_return co_await impl_->write(data);
}

asio::awaitable<Result<smtp::Reply>> ProxyFilter::end() {
  enc_.finish(out_);
  if (auto st = co_await flush(true); !st) co_return st.take_error();
  co_return co_await impl_->read_reply();
}

asio::awaitable<void> ProxyFilter::quit() {
  std::string line = "QUIT";
  (void)co_await command(line);
  error_code ignore;
  impl_->sock.close(ignore);
}

void ProxyFilter::abandon() {
  error_code ignore;
  impl_->sock.close(ignore);
}

std::vector<std::string> proxy_xforward_commands(const XforwardClient& c, const std::vector<std::string>& offered) {
  auto offers = [&](std::string_view a) { return std::find(offered.begin(), offered.end(), a) != offered.end(); };
  auto value = [](const std::string& v) { return v.empty() ? std::string("[UNAVAILABLE]") : smtp::xtext_encode(v); };
  std::string addr = c.addr;
  if (addr.find(':') != std::string::npos) addr = "IPV6:" + addr;
  const std::pair<const char*, std::string> attrs[] = {
      {"NAME", value(c.name)},   {"ADDR", value(addr)},   {"PORT", value(c.port)},
      {"PROTO", value(c.proto)}, {"HELO", value(c.helo)}, {"SOURCE", "REMOTE"}};
  std::vector<std::string> out;
  std::string cmd;
  for (const auto& [name, v] : attrs) {
    if (!offers(name)) continue;
    std::string item = std::string(" ") + name + "=" + v;
    // 512 bytes per command line with its CRLF (RFC 5321 4.5.3.1.4).
    if (!cmd.empty() && cmd.size() + item.size() + 2 > 512) {
      out.push_back(std::move(cmd));
      cmd.clear();
    }
    if (cmd.empty()) cmd = "XFORWARD";
    cmd += item;
  }
  if (!cmd.empty()) out.push_back(std::move(cmd));
  return out;
}

}  // namespace postern::smtpd
