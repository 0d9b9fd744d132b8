// policy_client.h - check_policy_service: Postfix's policy delegation protocol, client side.
//
// smtpd sends a policy server (postgrey, policyd-spf, ...) one request per
// restriction it reaches: lines "name=value", then an empty line. The server
// answers the same way; its "action" attribute is an access(5) action
// (OK, DUNNO, REJECT text, DEFER text, 4xx/5xx text, WARN text, ...).
//
// The restriction's argument names the server: "inet:host:port",
// "unix:/path" or "unix:private/policy" (relative to queue_directory), or
// a group with per-server settings, as in Postfix 3:
//   check_policy_service { inet:127.0.0.1:10023, timeout=10s, default_action=DUNNO }
// (timeout, max_idle, max_ttl, request_limit, try_limit, retry_delay,
// default_action, policy_context).
//
// Connections are kept per server and smtpd process for the next request:
// closed after max_idle without one, not used again once max_ttl old or
// after request_limit requests. A request
// that fails (connect, write, read, timeout, malformed answer) is tried
// again on a new connection after retry_delay, up to try_limit times; then
// the caller applies default_action. Answers are bounded: at most
// kMaxPolicyAnswer bytes, lines without '=' are refused.
//
// Parameters: smtpd_policy_service_{timeout,max_idle,max_ttl,request_limit,
// try_limit,retry_delay,default_action,policy_context}, queue_directory.
// Logs: "warning: problem talking to server ENDPOINT: ERROR" per failed try.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"

namespace postern::smtpd {

inline constexpr std::size_t kMaxPolicyAnswer = 64 * 1024;

struct PolicyServiceSpec {
  std::string endpoint;  // "inet:host:port" or "unix:/absolute/path"
  std::chrono::milliseconds timeout{100000}, max_idle{300000}, max_ttl{1000000}, retry_delay{1000};
  int request_limit = 0;  // 0: no limit
  int try_limit = 2;
  std::string default_action = "451 4.3.5 Server configuration problem";
  std::string policy_context;
  std::string text;  // as configured: names the service in logs

  // `arg` is the restriction's argument (an endpoint or a "{...}" group).
  static Result<PolicyServiceSpec> parse(std::string_view arg, const config::Config& cfg);
};

// The request text for `attrs` (name, value): values with a newline or NUL
// cannot be sent and are emptied.
std::string policy_request(const std::vector<std::pair<std::string_view, std::string>>& attrs);

// The value of "action" in a complete answer ("...\n\n"), or why there is none.
Result<std::string> policy_action(std::string_view answer);

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
class PolicyClients {
 public:
  explicit PolicyClients(asio::io_context& io);
  ~PolicyClients();
  PolicyClients(const PolicyClients&) = delete;
  PolicyClients& operator=(const PolicyClients&) = delete;

  // The server's action, or the last error after try_limit tries.
  asio::awaitable<Result<std::string>> query(const PolicyServiceSpec& spec, std::string request);

 private:
  struct Conn;
  asio::awaitable<Result<std::string>> exchange(const PolicyServiceSpec& spec, Conn& c, const std::string& request);
  asio::awaitable<Result<std::unique_ptr<Conn>>> connect(const PolicyServiceSpec& spec);
  asio::io_context& io_;
  std::map<std::string, std::unique_ptr<Conn>> idle_;  // by endpoint: one kept connection each
  unsigned generations_ = 0;
  // Idle timers outlive this object until the io_context runs them.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};
#endif

}  // namespace postern::smtpd
