// context.h - TLS for smtpd (server) and the smtp client, with Postfix's
// <prefix>_tls_* settings (prefix "smtpd" or "smtp").
//
// Settings reads the parameters once; Context loads keys and certificates
// into an OpenSSL context. A daemon loads it before the privilege drop (key
// files are usually readable by root only, as with Postfix) and keeps it for
// the life of the process; each TLS connection makes one asio::ssl::stream
// over its socket from it.
//
// Levels (<prefix>_tls_security_level, or the obsolete <prefix>_use_tls /
// <prefix>_enforce_tls when it is empty):
//   none     no TLS;
//   may      opportunistic: the server offers STARTTLS, the client uses it
//            when offered (<prefix>_tls_protocols, <prefix>_tls_ciphers);
//   encrypt  mandatory: the server requires STARTTLS before MAIL and VRFY,
//            the client delivers only over TLS
//            (<prefix>_tls_mandatory_protocols, _mandatory_ciphers).
//   verify   (client) encrypt, and the certificate chains to
//            <prefix>_tls_CAfile / _CApath and names the server
//            (<prefix>_tls_verify_cert_match);
//   secure   (client) the same with <prefix>_tls_secure_cert_match (the
//            next hop's domain);
//   fingerprint (client) encrypt, and the server certificate's fingerprint
//            or its public key fingerprint (see below) is one of
//            <prefix>_tls_fingerprint_cert_match; no CA, no name checked
//            (the list is read with the per-destination policy:
//            smtp/tls_policy.h).
// may and encrypt verify nothing, as in Postfix (dane and dane-only are
// refused when main.cf is read; see config/unsupported.cpp). <prefix>_tls_wrappermode = yes starts TLS when
// the connection opens (port 465); with the level "none" it works as "may".
//
// Client certificates (server side): with smtpd_tls_ask_ccert = yes the
// server asks for one, sends the names of the CAs in smtpd_tls_CAfile as
// the acceptable issuers, and verifies what it gets against smtpd_tls_CAfile
// / smtpd_tls_CApath (and the system's CAs with tls_append_default_CA), at
// most smtpd_tls_ccert_verifydepth deep. A certificate that does not verify
// still completes the handshake (it is "Untrusted": its fingerprint may
// still be listed in relay_clientcerts or a check_ccert_access table, as in
// Postfix); smtpd_tls_req_ccert = yes (which implies asking) makes smtpd end
// a session without a trusted one, at the level encrypt or in wrapper mode
// (otherwise it is ignored with a warning, as Postfix does). Fingerprints are
// <prefix>_tls_fingerprint_digest digests of the DER certificate and of its
// DER SubjectPublicKeyInfo, written as Postfix does ("AB:CD:...").
//
// Keys and certificates: <prefix>_tls_chain_files (each file a private key
// followed by its certificate chain, several files for several key types),
// or else <prefix>_tls_cert_file with <prefix>_tls_key_file. A server needs
// one; a client presents one only if configured.
//
// Reads: see Settings::from_config. Logs: the handshake lines below.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"

#include <boost/asio/ssl.hpp>

namespace postern::tls {

// kVerify, kSecure, kFingerprint, kDane and kDaneOnly are the client's
// only (smtp_tls_security_level; the DANE levels for smtp, not lmtp). What
// a DANE level means for one server is decided per server (smtp/dane.h).
enum class Level { kNone, kMay, kEncrypt, kVerify, kSecure, kFingerprint, kDane, kDaneOnly };

enum class Side { kServer, kClient };

struct Settings {
  Level level = Level::kNone;
  bool wrappermode = false;
  std::vector<std::string> chain_files;
  std::string cert_file, key_file;
  unsigned protocols = 0;         // tls/protocols.h bits for the level
  std::string ciphers;            // OpenSSL cipher list (TLS 1.2 and older)
  bool preempt_ciphers = false;   // tls_preempt_cipherlist
  int loglevel = 0;               // <prefix>_tls_loglevel
  bool received_header = false;   // smtpd_tls_received_header (server only)
  std::chrono::seconds handshake_timeout{300};  // <prefix>_starttls_timeout
  // The trust anchors (<prefix>_tls_CAfile, <prefix>_tls_CApath,
  // tls_append_default_CA). Client: loaded whenever TLS is on (a
  // per-destination policy may verify where main.cf's level does not);
  // server: loaded when it asks for client certificates. Verify and
  // secure: the names a certificate must match (smtp_tls_verify_cert_match / smtp_tls_secure_cert_match:
  // "hostname", "nexthop", "dot-nexthop" or a literal name).
  std::string ca_file, ca_path;
  bool default_ca = false;
  std::vector<std::string> cert_match;
  // Server: smtpd_tls_ask_ccert (or smtpd_tls_req_ccert, which implies it),
  // smtpd_tls_req_ccert with mandatory TLS (encrypt, wrapper mode),
  // smtpd_tls_ccert_verifydepth.
  bool ask_ccert = false, req_ccert = false;
  int ccert_verifydepth = 9;
  // <prefix>_tls_fingerprint_digest, an OpenSSL digest name known to exist.
  std::string fingerprint_digest = "sha256";
  // A note for the log when a setting was adjusted (wrapper mode with
  // the level "none"); empty otherwise.
  std::string warning;

