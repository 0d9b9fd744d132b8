// context.cpp - see context.h.
#include "tls/context.h"

#include <algorithm>
#include <cctype>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/strings.h"
#include "log/log.h"
#include "tls/protocols.h"

namespace postern::tls {

std::string drain_errors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

CipherGrades CipherGrades::from_config(const config::Config& cfg) {
  CipherGrades g;
  for (const char* grade : {"high", "medium", "low", "export", "null"})
    g.lists_.emplace(grade, cfg.str(std::string("tls_") + grade + "_cipherlist"));
  return g;
}

Result<std::string> CipherGrades::list(std::string_view grade, const std::vector<std::string>& exclude) const {
  auto it = lists_.find(str::lower(grade));
  if (it == lists_.end())
    return make_error("unknown TLS cipher grade \"{}\" (high, medium, low, export or null)", str::printable(grade, 40));
  std::string list = it->second;
  for (const auto& x : exclude) {
    // An element is one OpenSSL cipher name or alias; separators in it
    // would smuggle in other directives.
    if (x.empty() || x.find_first_of(":,! \t+-@") != std::string::npos)
      return make_error("bad cipher exclusion \"{}\"", str::printable(x, 40));
    list += ":!" + x;
  }
  return list;
}

Result<std::string> cipher_list(const config::Config& cfg, std::string_view grade,
                                const std::vector<std::string>& exclude) {
  return CipherGrades::from_config(cfg).list(grade, exclude);
}

Result<Settings> Settings::from_config(const config::Config& cfg, std::string_view prefix) {
  const std::string p(prefix);
  Settings s;
  std::string level = str::lower(str::trim(cfg.str(p + "_tls_security_level")));
  if (level.empty()) {
    level = cfg.boolean(p + "_enforce_tls") ? "encrypt" : cfg.boolean(p + "_use_tls") ? "may" : "none";
  }
  if (level == "none") s.level = Level::kNone;
  else if (level == "may") s.level = Level::kMay;
  else if (level == "encrypt") s.level = Level::kEncrypt;
  else if (level == "verify" && p != "smtpd") s.level = Level::kVerify;
  else if (level == "secure" && p != "smtpd") s.level = Level::kSecure;
  else if (level == "fingerprint" && p != "smtpd") s.level = Level::kFingerprint;
  else if (level == "dane" && p == "smtp") s.level = Level::kDane;
  else if (level == "dane-only" && p == "smtp") s.level = Level::kDaneOnly;
  else return make_error("{}_tls_security_level = {}: Postern's {} knows {}", p, str::printable(level, 40),
                         p == "smtpd" ? "server" : p == "smtp" ? "smtp client" : "client",
                         p == "smtpd"  ? "none, may and encrypt"
                         : p == "smtp" ? "none, may, encrypt, dane, dane-only, fingerprint, verify and secure"
                                       : "none, may, encrypt, verify, secure and fingerprint");
  s.wrappermode = cfg.boolean(p + "_tls_wrappermode");
  if (s.wrappermode && s.level == Level::kNone) {
    s.level = Level::kMay;
    s.warning = fmt::format("{}_tls_wrappermode requires {}_tls_security_level >= may, enabling TLS support", p, p);
  }
  s.chain_files = cfg.list(p + "_tls_chain_files");
  s.cert_file = str::trim(cfg.str(p + "_tls_cert_file"));
  s.key_file = str::trim(cfg.str(p + "_tls_key_file"));
  if (s.key_file.empty()) s.key_file = s.cert_file;
  const bool mandatory = s.mandatory();
  s.ca_file = std::string(str::trim(cfg.str(p + "_tls_CAfile")));
  s.ca_path = std::string(str::trim(cfg.str(p + "_tls_CApath")));
  s.default_ca = cfg.boolean("tls_append_default_CA");
  if (p == "smtpd") {
    // Postfix: asking is implied by requiring; requiring needs TLS that
    // every session has (encrypt, or wrapper mode) and is ignored with a
    // warning otherwise.
    s.req_ccert = cfg.boolean("smtpd_tls_req_ccert");
    s.ask_ccert = cfg.boolean("smtpd_tls_ask_ccert") || s.req_ccert;
    if (s.req_ccert && !mandatory && !s.wrappermode) {
      s.req_ccert = false;
      if (s.enabled())
        s.warning += std::string(s.warning.empty() ? "" : "; ") +
                     "smtpd_tls_req_ccert = yes is ignored: it needs mandatory TLS (smtpd_tls_security_level = encrypt)";
    }
    s.ccert_verifydepth = static_cast<int>(cfg.integer("smtpd_tls_ccert_verifydepth"));
  }
  s.fingerprint_digest = str::lower(str::trim(cfg.str(p + "_tls_fingerprint_digest")));
  // Asking OpenSSL loads and initializes it (lazy_openssl.cpp; its
  // configuration file, the default provider's algorithm tables): most of a
  // bare smtpd start. A program without TLS never uses the digest, so it is
  // checked where TLS may be used: a level above none, or (clients) a TLS
  // policy table, which can turn TLS on for one destination. Postfix checks
  // it in the same cases, when it initializes TLS.
  const bool may_use_tls =
      s.enabled() || (p != "smtpd" && !str::trim(cfg.str(p + "_tls_policy_maps")).empty());
  if (may_use_tls && EVP_get_digestbyname(s.fingerprint_digest.c_str()) == nullptr)
    return make_error("{}_tls_fingerprint_digest = {}: not a digest this OpenSSL knows", p,
                      str::printable(s.fingerprint_digest, 40));
  if (s.verifies()) {
    s.cert_match = cfg.list(p + (s.level == Level::kVerify ? "_tls_verify_cert_match" : "_tls_secure_cert_match"));
    if (s.cert_match.empty())
      return make_error("{}_tls_{}_cert_match is empty: no name could match", p,
                        s.level == Level::kVerify ? "verify" : "secure");
  }
  auto protocols = parse_protocols(cfg.str(p + (mandatory ? "_tls_mandatory_protocols" : "_tls_protocols")));
  if (!protocols)
    return make_error("{}: {}", p + (mandatory ? "_tls_mandatory_protocols" : "_tls_protocols"),
                      protocols.error().message);
  s.protocols = *protocols;
  auto ciphers = cipher_list(cfg, cfg.str(p + (mandatory ? "_tls_mandatory_ciphers" : "_tls_ciphers")),
                             cfg.list(p + (mandatory ? "_tls_mandatory_exclude_ciphers" : "_tls_exclude_ciphers")));
  if (!ciphers)
    return make_error("{}: {}", p + (mandatory ? "_tls_mandatory_ciphers" : "_tls_ciphers"), ciphers.error().message);
  s.ciphers = std::move(*ciphers);
  s.preempt_ciphers = cfg.boolean("tls_preempt_cipherlist");
  s.loglevel = static_cast<int>(cfg.integer(p + "_tls_loglevel"));
  if (p == "smtpd") s.received_header = cfg.boolean("smtpd_tls_received_header");
  s.handshake_timeout = cfg.time(p + "_starttls_timeout");
  return s;
}

namespace {

struct VersionOption {
  unsigned bit;
  int version;
  unsigned long no_option;
};
constexpr VersionOption kVersions[] = {
    {kTls1, TLS1_VERSION, SSL_OP_NO_TLSv1},
    {kTls11, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {kTls12, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {kTls13, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
};

Error ssl_error(std::string what) {
  std::string why = drain_errors();
  return Error{why.empty() ? what : what + ": " + why, 0};
}

// The version range of a protocol mask and the versions missing inside
// it (as SSL_OP_NO_* options); lo == 0 when the mask has no version.
struct Range {
  int lo = 0, hi = 0;
  unsigned long missing = 0;
};
Range version_range(unsigned protocols) {
  Range r;
  for (const auto& v : kVersions) {
    if (protocols & v.bit) {
      if (r.lo == 0) r.lo = v.version;
      r.hi = v.version;
    }
  }
  for (const auto& v : kVersions)
    if (!(protocols & v.bit) && v.version > r.lo && v.version < r.hi) r.missing |= v.no_option;
  return r;
}

// <prefix>_tls_CAfile, <prefix>_tls_CApath and, with
// tls_append_default_CA, the system's CAs, as the context's trust anchors.
Status load_trust_anchors(SSL_CTX* ctx, const Settings& s) {
  if (!s.ca_file.empty() || !s.ca_path.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, s.ca_file.empty() ? nullptr : s.ca_file.c_str(),
                                      s.ca_path.empty() ? nullptr : s.ca_path.c_str()) != 1)
      return ssl_error(fmt::format("cannot load the trusted CA certificates from {}",
                                   s.ca_file.empty() ? s.ca_path : s.ca_file));
  }
  if (s.default_ca && SSL_CTX_set_default_verify_paths(ctx) != 1)
    return ssl_error("cannot load the system's trusted CA certificates");
  return {};
}

}  // namespace

Status configure_connection(SSL* ssl, unsigned protocols, const std::string& ciphers) {
  ERR_clear_error();
  Range r = version_range(protocols);
  if (r.lo == 0) return make_error("no TLS protocol enabled");
  unsigned long all = 0;
  for (const auto& v : kVersions) all |= v.no_option;
  SSL_clear_options(ssl, all);
  SSL_set_options(ssl, r.missing);
  if (SSL_set_min_proto_version(ssl, r.lo) != 1 || SSL_set_max_proto_version(ssl, r.hi) != 1)
    return ssl_error("cannot set the TLS protocol range");
  if (SSL_set_cipher_list(ssl, ciphers.c_str()) != 1)
    return ssl_error(fmt::format("bad cipher list \"{}\"", str::printable(ciphers, 200)));
  return {};
}

Result<std::unique_ptr<Context>> Context::load(const Settings& s, Side side) {
  ERR_clear_error();
  std::unique_ptr<Context> c(new Context(side));
  SSL_CTX* ctx = c->ctx_.native_handle();
  // The range of the protocol mask, and the versions missing inside it.
  Range r = version_range(s.protocols);
  if (r.lo == 0) return make_error("no TLS protocol enabled");
  unsigned long options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | r.missing;
  if (s.preempt_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, options);
  if (SSL_CTX_set_min_proto_version(ctx, r.lo) != 1 || SSL_CTX_set_max_proto_version(ctx, r.hi) != 1)
    return ssl_error("cannot set the TLS protocol range");
  if (SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1)
    return ssl_error(fmt::format("bad cipher list \"{}\"", str::printable(s.ciphers, 200)));
  // No certificate is verified at these levels: a server does not ask
  // for one (unless told to, below), a client takes what the server shows.
  // Server sessions are not cached across processes (each smtpd has its
  // own ticket key), which only costs a full handshake on a client's next
  // connection to another process.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (side == Side::kServer && s.ask_ccert) {
    // Asked for, verified, but never a reason to fail the handshake: the
    // verdict is read afterwards (SessionInfo::verified), and an untrusted
    // certificate's fingerprint still counts for relay_clientcerts.
    if (auto st = load_trust_anchors(ctx, s); !st) return st.take_error();
    if (!s.ca_file.empty()) {
      // The issuers a client may choose from, as Postfix sends them.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str());
      if (names == nullptr) return ssl_error(fmt::format("cannot read the CA names in {}", s.ca_file));
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, [](int, X509_STORE_CTX*) { return 1; });
    SSL_CTX_set_verify_depth(ctx, s.ccert_verifydepth);
  }
  if (side == Side::kClient) {
    // Loaded whatever main.cf's level (a destination's policy may verify);
    // the verdict is checked after the handshake (SSL_get_verify_result),
    // so that the failure can be reported in Postfix's terms.
    if (auto st = load_trust_anchors(ctx, s); !st) return st.take_error();
  }
  if (side == Side::kServer) {
    static const unsigned char kSidContext[] = "postern-smtpd";
    SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
  }

