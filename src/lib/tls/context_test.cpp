// Settings from main.cf text, Context with certificates made
// here (OpenSSL's API, no openssl command), and real handshakes against
// Asio's TLS client over a socket pair.
#include "tls/context.h"
#include "tls/lazy_openssl.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tls/protocols.h"

using namespace postern;
using namespace postern::tls;
namespace fs = std::filesystem;

namespace {

config::Config cfg_of(const std::string& text) {
  auto c = config::Config::from_text(text);
  if (!c) ADD_FAILURE() << c.error().message;
  return std::move(*c);
}

// A self-signed P-256 certificate for CN=name; key and certificate PEM.
std::pair<std::string, std::string> make_certificate(const char* name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_sign(x, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    long len = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(b);
    return out;
  };
  std::string key_pem = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  std::string cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  X509_free(x);
  EVP_PKEY_free(key);
  return {key_pem, cert_pem};
}

class TlsServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("postern-tls-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto [key, cert] = make_certificate("mx.example");
    write("key.pem", key);
    write("cert.pem", cert);
    write("chain.pem", key + cert);
    auto [other_key, other_cert] = make_certificate("other.example");
    write("other.pem", other_cert);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  void write(const char* name, const std::string& text) const { std::ofstream(dir_ / name) << text; }

  Settings settings(const std::string& extra) {
    auto s = Settings::from_config(cfg_of("smtpd_tls_security_level = may\n" + extra));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : Settings{};
  }

  // A handshake of Asio's TLS client with a server made from `s`; the
  // server side's SessionInfo, or nothing when the handshake failed.
  std::optional<SessionInfo> handshake(const Settings& s, int client_max = 0) {
    auto ctx = Context::load(s, Side::kServer);
    EXPECT_TRUE(ctx.ok()) << (ctx.ok() ? "" : ctx.error().message);
    if (!ctx.ok()) return std::nullopt;
    asio::io_context io;
    asio::local::stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    asio::ssl::context client_ctx(asio::ssl::context::tls_client);
    client_ctx.set_verify_mode(asio::ssl::verify_none);
    if (client_max) SSL_CTX_set_max_proto_version(client_ctx.native_handle(), client_max);
    asio::ssl::stream<asio::local::stream_protocol::socket&> server(a, (*ctx)->context());
    asio::ssl::stream<asio::local::stream_protocol::socket&> client(b, client_ctx);
    error_code server_ec, client_ec;
    server.async_handshake(asio::ssl::stream_base::server, [&](error_code ec) {
      server_ec = ec;
      if (ec) b.close();
    });
    client.async_handshake(asio::ssl::stream_base::client, [&](error_code ec) {
      client_ec = ec;
      if (ec) a.close();
    });
    io.run();
    if (server_ec || client_ec) return std::nullopt;
    return describe(server.native_handle());
  }

  fs::path dir_;
};

}  // namespace

