// sasl.cpp - see sasl.h.
#include "smtpd/sasl.h"

#include <unistd.h>

#include "base/strings.h"
#include "ipc/async_stream.h"

namespace postern::smtpd {

namespace {

using Socket = asio::generic::stream_protocol::socket;

bool is_mechanism_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '_'))
      return false;
  return true;
}

// What may go into an argument we send: no TAB, LF, CR or NUL.
bool plain_arg(std::string_view s) { return s.find_first_of(std::string_view("\t\n\r\0", 4)) == std::string_view::npos; }

}  // namespace

// ---- settings -------------------------------------------------------------------

Result<SaslSecurity> SaslSecurity::parse(const std::vector<std::string>& options, std::string_view param) {
  SaslSecurity s;
  for (const auto& o : options) {
    std::string v = str::lower(o);
    if (v == "noanonymous") s.noanonymous = true;
    else if (v == "noplaintext") s.noplaintext = true;
    else if (v == "noactive") s.noactive = true;
    else if (v == "nodictionary") s.nodictionary = true;
    else if (v == "mutual_auth") s.mutual_auth = true;
    else if (v == "forward_secrecy") s.forward_secrecy = true;
    else return make_error("{}: unknown SASL security option \"{}\"", param, str::printable(o, 64));
  }
  return s;
}

bool SaslSecurity::allows(const SaslMechanism& m) const {
  if (noanonymous && m.anonymous) return false;
  if (noplaintext && m.plaintext) return false;
  if (noactive && m.active) return false;
  if (nodictionary && m.dictionary) return false;
  if (mutual_auth && !m.mutual_auth) return false;
  if (forward_secrecy && !m.forward_secrecy) return false;
  return true;
}

Result<SaslSettings> SaslSettings::from_config(const config::Config& cfg) {
  SaslSettings s;
  s.enabled = cfg.boolean("smtpd_sasl_auth_enable");
  s.tls_only = cfg.boolean("smtpd_tls_auth_only");
  s.authenticated_header = cfg.boolean("smtpd_sasl_authenticated_header");
  s.broken_clients = cfg.boolean("broken_sasl_auth_clients");
  s.path = std::string(str::trim(cfg.str("smtpd_sasl_path")));
  s.exceptions = cfg.str("smtpd_sasl_exceptions_networks");
  if (s.enabled) {
    std::string type = str::lower(str::trim(cfg.str("smtpd_sasl_type")));
    if (type != "dovecot")
      return make_error("smtpd_sasl_type = {}: Postern supports dovecot only", str::printable(type, 64));
  }
  auto plain = SaslSecurity::parse(cfg.list("smtpd_sasl_security_options"), "smtpd_sasl_security_options");
  if (!plain) return plain.take_error();
  auto tls = SaslSecurity::parse(cfg.list("smtpd_sasl_tls_security_options"), "smtpd_sasl_tls_security_options");
  if (!tls) return tls.take_error();
  s.plain_security = *plain;
  s.tls_security = *tls;
  return s;
}

// ---- the protocol -------------------------------------------------------------

std::optional<std::string> SaslLine::param(std::string_view name, std::size_t from) const {
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > name.size() && a.compare(0, name.size(), name) == 0 && a[name.size()] == '=')
      return a.substr(name.size() + 1);
  }
  return std::nullopt;
}

Result<SaslLine> parse_sasl_line(std::string_view line) {
  if (line.size() > kMaxSaslLine) return make_error("line too long");
  SaslLine out;
  std::string cur;
  bool first = true;
  auto push = [&] {
    if (first) out.command = std::move(cur);
    else out.args.push_back(std::move(cur));
    cur.clear();
    first = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\t') {
      push();
    } else if (c == '\001') {
      // Dovecot's escapes: \0010 NUL, \0011 \001, t TAB, r CR, n/l LF.
      if (++i >= line.size()) return make_error("bad escape");
      switch (line[i]) {
        case '0': cur += '\0'; break;
        case '1': cur += '\001'; break;
        case 't': cur += '\t'; break;
        case 'r': cur += '\r'; break;
        case 'n': case 'l': cur += '\n'; break;
        default: cur += line[i]; break;
      }
    } else {
      cur += c;
    }
  }
  push();
  if (out.command.empty()) return make_error("empty line");
  return out;
}

