// client.h - the smtp/lmtp delivery agent: one delivery request in, one
// SMTP (or LMTP) transaction out, one reply per recipient back.
//
// Per request (ipc/proto/deliver.h): open the queue file read-only
// (queue_directory/<queue_name>/<id>), find the next hop's servers (a cached
// idle session first, then dns::Resolver::resolve_nexthop: MX then A/AAAA,
// [host] and [host]:port skip MX), try them in order - connect failure, 4xx
// greeting (and 5xx with smtp_skip_5xx_greeting = yes) or a 4xx at any later
// stage moves on to the next server for the recipients still pending, up to
// smtp_mx_session_limit connected sessions - then smtp_fallback_relay.
// Session: greeting, EHLO (HELO after a 5xx), PIPELINING (MAIL, RCPTs and
// DATA in one write), SIZE=, BODY=8BITMIME, SMTPUTF8, DSN (RET/ENVID,
// NOTIFY/ORCPT) when offered; content streamed from the queue file (CRLF,
// dot-stuffed, bounded chunks); one reply for all accepted recipients
// (LMTP: one per recipient). Every read and write has its deadline; a reply
// is parsed with fixed bounds (an endless multi-line reply ends the session
// with a deferral).
//
// A session that ends cleanly is kept in a per-process cache keyed by the
// next hop (smtp_connection_cache_time_limit idle, smtp_connection_reuse_time_limit
// age, smtp_connection_reuse_count_limit uses) and reused by the next request
// for the same next hop, when caching is on for the destination: always for
// smtp_connection_cache_destinations, else on demand (qmgr's request flags,
// set while the destination gets back-to-back deliveries; Postfix's rule);
// a TLS session only with smtp_tls_connection_reuse = yes. A session that is
// not kept ends with QUIT. A cached session that fails before the server
// answered MAIL FROM is dropped and the delivery tried on a fresh connection.
//
// DNS: a temporary failure defers (4.4.3), NXDOMAIN and friends bounce
// (5.4.4 "Host or domain name not found"), null MX bounces (5.1.10).
// SMTPUTF8: a message that needs it (non-ASCII envelope) to a server that
// does not offer it bounces 5.6.7, as Postfix does.
//
// Parameters (smtp_ prefix; lmtp_ for the lmtp program where Postfix has one):
// smtp_helo_name, smtp_connect_timeout, smtp_helo_timeout, smtp_mail_timeout,
// smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
// smtp_data_done_timeout, smtp_rset_timeout, smtp_quit_timeout,
// smtp_mx_address_limit, smtp_mx_session_limit, smtp_fallback_relay,
// smtp_skip_5xx_greeting, smtp_never_send_ehlo, smtp_always_send_ehlo, smtp_tcp_port,
// smtp_discard_ehlo_keywords, smtp_randomize_addresses,
// smtp_address_preference, smtp_balance_inet_protocols, inet_protocols,
// smtp_connection_cache_on_demand, smtp_connection_cache_destinations,
// smtp_tls_connection_reuse,
// smtp_connection_cache_time_limit, smtp_connection_reuse_time_limit,
// smtp_connection_reuse_count_limit, dns_resolver_address, dns_resolver_timeout,
// notify_classes and the notices' parameters (submit/notice.h),
// cleanup_service_name,
// ipc_timeout, queue_directory,
// myhostname (through smtp_helo_name).
//
// TLS (see tls/context.h; lmtp the same with lmtp_tls_*): with smtp_tls_security_level = may
// the client sends STARTTLS when the EHLO reply offers it and speaks EHLO
// again inside TLS; a server that refuses STARTTLS gets the mail in plain
// text, and one whose handshake fails is connected to again without TLS
// (Postfix's plaintext fallback). With encrypt, a server without STARTTLS
// (4.7.4), one that refuses it or whose handshake fails (4.7.5) is a
// failure of that server: the next one is tried, then the mail is
// deferred. verify and secure are encrypt plus a certificate that chains to
// smtp_tls_CAfile/CApath and names the server (verify: its host name) or
// the destination (secure: the next hop's domain, or a subdomain):
// otherwise 4.7.5 "Server certificate not verified". dane and dane-only
// (smtp only, with smtp_dns_support_level = dnssec) are decided per server
// from its DNSSEC status and TLSA records (dane.h), and a server that
// matches its TLSA records is authenticated by OpenSSL's DANE support.
// smtp_tls_wrappermode = yes starts TLS right after connecting. Parameters:
// smtp_tls_security_level, smtp_use_tls, smtp_enforce_tls,
// smtp_tls_wrappermode, smtp_tls_protocols, smtp_tls_mandatory_protocols,
// smtp_tls_ciphers, smtp_tls_mandatory_ciphers, smtp_tls_exclude_ciphers,
// smtp_tls_mandatory_exclude_ciphers, smtp_tls_chain_files,
// smtp_tls_cert_file, smtp_tls_key_file, smtp_tls_loglevel,
// smtp_starttls_timeout, smtp_tls_CAfile, smtp_tls_CApath,
// tls_append_default_CA, smtp_tls_verify_cert_match,
// smtp_tls_secure_cert_match, smtp_tls_fingerprint_cert_match, smtp_tls_fingerprint_digest. smtp_tls_policy_maps (tls_policy.h) sets the
// level, protocols, ciphers and names per next hop; each connection gets
// its policy's protocols and ciphers on the shared context.
//
// SASL (lmtp: the lmtp_sasl_* family): with smtp_sasl_auth_enable, after EHLO (inside TLS
// when TLS is used) the client looks up "user:password" in
// smtp_sasl_password_maps under the server's host name, then under the
// next hop as written ("[smtp.example.com]:587"), and authenticates with
// PLAIN or LOGIN (the ones a client can do without Cyrus), as far as the
// server offers them, smtp_sasl_mechanism_filter allows and
// smtp_sasl_security_options (smtp_sasl_tls_security_options with TLS)
// permit: the default "noplaintext" allows neither without TLS, as in
// Postfix. A server without AUTH gets the mail unauthenticated; a refused
// login, or no usable mechanism, is a failure of that server (4.7.0 or the
// server's code with a 4), and the next one is tried. Passwords never
// reach a log line.
//
// notify_classes with protocol: a delivery whose server sent a non-SMTP
// line or a failure reply with an out-of-protocol code (Postfix's
// smtp_check_code) mails the postmaster its transcript (mail/transcript.h),
// before the reply to qmgr; never for mail from <> or double_bounce_sender.
//
// Logs one Postfix status line per recipient:
//   ID: to=<u@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=0.2,
//     delays=0.01/0/0.1/0.09, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X)
// and warnings for malformed requests and unreadable queue files.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "dns/nexthop.h"
#include "ipc/proto/deliver.h"
#include "generic.h"
#include "mail/mime.h"
#include "server/skeleton.h"
#include "submit/notice.h"
#include "tls/context.h"
#include "tls_policy.h"

