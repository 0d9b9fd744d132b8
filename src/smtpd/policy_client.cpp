// policy_client.cpp - see policy_client.h.
#include "smtpd/policy_client.h"

#include "smtpd/endpoint.h"

#include <array>
#include <optional>

#include "base/strings.h"
#include "config/registry.h"
#include "ipc/async_stream.h"
#include "log/log.h"

namespace postern::smtpd {

namespace {

Result<std::chrono::milliseconds> time_value(std::string_view name, std::string_view v) {
  auto t = config::parse_time(v, 's');
  if (!t || *t < 1) return make_error("bad time value for {}: {}", name, str::printable(v));
  return std::chrono::milliseconds(*t * 1000);
}

Result<int> count_value(std::string_view name, std::string_view v, int min) {
  auto n = str::parse_uint(v);
  if (!n || *n < static_cast<std::uint64_t>(min) || *n > 1000000000)
    return make_error("bad numerical value for {}: {}", name, str::printable(v));
  return static_cast<int>(*n);
}

// One attribute of a "{...}" group or a main.cf default.
Status set_attribute(PolicyServiceSpec& s, std::string_view name, std::string_view value) {
  auto t = [&](std::chrono::milliseconds& out) -> Status {
    auto r = time_value(name, value);
    if (!r) return r.error();
    out = *r;
    return {};
  };
  if (name == "timeout") return t(s.timeout);
  if (name == "max_idle") return t(s.max_idle);
  if (name == "max_ttl") return t(s.max_ttl);
  if (name == "retry_delay") return t(s.retry_delay);
  if (name == "request_limit" || name == "try_limit") {
    auto n = count_value(name, value, name == "try_limit" ? 1 : 0);
    if (!n) return n.error();
    (name == "try_limit" ? s.try_limit : s.request_limit) = *n;
    return {};
  }
  if (name == "default_action") {
    if (value.empty()) return make_error("default_action is empty");
    s.default_action = std::string(value);
    return {};
  }
  if (name == "policy_context") {
    s.policy_context = std::string(value);
    return {};
  }
  return make_error("unknown policy service attribute \"{}\"", str::printable(name));
}

Status check_endpoint(PolicyServiceSpec& s, std::string_view ep, const config::Config& cfg) {
  auto e = parse_endpoint(ep, cfg.str("queue_directory"), false);
  if (!e) return e.error();
  s.endpoint = std::move(*e);
  return {};
}

}  // namespace

Result<PolicyServiceSpec> PolicyServiceSpec::parse(std::string_view arg, const config::Config& cfg) {
  PolicyServiceSpec s;
  s.text = std::string(str::trim(arg));
  auto ms = [](std::chrono::seconds x) { return std::chrono::duration_cast<std::chrono::milliseconds>(x); };
  s.timeout = ms(cfg.time("smtpd_policy_service_timeout"));
  s.max_idle = ms(cfg.time("smtpd_policy_service_max_idle"));
  s.max_ttl = ms(cfg.time("smtpd_policy_service_max_ttl"));
  s.retry_delay = ms(cfg.time("smtpd_policy_service_retry_delay"));
  s.request_limit = static_cast<int>(cfg.integer("smtpd_policy_service_request_limit"));
  s.try_limit = static_cast<int>(cfg.integer("smtpd_policy_service_try_limit"));
  s.default_action = cfg.str("smtpd_policy_service_default_action");
  s.policy_context = cfg.str("smtpd_policy_service_policy_context");
  std::string_view t = s.text;
  if (!t.empty() && t.front() == '{') {
    auto items = config::split_list(config::strip_braces(t));
    if (items.empty()) return make_error("empty policy service group \"{}\"", str::printable(t));
    if (auto st = check_endpoint(s, items[0], cfg); !st) return st.error();
    for (std::size_t i = 1; i < items.size(); ++i) {
      std::string item = config::strip_braces(items[i]);
      auto eq = item.find('=');
      if (eq == std::string::npos) return make_error("\"{}\" is not name=value", str::printable(item));
      if (auto st = set_attribute(s, str::trim(std::string_view(item).substr(0, eq)),
                                  str::trim(std::string_view(item).substr(eq + 1)));
          !st)
        return st.error();
    }
    return s;
  }
  if (auto st = check_endpoint(s, t, cfg); !st) return st.error();
  return s;
}

std::string policy_request(const std::vector<std::pair<std::string_view, std::string>>& attrs) {
  std::string out;
  for (const auto& [name, value] : attrs) {
    out += name;
    out += '=';
    if (value.find_first_of(std::string_view("\n\0", 2)) == std::string::npos) out += value;
    out += '\n';
  }
  out += '\n';
  return out;
}

Result<std::string> policy_action(std::string_view answer) {
  std::optional<std::string> action;
  while (!answer.empty()) {
    auto nl = answer.find('\n');
    if (nl == std::string_view::npos) return make_error("policy server answer is not terminated");
    std::string_view line = answer.substr(0, nl);
    answer.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return make_error("malformed policy server answer line: \"{}\"", str::printable(line, 100));
    if (line.substr(0, eq) == "action") action = std::string(str::trim(line.substr(eq + 1)));
  }
  if (!action || action->empty()) return make_error("policy server answer has no action attribute");
  return *action;
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

struct PolicyClients::Conn {
  explicit Conn(asio::io_context& io) : sock(io) {}
  asio::generic::stream_protocol::socket sock;
  std::chrono::steady_clock::time_point born = std::chrono::steady_clock::now(), used = born;
  int requests = 0;
  unsigned generation = 0;  // which idle period the max_idle timer is for
};

PolicyClients::PolicyClients(asio::io_context& io) : io_(io) {}
PolicyClients::~PolicyClients() { *alive_ = false; }

asio::awaitable<Result<std::unique_ptr<PolicyClients::Conn>>> PolicyClients::connect(const PolicyServiceSpec& spec) {
  auto c = std::make_unique<Conn>(io_);
  const std::chrono::milliseconds timeout = spec.timeout;
  auto sock = co_await connect_endpoint(io_, spec.endpoint, timeout);
  if (!sock) co_return sock.take_error();
  c->sock = std::move(*sock);
  co_return c;
}

asio::awaitable<Result<std::string>> PolicyClients::exchange(const PolicyServiceSpec& spec, Conn& c,
                                                             const std::string& request) {
  error_code ec;
  ipc::detail::Watchdog<asio::generic::stream_protocol::socket> dog(c.sock, spec.timeout);
  co_await asio::async_write(c.sock, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return make_error("write: {}", dog.fired() ? std::string("timeout") : ec.message());
  std::string answer;
  std::array<char, 4096> buf;
  // The answer ends with an empty line: "\n\n" (or "\n" alone, an answer
  // without attributes, which policy_action() refuses).
  while (answer.find("\n\n") == std::string::npos && answer != "\n") {
    std::size_t n = co_await c.sock.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error("read: {}", dog.fired()               ? std::string("timeout")
                                             : ec == asio::error::eof ? std::string("connection closed")
                                                                      : ec.message());
    answer.append(buf.data(), n);
    if (answer.size() > kMaxPolicyAnswer) co_return make_error("answer longer than {} bytes", kMaxPolicyAnswer);
  }
  if (answer.size() > answer.find("\n\n") + 2) co_return make_error("data after the answer");
  co_return policy_action(answer);
}

asio::awaitable<Result<std::string>> PolicyClients::query(const PolicyServiceSpec& spec, std::string request) {
  Error last = make_error("no attempt");
  for (int attempt = 1; attempt <= spec.try_limit; ++attempt) {
    if (attempt > 1) {
      asio::steady_timer t(io_, spec.retry_delay);
      error_code ignore;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ignore));
    }
    auto now = std::chrono::steady_clock::now();
    std::unique_ptr<Conn> c;
    if (auto it = idle_.find(spec.endpoint); it != idle_.end()) {
      c = std::move(it->second);
      idle_.erase(it);
      if (now - c->used > spec.max_idle || now - c->born > spec.max_ttl) c.reset();
    }
    bool reused = c != nullptr;
    if (!c) {
      auto made = co_await connect(spec);
      if (!made) {
        last = made.error();
        log::warning("problem talking to server {}: {}", spec.endpoint, last.message);
        continue;
      }
      c = std::move(*made);
    }
    auto r = co_await exchange(spec, *c, request);
    if (!r && reused) {
      // The server may have closed a kept connection meanwhile: that is
      // no failed try; ask again on a new one.
      c.reset();
      auto made = co_await connect(spec);
      if (made) {
        c = std::move(*made);
        r = co_await exchange(spec, *c, request);
      } else {
        r = made.error();
      }
    }
    if (!r) {
      last = r.error();
      log::warning("problem talking to server {}: {}", spec.endpoint, last.message);
      continue;
    }
    c->used = std::chrono::steady_clock::now();
    ++c->requests;
    if ((spec.request_limit == 0 || c->requests < spec.request_limit) && !idle_.count(spec.endpoint)) {
      // Closed after max_idle unless a request takes it first (a taken
      // connection is a different generation).
      unsigned gen = c->generation = ++generations_;
      auto timer = std::make_shared<asio::steady_timer>(io_, spec.max_idle);
      timer->async_wait([this, alive = alive_, timer, ep = spec.endpoint, gen](const error_code& ec) {
        if (ec || !*alive) return;
        if (auto it = idle_.find(ep); it != idle_.end() && it->second->generation == gen) idle_.erase(it);
      });
      idle_[spec.endpoint] = std::move(c);
    }
    co_return r;
  }
  co_return last;
}

#endif

}  // namespace postern::smtpd