SaslMechanism parse_mechanism(const SaslLine& l) {
  SaslMechanism m;
  if (l.args.empty()) return m;
  m.name = str::lower(l.args[0]);
  for (auto& c : m.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::size_t i = 1; i < l.args.size(); ++i) {
    const std::string& f = l.args[i];
    if (f == "anonymous") m.anonymous = true;
    else if (f == "plaintext") m.plaintext = true;
    else if (f == "dictionary") m.dictionary = true;
    else if (f == "active") m.active = true;
    else if (f == "forward-secrecy") m.forward_secrecy = true;
    else if (f == "mutual-auth") m.mutual_auth = true;
  }
  return m;
}

bool is_base64(std::string_view s) {
  std::size_t pad = 0;
  for (char c : s) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
  }
  return pad <= 2;
}

Result<SaslEndpoint> SaslEndpoint::parse(std::string_view path, std::string_view queue_directory) {
  SaslEndpoint e;
  path = str::trim(path);
  if (path.empty()) return make_error("smtpd_sasl_path is empty");
  if (str::istarts_with(path, "inet:")) {
    std::string_view hp = path.substr(5);
    std::string_view host, port;
    if (!hp.empty() && hp.front() == '[') {
      auto close = hp.find(']');
      if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
        return make_error("smtpd_sasl_path = {}: expected inet:host:port", str::printable(path, 200));
      host = hp.substr(1, close - 1);
      port = hp.substr(close + 2);
    } else {
      auto colon = hp.rfind(':');
      if (colon == std::string_view::npos)
        return make_error("smtpd_sasl_path = {}: expected inet:host:port", str::printable(path, 200));
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
    }
    if (host.empty() || port.empty())
      return make_error("smtpd_sasl_path = {}: expected inet:host:port", str::printable(path, 200));
    e.host = std::string(host);
    e.port = std::string(port);
    return e;
  }
  if (str::istarts_with(path, "unix:")) path.remove_prefix(5);
  if (path.empty()) return make_error("smtpd_sasl_path = unix: names no socket");
  if (path.front() == '/') e.unix_path = std::string(path);
  else e.unix_path = std::string(queue_directory) + (queue_directory.ends_with('/') ? "" : "/") + std::string(path);
  return e;
}

std::string SaslEndpoint::text() const { return unix_path.empty() ? "inet:" + host + ":" + port : unix_path; }

// ---- the client -----------------------------------------------------------------

struct DovecotAuth::Impl {
  explicit Impl(asio::io_context& io) : sock(io) {}
  Socket sock;
  std::string buf;
  std::chrono::seconds timeout{kSaslTimeout};
  unsigned id = 0;
  int rounds = 0;

  asio::awaitable<Result<std::string>> read_line() {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        co_return line;
      }
      if (buf.size() > kMaxSaslLine) co_return make_error("line from the SASL server too long");
      char chunk[4096];
      error_code ec;
      ipc::detail::Watchdog<Socket> dog(sock, timeout);
      std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return make_error("{}", dog.fired() ? std::string("timeout") : ec == asio::error::eof ? "connection closed" : ec.message());
      buf.append(chunk, n);
    }
  }

  asio::awaitable<Status> write(std::string data) {
    error_code ec;
    ipc::detail::Watchdog<Socket> dog(sock, timeout);
    co_await asio::async_write(sock, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error("{}", dog.fired() ? std::string("timeout") : ec.message());
    co_return Status{};
  }

  // One answer to an AUTH or CONT of request `id`.
  asio::awaitable<Step> answer() {
    Step s;
    if (++rounds > kMaxSaslRounds) {
      s.data = "too many rounds";
      co_return s;
    }
    auto line = co_await read_line();
    if (!line) {
      s.data = line.error().message;
      co_return s;
    }
    auto l = parse_sasl_line(*line);
    if (!l || l->args.empty() || l->args[0] != std::to_string(id)) {
      s.data = "unexpected answer from the SASL server";
      co_return s;
    }
    if (l->command == "OK") {
      auto user = l->param("user", 1);
      if (!user || user->empty() || !plain_arg(*user) || user->size() > 255) {
        s.data = "the SASL server named no usable user";
        co_return s;
      }
      s.kind = Step::Kind::kOk;
      s.user = *user;
    } else if (l->command == "FAIL") {
      s.kind = Step::Kind::kFail;
      s.data = l->param("reason", 1).value_or("");
      s.user = l->param("user", 1).value_or("");
    } else if (l->command == "CONT") {
      std::string challenge = l->args.size() > 1 ? l->args[1] : std::string();
      if (!is_base64(challenge)) {
        s.data = "malformed challenge from the SASL server";
        co_return s;
      }
      s.kind = Step::Kind::kContinue;
      s.data = std::move(challenge);
    } else {
      s.data = "unexpected answer from the SASL server";
    }
    co_return s;
  }
};

