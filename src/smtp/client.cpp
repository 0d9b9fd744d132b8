// client.cpp - see client.h.
#include "client.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "base/strings.h"
#include "config/host_info.h"
#include "content.h"
#include "dane.h"
#include "deliver/outcome.h"
#include "deliver/status_filter.h"
#include "deliver/status_line.h"
#include "dns/nexthop.h"
#include "dns/resolver.h"
#include "ipc/async.h"
#include "ipc/async_stream.h"
#include "log/log.h"
#include "mail/address.h"
#include "maps/address_search.h"
#include "maps/content_checks.h"
#include "maps/map_list.h"
#include "maps/match_list.h"
#include "queue/layout.h"
#include "queue/queue_id.h"
#include "queue/reader.h"
#include "server/requests.h"
#include "smtp/reply_parser.h"
#include "text.h"
#include "smtp/xtext.h"
#include "submit/cleanup_client.h"
#include "tls/context.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace postern::smtp_client {

using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

namespace {

// RFC 4648 base64 (OpenSSL's encoder), for the SASL client's lines.
std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

// Reply bounds: a server that sends an endless multi-line reply or endless
// lines hits these and the session ends with a deferral.
constexpr smtp::ReplyLimits kReplyLimits{.max_line = 2048, .max_lines = 1000, .max_reply_bytes = 256 * 1024,
                                         .max_queued = 1100};
// Content is written in chunks of about this size.
constexpr std::size_t kChunk = 64 * 1024;
// A "system limit" connect timeout (smtp_connect_timeout = 0) still needs a bound.
constexpr seconds kSystemConnectLimit{75};

seconds time_param(const config::Config& cfg, bool lmtp, std::string_view smtp_name, std::string_view lmtp_name) {
  if (lmtp && !lmtp_name.empty()) return cfg.time(lmtp_name);
  return cfg.time(smtp_name);
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg, bool lmtp) {
  Settings s;
  s.lmtp = lmtp;
  s.soft_bounce = cfg.boolean("soft_bounce");
  if (!lmtp) {
    for (auto [name, v6] : {std::pair{"smtp_bind_address", false}, std::pair{"smtp_bind_address6", true}}) {
      std::string text(str::trim(cfg.str(name)));
      if (text.empty()) continue;
      error_code ec;
      auto a = asio::ip::make_address(text, ec);
      if (ec || a.is_v6() != v6)
        return make_error("{}: \"{}\" is not an IPv{} address", name, str::printable(text, 100), v6 ? 6 : 4);
      (v6 ? s.bind_v6 : s.bind_v4) = a;
    }
  }
  s.queue_root = cfg.str("queue_directory");
  s.helo_name = lmtp ? cfg.str("lmtp_lhlo_name") : cfg.str("smtp_helo_name");
  if (s.helo_name.empty()) s.helo_name = cfg.str("myhostname");
  s.connect_timeout = time_param(cfg, lmtp, "smtp_connect_timeout", "lmtp_connect_timeout");
  s.helo_timeout = time_param(cfg, lmtp, "smtp_helo_timeout", "lmtp_lhlo_timeout");
  s.mail_timeout = time_param(cfg, lmtp, "smtp_mail_timeout", "lmtp_mail_timeout");
  s.rcpt_timeout = time_param(cfg, lmtp, "smtp_rcpt_timeout", "lmtp_rcpt_timeout");
  s.data_init_timeout = time_param(cfg, lmtp, "smtp_data_init_timeout", "lmtp_data_init_timeout");
  s.data_xfer_timeout = time_param(cfg, lmtp, "smtp_data_xfer_timeout", "lmtp_data_xfer_timeout");
  s.data_done_timeout = time_param(cfg, lmtp, "smtp_data_done_timeout", "lmtp_data_done_timeout");
  s.rset_timeout = time_param(cfg, lmtp, "smtp_rset_timeout", "lmtp_rset_timeout");
  s.quit_timeout = time_param(cfg, lmtp, "smtp_quit_timeout", "lmtp_quit_timeout");
  if (s.connect_timeout.count() <= 0) s.connect_timeout = kSystemConnectLimit;

  auto port = dns::parse_port(lmtp ? cfg.str("lmtp_tcp_port") : cfg.str("smtp_tcp_port"));
  if (!port) return make_error("{}: {}", lmtp ? "lmtp_tcp_port" : "smtp_tcp_port", port.error().message);
  s.nexthop.default_port = *port;
  s.nexthop.mx_address_limit = static_cast<std::size_t>(cfg.integer("smtp_mx_address_limit"));
  auto fam = dns::parse_families(cfg.str("inet_protocols"));
  if (!fam) return make_error("inet_protocols: {}", fam.error().message);
  s.nexthop.families = *fam;
  auto pref = dns::parse_address_preference(cfg.str("smtp_address_preference"));
  if (!pref) return make_error("smtp_address_preference: {}", pref.error().message);
  s.nexthop.preference = *pref;
  s.nexthop.randomize_addresses = cfg.boolean("smtp_randomize_addresses");
  s.nexthop.balance_families = cfg.boolean("smtp_balance_inet_protocols");
  // Postfix: disable_dns_lookups (both clients) or smtp_dns_support_level =
  // disabled: no MX lookups and host names through the system's resolver;
  // else <proto>_host_lookup says how MX hosts and [hosts] are found.
  const std::string level = str::lower(str::trim(cfg.str("smtp_dns_support_level")));
  if (!level.empty() && level != "disabled" && level != "enabled" && level != "dnssec")
    return make_error("smtp_dns_support_level = {}: want disabled, enabled or dnssec", str::printable(level, 40));
  s.nexthop.mx_lookups = !cfg.boolean("disable_dns_lookups") && !(level == "disabled" && !lmtp);
  s.dnssec = !lmtp && level == "dnssec" && s.nexthop.mx_lookups;
  s.dnssec_probe = cfg.str("dnssec_probe");
  const char* lookup_param = lmtp ? "lmtp_host_lookup" : "smtp_host_lookup";
  auto how = dns::parse_host_lookup(cfg.str(lookup_param));
  if (!how) return make_error("{}: {}", lookup_param, how.error().message);
  s.nexthop.host_lookup = s.nexthop.mx_lookups ? *how : dns::HostLookup::kNative;
  s.mx_session_limit = static_cast<std::size_t>(cfg.integer("smtp_mx_session_limit"));
  s.line_limit = static_cast<std::size_t>(cfg.integer(lmtp ? "lmtp_line_length_limit" : "smtp_line_length_limit"));
  s.reply_filter = cfg.str(lmtp ? "lmtp_reply_filter" : "smtp_reply_filter");
  const std::string_view proto = lmtp ? "lmtp" : "smtp";
  const char* const kChecks[] = {"header_checks", "mime_header_checks", "nested_header_checks", "body_checks"};
  for (std::size_t i = 0; i < s.checks.size(); ++i) s.checks[i] = cfg.str(fmt::format("{}_{}", proto, kChecks[i]));
  s.mime.header_size_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.size("header_size_limit")));
  s.mime.nesting_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("mime_nesting_limit")));
  s.mime.boundary_length_limit =
      static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("mime_boundary_length_limit")));
  s.mime_output_conversion = !cfg.boolean("disable_mime_output_conversion");
  s.generic_maps = cfg.str(lmtp ? "lmtp_generic_maps" : "smtp_generic_maps");
  s.status_filter = cfg.str(lmtp ? "lmtp_delivery_status_filter" : "smtp_delivery_status_filter");
  s.generic.recipient_delimiter = cfg.str("recipient_delimiter");
  for (const auto& p : cfg.list("propagate_unmatched_extensions"))
    if (str::iequals(p, "generic")) s.generic.propagate_extension = true;
  s.generic.myorigin = str::lower(str::trim(cfg.str("myorigin")));
  for (const auto& d : cfg.list("mydestination"))  // names only: generic(5) asks no tables here
    if (d.find(':') == std::string::npos && d.front() != '/') s.generic.local_domains.push_back(str::lower(d));
  s.generic.header_size_limit = s.mime.header_size_limit;
  if (!lmtp) {
    s.fallback_relays = cfg.list("smtp_fallback_relay");
    s.relayhost = std::string(str::trim(cfg.str("relayhost")));
    s.myhostname = cfg.str("myhostname");
    auto texts = config::host::own_address_texts(cfg.str("inet_interfaces"), cfg.str("inet_protocols"));
    for (auto& p : mail::canonical_ip_texts(cfg.list("proxy_interfaces"))) texts.push_back(std::move(p));
    for (const auto& t : texts) {
      error_code ec;
      auto a = asio::ip::make_address(t, ec);
      if (!ec) s.own_addresses.push_back(a);
    }
  }
  s.skip_5xx_greeting = cfg.boolean("smtp_skip_5xx_greeting");
  if (lmtp) s.lmtp_assume_final = cfg.boolean("lmtp_assume_final");
  s.defer_if_no_mx_address = !lmtp && cfg.boolean("smtp_defer_if_no_mx_address_found");
  s.never_send_ehlo = cfg.boolean("smtp_never_send_ehlo");
  s.always_send_ehlo = cfg.boolean("smtp_always_send_ehlo");
  s.discard_ehlo = cfg.list("smtp_discard_ehlo_keywords");
  s.cache_time_limit = cfg.time(std::string(proto) + "_connection_cache_time_limit");
  s.reuse_time_limit = cfg.time(std::string(proto) + "_connection_reuse_time_limit");
  s.reuse_count_limit = cfg.integer(std::string(proto) + "_connection_reuse_count_limit");
  s.cache_on_demand = cfg.boolean(std::string(proto) + "_connection_cache_on_demand");
  s.cache_destinations = cfg.str(std::string(proto) + "_connection_cache_destinations");
  s.tls_connection_reuse = cfg.boolean(std::string(proto) + "_tls_connection_reuse");
  s.dns_servers = cfg.str("dns_resolver_address");
  s.dns_timeout = cfg.time("dns_resolver_timeout");
  s.ipc_timeout = cfg.time("ipc_timeout");
  auto notices = submit::NoticeSettings::from_config(cfg);
  if (!notices) return notices.take_error();
  s.notices = std::move(*notices);
  s.cleanup_service = cfg.str("cleanup_service_name");
  s.cleanup_socket = submit::cleanup_socket_path(s.queue_root, s.cleanup_service);
  // TLS and XFORWARD: the smtp_* family, or lmtp_* for lmtp.
  const std::string p(proto);
  auto t = tls::Settings::from_config(cfg, p);
  if (!t) return t.take_error();
  s.tls = std::move(*t);
  s.tls_policy_maps = cfg.str(p + "_tls_policy_maps");
  auto td = TlsDefaults::from_config(cfg, p);
  if (!td) return td.take_error();
  s.tls_defaults = std::move(*td);
  // The DANE levels work only where lookups ask for validation (not with
  // disable_dns_lookups, not in lmtp).
  s.tls_defaults.dnssec = s.dnssec;
  s.send_xforward = cfg.boolean(p + "_send_xforward_command");
  s.xforward_timeout = cfg.time(p + "_xforward_timeout");
  // SASL: the smtp_sasl_* family, or lmtp_sasl_* for lmtp (Postfix has both).
  {
    s.sasl_enabled = cfg.boolean(p + "_sasl_auth_enable");
    s.sasl_password_maps = cfg.str(p + "_sasl_password_maps");
    s.sasl_sender_dependent = cfg.boolean(p + "_sender_dependent_authentication");
    s.recipient_delimiter = cfg.str("recipient_delimiter");
    auto security = [&](const std::string& param, bool& noplaintext) -> Status {
      noplaintext = false;
      for (const auto& o : cfg.list(param)) {
        std::string v = str::lower(o);
        if (v == "noplaintext") noplaintext = true;
        else if (v != "noanonymous" && v != "noactive" && v != "nodictionary" && v != "mutual_auth")
          return make_error("{}: unknown SASL security option \"{}\"", param, str::printable(o, 64));
      }
      return {};
    };
    if (auto st = security(p + "_sasl_security_options", s.sasl_noplaintext); !st) return st.take_error();
    if (auto st = security(p + "_sasl_tls_security_options", s.sasl_tls_noplaintext); !st) return st.take_error();
    for (const auto& m : cfg.list(p + "_sasl_mechanism_filter")) {
      std::string up = str::lower(m);
      for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      s.sasl_mechanism_filter.push_back(std::move(up));
    }
    if (s.sasl_enabled && str::trim(s.sasl_password_maps).empty())
      return make_error("{}_sasl_auth_enable = yes needs {}_sasl_password_maps", p, p);
  }
  return s;
}