TEST_F(TlsServer, LevelsAndTheirObsoleteSpellings) {
  auto level = [](const std::string& text) {
    auto s = Settings::from_config(cfg_of(text));
    EXPECT_TRUE(s.ok()) << text;
    return s.ok() ? s->level : Level::kNone;
  };
  EXPECT_EQ(level(""), Level::kNone);
  EXPECT_EQ(level("smtpd_use_tls = yes\n"), Level::kMay);
  EXPECT_EQ(level("smtpd_enforce_tls = yes\n"), Level::kEncrypt);
  // The new parameter wins over the obsolete ones.
  EXPECT_EQ(level("smtpd_tls_security_level = none\nsmtpd_enforce_tls = yes\n"), Level::kNone);
  EXPECT_EQ(level("smtpd_tls_security_level = Encrypt\n"), Level::kEncrypt);
  auto bad = Settings::from_config(cfg_of("smtpd_tls_security_level = verify\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("none, may and encrypt"), std::string::npos);
  // The client also verifies certificates.
  auto v = Settings::from_config(cfg_of("smtp_tls_security_level = secure\nsmtp_tls_CAfile = /x/ca.pem\n"), "smtp");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->level, Level::kSecure);
  EXPECT_TRUE(v->mandatory());
  EXPECT_EQ(v->ca_file, "/x/ca.pem");
  EXPECT_EQ(v->cert_match, (std::vector<std::string>{"nexthop", "dot-nexthop"}));
  EXPECT_EQ(reference_names(v->cert_match, "MX1.Example.COM", "Example.COM"),
            (std::vector<std::string>{"example.com", ".example.com"}));
  EXPECT_EQ(reference_names({"hostname", "Literal.Example"}, "MX1.Example.COM", "example.com"),
            (std::vector<std::string>{"mx1.example.com", "literal.example"}));
  // Wrapper mode needs TLS: "none" becomes "may", with a note for the log.
  auto w = Settings::from_config(cfg_of("smtpd_tls_wrappermode = yes\n"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->level, Level::kMay);
  EXPECT_NE(w->warning.find("enabling TLS support"), std::string::npos);
}

TEST_F(TlsServer, ProtocolsAndCiphersFollowTheLevel) {
  auto may = settings("smtpd_tls_protocols = >=TLSv1.2\nsmtpd_tls_mandatory_protocols = TLSv1.3\n"
                      "smtpd_tls_exclude_ciphers = RC4, aNULL\n");
  EXPECT_EQ(may.protocols, kTls12 | kTls13);
  EXPECT_EQ(may.ciphers, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!RC4:!aNULL");
  auto enc = Settings::from_config(cfg_of("smtpd_tls_security_level = encrypt\n"
                                                "smtpd_tls_mandatory_protocols = TLSv1.3\n"
                                                "smtpd_tls_mandatory_ciphers = high\n"));
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->protocols, kTls13);
  EXPECT_EQ(enc->ciphers, "aNULL:-aNULL:HIGH:@STRENGTH");
  for (const char* text : {"smtpd_tls_ciphers = strong\n", "smtpd_tls_exclude_ciphers = RC4:ALL\n",
                           "smtpd_tls_protocols = TLSv9\n", "smtpd_tls_protocols = !TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3\n"}) {
    auto s = Settings::from_config(cfg_of(std::string("smtpd_tls_security_level = may\n") + text));
    EXPECT_FALSE(s.ok()) << text;
  }
}

TEST_F(TlsServer, LoadsCertificatesAndRefusesBadOnes) {
  auto pair = settings("smtpd_tls_cert_file = " + path("cert.pem") + "\nsmtpd_tls_key_file = " + path("key.pem") + "\n");
  EXPECT_TRUE(Context::load(pair, Side::kServer).ok());
  // smtpd_tls_key_file defaults to the certificate file.
  auto one = settings("smtpd_tls_cert_file = " + path("chain.pem") + "\n");
  EXPECT_EQ(one.key_file, path("chain.pem"));
  EXPECT_TRUE(Context::load(one, Side::kServer).ok());
  auto chain = settings("smtpd_tls_chain_files = " + path("chain.pem") + "\n");
  EXPECT_TRUE(Context::load(chain, Side::kServer).ok());

  auto mismatch = settings("smtpd_tls_cert_file = " + path("other.pem") + "\nsmtpd_tls_key_file = " +
                           path("key.pem") + "\n");
  auto e = Context::load(mismatch, Side::kServer);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("does not match"), std::string::npos) << e.error().message;
  auto missing = settings("smtpd_tls_cert_file = " + path("nonexistent.pem") + "\n");
  e = Context::load(missing, Side::kServer);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("nonexistent.pem"), std::string::npos) << e.error().message;
  auto none = settings("");
  EXPECT_FALSE(none.has_certificates());
  EXPECT_FALSE(Context::load(none, Side::kServer).ok());
}

TEST_F(TlsServer, HandshakesAndDescribesTheSession) {
  auto s = settings("smtpd_tls_chain_files = " + path("chain.pem") + "\n");
  auto info = handshake(s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->protocol, "TLSv1.3");
  EXPECT_FALSE(info->cipher.empty());
  EXPECT_GE(info->usebits, 128);
  EXPECT_FALSE(info->peer_certificate);
  EXPECT_EQ(log_text(*info).rfind("TLSv1.3 with cipher " + info->cipher + " (", 0), 0u) << log_text(*info);

  // The protocol list bounds what the server agrees to.
  auto old = settings("smtpd_tls_chain_files = " + path("chain.pem") + "\nsmtpd_tls_protocols = <=TLSv1.2\n");
  info = handshake(old);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->protocol, "TLSv1.2");
  auto only13 = settings("smtpd_tls_chain_files = " + path("chain.pem") + "\nsmtpd_tls_protocols = TLSv1.3\n");
  EXPECT_FALSE(handshake(only13, TLS1_2_VERSION));
  drain_errors();
}