namespace postern::smtp_client {

struct Settings {
  bool lmtp = false;  // LMTP mode: LHLO, one reply per recipient, no MX lookups
  bool soft_bounce = false;  // bounces are reported as deferrals (deliver::report_outcome())
  // smtp_bind_address, smtp_bind_address6: the local address of outgoing
  // TCP connections of that family (not for lmtp, which has no such
  // parameter here). A bind that fails is logged and the connection made
  // from any address, as Postfix does.
  std::optional<asio::ip::address> bind_v4, bind_v6;
  std::filesystem::path queue_root;
  std::string helo_name;
  std::chrono::seconds connect_timeout{30}, helo_timeout{300}, mail_timeout{300}, rcpt_timeout{300},
      data_init_timeout{120}, data_xfer_timeout{180}, data_done_timeout{600}, rset_timeout{20},
      quit_timeout{300};
  dns::NexthopOptions nexthop;
  std::size_t mx_session_limit = 2;  // 0: no limit
  // smtp_line_length_limit / lmtp_line_length_limit: longer content lines
  // are broken (smtp::DataEncoder); 0: no limit.
  std::size_t line_limit = 998;
  // smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks,
  // smtp_body_checks (lmtp_* for lmtp), in maps::CheckClass order: the
  // message is inspected on its way out (output_checks.h); empty: not.
  std::array<std::string, 4> checks;
  mail::MimeOptions mime;  // header_size_limit, mime_nesting_limit, mime_boundary_length_limit
  // !disable_mime_output_conversion: 8-bit MIME entities go out
  // quoted-printable to a server without 8BITMIME (output_checks.h).
  bool mime_output_conversion = true;
  // smtp_delivery_status_filter / lmtp_delivery_status_filter
  // (deliver/status_filter.h); empty: none.
  std::string status_filter;
  // smtp_generic_maps / lmtp_generic_maps (generic.h); empty: none.
  std::string generic_maps;
  GenericMaps::Options generic;
  // smtp_reply_filter / lmtp_reply_filter: a table that replaces server
  // reply lines as they arrive; empty: none.
  std::string reply_filter;
  std::vector<std::string> fallback_relays;
  // relayhost, to tell a next hop that is the configured relay host (whose
  // hard failures are configuration problems that defer, 4.3.5, as in
  // Postfix) from a destination's own MX hosts.
  std::string relayhost;
  bool lmtp_assume_final = false;  // lmtp_assume_final (DSN action of an LMTP success)
  // The loop check (SMTP to port 25 only, as Postfix): this host's
  // addresses (inet_interfaces, proxy_interfaces) and name (myhostname).
  std::vector<asio::ip::address> own_addresses;
  std::string myhostname;
  bool skip_5xx_greeting = true;
  // smtp_defer_if_no_mx_address_found: MX hosts without addresses defer
  // (4.4.4) rather than bounce (5.4.4).
  bool defer_if_no_mx_address = false;
  bool never_send_ehlo = false;
  bool always_send_ehlo = true;  // no: EHLO only after a greeting with "ESMTP"
  std::vector<std::string> discard_ehlo;
  std::chrono::seconds cache_time_limit{2}, reuse_time_limit{300};
  std::int64_t reuse_count_limit = 0;  // 0: no limit
  // Which sessions are kept (Postfix's smtp_cache_policy()): always for
  // the destinations of *_connection_cache_destinations (opened in
  // create()), else while qmgr asks for it (delivery_flag::kConnLoad and
  // kConnStore) when *_connection_cache_on_demand = yes. TLS sessions only
  // with *_tls_connection_reuse = yes.
  bool cache_on_demand = true;
  std::string cache_destinations;
  bool tls_connection_reuse = false;
  std::string dns_servers;             // dns_resolver_address
  // smtp_dns_support_level = dnssec (smtp only): lookups ask for DNSSEC
  // validation, which the DANE levels need (dane.h).
  bool dnssec = false;
  std::string dnssec_probe;  // dnssec_probe (dns/resolver.h)
  std::chrono::seconds dns_timeout{5};
  std::chrono::seconds ipc_timeout{3600};
  // smtp_tls_*: STARTTLS when the server offers it (may) or always
  // (encrypt); smtp_tls_wrappermode for port 465. lmtp: the lmtp_tls_* family.
  tls::Settings tls;
  // smtp_tls_policy_maps (tls_policy.h): per-destination levels; and what
  // each level means in main.cf, for the table's entries.
  std::string tls_policy_maps;
  TlsDefaults tls_defaults;
  // smtp_sasl_*: AUTH PLAIN or LOGIN with the credentials that
  // smtp_sasl_password_maps gives for the server's name or the next hop.
  bool sasl_enabled = false;
  std::string sasl_password_maps;
  bool sasl_noplaintext = true, sasl_tls_noplaintext = true;  // smtp_sasl_(tls_)security_options
  std::vector<std::string> sasl_mechanism_filter;             // upper case; empty: any
  // smtp_sender_dependent_authentication: smtp_sasl_password_maps is asked
  // with the envelope sender first (user+ext@domain, user@domain,
  // @domain), and sessions are not reused (another sender may need other
  // credentials), as in Postfix.
  bool sasl_sender_dependent = false;
  std::string recipient_delimiter;  // for the sender lookups
  // smtp_send_xforward_command: before each MAIL FROM, tell a server that
  // offers XFORWARD where the message came from (its queue file's client
  // attributes), within smtp_xforward_timeout (lmtp_*: the same).
  bool send_xforward = false;
  std::chrono::seconds xforward_timeout{300};
  // Postmaster notices (notify_classes with protocol): each delivery's
  // session transcript when a server broke the protocol, posted through
  // cleanup_service_name's socket (queue_directory/public/, "/public/"
  // after chroot: main.cpp sets it again).
  submit::NoticeSettings notices;
  std::string cleanup_service;
  std::filesystem::path cleanup_socket;

  static Result<Settings> from_config(const config::Config& cfg, bool lmtp);
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> create(asio::io_context& io, Settings settings);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  Settings& settings();

  // Deliver one request; never fails (problems become deferrals).
  asio::awaitable<ipc::proto::DeliveryReply> deliver(ipc::proto::DeliveryRequest req);

  // One qmgr connection: read the request, deliver, write the reply.
  asio::awaitable<void> serve(server::Context& ctx, server::Socket sock);

  struct Impl;

 private:
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::smtp_client