namespace {

// ---- one SMTP connection -----------------------------------------------------

struct Features {
  bool esmtp = false;
  bool pipelining = false;
  bool eight_bit = false;
  bool dsn = false;
  bool smtputf8 = false;
  std::vector<std::string> xforward;  // the XFORWARD attribute names offered (upper case)
  bool starttls = false;
  std::vector<std::string> auth;      // AUTH mechanisms offered, upper case
  std::optional<std::uint64_t> size;  // offered: the limit (0 = none announced)
};

struct Session {
  Session(asio::io_context& io, mail::Problems notify, mail::TranscriptRole role)
      : sock(io), idle(io), transcript(notify, role) {
    // The server's lines as read, for the postmaster (notify_classes).
    if (transcript.enabled()) parser.set_line_observer([this](std::string_view line) { transcript.in(line); });
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Socket sock;
  // The TLS layer over sock once STARTTLS (or wrapper mode) succeeded.
  std::unique_ptr<asio::ssl::stream<Socket&>> tls;
  smtp::ReplyParser parser{kReplyLimits};
  std::string host;   // "name[addr]" for texts
  std::string relay;  // "name[addr]:port" for relay=
  Features features;
  Clock::time_point born = Clock::now();
  std::int64_t uses = 0;
  asio::steady_timer idle;  // cache idle limit
  std::uint64_t generation = 0;
  bool cached = false;
  // This delivery's history (mail/transcript.h): what was sent and read,
  // and whether the server broke the protocol.
  mail::Transcript transcript;
};
using SessionPtr = std::shared_ptr<Session>;

enum class IoStatus { Ok, Timeout, Lost, Malformed, LocalData };
struct Io {
  IoStatus status = IoStatus::Ok;
  smtp::Reply reply;
  std::string why;
  bool ok() const { return status == IoStatus::Ok; }
};

asio::awaitable<Io> read_reply(Session& s, seconds timeout) {
  Io io;
  if (auto r = s.parser.next()) {
    io.reply = std::move(r->reply);
    co_return io;
  }
  if (s.parser.failed()) {
    io.status = s.parser.filter_failed() ? IoStatus::LocalData : IoStatus::Malformed;
    io.why = "reply stream out of step";
    if (io.status == IoStatus::Malformed) s.transcript.problem(mail::Problem::kProtocol);
    co_return io;
  }
  ipc::detail::Watchdog<Socket> dog(s.sock, timeout);
  std::array<char, 4096> buf;
  for (;;) {
    error_code ec;
    std::size_t n =
        s.tls ? co_await s.tls->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec))
              : co_await s.sock.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      io.status = dog.fired() ? IoStatus::Timeout : IoStatus::Lost;
      io.why = ec.message();
      co_return io;
    }
    auto st = s.parser.feed(std::string_view(buf.data(), n));
    if (auto r = s.parser.next()) {
      io.reply = std::move(r->reply);
      co_return io;
    }
    if (!st) {
      io.status = s.parser.filter_failed() ? IoStatus::LocalData : IoStatus::Malformed;
      io.why = st.error().message;
      // Postfix's "non-SMTP response": a protocol error of the server.
      if (io.status == IoStatus::Malformed) s.transcript.problem(mail::Problem::kProtocol);
      co_return io;
    }
  }
}

// Message content, or a command the transcript must not show as sent
// (AUTH's credentials).
asio::awaitable<Io> send_unrecorded(Session& s, const std::string& data, seconds timeout) {
  Io io;
  ipc::detail::Watchdog<Socket> dog(s.sock, timeout);
  error_code ec;
  if (s.tls)
    co_await asio::async_write(*s.tls, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
  else
    co_await asio::async_write(s.sock, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    io.status = dog.fired() ? IoStatus::Timeout : IoStatus::Lost;
    io.why = ec.message();
  }
  co_return io;
}

// One or more commands, each ending in CRLF.
asio::awaitable<Io> send(Session& s, const std::string& data, seconds timeout) {
  s.transcript.out_wire(data);
  co_return co_await send_unrecorded(s, data, timeout);
}

// Postfix's smtp_check_code(): a failure reply whose code no server should
// send for it (not 4xx or 5xx - a 250 to DATA -, or one of the 50x syntax
// errors, or 555 to MAIL or RCPT parameters) says that one side broke the
// protocol: the postmaster may want the transcript (notify_classes).
void check_code(Session& s, int code) {
  if (code < 400 || code > 599 || code == 555 || (code >= 500 && code < 510))
    s.transcript.problem(mail::Problem::kProtocol);
}

// reply_outcome() for a reply that failed the command, checked first.
deliver::Outcome failure_outcome(Session& s, const smtp::Reply& r, Stage st) {
  check_code(s, r.code);
  return reply_outcome(s.host, r, st);
}

deliver::Outcome io_failure(const Session& s, const Io& io, Stage st) {
  switch (io.status) {
    case IoStatus::Timeout: return deliver::Outcome::deferred("4.4.2", timeout_text(s.host, st));
    case IoStatus::Malformed: return deliver::Outcome::deferred("4.4.2", malformed_text(s.host, st, io.why));
    case IoStatus::LocalData: return deliver::Outcome::deferred("4.3.0", local_data_text(s.host));
    default: return deliver::Outcome::deferred("4.4.2", lost_text(s.host, st));
  }
}

// EHLO keywords the client uses, minus smtp_discard_ehlo_keywords.
Features parse_features(const smtp::Reply& r, const std::vector<std::string>& discard) {
  Features f;
  f.esmtp = true;
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    const std::string& line = r.lines[i];
    if (smtp::ehlo_keyword_discarded(line, discard)) continue;
    auto words = str::split(line, " \t");
    if (words.empty()) continue;
    std::string kw = str::lower(words[0]);
    if (kw == "pipelining") f.pipelining = true;
    else if (kw == "8bitmime") f.eight_bit = true;
    else if (kw == "dsn") f.dsn = true;
    else if (kw == "smtputf8") f.smtputf8 = true;
    else if (kw == "starttls") f.starttls = true;
    else if (kw == "xforward") {
      for (std::size_t k = 1; k < words.size() && f.xforward.size() < 16; ++k) {
        std::string a = words[k];
        for (auto& c : a) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        f.xforward.push_back(std::move(a));
      }
    }
    else if (kw == "auth" || kw.rfind("auth=", 0) == 0) {
      // "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN".
      std::vector<std::string> mechs(words.begin() + 1, words.end());
      if (kw.size() > 5) mechs.push_back(kw.substr(5));
      for (auto& m : mechs) {
        for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (f.auth.size() < 32 && std::find(f.auth.begin(), f.auth.end(), m) == f.auth.end())
          f.auth.push_back(std::move(m));
      }
    }
    else if (kw == "size") {
      f.size = 0;
      if (words.size() > 1)
        if (auto n = str::parse_uint(words[1])) f.size = *n;
    }
  }
  return f;
}

// ---- one delivery request ------------------------------------------------------

struct Rcpt {
  queue::RecipientFields fields;
  std::optional<deliver::Outcome> outcome;
  bool final = false;  // sent or bounced: no other server is asked
  std::string relay = "none";
  std::int64_t connected_usec = 0;
  std::int64_t done_usec = 0;
  // For a 2xx: the success notice's DSN action (ipc/proto/deliver.h).
  std::string action = std::string(ipc::proto::kSuccessDelivered);
};

struct Job {
  const ipc::proto::DeliveryRequest* req = nullptr;
  std::optional<queue::QueueFileReader> reader;
  std::vector<Rcpt> rcpts;
  std::int64_t start_usec = 0;
  bool site_failure = true;
  std::string hop;  // the next hop being tried (the nexthop or a fallback relay)
  TlsPolicy tls;    // its TLS policy (tls_policy.h)
  // The parameter that named `hop` when it is a relay the administrator
  // configured ("relayhost", "smtp_fallback_relay"); empty for a
  // destination's own servers.
  std::string_view configured_relay;
  // The server being tried: whether the loop check applies (SMTP to port
  // 25), and whether it is among the destination's best MX hosts.
  bool loop_check = false;
  bool best_mx = true;
  // Connection caching for this request (Impl::cache_policy()): take a
  // cached session, keep the session when done.
  bool cache_load = false;
  bool cache_store = false;