TEST_F(TlsServer, ClientCertificateSettings) {
  auto ask = settings("smtpd_tls_ask_ccert = yes\nsmtpd_tls_CAfile = /x/ca.pem\nsmtpd_tls_ccert_verifydepth = 3\n");
  EXPECT_TRUE(ask.ask_ccert);
  EXPECT_FALSE(ask.req_ccert);
  EXPECT_EQ(ask.ca_file, "/x/ca.pem");
  EXPECT_EQ(ask.ccert_verifydepth, 3);
  EXPECT_EQ(ask.fingerprint_digest, "sha256");
  // Requiring implies asking, and needs mandatory TLS: with "may" it is
  // ignored, with a warning for the log (Postfix's rule).
  auto may = settings("smtpd_tls_req_ccert = yes\n");
  EXPECT_TRUE(may.ask_ccert);
  EXPECT_FALSE(may.req_ccert);
  EXPECT_NE(may.warning.find("smtpd_tls_req_ccert = yes is ignored"), std::string::npos) << may.warning;
  auto enc = Settings::from_config(cfg_of("smtpd_tls_security_level = encrypt\nsmtpd_tls_req_ccert = yes\n"));
  ASSERT_TRUE(enc.ok());
  EXPECT_TRUE(enc->req_ccert);
  EXPECT_TRUE(enc->ask_ccert);
  EXPECT_TRUE(enc->warning.empty());
  // Wrapper mode is TLS for every session too.
  auto wrap = settings("smtpd_tls_wrappermode = yes\nsmtpd_tls_req_ccert = yes\n");
  EXPECT_TRUE(wrap.req_ccert);
  auto md5 = settings("smtpd_tls_fingerprint_digest = MD5\n");
  EXPECT_EQ(md5.fingerprint_digest, "md5");
  auto bad = Settings::from_config(cfg_of("smtpd_tls_security_level = may\nsmtpd_tls_fingerprint_digest = sha257\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sha257"), std::string::npos);
  // A server without TLS never computes a fingerprint, so the digest is not
  // looked up (that would initialize OpenSSL in every smtpd start).
  EXPECT_TRUE(Settings::from_config(cfg_of("smtpd_tls_fingerprint_digest = sha257\n")).ok());
  // Nor does a client without TLS; a policy table may turn TLS on, though.
  EXPECT_TRUE(Settings::from_config(cfg_of("smtp_tls_fingerprint_digest = sha257\n"), "smtp").ok());
  EXPECT_FALSE(Settings::from_config(cfg_of("smtp_tls_fingerprint_digest = sha257\n"
                                            "smtp_tls_policy_maps = inline:{x=may}\n"),
                                     "smtp")
                   .ok());
  EXPECT_FALSE(Settings::from_config(cfg_of("lmtp_tls_security_level = may\nlmtp_tls_fingerprint_digest = sha257\n"),
                                     "lmtp")
                   .ok());
  // Every OpenSSL function Postern calls exists in the OpenSSL it runs
  // with (in the lazily loading build, this resolves all of them).
  auto loaded = load_openssl();
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  // In that build, the table of pointers the calls go through is read-only
  // from then on, as the GOT it replaces would be.
  if (auto slots = openssl_function_slots(); !slots.empty()) {
    for (void* p : slots.first(4)) EXPECT_NE(p, nullptr);
    auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto addr = reinterpret_cast<std::uintptr_t>(slots.data());
    EXPECT_EQ(addr % page, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(slots.data() + slots.size()) % page, 0u);
    std::ifstream maps("/proc/self/maps");
    std::string line, perms;
    while (std::getline(maps, line)) {
      unsigned long lo = 0, hi = 0;
      char p[5] = {};
      if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) perms = p;
    }
    EXPECT_EQ(perms.substr(0, 2), "r-") << "mapping of the OpenSSL function table: " << perms;
    EXPECT_DEATH(*const_cast<void* volatile*>(slots.data()) = nullptr, "");
  }
  // A CA file that cannot be read is an error when the context loads.
  auto missing = settings("smtpd_tls_chain_files = " + path("chain.pem") +
                          "\nsmtpd_tls_ask_ccert = yes\nsmtpd_tls_CAfile = " + path("nonexistent-ca.pem") + "\n");
  auto e = Context::load(missing, Side::kServer);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("nonexistent-ca.pem"), std::string::npos) << e.error().message;
}