  auto load_pair = [&](const std::string& cert, const std::string& key) -> Status {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
      return ssl_error(fmt::format("cannot load the certificate chain from {}", cert));
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      // A key of the certificate's type but not its own fails here already.
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
        return ssl_error(fmt::format("the private key in {} does not match the certificate in {}", key, cert));
      return ssl_error(fmt::format("cannot load the private key from {}", key));
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
      return ssl_error(fmt::format("the private key in {} does not match the certificate in {}", key, cert));
    return {};
  };
  if (!s.chain_files.empty()) {
    // Each file: the key, then the certificate it belongs to and its
    // chain (Postfix's smtpd_tls_chain_files). One file per key type.
    for (const auto& f : s.chain_files)
      if (auto st = load_pair(f, f); !st) return st.take_error();
  } else if (!s.cert_file.empty()) {
    if (auto st = load_pair(s.cert_file, s.key_file); !st) return st.take_error();
  } else if (side == Side::kServer) {
    return make_error("no server certificate: set smtpd_tls_chain_files or smtpd_tls_cert_file");
  }
  return c;
}

std::vector<std::string> reference_names(const std::vector<std::string>& match, std::string_view hostname,
                                         std::string_view nexthop_domain) {
  std::vector<std::string> out;
  for (const auto& m : match) {
    std::string v = str::lower(m);
    if (v == "hostname") v = str::lower(hostname);
    else if (v == "nexthop") v = str::lower(nexthop_domain);
    else if (v == "dot-nexthop") v = nexthop_domain.empty() ? std::string() : "." + str::lower(nexthop_domain);
    if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  }
  return out;
}

namespace {

// A name's common name as printable ASCII (others become '?'), at most
// 256 bytes; "" when there is none.
std::string common_name(const X509_NAME* name) {
  if (name == nullptr) return {};
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(std::min(len, 256)));
  OPENSSL_free(utf8);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

}  // namespace

std::string fingerprint(std::string_view digest, const unsigned char* data, std::size_t size) {
  const EVP_MD* md = EVP_get_digestbyname(std::string(digest).c_str());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (md == nullptr || EVP_Digest(data, size, out, &n, md, nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string text;
  text.reserve(n * 3);
  for (unsigned int i = 0; i < n; ++i) {
    if (i) text += ':';
    text += kHex[out[i] >> 4];
    text += kHex[out[i] & 15];
  }
  return text;
}

Result<std::string> normal_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return make_error("\"{}\" is not a fingerprint (hex bytes, separated by ':')", str::printable(text, 100));
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (out.empty() || out.size() % 2 != 0 || out.size() > 2 * EVP_MAX_MD_SIZE)
    return make_error("\"{}\" is not a fingerprint (hex bytes, separated by ':')", str::printable(text, 100));
  return out;
}

bool fingerprint_matches(const SessionInfo& info, const std::vector<std::string>& fingerprints) {
  for (const std::string* mine : {&info.cert_fingerprint, &info.pkey_fingerprint}) {
    if (mine->empty()) continue;
    auto n = normal_fingerprint(*mine);
    if (n && std::find(fingerprints.begin(), fingerprints.end(), *n) != fingerprints.end()) return true;
  }
  return false;
}

SessionInfo describe(SSL* ssl, std::string_view digest) {
  SessionInfo i;
  i.protocol = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    i.cipher = SSL_CIPHER_get_name(c);
    i.usebits = SSL_CIPHER_get_bits(c, &i.algbits);
  }
  int nid = SSL_get_negotiated_group(ssl);
  if (nid != 0 && nid != NID_undef) {
    if (const char* g = SSL_group_to_name(ssl, nid)) i.group = g;
  }
  X509* peer = SSL_get1_peer_certificate(ssl);
  i.peer_certificate = peer != nullptr;
  // Verified only when verification was asked for (a reference name set).
  i.verified = peer != nullptr && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE &&
               SSL_get_verify_result(ssl) == X509_V_OK;
  if (peer != nullptr) {
    i.peer_cn = common_name(X509_get_subject_name(peer));
    i.issuer_cn = common_name(X509_get_issuer_name(peer));
    if (!digest.empty()) {
      // Of the DER certificate, and of its DER SubjectPublicKeyInfo (Postfix's
      // public key fingerprint).
      unsigned char* der = nullptr;
      int len = i2d_X509(peer, &der);
      if (len > 0) i.cert_fingerprint = fingerprint(digest, der, static_cast<std::size_t>(len));
      OPENSSL_free(der);
      der = nullptr;
      len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der);
      if (len > 0) i.pkey_fingerprint = fingerprint(digest, der, static_cast<std::size_t>(len));
      OPENSSL_free(der);
    }
  }
  X509_free(peer);
  return i;
}

std::string log_text(const SessionInfo& info) {
  std::string out = fmt::format("{} with cipher {} ({}/{} bits)", info.protocol, info.cipher, info.usebits, info.algbits);
  if (!info.group.empty()) out += " key-exchange " + info.group;
  return out;
}

}  // namespace postern::tls

namespace postern::tls {

void log_handshake_failure(Side side, std::string_view peer, const error_code& ec, bool timed_out) {
  std::string why = timed_out ? std::string("timeout") : ec == asio::error::eof ? std::string("lost connection")
                                                                                 : ec.message();
  std::string lib = drain_errors();
  if (side == Side::kServer) log::info("SSL_accept error from {}: {}", peer, why);
  else log::info("SSL_connect error to {}: {}", peer, why);
  if (!lib.empty()) log::warning("TLS library problem: {}", lib);
}

void log_established(Side side, std::string_view peer, const SessionInfo& info) {
  log::info("{} TLS connection established {} {}: {}", trust_word(info, side), side == Side::kServer ? "from" : "to", peer,
            log_text(info));
}

}  // namespace postern::tls