  std::vector<std::size_t> pending() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < rcpts.size(); ++i)
      if (!rcpts[i].final) out.push_back(i);
    return out;
  }
  void set(std::size_t i, deliver::Outcome o, std::string_view relay, std::int64_t connected) {
    Rcpt& r = rcpts[i];
    if (r.final) return;
    r.final = !o.is_deferred();
    r.outcome = std::move(o);
    r.relay = std::string(relay);
    r.done_usec = deliver::now_usec();
    // No session (DNS or connect failure): all the time went into setting
    // one up, so it counts as c in delays=a/b/c/d, like Postfix.
    r.connected_usec = connected > 0 ? connected : r.done_usec;
  }
  void set_pending(const deliver::Outcome& o, std::string_view relay, std::int64_t connected) {
    for (std::size_t i = 0; i < rcpts.size(); ++i) set(i, o, relay, connected);
  }
  void set_list(const std::vector<std::size_t>& which, const deliver::Outcome& o, std::string_view relay,
                std::int64_t connected) {
    for (auto i : which) set(i, o, relay, connected);
  }
};

enum class TxEnd { Reusable, Broken, ReuseFailed };

// XFORWARD commands for a message (Postfix's smtp_xforward): the client
// attributes cleanup recorded, each the server offers, "[UNAVAILABLE]"
// where the queue file has none, xtext encoded, as few commands as fit in
// 512 bytes each.
std::vector<std::string> xforward_commands(const queue::QueueMessage& msg, std::string_view queue_id,
                                           const std::vector<std::string>& offered) {
  auto value = [&](std::string_view name) -> std::string {
    auto v = msg.attribute(name);
    return v && !v->empty() ? std::string(*v) : std::string();
  };
  std::vector<std::pair<std::string, std::string>> attrs;
  auto add = [&](const char* name, std::string v) {
    if (std::find(offered.begin(), offered.end(), name) == offered.end()) return;
    // At most 255 characters a value (XFORWARD_README): a longer one is
    // not sent cut (a cut xtext escape would be garbage), but unavailable.
    std::string enc = v.empty() ? std::string() : smtp::xtext_encode(v);
    attrs.emplace_back(name, enc.empty() || enc.size() > 255 ? std::string("[UNAVAILABLE]") : enc);
  };
  add("NAME", value(queue::attr::kClientName));
  std::string addr = value(queue::attr::kClientAddress);
  if (addr.find(':') != std::string::npos && !str::iequals(std::string_view(addr).substr(0, 5), "ipv6:"))
    addr = "IPv6:" + addr;
  add("ADDR", addr);
  add("PORT", value(queue::attr::kClientPort));
  add("PROTO", value(queue::attr::kProtocol));
  add("HELO", value(queue::attr::kHeloName));
  std::string context = value(queue::attr::kRewriteContext);
  add("SOURCE", context == "local" ? "LOCAL" : context == "remote" ? "REMOTE" : "");
  std::string ident = value(queue::attr::kLogIdent);
  add("IDENT", ident.empty() ? std::string(queue_id) : ident);
  std::vector<std::string> out;
  std::string cmd;
  for (const auto& [name, v] : attrs) {
    std::string item = " " + name + "=" + v;
    if (!cmd.empty() && cmd.size() + item.size() + 2 > 512) {
      out.push_back(cmd + "\r\n");
      cmd.clear();
    }
    if (cmd.empty()) cmd = "XFORWARD";
    cmd += item;
  }
  if (!cmd.empty()) out.push_back(cmd + "\r\n");
  return out;
}

// Postfix's rule: SMTPUTF8 mail needs a server that offers it only when
// its sender, a recipient of this delivery or a header has UTF-8 (all-ASCII
// mail that merely asked for it goes anywhere).
bool any_utf8(const Job& job) {
  if (job.reader->message().utf8_headers) return true;
  if (needs_utf8(job.reader->message().sender)) return true;
  for (const auto& r : job.rcpts)
    if (needs_utf8(r.fields.address)) return true;
  return false;
}

}  // namespace

// ---- the agent ------------------------------------------------------------------

struct Agent::Impl {
  Impl(asio::io_context& i, Settings s, dns::Resolver r) : io(i), settings(std::move(s)), resolver(std::move(r)) {}

  asio::io_context& io;
  Settings settings;
  dns::Resolver resolver;
  // smtp_tls_*: loaded in create() (before the privilege drop: a client
  // key may be readable by root only); null without TLS.
  std::unique_ptr<tls::Context> tls_ctx;
  // main.cf's level as a policy, and smtp_tls_policy_maps (opened in
  // create()) for the destinations that have their own.
  TlsPolicy global_tls, wrapper_tls;
  std::optional<maps::MapList> tls_policies;
  // smtp_sasl_password_maps, opened in create() (before the privilege drop).
  std::optional<maps::MapList> sasl_passwords;
  // smtp_reply_filter / lmtp_reply_filter, opened in create().
  std::optional<maps::MapList> reply_filter;
  // smtp_*_checks / lmtp_*_checks, opened in create(); null: none.
  std::unique_ptr<maps::ContentChecks> checks;
  // smtp_generic_maps / lmtp_generic_maps, opened in create(); null: none.
  std::unique_ptr<GenericMaps> generic;
  // smtp_delivery_status_filter / lmtp_delivery_status_filter; null: none.
  std::unique_ptr<deliver::StatusFilter> status_filter;
  std::unordered_map<std::string, std::vector<SessionPtr>> cache;
  // *_connection_cache_destinations (whole names, as Postfix's string_list).
  std::optional<maps::MatchList> cache_destinations;

  bool reuse_allowed(const Session& s) const {
    if (Clock::now() - s.born >= settings.reuse_time_limit) return false;
    if (settings.reuse_count_limit > 0 && s.uses >= settings.reuse_count_limit) return false;
    return true;
  }

  // QUIT and close, in the background: the caller has its answer already.
  void quit_close(SessionPtr s) {
    asio::co_spawn(
        io,
        [this, s]() -> asio::awaitable<void> {
          std::string quit = "QUIT\r\n";
          auto w = co_await send(*s, quit, settings.quit_timeout);
          if (w.ok()) co_await read_reply(*s, settings.quit_timeout);
          error_code ignore;
          s->sock.close(ignore);
        },
        asio::detached);
  }

  SessionPtr cache_take(const std::string& key) {
    auto it = cache.find(key);
    while (it != cache.end() && !it->second.empty()) {
      SessionPtr s = std::move(it->second.back());
      it->second.pop_back();
      s->cached = false;
      s->idle.cancel();
      if (reuse_allowed(*s)) return s;
      quit_close(std::move(s));
    }
    return nullptr;
  }

  void cache_put(const std::string& key, SessionPtr s) {
    // Sender-dependent credentials: the next sender may need others.
    const bool per_sender = settings.sasl_enabled && settings.sasl_sender_dependent;
    if (!reuse_allowed(*s) || settings.cache_time_limit.count() <= 0 || per_sender ||
        (s->tls && !settings.tls_connection_reuse)) {
      quit_close(std::move(s));
      return;
    }
    s->cached = true;
    std::uint64_t gen = ++s->generation;
    cache[key].push_back(s);
    s->idle.expires_after(settings.cache_time_limit);
    // The watcher may wake after the session was taken (and even cached
    // again): the generation tells whether this idle period is still current.
    asio::co_spawn(
        io,
        [this, key, s, gen]() -> asio::awaitable<void> {
          error_code ec;
          co_await s->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          if (!s->cached || s->generation != gen) co_return;
          auto it = cache.find(key);
          if (it != cache.end()) {
            std::erase(it->second, s);
            if (it->second.empty()) cache.erase(it);
          }
          s->cached = false;
          quit_close(s);
        },
        asio::detached);
  }

  asio::awaitable<TxEnd> rset(Session& s) {
    std::string cmd = "RSET\r\n";
    auto w = co_await send(s, cmd, settings.rset_timeout);
    if (!w.ok()) co_return TxEnd::Broken;
    auto r = co_await read_reply(s, settings.rset_timeout);
    co_return (r.ok() && r.reply.klass() == 2) ? TxEnd::Reusable : TxEnd::Broken;
  }

  // The TLS handshake on a connected session: nothing when it succeeded,
  // else the outcome for the pending recipients (logged; s.tls is gone,
  // the connection is unusable). `names`: the reference names a
  // verifying level checks the certificate against; `sni`: the name to
  // send as SNI (sni_name()), empty for none.
  asio::awaitable<std::optional<deliver::Outcome>> handshake(Session& s, const TlsPolicy& policy,
                                                             const std::vector<std::string>& names,
                                                             const std::string& sni) {
    s.tls = std::make_unique<asio::ssl::stream<Socket&>>(s.sock, tls_ctx->context());
    SSL* ssl = s.tls->native_handle();
    if (auto st = tls::configure_connection(ssl, policy.protocols, policy.ciphers); !st) {
      log::warning("{}: TLS policy: {}", s.relay, st.error().message);
      s.tls.reset();
      co_return deliver::Outcome::deferred("4.7.5", "client TLS configuration problem");
    }
    // SNI only when asked for (smtp_tls_servername, servername=); with
    // usable TLSA records configure_dane() sends the base domain instead.
    if (policy.tlsa.empty() && !sni.empty() && SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1) {
      log::warning("{}: error setting SNI hostname to: {}", s.relay, sni);
      tls::drain_errors();
      s.tls.reset();
      co_return deliver::Outcome::deferred("4.7.5", "client TLS configuration problem");
    }
    if (!policy.tlsa.empty()) {
      if (auto st = configure_dane(ssl, policy); !st) {
        log::warning("{}: DANE: {}", s.relay, st.error().message);
        s.tls.reset();
        co_return deliver::Outcome::deferred("4.7.5", "client TLS configuration problem");
      }
    } else if (policy.verifies()) {
      SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      for (std::size_t i = 0; i < names.size(); ++i)
        if ((i == 0 ? SSL_set1_host(ssl, names[i].c_str()) : SSL_add1_host(ssl, names[i].c_str())) != 1)
          log::warning("{}: bad certificate reference name: {}", s.relay, str::printable(names[i], 200));
    }
    error_code ec;
    bool fired = false;
    {
      ipc::detail::Watchdog<Socket> dog(s.sock, settings.tls.handshake_timeout);
      co_await s.tls->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      fired = dog.fired();
    }
    if (ec) {
      long vr = SSL_get_verify_result(ssl);
      s.tls.reset();
      if ((policy.verifies() || !policy.tlsa.empty()) && vr != X509_V_OK) {
        // Postfix's words for a certificate that fails the level.
        tls::drain_errors();
        log::info("server certificate verification failed for {}: num={}:{}", s.relay, vr,
                  X509_verify_cert_error_string(vr));
        co_return deliver::Outcome::deferred("4.7.5", "Server certificate not verified");
      }
      tls::log_handshake_failure(tls::Side::kClient, s.relay, ec, fired);
      co_return deliver::Outcome::deferred("4.7.5", "Cannot start TLS: handshake failure");
    }
    if (policy.level == tls::Level::kFingerprint) {
      // No CA and no name: the certificate, or its public key, must be one
      // of the configured fingerprints.
      tls::SessionInfo info = tls::describe(ssl, policy.digest);
      if (!tls::fingerprint_matches(info, policy.fingerprints)) {
        log::info("server certificate verification failed for {}: fingerprint mismatch (certificate {}, "
                  "public key {})", s.relay, info.cert_fingerprint.empty() ? "none" : info.cert_fingerprint,
                  info.pkey_fingerprint.empty() ? "none" : info.pkey_fingerprint);
        s.tls.reset();
        co_return deliver::Outcome::deferred("4.7.5", "Server certificate not verified");
      }
      info.verified = true;
      if (settings.tls.loglevel >= 1) tls::log_established(tls::Side::kClient, s.relay, info);
      co_return std::nullopt;
    }
    if (!policy.tlsa.empty() && SSL_get0_dane_authority(ssl, nullptr, nullptr) < 0) {
      // Verification passed without a TLSA match: cannot happen with
      // SSL_VERIFY_PEER and DANE enabled, and is never taken as success.
      log::info("server certificate verification failed for {}: no matching TLSA record", s.relay);
      s.tls.reset();
      co_return deliver::Outcome::deferred("4.7.5", "Server certificate not verified");
    }
    if (settings.tls.loglevel >= 1) {
      tls::SessionInfo info = tls::describe(ssl);
      info.trusted_only = policy.insecure_mx;
      tls::log_established(tls::Side::kClient, s.relay, info);
    }
    co_return std::nullopt;
  }