TEST(TlsFingerprint, PostfixForm) {
  const std::string abc = "abc";
  const auto* data = reinterpret_cast<const unsigned char*>(abc.data());
  // SHA-256 and MD5 of "abc" (FIPS 180-2 and RFC 1321 test vectors).
  EXPECT_EQ(fingerprint("sha256", data, abc.size()),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD");
  EXPECT_EQ(fingerprint("md5", data, abc.size()), "90:01:50:98:3C:D2:4F:B0:D6:96:3F:7D:28:E1:7F:72");
  EXPECT_EQ(fingerprint("no-such-digest", data, abc.size()), "");
  // Configured fingerprints: any case, ':' optional; only hex bytes.
  EXPECT_EQ(*normal_fingerprint("ba:78:16:BF"), "BA7816BF");
  EXPECT_EQ(*normal_fingerprint("BA7816BF"), "BA7816BF");
  for (const char* bad : {"", ":", "BA:7", "BA:XY", "BA 78"}) EXPECT_FALSE(normal_fingerprint(bad)) << bad;
  SessionInfo info;
  info.cert_fingerprint = "BA:78";
  info.pkey_fingerprint = "16:BF";
  EXPECT_TRUE(fingerprint_matches(info, {"0000", "BA78"}));
  EXPECT_TRUE(fingerprint_matches(info, {"16BF"}));
  EXPECT_FALSE(fingerprint_matches(info, {"BA7816BF"}));
  EXPECT_FALSE(fingerprint_matches(SessionInfo{}, {"BA78"}));
}

TEST_F(TlsServer, AskedCertificateIsDescribedWithItsFingerprints) {
  // Server asks; the client presents the self-signed "other" certificate's
  // sibling made here: it does not verify (no CA), but is described.
  auto [ckey, ccert] = make_certificate("client.example");
  write("client-key.pem", ckey);
  write("client-cert.pem", ccert);
  auto s = settings("smtpd_tls_chain_files = " + path("chain.pem") + "\nsmtpd_tls_ask_ccert = yes\n");
  auto ctx = Context::load(s, Side::kServer);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.set_verify_mode(asio::ssl::verify_none);
  client_ctx.use_certificate_file(path("client-cert.pem"), asio::ssl::context::pem);
  client_ctx.use_private_key_file(path("client-key.pem"), asio::ssl::context::pem);
  asio::ssl::stream<asio::local::stream_protocol::socket&> server(a, (*ctx)->context());
  asio::ssl::stream<asio::local::stream_protocol::socket&> client(b, client_ctx);
  error_code server_ec, client_ec;
  server.async_handshake(asio::ssl::stream_base::server, [&](error_code ec) { server_ec = ec; });
  client.async_handshake(asio::ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
  io.run();
  ASSERT_FALSE(server_ec) << server_ec.message();
  ASSERT_FALSE(client_ec) << client_ec.message();
  SessionInfo info = describe(server.native_handle(), "sha256");
  EXPECT_TRUE(info.peer_certificate);
  EXPECT_FALSE(info.verified);
  EXPECT_EQ(trust_word(info, Side::kServer), "Untrusted");
  EXPECT_EQ(info.peer_cn, "client.example");
  EXPECT_EQ(info.issuer_cn, "client.example");
  // The certificate's fingerprint is the digest of its DER form.
  X509* peer = SSL_get1_peer_certificate(server.native_handle());
  ASSERT_NE(peer, nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  ASSERT_EQ(X509_digest(peer, EVP_sha256(), md, &n), 1);
  X509_free(peer);
  std::string expect;
  for (unsigned int i = 0; i < n; ++i) expect += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
  EXPECT_EQ(info.cert_fingerprint, expect);
  EXPECT_EQ(info.pkey_fingerprint.size(), expect.size());
  EXPECT_NE(info.pkey_fingerprint, info.cert_fingerprint);
  // Without a digest: no fingerprints.
  EXPECT_TRUE(describe(server.native_handle()).cert_fingerprint.empty());
}
