// session.h - one SMTP server session (RFC 5321 with Postfix's behaviour).
//
// serve_session() runs one client connection as an Asio coroutine: greeting,
// command loop, message transfer into cleanup, and the Postfix-shaped log
// lines. Many sessions share one process (server::Model::Multi); Settings
// and Policy are shared and read-only apart from table lookups.
//
// The message streams into the cleanup service while it arrives (memory
// stays bounded by one socket read plus one content frame), and "250 2.0.0
// Ok: queued as ID" is sent only after cleanup reports the queue file
// durable. Every other outcome is cleanup's own reply or "451 4.3.0 Error:
// queue file write error"; a session that ends mid-transaction closes the
// cleanup connection, which removes the incomplete file. With
// smtpd_proxy_filter the filter takes cleanup's place (proxy.h) and its
// answers are the client's.
//
// Recipients are classified by trivial-rewrite's resolve (private/rewrite,
// one client per process): an answer flagged as a failure, or no answer,
// gives "451 4.3.0 <rcpt>: Recipient address rejected: Temporary lookup
// failure"; flagged as bad syntax, "501 5.1.3 Bad recipient address syntax".
// The client's name comes from the hosts file first (as getnameinfo()
// gives Postfix; dns/hosts_file.h), then from DNS (PTR, forward-confirmed;
// see kPeernameTryTimeout), unless smtpd_peername_lookup = no; "unknown"
// when none is found (a loopback client with no name is "localhost").
//
// Parameters: see Settings below (read once per process).
// Logs: connect from / disconnect from (with per-command counts), ID:
// client=, NOQUEUE: reject: / ID: reject:, NOQUEUE: proxy-accept: /
// proxy-reject:, improper command pipelining,
// lost connection after CMD, timeout after CMD, too many errors, request
// longer than, warning: Connection concurrency limit exceeded, warning:
// Connection rate limit exceeded.
//
// Per-client limits (smtpd_client_connection_count_limit,
// smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
// smtpd_client_recipient_rate_limit, smtpd_client_auth_rate_limit,
// smtpd_client_new_tls_session_rate_limit) are
// counted by the anvil service
// across all smtpd processes (anvil_client.h); clients in
// smtpd_client_event_limit_exceptions are not counted at all. Over a
// message or recipient rate, MAIL FROM or RCPT TO gets "450 4.7.1 Error:
// too much mail from ADDR" / "too many recipients from ADDR" and a warning
// (Message delivery request / Recipient address rate limit exceeded); over
// the AUTH rate, AUTH gets "450 4.7.1 Error: too many AUTH commands from
// ADDR" (AUTH command rate limit exceeded).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "config/config.h"
#include "dns/hosts_file.h"
#include "dns/resolver.h"
#include "submit/notice.h"
#include "maps/map_list.h"
#include "rewrite/client.h"
#include "server/skeleton.h"
#include "smtp/data.h"
#include "smtpd/anvil_client.h"
#include "smtpd/footer.h"
#include "smtpd/policy.h"
#include "smtpd/proxy.h"
#include "smtpd/sasl.h"
#include "submit/cleanup_client.h"
#include "tls/context.h"

namespace postern::smtpd {

struct Settings {
  std::string myhostname;
  std::string mail_name;
  std::string banner;               // smtpd_banner
  std::uint64_t message_size_limit = 10240000;  // 0: none
  std::size_t recipient_limit = 1000;
  std::size_t line_length_limit = 2048;
  std::chrono::seconds timeout{300};
  int hard_error_limit = 20;
  int soft_error_limit = 10;
  bool soft_bounce = false;  // every 5xx reply goes out as 4xx (smtp::soften())
  std::chrono::seconds error_sleep{1};
  int junk_command_limit = 100;
  int connection_count_limit = 50;   // smtpd_client_connection_count_limit; 0: none
  int connection_rate_limit = 0;     // smtpd_client_connection_rate_limit; 0: none
  int message_rate_limit = 0;        // smtpd_client_message_rate_limit; 0: none
  int recipient_rate_limit = 0;      // smtpd_client_recipient_rate_limit; 0: none
  int auth_rate_limit = 0;           // smtpd_client_auth_rate_limit; 0: none
  int new_tls_rate_limit = 0;        // smtpd_client_new_tls_session_rate_limit; 0: none
  bool disable_vrfy = false;
  bool forbid_unauth_pipelining = true;
  smtp::BareNewline bare_newline = smtp::BareNewline::Normalize;
  int bare_newline_code = 550;
  std::string bare_newline_exclusions;  // network list
  bool smtputf8_enable = true;
  // strict_smtputf8 (with smtputf8_enable): 8-bit addresses need SMTPUTF8.
  bool strict_smtputf8 = false;
  bool strict_rfc821 = false;
  bool helo_required = false;
  std::vector<std::string> discard_ehlo;
  std::chrono::seconds ipc_timeout{3600};
  std::chrono::seconds ipc_idle{5};
  std::filesystem::path cleanup_socket;
  std::string content_filter;     // transport:nexthop for every message, or empty
  std::int64_t cleanup_flags = 0;  // receive_override_options (submit::ReceiveOverrides)
  std::filesystem::path rewrite_socket;  // private/$rewrite_service_name
  std::filesystem::path anvil_socket;    // private/$anvil_service_name
  std::uint64_t queue_minfree = 0;       // queue_minfree (bytes)
  bool peername_lookup = true;           // smtpd_peername_lookup
  // smtpd_upstream_proxy_protocol = haproxy: the client's endpoints come in
  // a PROXY header first (haproxy.h), within smtpd_upstream_proxy_timeout.
  bool upstream_proxy = false;
  std::chrono::seconds upstream_proxy_timeout{5};
  std::shared_ptr<const dns::HostsFile> hosts;  // /etc/hosts, read before the privilege drop
  std::string dns_resolver_address;
  // Postmaster notices of sessions with errors (mail/transcript.h,
  // submit/notice.h: notify_classes, the recipients, the sender), and
  // after how many history lines HELO, EHLO, RSET or the end of a message
  // start a new history (smtpd_history_flush_threshold).
  submit::NoticeSettings notices;
  std::size_t history_flush_threshold = 100;
  tls::Settings tls;  // smtpd_tls_*, smtpd_starttls_timeout
  ProxySettings proxy;  // smtpd_proxy_filter and friends (proxy.h)
  SaslSettings sasl;  // smtpd_sasl_*, smtpd_tls_auth_only (sasl.h)