  // OpenSSL's DANE for one connection (dane.h): the TLSA records, the
  // base domain as SNI and reference name, DANE-EE matches without name
  // checks (RFC 7672 3.1.1), and verification that fails the handshake.
  Status configure_dane(SSL* ssl, const TlsPolicy& policy) {
    if (SSL_CTX_dane_enable(SSL_get_SSL_CTX(ssl)) <= 0 || SSL_dane_enable(ssl, policy.dane_names.front().c_str()) <= 0)
      return make_error("cannot enable DANE: {}", tls::drain_errors());
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    for (std::size_t i = 1; i < policy.dane_names.size(); ++i)
      if (SSL_add1_host(ssl, policy.dane_names[i].c_str()) != 1)
        return make_error("bad reference name {}", str::printable(policy.dane_names[i], 200));
    if (SSL_set_tlsext_host_name(ssl, policy.dane_names.front().c_str()) != 1)
      return make_error("cannot set SNI: {}", tls::drain_errors());
    std::size_t added = 0;
    for (const auto& r : policy.tlsa) {
      int rc = SSL_dane_tlsa_add(ssl, r.usage, r.selector, r.mtype,
                                 reinterpret_cast<const unsigned char*>(r.data.data()), r.data.size());
      if (rc > 0) ++added;
      else tls::drain_errors();  // a record OpenSSL cannot use is skipped (usable_tlsa() agrees)
    }
    if (added == 0) return make_error("no TLSA record could be used");
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    return {};
  }

  // The names a verifying level checks: the server's name and the next
  // hop's domain ("[mail.example.com]:587" -> mail.example.com).
  std::vector<std::string> reference_names(const Job& job, std::string_view server_name) const {
    if (!job.tls.verifies()) return {};
    return tls::reference_names(job.tls.cert_match, server_name, nexthop_domain(job.hop));
  }

  // STARTTLS after the EHLO reply (RFC 3207), then EHLO again inside TLS.
  // Returns false when the session cannot be used: the pending recipients
  // carry the reason, or `plaintext_retry` asks the caller to connect again
  // without TLS (level may, failed handshake).
  asio::awaitable<bool> start_tls(Job& job, SessionPtr& s, std::int64_t t, bool& plaintext_retry,
                                  const std::vector<std::string>& names, const std::string& sni) {
    const bool required = job.tls.mandatory();
    if (!s->features.starttls) {
      if (!required) co_return true;
      job.set_pending(deliver::Outcome::deferred(
                          "4.7.4", fmt::format("TLS is required, but was not offered by host {}", s->host)),
                      s->relay, t);
      quit_close(s);
      co_return false;
    }
    std::string cmd = "STARTTLS\r\n";
    auto io = co_await send(*s, cmd, settings.helo_timeout);
    if (io.ok()) io = co_await read_reply(*s, settings.helo_timeout);
    if (!io.ok()) {
      job.set_pending(io_failure(*s, io, Stage::Starttls), s->relay, t);
      co_return false;
    }
    if (io.reply.klass() != 2) {
      if (!required) co_return true;  // opportunistic: go on in plain text
      check_code(*s, io.reply.code);
      job.set_pending(deliver::Outcome::deferred(
                          "4.7.5", fmt::format("TLS is required, but host {} refused to start TLS: {}", s->host,
                                               io.reply.to_string())),
                      s->relay, t);
      quit_close(s);
      co_return false;
    }
    // Bytes that came with the 220 were sent before TLS: they must not be
    // read as the server's answers inside it (RFC 3207 4.2).
    bool injected = s->parser.has_buffered_input();
    if (injected) log::warning("{}: plaintext after the STARTTLS reply: not starting TLS", s->relay);
    std::optional<deliver::Outcome> failed;
    if (injected) failed = deliver::Outcome::deferred("4.7.5", "Cannot start TLS: handshake failure");
    else failed = co_await handshake(*s, job.tls, names, sni);
    if (failed) {
      job.set_pending(*failed, s->relay, t);
      plaintext_retry = !required;
      error_code ignore;
      s->sock.close(ignore);
      co_return false;
    }
    // The greeting again inside TLS: LHLO for LMTP (RFC 2033).
    const Stage hello = settings.lmtp ? Stage::Lhlo : Stage::Ehlo;
    cmd = std::string(settings.lmtp ? "LHLO " : "EHLO ") + settings.helo_name + "\r\n";
    io = co_await send(*s, cmd, settings.helo_timeout);
    if (io.ok()) io = co_await read_reply(*s, settings.helo_timeout);
    if (!io.ok()) {
      job.set_pending(io_failure(*s, io, hello), s->relay, t);
      co_return false;
    }
    if (io.reply.klass() != 2) {
      job.set_pending(site_failure(job, failure_outcome(*s, io.reply, hello)), s->relay, t);
      quit_close(s);
      co_return false;
    }
    s->features = parse_features(io.reply, settings.discard_ehlo);
    co_return true;
  }

  std::string sasl_lookup_error() const {
    return std::string(settings.lmtp ? "lmtp" : "smtp") + "_sasl_password_maps lookup error";
  }

  // SASL after the (last) EHLO; see client.h. False: the session cannot be
  // used (the pending recipients carry the reason).
  asio::awaitable<bool> authenticate(Job& job, SessionPtr& s, const std::string& server_name, std::int64_t t) {
    if (!settings.sasl_enabled || !sasl_passwords) co_return true;
    std::optional<std::string> creds;
    const std::string& sender = job.reader->message().sender;
    if (settings.sasl_sender_dependent && !sender.empty()) {
      maps::AddressSearchOptions so;
      so.recipient_delimiter = settings.recipient_delimiter;
      so.is_local = [](std::string_view) -> Result<bool> { return false; };
      auto v = maps::find_address(*sasl_passwords, sender, so);
      if (!v) {
        job.set_pending(deliver::Outcome::deferred("4.3.0", sasl_lookup_error()), s->relay, t);
        quit_close(s);
        co_return false;
      }
      if (*v) creds = std::move((*v)->value);
    }
    for (const std::string& key : {str::lower(server_name), job.req->nexthop}) {
      if (creds) break;
      if (key.empty()) continue;
      auto v = sasl_passwords->lookup(key);
      if (!v) {
        job.set_pending(deliver::Outcome::deferred("4.3.0", sasl_lookup_error()), s->relay, t);
        quit_close(s);
        co_return false;
      }
      if (*v) {
        creds = std::move(**v);
        break;
      }
    }
    if (!creds || s->features.auth.empty()) co_return true;  // not for this server, or it has no AUTH
    auto colon = creds->find(':');
    std::string user = creds->substr(0, colon);
    std::string pass = colon == std::string::npos ? std::string() : creds->substr(colon + 1);
    const bool noplaintext = s->tls ? settings.sasl_tls_noplaintext : settings.sasl_noplaintext;
    std::string mech;
    for (const char* m : {"PLAIN", "LOGIN"}) {
      const auto& offered = s->features.auth;
      const auto& filter = settings.sasl_mechanism_filter;
      if (std::find(offered.begin(), offered.end(), m) == offered.end()) continue;
      if (!filter.empty() && std::find(filter.begin(), filter.end(), m) == filter.end()) continue;
      if (noplaintext) continue;  // both are plaintext mechanisms
      mech = m;
      break;
    }
    auto fail = [&](deliver::Outcome o) {
      job.set_pending(o, s->relay, t);
      quit_close(s);
    };
    if (mech.empty()) {
      fail(deliver::Outcome::deferred(
          "4.7.0", fmt::format("SASL authentication failed; cannot authenticate to server {}: no mechanism available",
                               s->host)));
      co_return false;
    }
    // One line per step; the password goes only to the server.
    std::vector<std::string> steps;
    if (mech == "PLAIN") {
      steps.push_back("AUTH PLAIN " + base64(std::string(1, '\0') + user + std::string(1, '\0') + pass) + "\r\n");
    } else {
      steps.push_back("AUTH LOGIN\r\n");
      steps.push_back(base64(user) + "\r\n");
      steps.push_back(base64(pass) + "\r\n");
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
      // The transcript shows the command and the mechanism, never the
      // credentials (they would be mailed to the postmaster).
      s->transcript.out(i == 0 ? "AUTH " + mech + (mech == "PLAIN" ? " ..." : "") : std::string("..."));
      auto io = co_await send_unrecorded(*s, steps[i], settings.helo_timeout);
      if (io.ok()) io = co_await read_reply(*s, settings.helo_timeout);
      if (!io.ok()) {
        job.set_pending(io_failure(*s, io, Stage::Ehlo), s->relay, t);
        co_return false;
      }
      const int want = i + 1 < steps.size() ? 3 : 2;
      if (io.reply.klass() == want) continue;
      // Postfix's smtp_sasl_auth_soft_bounce: a refused login is retried
      // later, not bounced (the credentials may be fixed meanwhile).
      check_code(*s, io.reply.code);
      std::string dsn = reply_dsn(io.reply);
      dsn[0] = '4';
      log::warning("SASL authentication failure: server {} said: {}", s->host, io.reply.to_string());
      fail(deliver::Outcome::deferred(dsn, fmt::format("SASL authentication failed; server {} said: {}", s->host,
                                                       io.reply.to_string())));
      co_return false;
    }
    co_return true;
  }