  bool enabled() const { return level != Level::kNone; }
  bool mandatory() const {
    return level == Level::kEncrypt || level == Level::kFingerprint || level == Level::kDaneOnly || verifies();
  }
  bool verifies() const { return level == Level::kVerify || level == Level::kSecure; }
  bool has_certificates() const { return !chain_files.empty() || !cert_file.empty(); }

  // `prefix` is the parameter family: "smtpd", "smtp" or "lmtp".
  static Result<Settings> from_config(const config::Config& cfg, std::string_view prefix = "smtpd");
};

// Postfix's cipher grades (high, medium, low, export, null), each the
// OpenSSL cipher list in tls_<grade>_cipherlist, read once.
class CipherGrades {
 public:
  static CipherGrades from_config(const config::Config& cfg);
  // The list of `grade` without the exclusions in `exclude` (each element
  // becomes "!element").
  Result<std::string> list(std::string_view grade, const std::vector<std::string>& exclude) const;

 private:
  std::map<std::string, std::string, std::less<>> lists_;
};

// CipherGrades::from_config(cfg).list(grade, exclude).
Result<std::string> cipher_list(const config::Config& cfg, std::string_view grade,
                                const std::vector<std::string>& exclude);

// Restricts one connection made from a shared context to the TLS versions
// in `protocols` (tls/protocols.h bits) and the OpenSSL cipher list
// `ciphers`: a per-destination policy of the smtp client.
Status configure_connection(SSL* ssl, unsigned protocols, const std::string& ciphers);

class Context {
 public:
  // Loads keys and certificates (a server must have one); an error names
  // the file and OpenSSL's reason. Call with the privileges that can read
  // the key files.
  static Result<std::unique_ptr<Context>> load(const Settings& s, Side side);

  asio::ssl::context& context() { return ctx_; }

 private:
  explicit Context(Side side)
      : ctx_(side == Side::kServer ? asio::ssl::context::tls_server : asio::ssl::context::tls_client) {}
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
  // Client: the chain verified and a reference name matched. Server: the
  // client's chain verified (Postfix's "trusted").
  bool verified = false;
  // Client: verified, but against names that could have been forged (DANE
  // for an MX host from MX records that were not DNSSEC-validated):
  // Postfix logs "Trusted" then, not "Verified".
  bool trusted_only = false;
  // The peer certificate's subject and issuer common names (printable
  // ASCII, at most 256 bytes; "" when absent) and its fingerprints (see
  // above; "" without a certificate or a digest).
  std::string peer_cn, issuer_cn;
  std::string cert_fingerprint, pkey_fingerprint;
};
// Postfix's words: "Verified" (client: chain and name checked) or "Trusted"
// (server: the client's chain checked), else "Anonymous" (no certificate)
// or "Untrusted".
inline std::string_view trust_word(const SessionInfo& i, Side side = Side::kClient) {
  if (i.verified) return side == Side::kServer || i.trusted_only ? "Trusted" : "Verified";
  return i.peer_certificate ? "Untrusted" : "Anonymous";
}

// The reference names for a verifying client: `match` entries with
// "hostname" (the server's name), "nexthop" and "dot-nexthop" (the
// destination domain, ".domain" for its subdomains) resolved, lower case.
std::vector<std::string> reference_names(const std::vector<std::string>& match, std::string_view hostname,
                                         std::string_view nexthop_domain);
// `digest`: the fingerprint digest (Settings::fingerprint_digest); empty:
// no fingerprints.
SessionInfo describe(SSL* ssl, std::string_view digest = {});

// A digest of `data` in Postfix's fingerprint form: upper-case hex bytes
// joined by ':'. Empty when the digest is unknown.
std::string fingerprint(std::string_view digest, const unsigned char* data, std::size_t size);

// A configured fingerprint as compared: hex digits in upper case without
// the ':' separators ("ab:CD" -> "ABCD"). An error for anything but hex
// bytes (optionally ':'-separated).
Result<std::string> normal_fingerprint(std::string_view text);

// Whether a session's certificate or public key fingerprint (SessionInfo)
// is one of `fingerprints` (normal_fingerprint() form).
bool fingerprint_matches(const SessionInfo& info, const std::vector<std::string>& fingerprints);

// Postfix's text after "TLS connection established from host[addr]: "
// (or "to host[addr]:port: "):
// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519".
std::string log_text(const SessionInfo& info);

// Postfix's log lines for a handshake: "SSL_accept error from PEER: why"
// (server) or "SSL_connect error to PEER: why" (client), plus "warning:
// TLS library problem: ..." when OpenSSL gave a reason; and "Anonymous TLS
// connection established from PEER: ..." ("to PEER" for a client).
void log_handshake_failure(Side side, std::string_view peer, const error_code& ec, bool timed_out);
void log_established(Side side, std::string_view peer, const SessionInfo& info);

// Empties OpenSSL's error queue of this thread into one line ("error:...:
// reason; ..."), or "" when it is empty.
std::string drain_errors();

}  // namespace postern::tls