  static Result<Settings> from_config(const config::Config& cfg);
};

// Client name lookup (smtpd_peername_lookup): each DNS query gets this per
// try, twice (c-ares doubles the second try), so the PTR query and the
// parallel forward confirmation that follows take at most about 12 s in
// all before the client is "unknown".
inline constexpr std::chrono::milliseconds kPeernameTryTimeout{2000};
// DNS list lookups for one RCPT command stop after this long (or
// smtpd_timeout, if shorter); the lists not asked count as not listed.
inline constexpr std::chrono::milliseconds kDnsblBudget{30000};

// Deadline of each anvil request (at most; ipc_timeout and smtpd_timeout
// may make it shorter).
inline constexpr std::chrono::milliseconds kAnvilTimeout{5000};

struct Shared {
  Settings settings;
  std::unique_ptr<Policy> policy;
  // smtpd_reject_footer(_maps); null in tests that make no Shared from main.cf.
  std::unique_ptr<ReplyFooter> footer;
  // smtpd_command_filter: command lines replaced before they are parsed;
  // null: none.
  std::unique_ptr<maps::MapList> command_filter;
  std::unique_ptr<NetworkList> bare_newline_exclusions;
  // smtpd_authorized_xforward_hosts; null: nobody may send XFORWARD.
  std::unique_ptr<NetworkList> xforward_hosts;
  // smtpd_authorized_xclient_hosts; null: nobody may send XCLIENT.
  std::unique_ptr<NetworkList> xclient_hosts;
  // One per process, shared by every session (answer cache, connections),
  // made after the privilege drop and destroyed with the io_context.
  std::unique_ptr<rewrite::AsyncClient> rewrite;
  std::unique_ptr<dns::Resolver> dns;  // null: smtpd_peername_lookup = no, or c-ares failed
  std::unique_ptr<AnvilClient> anvil;  // null: no connection count or rate limit
  // Connections to cleanup kept between messages (submit/cleanup_client.h).
  std::unique_ptr<submit::CleanupConnections> cleanup;
  // Policy server connections (check_policy_service); null when no list has one.
  std::unique_ptr<PolicyClients> policy_servers;
  // Keys and certificates, loaded before the privilege drop; null: no TLS
  // (level none, or "may" without usable certificates).
  std::unique_ptr<tls::Context> tls;
  // SMTP AUTH (sasl.h): where Dovecot listens (set when AUTH is enabled),
  // and its mechanisms, asked once per process; after a failed attempt not
  // again before sasl_retry_after.
  std::optional<SaslEndpoint> sasl_endpoint;
  // smtpd_sasl_exceptions_networks: clients not offered AUTH (null: none).
  std::unique_ptr<NetworkList> sasl_exceptions;
  std::optional<std::vector<SaslMechanism>> sasl_mechanisms;
  std::chrono::steady_clock::time_point sasl_retry_after{};
  // The queue directory, opened before the privilege drop (and chroot), for
  // the free space check at MAIL FROM (queue_minfree); invalid: no check.
  UniqueFd queue_dir;
};

// Loads Shared::tls per settings.tls (before the privilege drop). "may"
// without usable certificates logs a warning and runs without TLS, as
// Postfix does; "encrypt" or wrapper mode without them is an error.
Status load_tls(Shared& shared);

// Creates Shared::rewrite, Shared::dns, Shared::anvil and Shared::cleanup
// on `io` (after the privilege drop).
void start_clients(asio::io_context& io, Shared& shared);

asio::awaitable<void> serve_session(server::Context& ctx, Shared& shared, server::Socket sock);

}  // namespace postern::smtpd