  // Connect, greeting, EHLO/HELO/LHLO (and TLS per smtp_tls_*). nullptr
  // when the server cannot be used (the pending recipients carry the
  // reason); `connected` tells whether TCP got through (for
  // smtp_mx_session_limit); `plaintext_retry`, that the same server should
  // be tried again with use_tls = false.
  asio::awaitable<SessionPtr> open_session(Job& job, const asio::generic::stream_protocol::endpoint& ep,
                                           std::string host, std::string relay, bool& connected,
                                           bool use_tls, bool& plaintext_retry, std::string server_name = {}) {
    connected = false;
    plaintext_retry = false;
    auto s = std::make_shared<Session>(io, settings.notices.notify,
                                       settings.lmtp ? mail::TranscriptRole::kLmtpClient
                                                     : mail::TranscriptRole::kSmtpClient);
    s->host = std::move(host);
    s->relay = std::move(relay);
    if (reply_filter) {
      // Postfix's smtp_reply_filter: each line as received, replaced by
      // the table's answer (logged), before anything reads it.
      s->parser.set_line_filter([this, relay = s->relay](std::string_view line) -> Result<std::optional<std::string>> {
        auto found = reply_filter->lookup(line);
        if (!found) {
          log::warning("{} lookup error for \"{}\": {}", reply_filter->title(), str::printable(line, 100),
                       found.error().message);
          return found.take_error();
        }
        if (*found)
          log::info("{}: replacing server reply \"{}\" with \"{}\"", relay, str::printable(line, 100),
                    str::printable(**found, 100));
        return std::move(*found);
      });
    }
    error_code ec;
    s->sock.open(ep.protocol(), ec);
    const auto& bind_to = ep.protocol().family() == AF_INET ? settings.bind_v4
                          : ep.protocol().family() == AF_INET6 ? settings.bind_v6
                                                               : std::optional<asio::ip::address>();
    if (!ec && bind_to) {
      error_code bec;
      s->sock.bind(asio::generic::stream_protocol::endpoint(asio::ip::tcp::endpoint(*bind_to, 0)), bec);
      if (bec) log::warning("bind {}: {}", bind_to->to_string(), bec.message());
    }
    if (!ec) {
      ipc::detail::Watchdog<Socket> dog(s->sock, settings.connect_timeout);
      co_await s->sock.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && dog.fired()) ec = asio::error::timed_out;
    }
    if (ec) {
      // Postfix logs relay=none for a server it never talked to.
      auto o = deliver::Outcome::deferred("4.4.1", connect_text(s->relay, ec.message()));
      job.set_pending(o, "none", 0);
      co_return nullptr;
    }
    connected = true;
    const bool ok = co_await greet(job, s, use_tls, plaintext_retry, server_name);
    if (!ok) {
      if (s->transcript.enabled()) co_await notify_postmaster(job, *s);
      co_return nullptr;
    }
    co_return s;
  }

  // open_session() once connected: TLS (wrapper mode), greeting, EHLO,
  // STARTTLS, AUTH. False: the session cannot be used.
  asio::awaitable<bool> greet(Job& job, SessionPtr& s, bool use_tls, bool& plaintext_retry,
                              const std::string& server_name) {
    std::int64_t t = deliver::now_usec();
    use_tls = use_tls && tls_ctx != nullptr && job.tls.enabled();
    const auto names = reference_names(job, server_name);
    const std::string sni = use_tls ? sni_name(job.tls, server_name, nexthop_domain(job.hop)) : std::string();
    if (use_tls && settings.tls.wrappermode) {
      if (auto failed = co_await handshake(*s, job.tls, names, sni)) {
        // A wrapper-mode port speaks only TLS: no plain-text retry.
        job.set_pending(*failed, s->relay, t);
        error_code ignore;
        s->sock.close(ignore);
        co_return false;
      }
    }
    auto g = co_await read_reply(*s, settings.helo_timeout);
    if (!g.ok()) {
      job.set_pending(io_failure(*s, g, Stage::Greeting), s->relay, t);
      co_return false;
    }
    if (g.reply.klass() != 2) {
      check_code(*s, g.reply.code);
      std::string dsn = reply_dsn(g.reply);
      if (g.reply.klass() == 5 && !settings.skip_5xx_greeting) {
        job.set_pending(site_failure(job, deliver::Outcome::bounced(dsn, refused_text(s->host, g.reply))), s->relay,
                        t);
      } else {
        dsn[0] = '4';  // a skipped server is a temporary problem for this message
        job.set_pending(deliver::Outcome::deferred(dsn, refused_text(s->host, g.reply)), s->relay, t);
      }
      quit_close(s);
      co_return false;
    }
    // smtp_always_send_ehlo = no: EHLO only to a server whose greeting says
    // ESMTP (Postfix's rule); smtp_never_send_ehlo wins over both.
    const bool esmtp = settings.always_send_ehlo || str::lower(g.reply.to_string()).find("esmtp") != std::string::npos;
    Stage st = settings.lmtp ? Stage::Lhlo : (settings.never_send_ehlo || !esmtp ? Stage::Helo : Stage::Ehlo);
    std::string cmd = std::string(settings.lmtp ? "LHLO " : (st == Stage::Ehlo ? "EHLO " : "HELO ")) +
                      settings.helo_name + "\r\n";
    auto w = co_await send(*s, cmd, settings.helo_timeout);
    Io h;
    if (w.ok()) h = co_await read_reply(*s, settings.helo_timeout);
    else h = w;
    if (h.ok() && st == Stage::Ehlo && h.reply.klass() != 2 && h.reply.code != 421) {
      // RFC 5321 4.1.4: a server that does not know EHLO gets HELO; as in
      // Postfix, after any refusal but 421 (the server closing).
      st = Stage::Helo;
      cmd = "HELO " + settings.helo_name + "\r\n";
      w = co_await send(*s, cmd, settings.helo_timeout);
      if (w.ok()) h = co_await read_reply(*s, settings.helo_timeout);
      else h = w;
    }
    if (!h.ok()) {
      job.set_pending(io_failure(*s, h, st), s->relay, t);
      co_return false;
    }
    if (h.reply.klass() != 2) {
      job.set_pending(site_failure(job, failure_outcome(*s, h.reply, st)), s->relay, t);
      quit_close(s);
      co_return false;
    }
    if (job.loop_check && st == Stage::Ehlo && !h.reply.lines.empty()) {
      // A server that names itself as we are named is us, however the
      // naming service or the routing tables got us here (Postfix's check).
      const std::string& first = h.reply.lines.front();
      const std::string_view word = std::string_view(first).substr(0, first.find_first_of(" \t"));
      if (!word.empty() && str::iequals(word, settings.myhostname)) {
        log::warning("host {} replied to HELO/EHLO with my own hostname {}", s->relay, settings.myhostname);
        const std::string text = fmt::format("mail for {} loops back to myself", job.hop);
        job.set_pending(site_failure(job, job.best_mx ? deliver::Outcome::bounced("5.4.6", text)
                                                       : deliver::Outcome::deferred("4.4.6", text)),
                        s->relay, t);
        quit_close(s);
        co_return false;
      }
    }
    if (st != Stage::Helo) s->features = parse_features(h.reply, settings.discard_ehlo);
    if (use_tls && !settings.tls.wrappermode && !co_await start_tls(job, s, t, plaintext_retry, names, sni))
      co_return false;
    if (!co_await authenticate(job, s, server_name, t)) co_return false;
    job.site_failure = false;
    co_return true;
  }

  // One mail transaction for the pending recipients.
  asio::awaitable<TxEnd> transaction(Job& job, Session& s, bool reused, std::int64_t connected) {
    const auto& msg = job.reader->message();
    const Features& f = s.features;
    auto idx = job.pending();
    if (idx.empty()) co_return TxEnd::Reusable;
    s.uses++;

    if (msg.smtputf8 && !f.smtputf8 && any_utf8(job)) {
      job.set_list(idx,
                   deliver::Outcome::bounced(
                       "5.6.7", fmt::format("SMTPUTF8 is required, but was not offered by host {}", s.host)),
                   s.relay, connected);
      co_return TxEnd::Reusable;
    }
    if (f.size && *f.size > 0 && msg.size.content_size > *f.size) {
      job.set_list(idx,
                   deliver::Outcome::bounced("5.3.4", fmt::format("message size {} exceeds size limit {} of server {}",
                                                                  msg.size.content_size, *f.size, s.host)),
                   s.relay, connected);
      co_return TxEnd::Reusable;
    }

    if (settings.send_xforward && !f.xforward.empty()) {
      // Before MAIL FROM: the server resets what it was told after each
      // transaction (XFORWARD_README).
      for (const auto& cmd : xforward_commands(msg, job.req->queue_id, f.xforward)) {
        auto io = co_await send(s, cmd, settings.xforward_timeout);
        if (io.ok()) io = co_await read_reply(s, settings.xforward_timeout);
        if (reused && (!io.ok() || io.reply.code == 421)) co_return TxEnd::ReuseFailed;
        if (!io.ok()) {
          job.set_list(idx, io_failure(s, io, Stage::Xforward), s.relay, connected);
          co_return TxEnd::Broken;
        }
        if (io.reply.klass() != 2) {
          job.set_list(idx, failure_outcome(s, io.reply, Stage::Xforward), s.relay, connected);
          co_return co_await rset(s);
        }
      }
    }

    MailParams p;
    if (f.size) p.size = msg.size.content_size;
    p.eight_bit = f.eight_bit && msg.encoding == queue::BodyEncoding::EightBit;
    p.seven_bit = f.eight_bit && msg.encoding == queue::BodyEncoding::SevenBit;
    p.smtputf8 = f.smtputf8 && msg.smtputf8;
    if (f.dsn) {
      p.ret = msg.dsn_ret;
      p.envid = msg.dsn_envid;
    }
    // smtp_generic_maps: the envelope as it goes out (the queue file and
    // the log keep the original addresses).
    std::string sender = msg.sender;
    std::vector<std::string> rcpt_cmds;
    bool mapped = true;
    if (generic && !sender.empty()) {
      auto m = generic->map(sender, job.req->queue_id);
      if (m) sender = std::move(*m);
      mapped = static_cast<bool>(m);
    }
    for (std::size_t k = 0; mapped && k < idx.size(); ++k) {
      queue::RecipientFields r = job.rcpts[idx[k]].fields;
      if (generic) {
        auto m = generic->map(r.address, job.req->queue_id);
        if (m) r.address = std::move(*m);
        mapped = static_cast<bool>(m);
      }
      rcpt_cmds.push_back(rcpt_command(r, f.dsn));
    }
    if (!mapped) {
      job.set_list(idx, deliver::Outcome::deferred("4.3.0", local_data_text(s.host)), s.relay, connected);
      co_return TxEnd::Reusable;
    }
    std::string mail = mail_command(sender, p);

    std::vector<std::size_t> accepted;
    bool pipelined = f.pipelining;

    // MAIL FROM. A reused session that fails here never saw this
    // transaction: the caller retries on a fresh connection.
    Io io;
    if (pipelined) {
      std::string batch = mail;
      for (auto& c : rcpt_cmds) batch += c;
      batch += "DATA\r\n";
      io = co_await send(s, batch, settings.mail_timeout);
    } else {
      io = co_await send(s, mail, settings.mail_timeout);
    }
    if (io.ok()) io = co_await read_reply(s, settings.mail_timeout);
    if (reused && (!io.ok() || io.reply.code == 421)) co_return TxEnd::ReuseFailed;
    if (!io.ok()) {
      job.set_list(idx, io_failure(s, io, Stage::Mail), s.relay, connected);
      co_return TxEnd::Broken;
    }
    bool mail_ok = io.reply.klass() == 2;
    if (!mail_ok) job.set_list(idx, failure_outcome(s, io.reply, Stage::Mail), s.relay, connected);
    if (!mail_ok && !pipelined) co_return co_await rset(s);

    // RCPT TO, one reply each.
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (!pipelined) {
        io = co_await send(s, rcpt_cmds[k], settings.rcpt_timeout);
        if (io.ok()) io = co_await read_reply(s, settings.rcpt_timeout);
      } else {
        io = co_await read_reply(s, settings.rcpt_timeout);
      }
      if (!io.ok()) {
        job.set_list(idx, io_failure(s, io, Stage::Rcpt), s.relay, connected);
        co_return TxEnd::Broken;
      }
      if (!mail_ok) continue;
      if (io.reply.klass() == 2) accepted.push_back(idx[k]);
      else job.set(idx[k], failure_outcome(s, io.reply, Stage::Rcpt), s.relay, connected);
    }

    // DATA.
    if (!pipelined) {
      if (accepted.empty()) co_return co_await rset(s);
      std::string data = "DATA\r\n";
      io = co_await send(s, data, settings.data_init_timeout);
      if (io.ok()) io = co_await read_reply(s, settings.data_init_timeout);
    } else {
      io = co_await read_reply(s, settings.data_init_timeout);
    }
    if (!io.ok()) {
      job.set_list(accepted.empty() ? idx : accepted, io_failure(s, io, Stage::Data), s.relay, connected);
      co_return TxEnd::Broken;
    }
    if (io.reply.code != 354) {
      if (!accepted.empty()) {
        auto o = failure_outcome(s, io.reply, Stage::Data);
        if (o.is_sent()) o = deliver::Outcome::deferred("4.5.0", said_text(s.host, io.reply, Stage::Data));
        job.set_list(accepted, o, s.relay, connected);
      }
      co_return co_await rset(s);
    }
    if (accepted.empty()) {
      // The server wants content although it accepted no recipient (it
      // ignored our pipelined RCPT results): end the data at once.
      std::string dot = ".\r\n";
      io = co_await send(s, dot, settings.data_xfer_timeout);
      if (io.ok()) io = co_await read_reply(s, settings.data_done_timeout);
      co_return TxEnd::Broken;
    }

    // The content, streamed in bounded chunks.
    auto cursor = std::make_shared<queue::ContentCursor>(job.reader->content());
    std::optional<OutputChecks> out_checks;
    // Postfix's SMTP_MIME_DOWNGRADE: unless the message is known to be 7bit,
    // its 8-bit MIME entities are converted for a server without 8BITMIME.
    const bool downgrade =
        settings.mime_output_conversion && !f.eight_bit && msg.encoding != queue::BodyEncoding::SevenBit;
    if (checks || generic || downgrade)
      out_checks.emplace(checks.get(), generic.get(), job.req->queue_id, settings.mime, downgrade);
    ContentEncoder enc([cursor](queue::ContentPiece& piece) { return cursor->next(piece); }, settings.line_limit,
                       out_checks ? &*out_checks : nullptr);
    std::string chunk;
    chunk.reserve(kChunk + 4096);
    for (bool more = true; more;) {
      chunk.clear();
      auto r = enc.fill(chunk, kChunk);
      if (!r) {
        // The message stops here without its final dot: the server drops
        // it when the connection closes.
        if (enc.checks_failed() && out_checks->mime_problem()) {
          // Structure too deep to convert: Postfix bounces the message.
          job.set_list(accepted,
                       deliver::Outcome::bounced("5.6.0", std::string(mail::mime_error_text(
                                                             out_checks->mime_problem()->error))),
                       s.relay, connected);
          co_return TxEnd::Broken;
        }
        if (enc.checks_failed()) {
          job.set_list(accepted, deliver::Outcome::deferred("4.3.0", local_data_text(s.host)), s.relay, connected);
          co_return TxEnd::Broken;
        }
        log::warning("{}: {}", job.req->queue_id, r.error().message);
        job.set_list(accepted, deliver::Outcome::deferred("4.3.0", "error reading queue file"), s.relay,
                     connected);
        co_return TxEnd::Broken;
      }
      more = *r;
      if (!more) s.transcript.out(".");  // the chunk ends with it
      io = co_await send_unrecorded(s, chunk, settings.data_xfer_timeout);
      if (!io.ok()) {
        job.set_list(accepted, io_failure(s, io, more ? Stage::Content : Stage::EndOfData), s.relay, connected);
        co_return TxEnd::Broken;
      }
    }

    // The reply to the final dot: one for all (SMTP) or one per accepted
    // recipient (LMTP, RFC 2033 4.2).
    std::size_t replies = settings.lmtp ? accepted.size() : 1;
    for (std::size_t k = 0; k < replies; ++k) {
      io = co_await read_reply(s, settings.data_done_timeout);
      if (!io.ok()) {
        std::vector<std::size_t> rest(accepted.begin() + static_cast<std::ptrdiff_t>(k), accepted.end());
        job.set_list(settings.lmtp ? rest : accepted, io_failure(s, io, Stage::EndOfData), s.relay, connected);
        co_return TxEnd::Broken;
      }
      if (io.reply.klass() != 2) check_code(s, io.reply.code);
      auto o = reply_outcome(s.host, io.reply, Stage::EndOfData);
      const std::vector<std::size_t> which =
          settings.lmtp ? std::vector<std::size_t>{accepted[k]} : accepted;
      job.set_list(which, o, s.relay, connected);
      if (o.is_sent())
        for (auto i : which) job.rcpts[i].action = std::string(success_action(s));
    }
    co_return TxEnd::Reusable;
  }

  // Postfix's smtp_chat_notify(), after each delivery's use of a session:
  // its transcript to the postmaster when the server broke the protocol
  // and notify_classes has protocol; then a fresh history for the next
  // delivery. Not for a message that is itself a notice or a bounce (the
  // null or the double-bounce sender): that could loop.
  asio::awaitable<void> notify_postmaster(const Job& job, Session& s) {
    if (!s.transcript.worth_sending()) {
      s.transcript.reset();
      co_return;
    }
    mail::Transcript sent = std::move(s.transcript);
    s.transcript = mail::Transcript(settings.notices.notify, sent.role());
    const std::string& sender = job.reader->message().sender;
    if (sender.empty() || str::iequals(sender, settings.notices.double_bounce_sender)) co_return;
    const std::string reason;
    const std::string origin = settings.lmtp ? "lmtp" : "smtp";
    co_await submit::post_transcript(io, settings.cleanup_socket, settings.ipc_timeout, settings.notices, sent,
                                     s.relay, reason, origin);
  }

  // After a transaction: cache the session or say goodbye.
  void finish_session(const Job& job, const std::string& key, SessionPtr s, TxEnd end) {
    if (end == TxEnd::Reusable && job.cache_store) {
      cache_put(key, std::move(s));
    } else if (end == TxEnd::Reusable) {
      quit_close(std::move(s));
    } else {
      error_code ignore;
      s->sock.close(ignore);
    }
  }

  // The DSN action of a success at server `s`, as Postfix's
  // smtp_rcpt_done() decides it: a server that speaks DSN got our NOTIFY
  // and reports success itself; one that does not was a relay, unless
  // lmtp_assume_final says an LMTP server delivers for good.
  std::string_view success_action(const Session& s) const {
    if (s.features.dsn) return ipc::proto::kSuccessNone;
    if (settings.lmtp && settings.lmtp_assume_final) return ipc::proto::kSuccessDelivered;
    return ipc::proto::kSuccessRelayed;
  }

  // A failure of the whole site (its name, its greeting, its HELO). At a
  // relay host or fallback relay the administrator named, a permanent one
  // is a configuration problem, not the message's: the mail waits (4.3.5)
  // instead of bouncing, as Postfix's smtp_connect_inet() decides.
  static deliver::Outcome site_failure(const Job& job, deliver::Outcome o) {
    if (o.is_deferred() || job.configured_relay.empty()) return o;
    log::warning("{} configuration problem", job.configured_relay);
    return deliver::Outcome::deferred("4.3.5", std::move(o.text));
  }

  // A DNS outcome for the pending recipients.
  deliver::Outcome dns_outcome(const dns::NexthopResult& r) const {
    std::string text = "Host or domain name not found. " + r.detail;
    // smtp_defer_if_no_mx_address_found: MX records that lead to no
    // address may be a DNS problem that goes away (Postfix's choice).
    if (r.used_mx && r.outcome == dns::Outcome::NotFound && settings.defer_if_no_mx_address)
      return deliver::Outcome::deferred("4.4.4", text);
    switch (r.outcome) {
      case dns::Outcome::TempFail: return deliver::Outcome::deferred("4.4.3", text);
      case dns::Outcome::NullMx: return deliver::Outcome::bounced("5.1.10", r.detail);
      default: return deliver::Outcome::bounced("5.4.4", text);
    }
  }

  // LMTP next hops: "unix:/path", "inet:host:port", "host:port" - never MX.
  static std::string lmtp_nexthop(std::string_view hop, bool& unix_socket, std::string& path) {
    unix_socket = false;
    if (str::istarts_with(hop, "unix:")) {
      unix_socket = true;
      path = std::string(hop.substr(5));
      return {};
    }
    if (str::istarts_with(hop, "inet:")) hop.remove_prefix(5);
    if (!hop.empty() && hop[0] != '[') {
      // host[:port] -> [host][:port]; an IPv6 literal is bracketed already.
      auto colon = hop.rfind(':');
      if (colon != std::string_view::npos && hop.find(':') == colon)
        return "[" + std::string(hop.substr(0, colon)) + "]" + std::string(hop.substr(colon));
      if (colon == std::string_view::npos) return "[" + std::string(hop) + "]";
    }
    return std::string(hop);
  }

  // Try one next hop: the cache, then its servers in order.
  asio::awaitable<void> try_nexthop(Job& job, const std::string& hop, bool primary, bool& stop) {
    stop = false;
    job.hop = hop;
    {
      // LMTP's "inet:" and "unix:" are not part of the policy key (Postfix).
      std::string_view key = hop;
      if (settings.lmtp && (key.starts_with("inet:") || key.starts_with("unix:"))) key.remove_prefix(5);
      auto policy = tls_policy_for(key);
      if (!policy) {
        // Not tried at all: less protection than the table asks for is
        // no option, and the table's intent is unknown (Postfix's words).
        job.set_pending(deliver::Outcome::deferred("4.7.5", "client TLS configuration problem"), "none", 0);
        co_return;
      }
      job.tls = std::move(*policy);
    }
    std::string key = (settings.lmtp ? "lmtp:" : "smtp:") + hop;
    if (SessionPtr s = job.cache_load ? cache_take(key) : nullptr) {
      std::int64_t t = deliver::now_usec();
      TxEnd end = co_await transaction(job, *s, true, t);
      if (end != TxEnd::ReuseFailed) job.site_failure = false;
      if (s->transcript.enabled()) co_await notify_postmaster(job, *s);
      finish_session(job, key, std::move(s), end);
      if (job.pending().empty()) co_return;
    }

    if (settings.lmtp) {
      bool unix_socket = false;
      std::string path;
      std::string inet = lmtp_nexthop(hop, unix_socket, path);
      if (unix_socket) {
        asio::local::stream_protocol::endpoint lep(path);
        asio::generic::stream_protocol::endpoint ep(lep);
        bool connected = false, plaintext_retry = false;
        SessionPtr s = co_await open_session(job, ep, path, path, connected, true, plaintext_retry);
        if (!s) co_return;
        TxEnd end = co_await transaction(job, *s, false, deliver::now_usec());
        if (s->transcript.enabled()) co_await notify_postmaster(job, *s);
      finish_session(job, key, std::move(s), end);
        co_return;
      }
      auto res = co_await resolver.resolve_nexthop(inet, settings.nexthop);
      co_await try_destinations(job, key, res, primary, stop);
      co_return;
    }
    auto res = co_await resolver.resolve_nexthop(hop, settings.nexthop);
    co_await try_destinations(job, key, res, primary, stop);
  }

  // Postfix's loop check on the addresses (smtp_domain_addr(),
  // smtp_host_addr()): an address of this host among a destination's
  // servers. Among MX hosts, ours and every one not better than ours are
  // dropped (the better ones are the way on); an outcome when nothing is
  // left, or when a host named directly is us. `i_am_mx`: we are an MX host
  // of the destination (then no fallback relay is tried either).
  std::optional<deliver::Outcome> drop_self(const Job& job, std::vector<dns::Destination>& dests, bool used_mx,
                                            std::optional<std::uint16_t> best_preference, bool& i_am_mx) const {
    i_am_mx = false;
    auto self = std::find_if(dests.begin(), dests.end(), [&](const dns::Destination& d) {
      return std::find(settings.own_addresses.begin(), settings.own_addresses.end(), d.address) !=
             settings.own_addresses.end();
    });
    if (self == dests.end()) return std::nullopt;
    const std::string name(nexthop_domain(job.hop));
    if (!used_mx || !self->preference) return deliver::Outcome::bounced("5.4.6", fmt::format("mail for {} loops back to myself", name));
    i_am_mx = true;
    const std::uint16_t mine = *self->preference;
    std::optional<std::uint16_t> best_found;
    for (const auto& d : dests)
      if (d.preference && (!best_found || *d.preference < *best_found)) best_found = d.preference;
    std::erase_if(dests, [&](const dns::Destination& d) { return !d.preference || *d.preference >= mine; });
    if (!dests.empty()) return std::nullopt;
    if (best_preference && best_found && *best_preference != *best_found)
      return deliver::Outcome::deferred("4.4.4", fmt::format("unable to find primary relay for {}", name));
    return deliver::Outcome::bounced("5.4.6", fmt::format("mail for {} loops back to myself", name));
  }

  asio::awaitable<void> try_destinations(Job& job, const std::string& key, const dns::NexthopResult& res,
                                         bool primary, bool& stop) {
    if (res.outcome != dns::Outcome::Ok) {
      auto o = site_failure(job, dns_outcome(res));
      // A destination that does not exist is final, but not before the
      // fallback relays had their turn (Postfix's rule): they may know a
      // way. A null MX says the domain takes no mail at all: final.
      if (!o.is_deferred() && primary && has_fallbacks() && res.outcome != dns::Outcome::NullMx) {
        o = deliver::Outcome::deferred("4" + o.dsn.substr(1), std::move(o.text));
      }
      job.set_pending(o, "none", 0);
      if (!o.is_deferred()) stop = true;
      co_return;
    }
    if (!res.warning.empty()) log::warning("{}", res.warning);
    std::vector<dns::Destination> dests = res.destinations;
    // SMTP to port 25 only: a content filter or relay on another port of
    // this host is no loop.
    job.loop_check = !settings.lmtp && !dests.empty() && dests.front().port == 25;
    if (job.loop_check) {
      bool i_am_mx = false;
      if (auto loop = drop_self(job, dests, res.used_mx, res.best_preference, i_am_mx)) {
        job.set_pending(site_failure(job, std::move(*loop)), "none", 0);
        stop = true;
        co_return;
      }
      // An MX host of the destination hands mail only to better ones, never
      // to a fallback relay (which would send it back).
      if (i_am_mx) stop = true;
    }
    std::size_t sessions = 0;
    // A DANE level is decided per server (dane.h); the job's policy is
    // put back after each.
    const TlsPolicy job_tls = job.tls;
    // The next-hop domain is a DANE reference name only when the MX records
    // that lead from it were validated.
    const std::string domain = res.used_mx && res.mx_dnssec ? str::lower(nexthop_domain(job.hop)) : std::string();
    std::map<std::string, dns::TlsaResult> tlsa_answers;
    const std::optional<std::uint16_t> best = dests.empty() ? std::nullopt : dests.front().preference;
    for (const auto& d : dests) {
      job.tls = job_tls;
      job.best_mx = !d.preference || d.preference == (res.best_preference ? res.best_preference : best);
      if (job.pending().empty()) break;
      if (settings.mx_session_limit > 0 && sessions >= settings.mx_session_limit) break;
      std::string host = fmt::format("{}[{}]", d.host, d.address.to_string());
      std::string relay = fmt::format("{}:{}", host, d.port);
      if (job_tls.dane()) {
        // One TLSA lookup per host and port, however many addresses it has.
        const bool insecure_mx = res.used_mx && !res.mx_dnssec;
        const dns::TlsaResult* tlsa = nullptr;
        if (wants_tlsa(job_tls, d, insecure_mx)) {
          const std::string name = fmt::format("_{}._tcp.{}", d.port, d.host);
          auto it = tlsa_answers.find(name);
          if (it == tlsa_answers.end()) {
            auto answer = co_await resolver.lookup_tlsa(name);
            it = tlsa_answers.emplace(name, std::move(answer)).first;
          }
          tlsa = &it->second;
        }
        auto plan = plan_dane(job_tls, d, tlsa, domain, insecure_mx);
        if (plan.defer) {
          log::info("{}: {}", relay, plan.defer->text);
          job.set_pending(*plan.defer, relay, 0);
          continue;
        }
        job.tls = std::move(*plan.policy);
      }
      asio::ip::tcp::endpoint tep(d.address, d.port);
      asio::generic::stream_protocol::endpoint ep(tep);
      bool connected = false, plaintext_retry = false;
      SessionPtr s = co_await open_session(job, ep, host, relay, connected, true, plaintext_retry, d.host);
      if (plaintext_retry) {
        // Opportunistic TLS that failed in the handshake: the same server
        // once more without it, as Postfix does.
        log::info("{}: TLS handshake failed; trying again without TLS", relay);
        s = co_await open_session(job, ep, host, relay, connected, false, plaintext_retry, d.host);
      }
      if (connected) ++sessions;
      if (!s) continue;
      TxEnd end = co_await transaction(job, *s, false, deliver::now_usec());
      if (s->transcript.enabled()) co_await notify_postmaster(job, *s);
      finish_session(job, key, std::move(s), end);
    }
    job.tls = job_tls;
  }

  // The TLS policy for next hop `hop`: its smtp_tls_policy_maps entry,
  // else main.cf's level. An error is logged here (the caller defers).
  Result<TlsPolicy> tls_policy_for(std::string_view hop) {
    TlsPolicy p = global_tls;
    if (tls_policies) {
      const std::string where = fmt::format("{}, next-hop destination \"{}\"", tls_policies->title(),
                                            str::printable(hop, 200));
      auto found = find_tls_policy(*tls_policies, hop);
      if (!found) {
        log::warning("{}: policy table lookup error: {}", where, found.error().message);
        return found.take_error();
      }
      if (*found) {
        std::vector<std::string> warnings;
        auto parsed = parse_tls_policy(**found, settings.tls_defaults, warnings);
        for (const auto& w : warnings) log::warning("{}: {}", where, w);
        if (!parsed) {
          log::warning("{}: {}", where, parsed.error().message);
          return parsed.take_error();
        }
        p = std::move(*parsed);
      }
    }
    // A wrapper-mode port speaks nothing but TLS.
    if (settings.tls.wrappermode && !p.enabled()) p = wrapper_tls;
    return p;
  }

  bool has_fallbacks() const { return !settings.fallback_relays.empty(); }

  // Postfix's smtp_cache_policy(), decided once per request from its own
  // next hop (fallback relays follow it): the bare domain, without "[]",
  // port or LMTP's "inet:"/"unix:" (for a UNIX-domain socket, its path).
  void cache_policy(Job& job) {
    std::string_view hop = job.req->nexthop;
    const bool unix_path = settings.lmtp && hop.starts_with("unix:");
    if (unix_path || (settings.lmtp && hop.starts_with("inet:"))) hop.remove_prefix(5);
    std::string d(hop);
    if (!unix_path) {
      // A next hop that does not parse fails the delivery anyway.
      if (auto nh = dns::parse_nexthop(hop)) d = std::move(nh->host);
    }
    bool always = false;
    if (cache_destinations) {
      auto m = cache_destinations->match(d);
      if (!m) log::warning("{}_connection_cache_destinations: {}", settings.lmtp ? "lmtp" : "smtp", m.error().message);
      always = m && *m;
    }
    namespace flag = ipc::proto::delivery_flag;
    job.cache_load = always || (settings.cache_on_demand && (job.req->flags & flag::kConnLoad));
    job.cache_store = always || (settings.cache_on_demand && (job.req->flags & flag::kConnStore));
  }

  asio::awaitable<void> run(Job& job) {
    cache_policy(job);
    std::vector<std::string> hops{job.req->nexthop};
    for (const auto& f : settings.fallback_relays) hops.push_back(f);
    for (std::size_t i = 0; i < hops.size(); ++i) {
      if (job.pending().empty()) break;
      job.configured_relay = i > 0 ? std::string_view("smtp_fallback_relay")
                             : (!settings.lmtp && !settings.relayhost.empty() && hops[0] == settings.relayhost)
                                 ? std::string_view("relayhost")
                                 : std::string_view();
      bool stop = false;
      co_await try_nexthop(job, hops[i], i == 0, stop);
      if (stop) break;
    }
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;
Settings& Agent::settings() { return impl_->settings; }

Result<std::unique_ptr<Agent>> Agent::create(asio::io_context& io, Settings settings) {
  dns::ResolverOptions ro;
  ro.servers = settings.dns_servers;
  ro.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings.dns_timeout);
  ro.dnssec = settings.dnssec;
  ro.dnssec_probe = settings.dnssec_probe;
  auto r = dns::Resolver::create(io, ro);
  if (!r) return r.take_error();
  std::optional<maps::MapList> passwords;
  if (settings.sasl_enabled) {
    auto ml = maps::MapList::open(settings.lmtp ? "lmtp_sasl_password_maps" : "smtp_sasl_password_maps",
                                  settings.sasl_password_maps);
    if (!ml) return ml.take_error();
    passwords = std::move(*ml);
  }
  std::optional<maps::MapList> reply_filter;
  if (!str::trim(settings.reply_filter).empty()) {
    auto ml = maps::MapList::open(settings.lmtp ? "lmtp_reply_filter" : "smtp_reply_filter", settings.reply_filter);
    if (!ml) return ml.take_error();
    reply_filter = std::move(*ml);
  }
  const std::string proto = settings.lmtp ? "lmtp" : "smtp";
  const std::string names[] = {proto + "_header_checks", proto + "_mime_header_checks", proto + "_nested_header_checks",
                               proto + "_body_checks"};
  auto checks = maps::ContentChecks::open({{{names[0], settings.checks[0]},
                                            {names[1], settings.checks[1]},
                                            {names[2], settings.checks[2]},
                                            {names[3], settings.checks[3]}}});
  if (!checks) return checks.take_error();
  auto generic = GenericMaps::open(settings.lmtp ? "lmtp_generic_maps" : "smtp_generic_maps", settings.generic_maps,
                                   settings.generic);
  if (!generic) return generic.take_error();
  auto status_filter = deliver::StatusFilter::open(
      settings.lmtp ? "lmtp_delivery_status_filter" : "smtp_delivery_status_filter", settings.status_filter);
  if (!status_filter) return status_filter.take_error();
  TlsPolicy global_tls, wrapper_tls;
  std::optional<maps::MapList> tls_policies;
  {
    tls::Level level = settings.tls.level;
    if (level == tls::Level::kDane && !settings.tls_defaults.dnssec) {
      // Postfix's words and fallback: DANE without DNSSEC lookups is "may".
      log::warning("dane configured with dnssec lookups disabled: using \"may\"");
      level = tls::Level::kMay;
    }
    auto g = default_tls_policy(level, settings.tls_defaults);
    auto w = default_tls_policy(tls::Level::kMay, settings.tls_defaults);
    if (!g) return make_error("{}_tls_*: {}", proto, g.error().message);
    if (!w) return make_error("{}_tls_*: {}", proto, w.error().message);
    global_tls = std::move(*g);
    wrapper_tls = std::move(*w);
    if (!str::trim(settings.tls_policy_maps).empty()) {
      auto ml = maps::MapList::open(proto + "_tls_policy_maps", settings.tls_policy_maps);
      if (!ml) return ml.take_error();
      tls_policies = std::move(*ml);
    }
  }
  std::unique_ptr<tls::Context> tls_ctx;
  if (settings.tls.enabled() || tls_policies) {
    if (!settings.tls.warning.empty()) log::warning("{}", settings.tls.warning);
    auto c = tls::Context::load(settings.tls, tls::Side::kClient);
    // A client certificate that does not load is a configuration error:
    // delivering without TLS where it was asked for is not an option.
    if (!c) return make_error("{}_tls_*: {}", proto, c.error().message);
    tls_ctx = std::move(*c);
  }
  std::optional<maps::MatchList> cache_destinations;
  if (!str::trim(settings.cache_destinations).empty()) {
    auto ml = maps::MatchList::open(proto + "_connection_cache_destinations", settings.cache_destinations,
                                    maps::MatchStyle::Name);
    if (!ml) return ml.take_error();
    cache_destinations = std::move(*ml);
  }
  auto impl = std::make_unique<Impl>(io, std::move(settings), std::move(*r));
  impl->cache_destinations = std::move(cache_destinations);
  impl->tls_ctx = std::move(tls_ctx);
  impl->global_tls = std::move(global_tls);
  impl->wrapper_tls = std::move(wrapper_tls);
  impl->tls_policies = std::move(tls_policies);
  impl->sasl_passwords = std::move(passwords);
  impl->reply_filter = std::move(reply_filter);
  impl->checks = std::move(*checks);
  impl->generic = std::move(*generic);
  impl->status_filter = std::move(*status_filter);
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

asio::awaitable<ipc::proto::DeliveryReply> Agent::deliver(ipc::proto::DeliveryRequest req) {
  Job job;
  job.req = &req;
  job.start_usec = deliver::now_usec();
  for (const auto& enc : req.recipients) {
    Rcpt r;
    if (auto d = queue::decode_recipient(enc)) r.fields = std::move(*d);
    job.rcpts.push_back(std::move(r));
  }

  // The queue file: named by a validated ID in a known queue, opened
  // read-only; never changed here.
  auto qname = queue::parse_queue_name(req.queue_name);
  auto qid = queue::QueueId::parse(req.queue_id);
  std::string open_error;
  if (!qname || !qid) {
    open_error = "bad queue name or queue ID";
  } else if (auto path = queue::find_in_queue(impl_->settings.queue_root, *qname, *qid); !path) {
    open_error = "queue file not found";
  } else {
    queue::ReadOptions ro;
    ro.verify_content = false;  // the content is checked piece by piece while it is sent
    ro.max_recipients = 0;      // the request names the recipients
    auto rd = queue::QueueFileReader::open(*path, ro);
    if (!rd) open_error = rd.error().message;
    else job.reader.emplace(std::move(*rd));
  }
  if (!job.reader) {
    log::warning("{}: cannot read queue file: {}", req.queue_id, open_error);
    job.set_pending(deliver::Outcome::deferred("4.3.0", "mail system malfunction: cannot read queue file"), "none",
                    0);
  } else {
    co_await impl_->run(job);
  }

  ipc::proto::DeliveryReply reply;
  reply.site_failure = job.site_failure ? 1 : 0;
  reply.action.emplace();
  for (auto& r : job.rcpts) {
    if (!r.outcome) {
      r.outcome = deliver::Outcome::deferred("4.4.1", "no mail server for the destination could be reached");
      r.done_usec = deliver::now_usec();
    }
    // Once per recipient, on its final status (Postfix's rule).
    *r.outcome = deliver::filter_status(impl_->status_filter.get(), *r.outcome, req.queue_id);
    std::string text = str::printable(r.outcome->text, 1024);
    auto rep = deliver::report_outcome(*r.outcome, impl_->settings.soft_bounce);
    deliver::StatusLine line{.queue_id = req.queue_id,
                             .recipient = r.fields.address,
                             .orig_recipient = r.fields.orig_rcpt,
                             .relay = r.relay,
                             .arrival_usec = req.arrival_usec,
                             .active_usec = req.active_usec,
                             .agent_start_usec = job.start_usec,
                             .connected_usec = r.connected_usec,
                             .done_usec = r.done_usec,
                             .dsn = rep.dsn,
                             .status = rep.status,
                             .text = text};
    log::info("{}", deliver::format_status_line(line));
    reply.dsn.push_back(rep.dsn);
    reply.text.push_back(std::move(text));
    reply.relay.push_back(str::printable(r.relay, 1024));
    reply.action->push_back(r.action);
  }
  co_return reply;
}

asio::awaitable<void> Agent::serve(server::Context& ctx, server::Socket sock) {
  // qmgr sends its next delivery on the same connection (ipc/proto/deliver.h).
  co_await server::serve_requests<ipc::proto::DeliveryRequest>(
      ctx, sock, impl_->settings.ipc_timeout,
      [this](ipc::proto::DeliveryRequest req) { return deliver(std::move(req)); });
}

}  // namespace postern::smtp_client
