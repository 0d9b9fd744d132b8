// sasl.h - SMTP AUTH (RFC 4954) through Dovecot's authentication service,
// Postfix's smtpd_sasl_type = dovecot.
//
// smtpd does not see passwords: the client's base64 data goes to Dovecot as
// it came (after a check that it is base64), and Dovecot's challenges go to
// the client the same way. One connection per AUTH command: VERSION and
// CPID out, Dovecot's VERSION, MECH lines and DONE in, then AUTH (with the
// client's initial response), any number of CONT rounds, and OK (with
// user=) or FAIL (with reason=). The mechanism list is asked for once per
// process (for the EHLO reply) and kept.
//
// Dovecot is a local service, but its answers are still read with bounds:
// a line is at most kMaxSaslLine bytes, a session at most kMaxSaslRounds
// rounds, every read and write has the smtpd_sasl_... deadline
// (kSaslTimeout), and user names are checked before they reach a log line
// or the queue file.
//
// smtpd_sasl_path: "private/auth" (relative to queue_directory, as Postfix
// resolves it; "/" after a chroot), an absolute path, or inet:host:port.
// smtpd_sasl_security_options / smtpd_sasl_tls_security_options (with TLS):
// noanonymous, noplaintext, noactive, nodictionary, mutual_auth,
// forward_secrecy, matched against the flags of Dovecot's MECH lines.
//
// Parameters: smtpd_sasl_auth_enable, smtpd_sasl_type, smtpd_sasl_path,
// smtpd_sasl_security_options, smtpd_sasl_tls_security_options,
// smtpd_tls_auth_only, smtpd_sasl_authenticated_header,
// broken_sasl_auth_clients, smtpd_sasl_exceptions_networks. Logs: nothing
// here (the session logs).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"

namespace postern::smtpd {

inline constexpr std::size_t kMaxSaslLine = 16384;  // Dovecot's own expectation
inline constexpr int kMaxSaslRounds = 20;
inline constexpr std::chrono::seconds kSaslTimeout{30};

struct SaslMechanism {
  std::string name;  // upper case
  bool anonymous = false, plaintext = false, dictionary = false, active = false, forward_secrecy = false,
       mutual_auth = false;
};

// smtpd_sasl_security_options.
struct SaslSecurity {
  bool noanonymous = false, noplaintext = false, noactive = false, nodictionary = false, mutual_auth = false,
       forward_secrecy = false;
  static Result<SaslSecurity> parse(const std::vector<std::string>& options, std::string_view param);
  bool allows(const SaslMechanism& m) const;
};

struct SaslSettings {
  bool enabled = false;        // smtpd_sasl_auth_enable
  bool tls_only = false;       // smtpd_tls_auth_only
  bool authenticated_header = false;
  bool broken_clients = false;  // broken_sasl_auth_clients: also "AUTH=..."
  std::string path;             // smtpd_sasl_path as configured
  std::string exceptions;       // smtpd_sasl_exceptions_networks (a network list)
  SaslSecurity plain_security, tls_security;
  static Result<SaslSettings> from_config(const config::Config& cfg);
};

// One line of Dovecot's protocol: the command and its TAB-separated
// arguments (Dovecot's \001 escapes undone).
struct SaslLine {
  std::string command;
  std::vector<std::string> args;
  // The value of an optional "name=value" argument (from index `from` on).
  std::optional<std::string> param(std::string_view name, std::size_t from = 0) const;
};
Result<SaslLine> parse_sasl_line(std::string_view line);
// A MECH line's arguments.
SaslMechanism parse_mechanism(const SaslLine& l);
// [A-Za-z0-9+/]*={0,2}: what may pass between the client and Dovecot.
bool is_base64(std::string_view s);

// Where smtpd_sasl_path points, resolved against queue_directory (or the
// chroot).
struct SaslEndpoint {
  std::string unix_path;        // set for a UNIX-domain socket
  std::string host, port;       // inet:host:port
  std::string text() const;     // for log lines
  static Result<SaslEndpoint> parse(std::string_view path, std::string_view queue_directory);
};

// What a client session tells Dovecot about itself (Dovecot logs it and
// may use it for its penalty and policy checks).
struct SaslClientInfo {
  std::string local_ip, local_port, remote_ip, remote_port;
  bool secured = false;  // TLS (or a local connection)
};

class DovecotAuth {
 public:
  struct Step {
    enum class Kind { kOk, kFail, kContinue, kError } kind = Kind::kError;
    std::string data;  // kContinue: the challenge (base64); kFail/kError: the reason
    std::string user;  // kOk (and kFail when Dovecot names one)
  };

  // Connects and runs the handshake. An error names the endpoint.
  static asio::awaitable<Result<std::unique_ptr<DovecotAuth>>> connect(asio::io_context& io, SaslEndpoint ep,
                                                                       std::chrono::seconds timeout);
  ~DovecotAuth();

  const std::vector<SaslMechanism>& mechanisms() const { return mechs_; }

  // AUTH (with the initial response, base64, if the client gave one; "" is
  // an empty one), then CONT with each further response.
  asio::awaitable<Step> start(std::string mechanism, std::optional<std::string> initial, SaslClientInfo info);
  asio::awaitable<Step> next(std::string response);

  struct Impl;

 private:
  explicit DovecotAuth(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::vector<SaslMechanism> mechs_;
};

}  // namespace postern::smtpd