DovecotAuth::DovecotAuth(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DovecotAuth::~DovecotAuth() = default;

asio::awaitable<Result<std::unique_ptr<DovecotAuth>>> DovecotAuth::connect(asio::io_context& io, SaslEndpoint ep,
                                                                           std::chrono::seconds timeout) {
  auto impl = std::make_unique<Impl>(io);
  impl->timeout = timeout;
  error_code ec;
  asio::generic::stream_protocol::endpoint target;
  if (!ep.unix_path.empty()) {
    target = asio::local::stream_protocol::endpoint(ep.unix_path);
  } else {
    asio::ip::tcp::resolver resolver(io);
    auto found = co_await resolver.async_resolve(ep.host, ep.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || found.empty()) co_return make_error("SASL: cannot find {}: {}", ep.text(), ec.message());
    target = found.begin()->endpoint();
  }
  impl->sock.open(target.protocol(), ec);
  if (!ec) {
    ipc::detail::Watchdog<Socket> dog(impl->sock, timeout);
    co_await impl->sock.async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && dog.fired()) ec = asio::error::timed_out;
  }
  if (ec) co_return make_error("SASL: Connect to {} failed: {}", ep.text(), ec.message());
  if (auto st = co_await impl->write(fmt::format("VERSION\t1\t2\nCPID\t{}\n", ::getpid())); !st)
    co_return make_error("SASL: {}: {}", ep.text(), st.error().message);
  std::vector<SaslMechanism> mechs;
  bool version = false;
  for (int lines = 0;; ++lines) {
    if (lines > 1000) co_return make_error("SASL: {}: handshake too long", ep.text());
    auto line = co_await impl->read_line();
    if (!line) co_return make_error("SASL: {}: {}", ep.text(), line.error().message);
    auto l = parse_sasl_line(*line);
    if (!l) co_return make_error("SASL: {}: {}", ep.text(), l.error().message);
    if (l->command == "VERSION") {
      if (l->args.empty() || l->args[0] != "1")
        co_return make_error("SASL: {}: unsupported protocol version", ep.text());
      version = true;
    } else if (l->command == "MECH") {
      SaslMechanism m = parse_mechanism(*l);
      if (is_mechanism_name(m.name) && mechs.size() < 64) mechs.push_back(std::move(m));
    } else if (l->command == "DONE") {
      break;
    }
    // SPID, CUID, COOKIE and anything newer: not needed here.
  }
  if (!version) co_return make_error("SASL: {}: no VERSION in the handshake", ep.text());
  std::unique_ptr<DovecotAuth> a(new DovecotAuth(std::move(impl)));
  a->mechs_ = std::move(mechs);
  co_return a;
}

asio::awaitable<DovecotAuth::Step> DovecotAuth::start(std::string mechanism, std::optional<std::string> initial,
                                                      SaslClientInfo info) {
  Step bad;
  if (!is_mechanism_name(mechanism) || (initial && !is_base64(*initial)) || !plain_arg(info.local_ip) ||
      !plain_arg(info.local_port) || !plain_arg(info.remote_ip) || !plain_arg(info.remote_port)) {
    bad.data = "malformed request";
    co_return bad;
  }
  Impl& i = *impl_;
  ++i.id;
  std::string req = fmt::format("AUTH\t{}\t{}\tservice=smtp\tnologin", i.id, mechanism);
  if (!info.local_ip.empty()) req += "\tlip=" + info.local_ip;
  if (!info.local_port.empty()) req += "\tlport=" + info.local_port;
  if (!info.remote_ip.empty()) req += "\trip=" + info.remote_ip;
  if (!info.remote_port.empty()) req += "\trport=" + info.remote_port;
  if (info.secured) req += "\tsecured";
  if (initial) req += "\tresp=" + *initial;
  req += "\n";
  if (auto st = co_await i.write(std::move(req)); !st) {
    bad.data = st.error().message;
    co_return bad;
  }
  co_return co_await i.answer();
}

asio::awaitable<DovecotAuth::Step> DovecotAuth::next(std::string response) {
  Step bad;
  if (!is_base64(response)) {
    bad.data = "malformed response";
    co_return bad;
  }
  Impl& i = *impl_;
  if (auto st = co_await i.write(fmt::format("CONT\t{}\t{}\n", i.id, response)); !st) {
    bad.data = st.error().message;
    co_return bad;
  }
  co_return co_await i.answer();
}

}  // namespace postern::smtpd
