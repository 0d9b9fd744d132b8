// server.h - the TLS server side of smtpd (Postfix's smtpd_tls_* settings).
//
// ServerSettings reads the parameters once; ServerContext loads the keys
// and certificates into an OpenSSL context. smtpd loads it before the
// privilege drop (key files are usually readable by root only, as with
// Postfix) and keeps it for the life of the process; each STARTTLS (or
// wrapper-mode connection) makes one asio::ssl::stream over the session's
// socket from it.
//
// Levels (smtpd_tls_security_level, or the obsolete smtpd_use_tls /
// smtpd_enforce_tls when it is empty):
//   none     no STARTTLS;
//   may      STARTTLS offered (smtpd_tls_protocols, smtpd_tls_ciphers);
//   encrypt  STARTTLS offered and required before MAIL and VRFY
//            (smtpd_tls_mandatory_protocols, smtpd_tls_mandatory_ciphers).
// smtpd_tls_wrappermode = yes starts TLS when the client connects (port
// 465); with the level "none" it works as "may".
//
// Keys and certificates: smtpd_tls_chain_files (each file a private key
// followed by its certificate chain, several files for several key types),
// or else smtpd_tls_cert_file with smtpd_tls_key_file. Client certificates
// are not asked for (smtpd_tls_ask_ccert and smtpd_tls_req_ccert are
// refused when main.cf is read; see config/unsupported.cpp).
//
// Reads: see ServerSettings::from_config. Logs nothing (the caller logs).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"

#include <boost/asio/ssl.hpp>

namespace postern::tls {

enum class Level { kNone, kMay, kEncrypt };

struct ServerSettings {
  Level level = Level::kNone;
  bool wrappermode = false;
  std::vector<std::string> chain_files;
  std::string cert_file, key_file;
  unsigned protocols = 0;         // tls/protocols.h bits for the level
  std::string ciphers;            // OpenSSL cipher list (TLS 1.2 and older)
  bool preempt_ciphers = false;   // tls_preempt_cipherlist
  int loglevel = 0;               // smtpd_tls_loglevel
  bool received_header = false;   // smtpd_tls_received_header
  std::chrono::seconds handshake_timeout{300};  // smtpd_starttls_timeout
  // A note for the log when a setting was adjusted (wrapper mode with
  // the level "none"); empty otherwise.
  std::string warning;

  bool enabled() const { return level != Level::kNone; }
  bool has_certificates() const { return !chain_files.empty() || !cert_file.empty(); }

  // `prefix` is the parameter family: "smtpd".
  static Result<ServerSettings> from_config(const config::Config& cfg, std::string_view prefix = "smtpd");
};

// The OpenSSL cipher list of a Postfix cipher grade (high, medium, low,
// export, null: tls_<grade>_cipherlist) without the exclusions in
// `exclude` (each element becomes "!element").
Result<std::string> cipher_list(const config::Config& cfg, std::string_view grade,
                                const std::vector<std::string>& exclude);

class ServerContext {
 public:
  // Loads keys and certificates; an error names the file and OpenSSL's
  // reason. Call with the privileges that can read the key files.
  static Result<std::unique_ptr<ServerContext>> load(const ServerSettings& s);

  asio::ssl::context& context() { return ctx_; }

 private:
  ServerContext() : ctx_(asio::ssl::context::tls_server) {}
  asio::ssl::context ctx_;
};

// What a finished handshake agreed on, for the log, the Received: header
// and policy servers.
struct SessionInfo {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
  int usebits = 0, algbits = 0;
  std::string group;     // key exchange: "X25519"; empty when not known
  bool peer_certificate = false;
};
SessionInfo describe(SSL* ssl);

// Postfix's text after "TLS connection established from host[addr]: ":
// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519".
std::string log_text(const SessionInfo& info);

// Empties OpenSSL's error queue of this thread into one line ("error:...:
// reason; ..."), or "" when it is empty.
std::string drain_errors();

}  // namespace postern::tls
