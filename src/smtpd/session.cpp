// session.cpp - the SMTP server session (see session.h, docs/man/smtpd.md).
#include "smtpd/session.h"

#include <sys/statvfs.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>

#include "base/strings.h"
#include "aio/io_scope.h"
#include "ipc/proto/trivial_rewrite.h"
#include "log/log.h"
#include "mail/address.h"
#include "mail/received.h"
#include "server/peer.h"
#include "smtp/command.h"
#include "smtp/line_reader.h"
#include "smtp/pipelining.h"
#include "smtp/reply.h"
#include "smtp/xtext.h"
#include "smtpd/haproxy.h"
#include "submit/cleanup_client.h"
#include "submit/notice.h"
#include "submit/post.h"
#include "tls/context.h"

namespace postern::smtpd {

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.myhostname = cfg.str("myhostname");
  s.mail_name = cfg.str("mail_name");
  s.banner = cfg.str("smtpd_banner");
  s.message_size_limit = static_cast<std::uint64_t>(std::max<std::int64_t>(0, cfg.size("message_size_limit")));
  s.queue_minfree = static_cast<std::uint64_t>(std::max<std::int64_t>(0, cfg.size("queue_minfree")));
  s.recipient_limit = static_cast<std::size_t>(cfg.integer("smtpd_recipient_limit"));
  s.line_length_limit = static_cast<std::size_t>(std::max<std::int64_t>(80, cfg.integer("line_length_limit")));
  s.timeout = cfg.time("smtpd_timeout");
  s.hard_error_limit = static_cast<int>(cfg.integer("smtpd_hard_error_limit"));
  s.soft_error_limit = static_cast<int>(cfg.integer("smtpd_soft_error_limit"));
  s.soft_bounce = cfg.boolean("soft_bounce");
  if (std::string p = str::lower(str::trim(cfg.str("smtpd_upstream_proxy_protocol"))); !p.empty()) {
    if (p != "haproxy")
      return make_error("smtpd_upstream_proxy_protocol: \"{}\" is not haproxy (or empty)", str::printable(p, 64));
    s.upstream_proxy = true;
  }
  s.upstream_proxy_timeout = cfg.time("smtpd_upstream_proxy_timeout");
  auto notices = submit::NoticeSettings::from_config(cfg);
  if (!notices) return notices.take_error();
  s.notices = std::move(*notices);
  auto proxy = ProxySettings::from_config(cfg);
  if (!proxy) return proxy.take_error();
  s.proxy = std::move(*proxy);
  s.history_flush_threshold = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("smtpd_history_flush_threshold")));
  s.error_sleep = cfg.time("smtpd_error_sleep_time");
  s.junk_command_limit = static_cast<int>(cfg.integer("smtpd_junk_command_limit"));
  s.connection_count_limit = static_cast<int>(cfg.integer("smtpd_client_connection_count_limit"));
  s.connection_rate_limit = static_cast<int>(cfg.integer("smtpd_client_connection_rate_limit"));
  s.message_rate_limit = static_cast<int>(cfg.integer("smtpd_client_message_rate_limit"));
  s.recipient_rate_limit = static_cast<int>(cfg.integer("smtpd_client_recipient_rate_limit"));
  s.auth_rate_limit = static_cast<int>(cfg.integer("smtpd_client_auth_rate_limit"));
  s.new_tls_rate_limit = static_cast<int>(cfg.integer("smtpd_client_new_tls_session_rate_limit"));
  s.disable_vrfy = cfg.boolean("disable_vrfy_command");
  s.forbid_unauth_pipelining = cfg.boolean("smtpd_forbid_unauth_pipelining");
  auto bn = smtp::parse_bare_newline(cfg.str("smtpd_forbid_bare_newline"));
  if (!bn) return make_error("smtpd_forbid_bare_newline: bad value \"{}\"", cfg.str("smtpd_forbid_bare_newline"));
  s.bare_newline = *bn;
  s.bare_newline_code = static_cast<int>(cfg.integer("smtpd_forbid_bare_newline_reject_code"));
  s.bare_newline_exclusions = cfg.str("smtpd_forbid_bare_newline_exclusions");
  s.smtputf8_enable = cfg.boolean("smtputf8_enable");
  s.strict_smtputf8 = s.smtputf8_enable && cfg.boolean("strict_smtputf8");
  s.strict_rfc821 = cfg.boolean("strict_rfc821_envelopes");
  s.helo_required = cfg.boolean("smtpd_helo_required");
  s.discard_ehlo = cfg.list("smtpd_discard_ehlo_keywords");
  s.ipc_timeout = cfg.time("ipc_timeout");
  s.ipc_idle = cfg.time("ipc_idle");
  auto rs = submit::receiving_settings(cfg, "smtpd");
  if (!rs) return rs.take_error();
  s.content_filter = std::move(rs->content_filter);
  s.cleanup_flags = rs->cleanup_flags;
  s.peername_lookup = cfg.boolean("smtpd_peername_lookup");
  if (s.peername_lookup) s.hosts = std::make_shared<const dns::HostsFile>(dns::HostsFile::load());
  s.dns_resolver_address = cfg.str("dns_resolver_address");
  auto t = tls::Settings::from_config(cfg, "smtpd");
  if (!t) return t.take_error();
  s.tls = std::move(*t);
  auto sasl = SaslSettings::from_config(cfg);
  if (!sasl) return sasl.take_error();
  s.sasl = std::move(*sasl);
  return s;
}

namespace {

using Problem = mail::Problem;

// The address of a MAIL FROM, RCPT TO or VRFY argument. 8-bit text without
// SMTPUTF8 declared is Postfix's case: with strict_smtputf8 it is refused
// (`unicode` set: unicode_refusal()); otherwise a UTF-8 local part passes,
// as clients sent them before SMTPUTF8 (the message is not marked SMTPUTF8),
// and a UTF-8 domain is a syntax error, as in Postfix.
Result<mail::Address> parse_client_path(std::string_view text, mail::PathOptions po, bool strict, bool& unicode) {
  unicode = false;
  if (po.smtputf8 || !mail::has_8bit(text)) return mail::parse_smtp_path(text, po);
  if (strict) {
    unicode = true;
    return make_error("8-bit address without SMTPUTF8");
  }
  po.smtputf8 = true;  // the local part must still be valid UTF-8
  auto a = mail::parse_smtp_path(text, po);
  if (a && mail::has_8bit(a->domain)) return make_error("8-bit domain without SMTPUTF8");
  return a;
}

smtp::Reply unicode_refusal() { return smtp::Reply(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address"); }

// The kind of error a refusal from cleanup is, by its status code: the
// message's size or hop count (bounce, as Postfix's smtpd counts them), a
// header or body check (policy), the queue (resource), anything else
// (software).
Problem cleanup_problem(const smtp::Reply& r) {
  const std::string& d = r.enhanced;
  if (d.size() >= 5 && (d.compare(1, 4, ".3.4") == 0 || d.compare(1, 3, ".4.") == 0)) return Problem::kBounce;
  if (d.size() >= 4 && d.compare(1, 3, ".7.") == 0) return Problem::kPolicy;
  if (d.size() >= 4 && d.compare(1, 3, ".3.") == 0) return Problem::kResource;
  return Problem::kSoftware;
}

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadSize = 64 * 1024;
// How long a session that ends waits for the client's TLS close_notify.
constexpr std::chrono::seconds kTlsShutdownTimeout{2};
// After Dovecot could not be reached for the EHLO reply, the next attempt
// waits this long (each attempt logs a warning).
constexpr std::chrono::seconds kSaslRetryDelay{10};
// Content is handed to cleanup in frames of about this size.
constexpr std::size_t kContentFlush = 64 * 1024;

std::string upper(std::string_view v) {
  std::string r(v);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

// Per-command statistics for the "disconnect from" line, in Postfix's order.
constexpr std::string_view kStatOrder[] = {"helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt", "data", "bdat",
                                           "rset", "noop", "vrfy", "etrn", "quit", "unknown"};

// The outcome of a cleanup connection opened ahead of need. The opening
// coroutine owns one reference; the session another, which it drops when
// the transaction ends without using it: the connection then closes when
// the open completes, and cleanup removes the empty queue file, as for any
// abandoned transaction.
struct CleanupPrefetch {
  explicit CleanupPrefetch(asio::io_context& io) : done(io) { done.expires_at(Clock::time_point::max()); }
  std::optional<Result<submit::CleanupClient>> result;
  asio::steady_timer done;  // cancelled once `result` is set
  Clock::time_point started = Clock::now();
};

// Idle cleanup connections one smtpd process keeps for its next messages:
// about as many as it has transactions at once under load. Each holds one
// of a cleanup process's client_limit slots while it idles.
constexpr std::size_t kKeptCleanupConnections = 8;

// A connection opened at the end of a transaction waits for the client's
// next MAIL FROM at most this long; an older one is replaced, so that what
// the client gets never depends on cleanup's idle limit (ipc_timeout).
constexpr auto kPrefetchMaxAge = std::chrono::seconds(10);

// A free function, not a lambda: the coroutine frame keeps its own copies
// of the arguments (a lambda's captures would die with the lambda).
asio::awaitable<void> run_prefetch(std::shared_ptr<CleanupPrefetch> p, asio::io_context& io,
                                   std::filesystem::path socket, std::int64_t flags, std::string origin,
                                   std::chrono::seconds timeout, submit::CleanupConnections* kept) {
  auto c = co_await submit::CleanupClient::open(io, socket, flags, origin, timeout, kept);
  p->result.emplace(std::move(c));
  p->done.cancel();
}

// trivial-rewrite's word that an address goes to the error transport
// (relocated_maps, an "error:" transport_maps entry, an unknown virtual
// alias): the text Policy::check_unlisted() rejects with ("DSN text", or
// `dsn` and "User unknown" when there is none); empty for any other
// transport.
std::string undeliverable_text(const rewrite::Resolved& res, std::string_view dsn) {
  if (res.transport != "error") return {};
  return res.nexthop.empty() ? fmt::format("{} User unknown", dsn) : res.nexthop;
}

class Session {
 public:
  Session(server::Context& ctx, Shared& shared, server::Socket sock)
      : ctx_(ctx), sh_(shared), s_(shared.settings), sock_(std::move(sock)), timer_(ctx.io()),
        reader_(s_.line_length_limit), transcript_(s_.notices.notify, mail::TranscriptRole::kSmtpServer) {}
  ~Session() { *alive_ = false; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::awaitable<void> run();

 private:
  // --- I/O -------------------------------------------------------------------
  asio::awaitable<bool> read_more();                 // feeds reader_; false: EOF/error/timeout
  asio::awaitable<std::size_t> read_raw(char* buf);  // 0: EOF/error/timeout
  asio::awaitable<bool> flush();
  asio::awaitable<void> reply(const smtp::Reply& r);
  // Queues wire text for the client (flush() sends it), and keeps it in the
  // transcript. Every reply goes through here.
  void emit(std::string text) {
    transcript_.out_wire(text);
    out_ += text;
  }
  // The kind of error the reply about to be sent is (notify_classes).
  void note(mail::Problem p) { transcript_.problem(p); }
  // The transcript's copy of a command line: of AUTH only the mechanism,
  // never the client's credentials.
  void record_command(std::string_view text);
  // smtpd_upstream_proxy_protocol: the client's endpoints from the proxy's
  // header, read before anything else. False: none (logged).
  asio::awaitable<bool> read_proxy_header();
  // smtpd_command_filter: `text` (the command line) replaced by the table's
  // answer, if it has one (logged). False: the lookup failed (logged).
  bool filter_command(std::string& text);
  // Mails the transcript to the postmaster if it has an error of a class in
  // notify_classes, and starts a new one. `always`: at the end of the
  // session; otherwise (HELO, EHLO, RSET, end of message) only once the
  // history is longer than smtpd_history_flush_threshold lines.
  asio::awaitable<void> checkpoint_transcript(bool always);
  void arm_timer() { arm_timer(s_.timeout); }
  void arm_timer(std::chrono::seconds limit);
  void disarm_timer();
  void wait_for_deadline();
  // Bytes received and not yet handed to reader_: in the kernel, and with
  // TLS also in the TLS engine (records read but not yet decrypted).
  std::size_t pending_input();
  // The TLS handshake on the session's socket (STARTTLS or wrapper mode);
  // false: it failed (logged), the session must end.
  asio::awaitable<bool> start_tls(std::string_view after);
  // smtpd_client_new_tls_session_rate_limit applies to this client.
  bool new_tls_limited() const;
  asio::awaitable<void> stop_tls();

  // --- commands --------------------------------------------------------------
  asio::awaitable<bool> handle(const smtp::Command& cmd);  // false: end the session
  asio::awaitable<void> do_helo(const smtp::Command& cmd, bool ehlo);
  asio::awaitable<void> do_mail(const smtp::Command& cmd);
  // Postfix's free space rule at MAIL FROM: 452 4.3.1 unless the queue's file
  // system has queue_minfree free and, besides, room for the message (its
  // SIZE=, 0 when not given) and as much again.
  std::optional<smtp::Reply> storage_refusal(std::uint64_t size);
  // smtpd_client_message_rate_limit (Message), _recipient_rate_limit
  // (Recipient) or _auth_rate_limit (Auth): counts this command at anvil;
  // false when over the limit (the 450 reply is sent).
  asio::awaitable<bool> within_rate(ipc::proto::AnvilOp op);
  asio::awaitable<void> do_rcpt(const smtp::Command& cmd);
  asio::awaitable<bool> do_data();
  asio::awaitable<bool> do_bdat(const smtp::Command& cmd);
  asio::awaitable<void> do_vrfy(const smtp::Command& cmd);
  asio::awaitable<bool> do_starttls();
  // SMTP AUTH through Dovecot (sasl.h).
  asio::awaitable<std::vector<std::string>> sasl_offer();
  asio::awaitable<void> do_auth(const smtp::Command& cmd);
  // smtpd_tls_security_level = encrypt and no TLS yet: the 530 reply is sent.
  asio::awaitable<bool> tls_required();

  // --- transaction -----------------------------------------------------------
  asio::awaitable<bool> open_cleanup();
  void start_prefetch();
  asio::awaitable<void> start_early_prefetch(int last_code);
  asio::awaitable<bool> start_content(const mail::Address* only_rcpt);
  void add_content(std::string_view piece, bool continued);
  asio::awaitable<bool> push_content(bool force);
  asio::awaitable<smtp::Reply> finish_message();
  void reset_transaction();
  // Feed input to `step` (returns bytes used) until `done`: first what the
  // reader holds, then socket reads. Leftovers go back to the reader.
  asio::awaitable<bool> pump(const std::function<std::size_t(std::string_view)>& step,
                             const std::function<bool()>& done, const std::function<asio::awaitable<bool>()>& after);
  asio::awaitable<void> lost_connection(std::string_view what);
  std::optional<smtp::Reply> transaction_error();
  // Asks trivial-rewrite; sets c.recipient_class and c.undeliverable.
  asio::awaitable<std::optional<smtp::Reply>> resolve_recipient(const mail::Address& a, std::string_view text,
                                                                RcptContext& c);
  asio::awaitable<void> lookup_client_name(const asio::ip::address& addr);
  // The banner, or with smtpd_delay_reject = no the client restrictions'
  // rejection in its place (then access_denied_).
  asio::awaitable<smtp::Reply> greeting();
  // Policy::check_recipient or check_data, with the DNS list lookups and
  // policy server questions they ask for answered in between.
  asio::awaitable<Verdict> run_checks(RcptContext& c, Verdict (Policy::*check)(const RcptContext&));
  // What a verdict asks of the whole message (HOLD, DISCARD, PREPEND, BCC,
  // FILTER, REDIRECT), whatever it says of the command; logs its notes.
  void take_actions(const Verdict& v, std::string_view stage, std::string_view to);
  // smtpd_data_restrictions at DATA or the first BDAT (`stage`), or with
  // `end` smtpd_end_of_data_restrictions once the message is in: the
  // rejection (logged, not yet sent), or nullopt to go on. After a DATA
  // rejection the transaction stays until RSET, as in Postfix.
  asio::awaitable<std::optional<smtp::Reply>> data_refusal(std::string_view stage, bool end = false);
  void log_reject(std::string_view stage, const smtp::Reply& r, std::string_view to);
  // A reply's wire text as the client gets it: softened (soft_bounce), with
  // the reject footer (footer.h) on a 4xx or 5xx.
  std::string wire(const smtp::Reply& r) const;
  // smtpd_delay_reject = no: the client (CONNECT), HELO/EHLO or sender (MAIL)
  // restrictions at their own command. A rejection is logged (not yet
  // sent); the caller applies the verdict's actions (take_actions());
  // `pending` gets what defer_if_permit the stage leaves.
  asio::awaitable<Verdict> early_checks(std::string_view stage, std::optional<smtp::Reply>& pending);
  // Asks trivial-rewrite for the sender's class once per transaction, when
  // the restrictions need it (smtpd_reject_unlisted_sender).
  asio::awaitable<void> resolve_sender();
  void log_action(std::string_view action, std::string_view stage, std::string_view text, std::string_view to);

  std::string peer() const { return client_name_ + "[" + client_addr_ + "]"; }
  // DNS answers for reject_unknown_{sender,recipient}_domain, when a list
  // has them and the address needs one (Policy::mailhost_domain()). Without
  // a resolver they stay unset, which the policy takes as a DNS failure.
  asio::awaitable<void> look_up_mailhosts(RcptContext& c) {
    if (!sh_.dns) co_return;
    if (sh_.policy->wants_mailhost_lookup(true) && mail_) {
      if (!mail_->sender_mailhost) {
        if (auto d = sh_.policy->mailhost_domain(mail_->sender, std::nullopt))
          mail_->sender_mailhost = (co_await sh_.dns->lookup_mailhost(*d)).outcome;
      }
      c.sender_mailhost = mail_->sender_mailhost;
    }
    if (sh_.policy->wants_mailhost_lookup(false) && c.recipient) {
      if (auto d = sh_.policy->mailhost_domain(*c.recipient, c.recipient_class))
        c.recipient_mailhost = (co_await sh_.dns->lookup_mailhost(*d)).outcome;
    }
    if (sh_.policy->wants_mx_backup() && c.recipient) {
      if (auto d = sh_.policy->mx_backup_domain(c)) {
        Policy* p = sh_.policy.get();
        std::function<Result<bool>(const asio::ip::address&)> nets;
        if (p->restricts_mx_backup()) nets = [p](const asio::ip::address& a) { return p->in_mx_backup_networks(a); };
        c.recipient_mx_backup = co_await check_mx_backup(
            *sh_.dns, *d, [p](const asio::ip::address& a) { return p->is_own_address(a); }, std::move(nets));
      }
    }
    if (sh_.policy->wants_helo_lookup()) {
      // Once per HELO name: a client may send EHLO again.
      if (auto name = Policy::helo_dns_name(helo_); name && (!helo_dns_ || helo_dns_for_ != *name)) {
        helo_dns_ = (co_await sh_.dns->lookup_mailhost(*name)).outcome;
        helo_dns_for_ = *name;
      }
      c.helo_mailhost = helo_dns_;
    }
  }
  // What the restrictions may know of the session (the caller adds the
  // transaction's addresses).
  RcptContext restriction_context() const {
    RcptContext c;
    c.client_addr = client_addr_;
    c.client_name = client_name_;
    c.helo = helo_;
    c.client_in_mynetworks = in_mynetworks_;
    c.unauth_pipelining = unauth_pipelining_;
    c.sasl_username = sasl_username_;
    c.sasl_method = sasl_method_;
    if (tls_) {
      c.encryption_protocol = tls_info_.protocol;
      c.encryption_cipher = tls_info_.cipher;
      c.encryption_keysize = tls_info_.usebits;
      c.ccert_fingerprint = tls_info_.cert_fingerprint;
      c.ccert_pkey_fingerprint = tls_info_.pkey_fingerprint;
      c.ccert_subject = tls_info_.peer_cn;
      c.ccert_issuer = tls_info_.issuer_cn;
      c.ccert_trusted = tls_info_.verified;
    }
    c.client_name_status = name_status_;
    c.reverse_name_status = reverse_status_;
    c.reverse_client_name = reverse_client_name_;
    return c;
  }
  // restriction_context() plus what the open transaction (mail_) knows:
  // the sender, its class, the recipients so far, the policy attributes.
  RcptContext transaction_context() const {
    RcptContext c = restriction_context();
    c.sender = &mail_->sender;
    c.sender_text = mail_->params.path.text;
    c.sender_class = mail_->sender_class;
    c.sender_undeliverable = mail_->sender_undeliverable;
    c.smtputf8 = mail_->smtputf8;
    c.rcpt_count = rcpt_count_;
    c.protocol_name = esmtp_ ? "ESMTP" : "SMTP";
    c.client_port = client_port_;
    if (cleanup_) c.queue_id = cleanup_->queue_id();
    c.instance = instance_;
    c.size = mail_->params.size.value_or(0);
    return c;
  }
  std::string queue_id_or_noqueue() const { return cleanup_ ? cleanup_->queue_id() : std::string("NOQUEUE"); }
  // The queue file's protocol attribute: TLS shows only in Received:.
  std::string protocol_name() const {
    return std::string(mail::protocol_name(mail::received_protocol(esmtp_, false, false, mail_ && mail_->smtputf8)));
  }
  void count(std::string_view name, bool ok) {
    auto& c = stats_[std::string(name)];
    c.second++;
    if (ok) c.first++;
  }

  server::Context& ctx_;
  Shared& sh_;
  const Settings& s_;
  server::Socket sock_;
  // smtpd_timeout bounds each read and write. The timer is not moved for
  // every one of them (each move is a cancel, a timerfd_settime() and an
  // extra handler, several times per command): arm_timer() only moves
  // deadline_, and an expiry that finds the deadline moved waits again.
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_{};
  bool in_io_ = false;          // a read or write runs under deadline_
  bool timer_waiting_ = false;  // timer_ has a wait pending
  // Cleared when the session ends: an expiry already queued then must not
  // touch it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool timed_out_ = false;
  bool io_error_ = false;
  smtp::LineReader reader_;
  std::string out_;  // replies not yet written (flushed before every read)
  // The TLS layer over sock_ once STARTTLS (or wrapper mode) succeeded;
  // every read and write then goes through it.
  std::unique_ptr<asio::ssl::stream<server::Socket&>> tls_;
  tls::SessionInfo tls_info_;
  // SMTP AUTH: the login name and mechanism once AUTH succeeded.
  std::string sasl_username_, sasl_method_;

  std::string client_name_ = "unknown", client_addr_ = "unknown", client_port_;
  // XFORWARD (smtpd_authorized_xforward_hosts): what an upstream MTA says
  // about the client of the next transaction; unset attributes are
  // [UNAVAILABLE]. Logged (orig_client=, orig_queue_id=) and given to
  // cleanup as the message's client; the restrictions and the Received:
  // header keep the real client, as in Postfix.
  bool xforward_ok_ = false;
  struct Forwarded {
    bool active = false;  // an XFORWARD since the last transaction
    std::optional<std::string> name, addr, port, proto, helo, source, ident;
  } xforward_;
  asio::awaitable<void> do_xforward(const smtp::Command& cmd);
  // XCLIENT (smtpd_authorized_xclient_hosts, decided on the real client):
  // the client's identity replaced, the session back at its greeting.
  // DESTADDR and DESTPORT replace the server's side (server_addr_ and
  // server_port_, for Dovecot's lip= and lport=).
  bool xclient_ok_ = false;
  std::optional<std::string> server_addr_, server_port_;
  asio::awaitable<void> do_xclient(const smtp::Command& cmd);
  asio::awaitable<bool> identity_command_allowed(bool authorized);
  // What the session knows of the client's address, after connect, the
  // PROXY header or XCLIENT: mynetworks and the exemptions.
  void classify_client();
  asio::ip::address client_ip_;  // unspecified: not an IP client (no DNS lookup)
  bool in_mynetworks_ = false;
  bool limit_exempt_ = false;  // smtpd_client_event_limit_exceptions
  bool bare_newline_exempt_ = false;
  std::string helo_;
  // smtpd_delay_reject = no (Policy::check_client() ...): the client
  // restrictions refused the connection, so every command but QUIT gets
  // 503; and the defer_if_permit each stage left pending, for the next one.
  bool access_denied_ = false;
  std::optional<smtp::Reply> defer_client_, defer_helo_, defer_sender_;
  // Client name lookup results for reject_unknown_*client_hostname; unset
  // (no lookup: smtpd_peername_lookup = no) counts as a temporary failure.
  std::optional<dns::Outcome> name_status_, reverse_status_;
  std::string reverse_client_name_ = "unknown";  // the first PTR name, not forward-confirmed
  // DNS list answers of this session (dnsbl.h), by query name.
  dnsbl::Answers dnsbl_;
  // reject_unknown_helo_hostname's answer, and the name it is for.
  std::optional<dns::Outcome> helo_dns_;
  std::string helo_dns_for_;
  bool esmtp_ = false;
  bool pipelining_ = false;  // PIPELINING in effect (EHLO and offered)
  bool unauth_pipelining_ = false;
  bool pipelining_logged_ = false;
  std::string last_cmd_ = "CONNECT";
  int error_count_ = 0;
  int junk_count_ = 0;
  mail::Transcript transcript_;
  std::string abort_reason_;  // for the transcript: "lost connection", "timeout", "too many errors"
  std::map<std::string, std::pair<int, int>> stats_;  // name -> (ok, total)

  // Transaction state.
  struct Mail {
    mail::Address sender;
    smtp::MailFrom params;
    bool smtputf8 = false;
    // reject_unknown_sender_domain's DNS answer, asked once per transaction.
    std::optional<dns::Outcome> sender_mailhost;
    // trivial-rewrite's answer for the sender (reject_unlisted_sender),
    // asked once per transaction; unset class: classify() decides.
    bool sender_resolved = false;
    std::optional<DomainClass> sender_class;
    std::string sender_undeliverable;
  };
  std::optional<Mail> mail_;
  std::string instance_;          // policy servers' "instance" of this transaction
  unsigned transactions_ = 0;
  std::size_t rcpt_count_ = 0;
  // Access table HOLD / DISCARD for this transaction (policy.h Verdict).
  bool hold_ = false;
  bool discard_ = false;
  // Access table PREPEND headers for this transaction, in order, each once
  // (the sender restrictions run again for every recipient), within
  // kMaxPrependBytes.
  std::vector<std::string> prepend_;
  std::size_t prepend_bytes_ = 0;
  bool prepend_full_ = false;  // warned once that more were dropped
  void add_prepends(const std::vector<std::string>& headers);
  // Access table BCC recipients for this transaction, each once, at most
  // kMaxPrependHeaders; given to cleanup when the content starts.
  std::vector<std::string> bcc_;
  std::optional<std::string> filter_;    // an access table FILTER for this message (the last one)
  std::optional<std::string> redirect_;  // an access table REDIRECT for this message (the last one)
  asio::awaitable<void> send_bccs();
  std::size_t rcpt_attempts_ = 0;
  std::optional<mail::Address> first_rcpt_;
  std::string first_rcpt_text_;                    // as the client wrote it
  std::uint64_t message_bytes_ = 0;                // the message as received (end-of-data checks)
  std::optional<DomainClass> first_rcpt_class_;    // trivial-rewrite's answer
  std::optional<submit::CleanupClient> cleanup_;
  bool cleanup_failed_ = false;
  // A cleanup connection opened ahead, at MAIL FROM or at the end of a
  // transaction, in a session that has already queued messages (see
  // start_prefetch()).
  std::shared_ptr<CleanupPrefetch> prefetch_;
  // smtpd_proxy_filter (proxy.h): the filter's connection for the open
  // transaction, in place of cleanup; and the command line as the client
  // sent it, which MAIL FROM and RCPT TO pass on unchanged.
  bool proxying() const { return !s_.proxy.endpoint.empty(); }
  std::unique_ptr<ProxyFilter> proxy_;
  std::string command_line_;
  asio::awaitable<void> proxy_mail();
  asio::awaitable<void> proxy_rcpt(const mail::Address& addr, const smtp::RcptTo& r, const RcptContext& c);
  // DATA to the filter: its 354 in go_ahead, or the client's answer
  // (logged; the filter is dropped).
  asio::awaitable<std::optional<smtp::Reply>> proxy_data(smtp::Reply& go_ahead);
  bool proxy_in_data_ = false;  // between the filter's 354 and its reply to the dot
  asio::awaitable<smtp::Reply> proxy_finish();
  // A proxy failure: logged, the connection dropped; the client's answer.
  smtp::Reply proxy_failure(std::string_view stage, std::string_view why);
  void proxy_close();
  std::size_t queued_ = 0;  // transactions of this session that were queued
  std::string content_;           // pending content for cleanup
  bool content_overflow_ = false;  // message_size_limit exceeded: content is dropped
  // Where the client's text begins, after our Received: header (see
  // add_content()): still among its first lines, and at a line's start.
  bool at_message_start_ = false;
  bool at_line_start_ = true;
  bool content_failed_ = false;    // cleanup write failed: the rest is dropped
  // BDAT transaction in progress.
  bool bdat_active_ = false;
  std::optional<smtp::BdatDecoder> bdat_;
  std::optional<smtp::Reply> bdat_error_;
  std::uint64_t data_bytes_ = 0;  // for "lost connection after DATA (N bytes)"
};

void Session::arm_timer(std::chrono::seconds limit) {
  timed_out_ = false;
  in_io_ = true;
  deadline_ = std::chrono::steady_clock::now() + limit;
  if (!timer_waiting_) wait_for_deadline();
}

void Session::disarm_timer() { in_io_ = false; }

void Session::wait_for_deadline() {
  timer_waiting_ = true;
  timer_.expires_at(deadline_);
  timer_.async_wait([this, alive = alive_](error_code ec) {
    if (ec || !*alive) return;  // cancelled or ended: the session may be gone
    timer_waiting_ = false;
    if (!in_io_) return;  // the next read or write starts a new wait
    if (std::chrono::steady_clock::now() < deadline_) {
      wait_for_deadline();
      return;
    }
    timed_out_ = true;
    error_code ignored;
    sock_.cancel(ignored);
  });
}

asio::awaitable<std::size_t> Session::read_raw(char* buf) {
  if (!co_await flush()) co_return 0;
  error_code ec;
  arm_timer();
  std::size_t n = tls_ ? co_await tls_->async_read_some(asio::buffer(buf, kReadSize),
                                                         asio::redirect_error(asio::use_awaitable, ec))
                       : co_await sock_.async_read_some(asio::buffer(buf, kReadSize),
                                                        asio::redirect_error(asio::use_awaitable, ec));
  disarm_timer();
  if (ec || n == 0) {
    io_error_ = true;
    co_return 0;
  }
  co_return n;
}

// Read buffers are not zero-filled (std::string(kReadSize, '\0') cost a
// 64 KiB memset per command read) and not kept per session (idle sessions
// hold no buffer, as before).
std::unique_ptr<char[]> read_buffer() { return std::make_unique_for_overwrite<char[]>(kReadSize); }

asio::awaitable<bool> Session::read_more() {
  auto buf = read_buffer();
  std::size_t n = co_await read_raw(buf.get());
  if (n == 0) co_return false;
  reader_.feed(std::string_view(buf.get(), n));
  co_return true;
}

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return !io_error_;
  if (io_error_) co_return false;
  error_code ec;
  arm_timer();
  if (tls_)
    co_await asio::async_write(*tls_, asio::buffer(out_), asio::redirect_error(asio::use_awaitable, ec));
  else
    co_await asio::async_write(sock_, asio::buffer(out_), asio::redirect_error(asio::use_awaitable, ec));
  disarm_timer();
  out_.clear();
  if (ec) {
    io_error_ = true;
    co_return false;
  }
  co_return true;
}

std::size_t Session::pending_input() {
  error_code ec;
  std::size_t n = sock_.available(ec);
  if (ec) n = 0;
  if (tls_) {
    SSL* ssl = tls_->native_handle();
    n += static_cast<std::size_t>(SSL_pending(ssl)) + BIO_ctrl_pending(SSL_get_rbio(ssl));
  }
  return n;
}

asio::awaitable<bool> Session::start_tls(std::string_view after) {
  tls_ = std::make_unique<asio::ssl::stream<server::Socket&>>(sock_, sh_.tls->context());
  error_code ec;
  arm_timer(s_.tls.handshake_timeout);
  co_await tls_->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  disarm_timer();
  if (ec) {
    tls::log_handshake_failure(tls::Side::kServer, peer(), ec, timed_out_);
    log::info("{} after {} from {}", timed_out_ ? "timeout" : "lost connection", after, peer());
    tls_.reset();
    io_error_ = true;
    co_return false;
  }
  tls_info_ = tls::describe(tls_->native_handle(), s_.tls.ask_ccert ? s_.tls.fingerprint_digest : std::string());
  if (s_.tls.loglevel >= 1) tls::log_established(tls::Side::kServer, peer(), tls_info_);
  // smtpd_tls_req_ccert (mandatory TLS only): Postfix's abort, inside TLS.
  if (s_.tls.req_ccert && !tls_info_.verified) {
    const char* why = tls_info_.peer_certificate ? "Client certificate not trusted" : "No client certificate presented";
    log::info("NOQUEUE: abort: TLS from {}: {}", peer(), why);
    note(Problem::kPolicy);
    emit(wire(smtp::Reply(421, "4.7.1", fmt::format("{} Error: {}", s_.myhostname, why))));
    co_await flush();
    co_return false;
  }
  // smtpd_client_new_tls_session_rate_limit: a handshake without session
  // resumption counts; over the limit, Postfix's 421 (inside TLS) and
  // goodbye.
  if (new_tls_limited() && SSL_session_reused(tls_->native_handle()) == 0) {
    std::string service = ctx_.service(), client = client_addr_;
    auto counts = co_await sh_.anvil->count(ipc::proto::AnvilOp::NewTls, std::move(service), std::move(client));
    if (counts && counts->rate > s_.new_tls_rate_limit) {
      log::warning("New TLS session rate limit exceeded: {} from {} for service {}", counts->rate, peer(),
                   ctx_.service());
      note(Problem::kPolicy);
      emit(wire(smtp::Reply(421, "4.7.0",
                            fmt::format("{} Error: too many new TLS sessions from {}", s_.myhostname, client_addr_))));
      co_await flush();
      co_return false;
    }
  }
  co_return true;
}

bool Session::new_tls_limited() const {
  return s_.new_tls_rate_limit > 0 && sh_.anvil && !client_ip_.is_unspecified() && !limit_exempt_;
}

// A close_notify for a client that said QUIT, bounded by a short deadline:
// the client may close without answering it.
asio::awaitable<void> Session::stop_tls() {
  if (!tls_ || io_error_) co_return;
  error_code ec;
  arm_timer(kTlsShutdownTimeout);
  co_await tls_->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  disarm_timer();
}

std::string Session::wire(const smtp::Reply& original) const {
  // soft_bounce: no permanent reply, ever (the log shows what was sent).
  // Copied only then: every reply passes here.
  std::optional<smtp::Reply> softened;
  if (s_.soft_bounce && original.permanent()) softened = smtp::soften(original);
  const smtp::Reply& r = softened ? *softened : original;
  if (r.code >= 400 && sh_.footer && !sh_.footer->empty())
    return smtp::format_reply(sh_.footer->apply(r, {client_addr_, client_port_}));
  return smtp::format_reply(r);
}

asio::awaitable<void> Session::reply(const smtp::Reply& r) {
  // Slow down clients that make many errors (Postfix: sleep before every
  // reply once the soft limit is reached).
  if (error_count_ >= s_.soft_error_limit && s_.error_sleep.count() > 0) {
    co_await flush();
    asio::steady_timer t(ctx_.io(), s_.error_sleep);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (r.code >= 400) error_count_++;
  emit(wire(r));
  // Without pipelining each reply goes out at once; with it, replies are
  // batched until the input runs dry (Postfix flushes before each read too).
  if (reader_.buffered() == 0) co_await flush();
}

void Session::record_command(std::string_view text) {
  if (!transcript_.enabled()) return;
  if (text.size() > 5 && str::iequals(text.substr(0, 5), "AUTH ")) {
    std::string_view rest = text.substr(5);
    std::size_t sp = rest.find(' ');
    if (sp != std::string_view::npos) {
      transcript_.in(fmt::format("{} ...", text.substr(0, 5 + sp)));
      return;
    }
  }
  transcript_.in(text);
}

asio::awaitable<bool> Session::read_proxy_header() {
  std::string got;
  auto buf = read_buffer();
  for (;;) {
    auto h = parse_proxy_header(got);
    if (!h) {
      log::warning("haproxy read: {}: from [{}]", h.error().message, client_addr_);
      co_return false;
    }
    if (*h) {
      if (!(*h)->local) {
        error_code ec;
        auto ip = asio::ip::make_address((*h)->client_addr, ec);
        if (ec) {
          log::warning("haproxy read: bad client address from [{}]", client_addr_);
          co_return false;
        }
        client_ip_ = ip;
        client_addr_ = (*h)->client_addr;
        client_port_ = std::to_string((*h)->client_port);
        client_name_ = ip.is_loopback() ? "localhost" : "unknown";
      }
      // Whatever came behind the header is the client's first SMTP input.
      if (got.size() > (*h)->consumed) reader_.feed(std::string_view(got).substr((*h)->consumed));
      co_return true;
    }
    error_code ec;
    arm_timer(s_.upstream_proxy_timeout);
    std::size_t n = co_await sock_.async_read_some(asio::buffer(buf.get(), kReadSize),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    disarm_timer();
    if (ec || n == 0) {
      log::warning("haproxy read: {}: from [{}]", timed_out_ ? "timeout" : "lost connection", client_addr_);
      timed_out_ = false;
      io_error_ = true;
      co_return false;
    }
    got.append(buf.get(), n);
  }
}

bool Session::filter_command(std::string& text) {
  // Postfix asks with the command as received, minus leading blanks and
  // the line end.
  std::string_view key = text;
  while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
  auto found = sh_.command_filter->lookup(key);
  if (!found) {
    log::warning("smtpd_command_filter lookup error for \"{}\": {}", str::printable(text, 100),
                 found.error().message);
    return false;
  }
  if (!*found) return true;
  // The replacement is one command line, bounded like one from the client.
  std::string replacement = found->value().substr(0, s_.line_length_limit);
  std::replace(replacement.begin(), replacement.end(), '\n', ' ');
  std::replace(replacement.begin(), replacement.end(), '\r', ' ');
  log::info("{}: replacing command \"{}\" with \"{}\"", peer(), str::printable(text, 100),
            str::printable(replacement, 100));
  text = std::move(replacement);
  return true;
}

asio::awaitable<void> Session::checkpoint_transcript(bool always) {
  if (!transcript_.enabled() || (!always && transcript_.lines() <= s_.history_flush_threshold)) co_return;
  if (!transcript_.worth_sending()) {
    transcript_.reset();
    co_return;
  }
  mail::Transcript sent = std::move(transcript_);
  transcript_ = mail::Transcript(s_.notices.notify, mail::TranscriptRole::kSmtpServer);
  const std::string who = peer();
  const std::string origin = "smtpd";
  co_await submit::post_transcript(ctx_.io(), s_.cleanup_socket, s_.ipc_timeout, s_.notices, sent, who, abort_reason_,
                                   origin);
}

// --- the session ---------------------------------------------------------------

asio::awaitable<void> Session::run() {
  {
    auto peer = server::peer_of(sock_);
    if (peer.unix_domain) {
      // Postfix's name for a local (Unix-domain) client.
      client_name_ = "localhost";
      client_addr_ = "127.0.0.1";
    } else if (peer.ip) {
      client_addr_ = std::move(peer.addr);
      client_port_ = std::move(peer.port);
      client_ip_ = *peer.ip;
      if (client_ip_.is_loopback()) client_name_ = "localhost";
    }
  }
  if (s_.upstream_proxy && !co_await read_proxy_header()) {
    // Postfix's answer when the proxy's word is missing or broken.
    emit(wire(smtp::Reply(421, "4.3.0", s_.myhostname + " Server local error")));
    co_await flush();
    error_code ec;
    sock_.close(ec);
    co_return;
  }
  if (!client_ip_.is_unspecified()) {
    bool loopback = client_name_ == "localhost";
    client_name_ = "unknown";
    // smtpd_peername_lookup = no: every client is "unknown", as in Postfix.
    std::optional<std::string> from_files;
    if (sh_.settings.hosts) from_files = sh_.settings.hosts->name_of(client_ip_.to_string());
    if (from_files) {
      client_name_ = std::move(*from_files);
      reverse_client_name_ = client_name_;
      name_status_ = reverse_status_ = dns::Outcome::Ok;
    } else if (sh_.dns && sh_.settings.peername_lookup) {
      co_await lookup_client_name(client_ip_);
      // Postfix finds the loopback's name in the host's own files through
      // getnameinfo(); the resolver reads no hosts file, so fall back to it.
      if (client_name_ == "unknown" && loopback) {
        client_name_ = reverse_client_name_ = "localhost";
        name_status_ = reverse_status_ = dns::Outcome::Ok;
      }
    }
  }
  log::info("connect from {}", peer());
  classify_client();
  // Who may forward or replace the client's identity: decided once, on
  // the real client (XCLIENT does not change it).
  if (sh_.xforward_hosts) {
    auto xf = sh_.xforward_hosts->contains(client_addr_);
    xforward_ok_ = xf && *xf;
  }
  if (sh_.xclient_hosts) {
    auto xc = sh_.xclient_hosts->contains(client_addr_);
    xclient_ok_ = xc && *xc;
  }

  // Per-client concurrency and connection rate, counted by anvil across
  // all smtpd processes. Exempt clients are not even counted (Postfix).
  // Through Shared: at shutdown the client goes before the session frames.
  struct Release {
    Shared* sh = nullptr;
    std::string service, client;
    std::uint64_t generation = 0;
    ~Release() {
      if (sh && sh->anvil) sh->anvil->disconnect(std::move(service), std::move(client), generation);
    }
  } release;
  bool go_on = true;
  if (sh_.anvil && !client_ip_.is_unspecified()) {
    auto exempt = sh_.policy->limit_exempt(client_addr_);
    limit_exempt_ = exempt && *exempt;
    if (!limit_exempt_) {
      // Named first: g++ 12 and temporaries inside co_await (docs/coding.md).
      std::string service = ctx_.service(), client = client_addr_;
      auto counts = co_await sh_.anvil->connect(std::move(service), std::move(client));
      if (counts) {
        release.sh = &sh_;
        release.service = ctx_.service();
        release.client = client_addr_;
        release.generation = counts->generation;
        if (s_.connection_count_limit > 0 && counts->count > s_.connection_count_limit) {
          log::warning("Connection concurrency limit exceeded: {} from {} for service {}", counts->count, peer(),
                       ctx_.service());
          go_on = false;
        } else if (s_.connection_rate_limit > 0 && counts->rate > s_.connection_rate_limit) {
          log::warning("Connection rate limit exceeded: {} from {} for service {}", counts->rate, peer(),
                       ctx_.service());
          go_on = false;
        }
        if (!go_on) {
          emit(wire(smtp::Reply(
              421, "4.7.0", fmt::format("{} Error: too many connections from {}", s_.myhostname, client_addr_))));
          co_await flush();
        }
      }
    }
  }

  if (go_on && sh_.tls && s_.tls.wrappermode) {
    // Wrapper mode (port 465): TLS first, then the banner. The client talks
    // first here, so there is no pre-greeting check.
    go_on = co_await start_tls("CONNECT");
    if (go_on) {
      smtp::Reply hello = co_await greeting();
      emit(wire(hello));
      co_await flush();
    }
  } else if (go_on) {
    // Pre-greeting talk: a client that sends before it has seen our banner
    // is not speaking SMTP (or is a spambot). Checked right before the
    // banner goes out; see docs/man/smtpd.md for the exact rule.
    smtp::Reply hello = co_await greeting();
    error_code ec;
    std::size_t early = sock_.available(ec);
    emit(wire(hello));
    co_await flush();
    if (!ec && early > 0) {
      auto buf = read_buffer();
      std::size_t n = sock_.read_some(asio::buffer(buf.get(), std::min(early, kReadSize)), ec);
      if (!ec) reader_.feed(std::string_view(buf.get(), n));
      log::info("improper command pipelining after CONNECT from {}: {}", peer(),
                smtp::escape_for_log(std::string_view(buf.get(), ec ? 0 : n)));
      pipelining_logged_ = true;
      unauth_pipelining_ = true;
      if (s_.forbid_unauth_pipelining) {
        note(Problem::kProtocol);
        co_await reply(smtp::sync_error_reply());
        go_on = false;
      }
    }
  }

  smtp::CommandOptions copts;
  copts.strict_rfc821_envelopes = s_.strict_rfc821;
  copts.check_utf8 = s_.smtputf8_enable;
  copts.smtputf8 = s_.smtputf8_enable;

  while (go_on) {
    if (error_count_ >= s_.hard_error_limit) {
      log::info("too many errors after {} from {}", last_cmd_, peer());
      note(Problem::kProtocol);
      abort_reason_ = "too many errors";
      co_await reply(smtp::Reply(421, "4.7.0", s_.myhostname + " Error: too many errors"));
      break;
    }
    std::optional<smtp::InputLine> line = reader_.next();
    if (!line) {
      if (!co_await read_more()) {
        if (timed_out_) {
          abort_reason_ = "timeout";
          log::info("timeout after {} from {}", last_cmd_, peer());
          io_error_ = false;
          emit(wire(smtp::Reply(421, "4.4.2", s_.myhostname + " Error: timeout exceeded")));
          co_await flush();
        } else {
          abort_reason_ = "lost connection";
          log::info("lost connection after {} from {}", last_cmd_, peer());
        }
        break;
      }
      continue;
    }
    record_command(line->text);
    if (sh_.command_filter && !line->truncated && !filter_command(line->text)) {
      // A table that cannot be asked: Postfix's answer, and the end.
      note(Problem::kData);
      abort_reason_ = "local data error";
      co_await reply(smtp::Reply(421, "4.3.0", s_.myhostname + " Server local data error"));
      break;
    }
    if (line->truncated) {
      log::warning("{}: request longer than {}: {}...", peer(), s_.line_length_limit,
                   str::printable(std::string_view(line->text).substr(0, 100)));
      last_cmd_ = "UNKNOWN";
      count("unknown", false);
      note(Problem::kProtocol);
      co_await reply(smtp::Reply(500, "5.5.2", "Error: line too long"));
      continue;
    }
    if (line->ending == smtp::LineEnding::BareLf && s_.bare_newline == smtp::BareNewline::Reject &&
        !bare_newline_exempt_) {
      log::info("disconnect: bare <LF> received from {} after {}", peer(), last_cmd_);
      note(Problem::kProtocol);
      smtp::Reply r = smtp::bare_newline_reply(s_.bare_newline_code, s_.myhostname);
      co_await reply(r);
      if (s_.bare_newline_code == 521) break;
      continue;
    }
    auto parsed = smtp::parse_command(line->text, copts);
    if (!parsed) {
      const auto& e = parsed.error();
      std::string vname = "unknown";
      // Count the command under its verb when the verb itself was fine.
      auto sp = line->text.find_first_of(" \t");
      std::string verb = str::lower(line->text.substr(0, sp));
      for (auto n : kStatOrder)
        if (n == verb) vname = verb;
      last_cmd_ = vname == "unknown" ? "UNKNOWN" : upper(vname);
      count(vname, false);
      note(Problem::kProtocol);
      co_await reply(e.reply);
      if (e.disconnect) break;
      continue;
    }
    smtp::Command& cmd = *parsed;
    last_cmd_ = cmd.verb == smtp::Verb::Unknown ? "UNKNOWN" : std::string(smtp::verb_name(cmd.verb));
    if (proxying() && (cmd.verb == smtp::Verb::Mail || cmd.verb == smtp::Verb::Rcpt)) command_line_ = line->text;
    if (cmd.verb != smtp::Verb::Bdat) {
      // Only a command that may not be pipelined needs to know whether more
      // input waits; asking the kernel (FIONREAD) for every command was a
      // system call per MAIL/RCPT for nothing.
      std::size_t pending = 0;
      if (smtp::improper_pipelining(cmd, pipelining_, 1)) {
        pending = reader_.buffered();
        if (pending == 0) pending = pending_input();
      }
      if (smtp::improper_pipelining(cmd, pipelining_, pending)) {
        if (!pipelining_logged_) {
          std::string peek = reader_.take_buffered();
          log::info("improper command pipelining after {} from {}: {}", last_cmd_, peer(),
                    smtp::escape_for_log(peek));
          reader_.feed(peek);
          pipelining_logged_ = true;
        }
        unauth_pipelining_ = true;
        if (s_.forbid_unauth_pipelining) {
          count(str::lower(last_cmd_), false);
          note(Problem::kProtocol);
          co_await reply(smtp::sync_error_reply());
          break;
        }
      }
    }
    if (access_denied_ && cmd.verb != smtp::Verb::Quit && cmd.verb != smtp::Verb::Unknown) {
      // Postfix's answer once the client restrictions refused at connect
      // (RFC 5321 section 3.1: the client should QUIT).
      error_count_++;
      count(str::lower(last_cmd_), false);
      note(Problem::kPolicy);
      co_await reply(smtp::Reply(503, "5.7.0", fmt::format("Error: access denied for {}", peer())));
      continue;
    }
    if (!co_await handle(cmd)) break;
  }
  co_await flush();
  co_await stop_tls();
  reset_transaction();
  std::string tally;
  int ok_total = 0, all_total = 0;
  for (auto n : kStatOrder) {
    auto it = stats_.find(std::string(n));
    if (it == stats_.end()) continue;
    auto [ok, total] = it->second;
    ok_total += ok;
    all_total += total;
    tally += ok == total ? fmt::format(" {}={}", n, total) : fmt::format(" {}={}/{}", n, ok, total);
  }
  tally += ok_total == all_total ? fmt::format(" commands={}", all_total)
                                 : fmt::format(" commands={}/{}", ok_total, all_total);
  log::info("disconnect from {}{}", peer(), tally);
  error_code ec;
  sock_.shutdown(asio::socket_base::shutdown_both, ec);
  sock_.close(ec);
  // After the client has gone: the notice never delays its session.
  co_await checkpoint_transcript(true);
}

// Returns false to end the session.
asio::awaitable<bool> Session::handle(const smtp::Command& cmd) {
  using smtp::Verb;
  // Junk commands (Postfix: HELO, EHLO, NOOP, VRFY, ETRN, RSET) count as
  // errors once there have been more than smtpd_junk_command_limit of them.
  switch (cmd.verb) {
    case Verb::Helo: case Verb::Ehlo: case Verb::Noop: case Verb::Vrfy: case Verb::Etrn: case Verb::Rset:
      if (junk_count_++ >= s_.junk_command_limit) error_count_++;
      break;
    default:
      break;
  }
  int before = error_count_;
  auto ok_reply = [&](std::string_view name) { count(name, error_count_ == before); };
  switch (cmd.verb) {
    case Verb::Helo:
      co_await do_helo(cmd, false);
      ok_reply("helo");
      co_await checkpoint_transcript(false);
      co_return true;
    case Verb::Ehlo:
      co_await do_helo(cmd, true);
      ok_reply("ehlo");
      co_await checkpoint_transcript(false);
      co_return true;
    case Verb::Mail:
      co_await do_mail(cmd);
      ok_reply("mail");
      co_return true;
    case Verb::Rcpt:
      co_await do_rcpt(cmd);
      ok_reply("rcpt");
      co_return true;
    case Verb::Data: {
      bool go = co_await do_data();
      ok_reply("data");
      co_await checkpoint_transcript(false);
      co_return go;
    }
    case Verb::Bdat: {
      bool go = co_await do_bdat(cmd);
      ok_reply("bdat");
      if (!bdat_active_) co_await checkpoint_transcript(false);  // only after the last chunk
      co_return go;
    }
    case Verb::Rset: {
      // An unused connection opened ahead is not part of the transaction:
      // clients that send RSET before each MAIL FROM keep theirs.
      auto ahead = std::move(prefetch_);
      reset_transaction();
      prefetch_ = std::move(ahead);
      co_await reply(smtp::Reply(250, "2.0.0", "Ok"));
      ok_reply("rset");
      co_await checkpoint_transcript(false);
      co_return true;
    }
    case Verb::Noop:
      co_await reply(smtp::Reply(250, "2.0.0", "Ok"));
      ok_reply("noop");
      co_return true;
    case Verb::Quit:
      count("quit", true);
      emit(smtp::format_reply(smtp::Reply(221, "2.0.0", "Bye")));
      co_await flush();
      co_return false;
    case Verb::Vrfy:
      co_await do_vrfy(cmd);
      ok_reply("vrfy");
      co_return true;
    case Verb::Starttls: {
      bool go = co_await do_starttls();
      ok_reply("starttls");
      co_return go;
    }
    case Verb::Auth:
      co_await do_auth(cmd);
      ok_reply("auth");
      co_return true;
    case Verb::Xforward:
      co_await do_xforward(cmd);
      ok_reply("xforward");
      co_return true;
    case Verb::Xclient:
      co_await do_xclient(cmd);
      ok_reply("xclient");
      co_return true;
    case Verb::Etrn:
      note(Problem::kProtocol);
      co_await reply(smtp::Reply(502, "5.5.2", "Error: command not recognized"));
      count("etrn", false);
      co_return true;
    case Verb::Unknown:
      if (cmd.looks_like_header()) {
        log::warning("non-SMTP command from {}: {}", peer(), str::printable(cmd.verb_text + " " + cmd.args, 100));
        count("unknown", false);
        note(Problem::kProtocol);
        emit(wire(smtp::Reply(221, "2.7.0", "Error: I can break rules, too. Goodbye.")));
        co_await flush();
        co_return false;
      }
      [[fallthrough]];
    default:  // EXPN, HELP: not offered
      note(Problem::kProtocol);
      co_await reply(smtp::Reply(502, "5.5.2", "Error: command not recognized"));
      count("unknown", false);
      co_return true;
  }
}

asio::awaitable<void> Session::do_helo(const smtp::Command& cmd, bool ehlo) {
  if (!sh_.policy->delay_reject()) {
    // smtpd_delay_reject = no: judged now, under the name it gives. As in
    // Postfix, a refused name is not taken (nor the protocol it asks for)
    // and leaves the transaction alone; an accepted one starts afresh.
    std::string before = std::exchange(helo_, cmd.helo().domain);
    Verdict v = co_await early_checks(ehlo ? "EHLO" : "HELO", defer_helo_);
    helo_ = std::move(before);
    if (v.kind == Verdict::Reject) {
      take_actions(v, ehlo ? "EHLO" : "HELO", "");
      note(v.problem);
      co_await reply(v.reply);
      co_return;
    }
    reset_transaction();
    take_actions(v, ehlo ? "EHLO" : "HELO", "");
  } else {
    reset_transaction();
  }
  helo_ = cmd.helo().domain;
  esmtp_ = ehlo;
  if (!ehlo) {
    pipelining_ = false;
    co_await reply(smtp::Reply(250, "", s_.myhostname));
    co_return;
  }
  smtp::EhloFeatures f;
  f.size = s_.message_size_limit;
  f.vrfy = !s_.disable_vrfy;
  f.etrn = false;
  f.smtputf8 = s_.smtputf8_enable;
  f.discard = s_.discard_ehlo;
  f.starttls = sh_.tls && !tls_;
  f.auth_mechanisms = co_await sasl_offer();
  f.auth_broken_clients = s_.sasl.broken_clients;
  if (xclient_ok_)
    f.xclient_attributes = {"NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT", "LOGIN", "DESTADDR", "DESTPORT"};
  if (xforward_ok_) f.xforward_attributes = {"NAME", "ADDR", "PROTO", "HELO", "SOURCE", "PORT", "IDENT"};
  auto kw = smtp::ehlo_keywords(f);
  pipelining_ = false;
  for (const auto& k : kw)
    if (k == "PIPELINING") pipelining_ = true;
  co_await reply(smtp::ehlo_reply(s_.myhostname, kw));
}

void Session::log_reject(std::string_view stage, const smtp::Reply& r, std::string_view to) {
  log_action("reject", stage, (s_.soft_bounce ? smtp::soften(r) : r).to_string(), to);
}

// Postfix's shape, which log analyzers (fail2ban, pflogsumm) match:
// "NOQUEUE: reject: RCPT from host[addr]: 554 ...; from=<s> to=<r> proto=ESMTP helo=<h>",
// and the same with "warn:" or "info:" for access table WARN/INFO results.
void Session::log_action(std::string_view action, std::string_view stage, std::string_view text,
                         std::string_view to) {
  // As Postfix: from=<> only within a transaction, helo=<> only once given.
  std::string line = fmt::format("{}: {}: {} from {}: {};", queue_id_or_noqueue(), action, stage, peer(), text);
  if (mail_) line += fmt::format(" from=<{}>", str::printable(mail_->sender.to_internal(), 300));
  if (!to.empty()) line += fmt::format(" to=<{}>", str::printable(to, 300));
  line += fmt::format(" proto={}", esmtp_ ? "ESMTP" : "SMTP");
  if (!helo_.empty()) line += fmt::format(" helo=<{}>", str::printable(helo_, 300));
  log::info("{}", line);
}

asio::awaitable<bool> Session::tls_required() {
  if (tls_ || s_.tls.level != tls::Level::kEncrypt) co_return false;
  note(Problem::kPolicy);
  co_await reply(smtp::Reply(530, "5.7.0", "Must issue a STARTTLS command first"));
  co_return true;
}

// RFC 3207. Postfix's replies. What the client said before TLS (HELO, a
// transaction) is forgotten, and plaintext it sent behind STARTTLS is
// dropped unread: it could be an attacker's injection (CVE-2011-0411).
asio::awaitable<bool> Session::do_starttls() {
  if (tls_) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(554, "5.5.1", "Error: TLS already active"));
    co_return true;
  }
  bool discarded = false;
  for (const auto& k : s_.discard_ehlo)
    if (str::iequals(k, "starttls")) discarded = true;
  if (!s_.tls.enabled() || discarded) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(502, "5.5.1", "Error: command not implemented"));
    co_return true;
  }
  if (!sh_.tls) {
    note(Problem::kSoftware);
    co_await reply(smtp::Reply(454, "4.7.0", "TLS not available due to local problem"));
    co_return true;
  }
  if (new_tls_limited()) {
    // Over the limit already: no handshake to pay for (Postfix's 454).
    std::string service = ctx_.service(), client = client_addr_;
    auto counts =
        co_await sh_.anvil->count(ipc::proto::AnvilOp::NewTlsReport, std::move(service), std::move(client));
    if (counts && counts->rate > s_.new_tls_rate_limit) {
      log::warning("New TLS session rate limit exceeded: {} from {} for service {}", counts->rate, peer(),
                   ctx_.service());
      note(Problem::kPolicy);
      co_await reply(smtp::Reply(454, "4.7.0", fmt::format("Error: too many new TLS sessions from {}", client_addr_)));
      co_return true;
    }
  }
  emit(smtp::format_reply(smtp::Reply(220, "2.0.0", "Ready to start TLS")));
  if (!co_await flush()) co_return false;
  reader_.clear();
  if (!co_await start_tls("STARTTLS")) co_return false;
  reset_transaction();
  sasl_username_.clear();
  sasl_method_.clear();
  helo_.clear();
  defer_helo_ = defer_client_;
  esmtp_ = false;
  pipelining_ = false;
  co_return true;
}

// The mechanisms to offer now: none without AUTH, before TLS with
// smtpd_tls_auth_only, or when Dovecot cannot be reached (warned, and asked
// again at most every kSaslRetryDelay).
asio::awaitable<std::vector<std::string>> Session::sasl_offer() {
  std::vector<std::string> out;
  if (!s_.sasl.enabled || !sh_.sasl_endpoint || (s_.sasl.tls_only && !tls_)) co_return out;
  if (sh_.sasl_exceptions) {
    // Postfix: a listed client is not offered AUTH (a lookup failure
    // counts as listed: nothing is offered that might be refused).
    auto listed = sh_.sasl_exceptions->contains(client_addr_);
    if (!listed || *listed) co_return out;
  }
  if (!sh_.sasl_mechanisms) {
    if (std::chrono::steady_clock::now() < sh_.sasl_retry_after) co_return out;
    auto a = co_await DovecotAuth::connect(ctx_.io(), *sh_.sasl_endpoint, kSaslTimeout);
    if (!a) {
      log::warning("{}", a.error().message);
      sh_.sasl_retry_after = std::chrono::steady_clock::now() + kSaslRetryDelay;
      co_return out;
    }
    sh_.sasl_mechanisms = (*a)->mechanisms();
  }
  const SaslSecurity& sec = tls_ ? s_.sasl.tls_security : s_.sasl.plain_security;
  for (const auto& m : *sh_.sasl_mechanisms)
    if (sec.allows(m)) out.push_back(m.name);
  co_return out;
}

// RFC 4954, Postfix's replies. Dovecot sees the client's base64 data as
// it came; smtpd never decodes a password.
asio::awaitable<void> Session::do_auth(const smtp::Command& cmd) {
  bool excepted = false;
  if (sh_.sasl_exceptions) {
    auto listed = sh_.sasl_exceptions->contains(client_addr_);
    excepted = !listed || *listed;
  }
  if (!s_.sasl.enabled || (s_.sasl.tls_only && !tls_) || excepted) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: authentication not enabled"));
    co_return;
  }
  if (!sasl_username_.empty()) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: already authenticated"));
    co_return;
  }
  if (mail_) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: MAIL transaction in progress"));
    co_return;
  }
  if (!co_await within_rate(ipc::proto::AnvilOp::Auth)) co_return;
  auto offered = co_await sasl_offer();
  if (offered.empty()) {
    co_await reply(smtp::Reply(454, "4.7.0", "Temporary authentication failure"));
    co_return;
  }
  const smtp::Auth& a = cmd.auth();
  if (std::find(offered.begin(), offered.end(), a.mechanism) == offered.end()) {
    log::warning("{}: SASL {} authentication failed: Invalid authentication mechanism", peer(),
                 str::printable(a.mechanism, 20));
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(535, "5.7.8", "Error: authentication failed: Invalid authentication mechanism"));
    co_return;
  }
  std::optional<std::string> initial = a.initial_response;
  if (initial && *initial == "=") initial = std::string();  // RFC 4954: an empty initial response
  if (initial && !is_base64(*initial)) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.5.2", "Cannot decode response"));
    co_return;
  }
  auto conn = co_await DovecotAuth::connect(ctx_.io(), *sh_.sasl_endpoint, kSaslTimeout);
  if (!conn) {
    log::warning("{}", conn.error().message);
    co_await reply(smtp::Reply(454, "4.7.0", "Temporary authentication failure"));
    co_return;
  }
  SaslClientInfo info;
  info.remote_ip = client_addr_;
  info.remote_port = client_port_;
  info.secured = tls_ != nullptr;
  {
    // Asio's TCP endpoint formats the address (IPv4 or IPv6).
    error_code ec;
    auto local = sock_.local_endpoint(ec);
    if (!ec && (local.data()->sa_family == AF_INET || local.data()->sa_family == AF_INET6) &&
        local.size() <= sizeof(sockaddr_in6)) {
      asio::ip::tcp::endpoint ip;
      std::memcpy(ip.data(), local.data(), local.size());
      info.local_ip = ip.address().to_string();
    }
  }
  if (server_addr_) info.local_ip = *server_addr_;
  if (server_port_) info.local_port = *server_port_;
  auto step = co_await (*conn)->start(a.mechanism, std::move(initial), std::move(info));
  while (step.kind == DovecotAuth::Step::Kind::kContinue) {
    // "334 " and the challenge, even an empty one (RFC 4954 4), as Postfix
    // sends it; the challenge was checked to be base64.
    emit("334 " + step.data + "\r\n");
    if (!co_await flush()) co_return;
    std::optional<smtp::InputLine> line;
    while (!(line = reader_.next())) {
      if (!co_await read_more()) co_return;  // the command loop logs the lost connection
    }
    if (line->text == "*") {
      co_await reply(smtp::Reply(501, "5.7.0", "Authentication aborted"));
      co_return;
    }
    if (line->truncated || !is_base64(line->text)) {
      note(Problem::kProtocol);
      co_await reply(smtp::Reply(501, "5.5.2", "Cannot decode response"));
      co_return;
    }
    step = co_await (*conn)->next(line->text);
  }
  switch (step.kind) {
    case DovecotAuth::Step::Kind::kOk:
      sasl_username_ = step.user;
      sasl_method_ = a.mechanism;
      co_await reply(smtp::Reply(235, "2.7.0", "Authentication successful"));
      co_return;
    case DovecotAuth::Step::Kind::kFail: {
      std::string why = step.data.empty() ? std::string("authentication failure") : str::printable(step.data, 200);
      log::warning("{}: SASL {} authentication failed: {}{}", peer(), a.mechanism, why,
                   step.user.empty() ? std::string() : ", sasl_username=" + str::printable(step.user, 255));
      co_await reply(smtp::Reply(535, "5.7.8", "Error: authentication failed: " + why));
      co_return;
    }
    default:
      log::warning("{}: SASL {} authentication problem: {}", peer(), a.mechanism, str::printable(step.data, 200));
      co_await reply(smtp::Reply(454, "4.7.0", "Temporary authentication failure"));
      co_return;
  }
}

asio::awaitable<void> Session::do_mail(const smtp::Command& cmd) {
  if (co_await tls_required()) co_return;
  if (s_.helo_required && helo_.empty()) {
    note(Problem::kPolicy);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: send HELO/EHLO first"));
    co_return;
  }
  if (mail_) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: nested MAIL command"));
    co_return;
  }
  const smtp::MailFrom& m = cmd.mail();
  if (m.size && s_.message_size_limit > 0 && *m.size > s_.message_size_limit) {
    smtp::Reply r(552, "5.3.4", "Message size exceeds fixed limit");
    note(Problem::kPolicy);
    log_reject("MAIL", r, "");
    co_await reply(r);
    co_return;
  }
  if (auto full = storage_refusal(m.size.value_or(0))) {
    note(Problem::kResource);
    log_reject("MAIL", *full, "");
    co_await reply(*full);
    co_return;
  }
  mail::PathOptions po;
  po.allow_null = true;
  po.smtputf8 = m.smtputf8;
  bool unicode = false;
  auto addr = parse_client_path(m.path.text, po, s_.strict_smtputf8, unicode);
  if (unicode) {
    note(Problem::kProtocol);
    co_await reply(unicode_refusal());
    co_return;
  }
  if (!addr) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.1.7", "Bad sender address syntax"));
    co_return;
  }
  addr->route.clear();  // source routes are ignored (RFC 5321 section 3.3)
  if (!co_await within_rate(ipc::proto::AnvilOp::Message)) co_return;
  mail_.emplace();
  mail_->sender = std::move(*addr);
  mail_->params = m;
  mail_->smtputf8 = m.smtputf8;
  {
    // Postfix's policy "instance": one value per transaction.
    auto now = std::chrono::system_clock::now().time_since_epoch();
    instance_ = fmt::format("{:x}.{:x}.{:x}.{:x}", ::getpid(),
                            std::chrono::duration_cast<std::chrono::seconds>(now).count(),
                            std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000,
                            ++transactions_);
  }
  if (!sh_.policy->delay_reject()) {
    // smtpd_delay_reject = no: the sender restrictions now.
    co_await resolve_sender();
    Verdict v = co_await early_checks("MAIL", defer_sender_);
    take_actions(v, "MAIL", "");
    if (v.kind == Verdict::Reject) {
      auto ahead = std::move(prefetch_);  // not part of the transaction (see RSET)
      reset_transaction();
      prefetch_ = std::move(ahead);
      note(v.problem);
      co_await reply(v.reply);
      co_return;
    }
  }
  if (proxying()) {
    co_await proxy_mail();
    co_return;
  }
  start_prefetch();
  co_await reply(smtp::Reply(250, "2.1.0", "Ok"));
}

// Opening cleanup is a round trip in which cleanup creates the queue file;
// the first accepted RCPT waits for it. A session that has already queued a
// message will most likely queue the next one too, so its MAIL FROM starts
// the open and the client's RCPT travels meanwhile. The queue ID is still
// taken into use (and "client=" logged) only at the first accepted RCPT, so
// rejections before it log NOQUEUE as in Postfix. A first transaction never
// prefetches: a client whose recipients are all refused costs no queue file.
void Session::start_prefetch() {
  if (cleanup_ || queued_ == 0 || proxying()) return;
  if (prefetch_ && Clock::now() - prefetch_->started < kPrefetchMaxAge) return;
  prefetch_ = std::make_shared<CleanupPrefetch>(ctx_.io());
  asio::co_spawn(ctx_.io(),
                 run_prefetch(prefetch_, ctx_.io(), s_.cleanup_socket, s_.cleanup_flags, peer(), s_.ipc_timeout,
                              sh_.cleanup.get()),
                 asio::detached);
}

// A session that has queued two messages is a bulk sender (a relay
// reusing its connection, a mailing-list run): open cleanup for its next
// message as soon as this one is answered, so that the queue file is ready
// by its first RCPT instead of being made while the client waits (about
// 0.4 ms on the benchmark machine, a fifth of a serial transaction). If the
// client quits instead, one empty queue file was made for nothing, once
// per session. A client that idles longer than kPrefetchMaxAge gets a
// fresh one at MAIL FROM.
asio::awaitable<void> Session::start_early_prefetch(int last_code) {
  if (last_code != 250 || queued_ < 2) co_return;
  start_prefetch();
  // Let the open start (connect, request sent) before this session reads
  // on: a client that already sent its next MAIL FROM would otherwise be
  // served first, and the open would begin no earlier than at MAIL FROM.
  co_await asio::post(ctx_.io(), asio::use_awaitable);
}

asio::awaitable<bool> Session::open_cleanup() {
  if (cleanup_) co_return true;
  std::optional<Result<submit::CleanupClient>> c;
  if (auto p = std::move(prefetch_)) {
    if (!p->result) {
      error_code ec;
      co_await p->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    // One opened at the end of the last transaction may have been closed
    // by cleanup since (a restart, its idle limit): then open a fresh one.
    if (p->result && *p->result && (*p->result)->usable()) c = std::move(p->result);
  }
  // No prefetch, or it failed: open now (a failed prefetch is retried once,
  // so that its error is the one the client sees only if it persists).
  if (!c)
    c.emplace(co_await submit::CleanupClient::open(ctx_.io(), s_.cleanup_socket, s_.cleanup_flags, peer(),
                                                   s_.ipc_timeout, sh_.cleanup.get()));
  if (!*c) {
    log::warning("{}: cleanup service: {}", peer(), c->error().message);
    co_return false;
  }
  cleanup_.emplace(std::move(**c));
  // Postfix's line, which log analyzers match: the SASL login, then what
  // XFORWARD said about the message's origin.
  std::string origin;
  if (!sasl_username_.empty())
    origin += fmt::format(", sasl_method={}, sasl_username={}", sasl_method_, str::printable(sasl_username_, 255));
  const Forwarded& fw = xforward_;
  if (fw.active && fw.ident) origin += ", orig_queue_id=" + *fw.ident;
  if (fw.active && (fw.name || fw.addr))
    origin += fmt::format(", orig_client={}[{}]", fw.name.value_or("unknown"), fw.addr.value_or("unknown"));
  log::info("{}: client={}{}", cleanup_->queue_id(), peer(), origin);
  submit::CleanupEnvelope env;
  env.sender = mail_->sender.to_internal();
  env.client_name = client_name_;
  env.client_addr = client_addr_;
  if (!client_port_.empty()) env.client_port = client_port_;
  if (!helo_.empty()) env.helo = helo_.substr(0, submit::kMaxAttributeLength);
  env.protocol = protocol_name();
  if (fw.active) {
    // The upstream client's attributes, not a mix with this session's
    // (XFORWARD_README note 4): what was not forwarded is "unknown" or left out.
    env.client_name = fw.name.value_or("unknown");
    env.client_addr = fw.addr;
    env.client_port = fw.port;
    env.helo = fw.helo;
    env.protocol = fw.proto;
  }
  if (!sasl_username_.empty()) {
    env.sasl_method = sasl_method_;
    env.sasl_username = sasl_username_;
  }
  if (mail_->params.body == smtp::Body::SevenBit) env.body = "7BIT";
  if (mail_->params.body == smtp::Body::EightBitMime) env.body = "8BITMIME";
  if (mail_->smtputf8) env.smtputf8 = true;
  if (mail_->params.envid) env.envid = smtp::xtext_encode(*mail_->params.envid);
  if (mail_->params.ret == smtp::Ret::Full) env.ret = "FULL";
  if (mail_->params.ret == smtp::Ret::Hdrs) env.ret = "HDRS";
  if (!s_.content_filter.empty()) env.content_filter = s_.content_filter;
  if (auto st = co_await cleanup_->envelope(env); !st) {
    log::warning("{}: cleanup envelope: {}", cleanup_->queue_id(), st.error().message);
    cleanup_failed_ = true;
  }
  co_return true;
}

std::optional<smtp::Reply> Session::storage_refusal(std::uint64_t size) {
  if (!sh_.queue_dir) return std::nullopt;
  struct statvfs st {};
  if (::fstatvfs(sh_.queue_dir.get(), &st) != 0) return std::nullopt;  // cannot tell: cleanup's writes will
  const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t minfree = s_.queue_minfree;
  if (minfree < free && size < free - minfree && size < free / 2) return std::nullopt;
  log::warning("not enough free space in mail queue: {} bytes free, need queue_minfree {} and twice the message "
               "size {}",
               free, minfree, size);
  return smtp::Reply(452, "4.3.1", "Insufficient system storage");
}

asio::awaitable<bool> Session::within_rate(ipc::proto::AnvilOp op) {
  // Postfix's words for each: the limit, the warning, the reply.
  struct Kind {
    int limit;
    const char* what;
    const char* too;
  };
  const Kind k = op == ipc::proto::AnvilOp::Message   ? Kind{s_.message_rate_limit, "Message delivery request", "much mail"}
                 : op == ipc::proto::AnvilOp::Recipient ? Kind{s_.recipient_rate_limit, "Recipient address", "many recipients"}
                                                        : Kind{s_.auth_rate_limit, "AUTH command", "many AUTH commands"};
  if (k.limit <= 0 || !sh_.anvil || client_ip_.is_unspecified() || limit_exempt_) co_return true;
  // Named first: g++ 12 and temporaries inside co_await (docs/coding.md).
  std::string service = ctx_.service(), client = client_addr_;
  auto counts = co_await sh_.anvil->count(op, std::move(service), std::move(client));
  if (!counts || counts->rate <= k.limit) co_return true;  // no answer: no limit, as for connections
  log::warning("{} rate limit exceeded: {} from {} for service {}", k.what, counts->rate, peer(), ctx_.service());
  smtp::Reply r(450, "4.7.1", fmt::format("Error: too {} from {}", k.too, client_addr_));
  note(Problem::kPolicy);
  co_await reply(r);
  co_return false;
}

asio::awaitable<void> Session::do_rcpt(const smtp::Command& cmd) {
  if (!mail_) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: need MAIL command"));
    co_return;
  }
  const smtp::RcptTo& r = cmd.rcpt();
  rcpt_attempts_++;
  if (rcpt_count_ >= s_.recipient_limit) {
    note(Problem::kPolicy);
    co_await reply(smtp::Reply(452, "4.5.3", "Error: too many recipients"));
    co_return;
  }
  mail::PathOptions po;
  po.smtputf8 = mail_->smtputf8;
  bool unicode = false;
  auto addr = parse_client_path(r.path.text, po, s_.strict_smtputf8, unicode);
  if (unicode) {
    note(Problem::kProtocol);
    co_await reply(unicode_refusal());
    co_return;
  }
  if (!addr) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.1.3", "Bad recipient address syntax"));
    co_return;
  }
  if (!co_await within_rate(ipc::proto::AnvilOp::Recipient)) co_return;
  co_await resolve_sender();
  RcptContext c = transaction_context();
  if (!sh_.policy->delay_reject() && defer_sender_) c.earlier_defer_if_permit = &*defer_sender_;
  c.recipient = &*addr;  // with its route: a source route is a routing trick
  c.recipient_text = r.path.text;
  std::optional<smtp::Reply> bad = co_await resolve_recipient(*addr, r.path.text, c);
  if (bad) {
    log_reject("RCPT", *bad, addr->to_internal());
    co_await reply(*bad);
    co_return;
  }
  c.hold = hold_;
  Verdict v;
  // Postfix: once the message is to be discarded, no restriction is
  // evaluated for it any more.
  if (!discard_) {
    co_await look_up_mailhosts(c);
    v = co_await run_checks(c, &Policy::check_recipient);
  }
  take_actions(v, "RCPT", addr->to_internal());
  if (v.kind == Verdict::Reject) {
    log_reject("RCPT", v.reply, addr->to_internal());
    note(v.problem);
    co_await reply(v.reply);
    co_return;
  }
  addr->route.clear();
  if (proxying()) {
    co_await proxy_rcpt(*addr, r, c);
    co_return;
  }
  if (cleanup_failed_ || !co_await open_cleanup() || cleanup_failed_) {
    note(Problem::kResource);
    co_await reply(smtp::Reply(451, "4.3.0", "Error: queue file write error"));
    co_return;
  }
  submit::CleanupRecipient cr;
  cr.address = addr->to_internal();
  cr.notify = r.notify;
  if (!r.orcpt_type.empty()) cr.orcpt = r.orcpt_type + ";" + smtp::xtext_encode(r.orcpt);
  if (cr.address.size() > submit::kMaxAddressLength ||
      (cr.orcpt && cr.orcpt->size() > submit::kMaxOrcptLength)) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.1.3", "Bad recipient address syntax"));
    co_return;
  }
  if (auto st = co_await cleanup_->recipient(cr); !st) {
    log::warning("{}: cleanup recipient: {}", cleanup_->queue_id(), st.error().message);
    cleanup_failed_ = true;
    note(Problem::kResource);
    co_await reply(smtp::Reply(451, "4.3.0", "Error: queue file write error"));
    co_return;
  }
  if (rcpt_count_ == 0) {
    first_rcpt_ = *addr;
    first_rcpt_text_ = r.path.text;
    first_rcpt_class_ = c.recipient_class;
  }
  rcpt_count_++;
  co_await reply(smtp::Reply(250, "2.1.5", "Ok"));
}

void Session::add_prepends(const std::vector<std::string>& headers) {
  for (const auto& h : headers) {
    if (std::find(prepend_.begin(), prepend_.end(), h) != prepend_.end()) continue;
    if (prepend_bytes_ + h.size() + 1 > kMaxPrependBytes) {
      if (!prepend_full_)
        log::warning("{}: PREPEND headers beyond {} bytes are dropped", queue_id_or_noqueue(), kMaxPrependBytes);
      prepend_full_ = true;
      return;
    }
    prepend_bytes_ += h.size() + 1;
    prepend_.push_back(h);
  }
}

// Postfix's BCC action: each address is one more recipient, NOTIFY=NEVER
// (the sender is not told about a copy they did not ask for), rewritten by
// cleanup like any other. Not for a message that is being discarded. A
// failure marks cleanup failed (the message then gets 451).
asio::awaitable<void> Session::send_bccs() {
  if (discard_) co_return;
  for (const auto& text : bcc_) {
    auto addr = mail::parse_smtp_path(text, mail::PathOptions{});
    if (!addr || addr->is_null()) {
      log::warning("{}: BCC action: bad address \"{}\": ignored", cleanup_->queue_id(), str::printable(text, 300));
      continue;
    }
    submit::CleanupRecipient cr;
    cr.address = addr->to_internal();
    cr.notify = submit::notify::kNever;
    if (cr.address.size() > submit::kMaxAddressLength) continue;
    if (auto st = co_await cleanup_->recipient(cr); !st) {
      log::warning("{}: cleanup recipient: {}", cleanup_->queue_id(), st.error().message);
      cleanup_failed_ = true;
      co_return;
    }
  }
}

// Access table PREPEND headers, then the Received: header (Postfix lists
// the recipient only when there is one).
asio::awaitable<bool> Session::start_content(const mail::Address* only_rcpt) {
  content_.clear();
  content_overflow_ = false;
  at_message_start_ = true;
  at_line_start_ = true;
  if (!proxying()) co_await send_bccs();
  content_failed_ = cleanup_failed_;
  mail::ReceivedInfo ri;
  ri.helo_name = helo_;
  ri.client_name = client_name_;
  ri.client_addr = client_addr_;
  ri.protocol = mail::received_protocol(esmtp_, tls_ != nullptr, !sasl_username_.empty(), mail_->smtputf8);
  if (s_.sasl.authenticated_header) ri.sasl_username = sasl_username_;
  mail::ReceivedTls rt;
  if (tls_ && s_.tls.received_header) {
    rt.protocol = tls_info_.protocol;
    rt.cipher = tls_info_.cipher;
    rt.cipher_usebits = tls_info_.usebits;
    rt.cipher_algbits = tls_info_.algbits;
    rt.asked_client_cert = s_.tls.ask_ccert;
    rt.have_peer_cn = tls_info_.peer_certificate;
    rt.peer_cn = tls_info_.peer_cn;
    rt.issuer_cn = tls_info_.issuer_cn;
    rt.peer_verified = tls_info_.verified;
    ri.tls = &rt;
  }
  ri.myhostname = s_.myhostname;
  ri.mail_name = s_.mail_name;
  // None before a proxy filter. (A view of cleanup's string: no temporary.)
  if (cleanup_) ri.queue_id = cleanup_->queue_id();
  ri.recipient = only_rcpt;
  ri.when = std::time(nullptr);
  for (const auto& h : prepend_) {
    content_ += h;
    content_ += '\n';
  }
  content_ += mail::build_received(ri);
  content_ += '\n';
  if (proxy_) {
    // The same lines, dot-stuffed for the filter.
    std::string_view rest = content_;
    while (!rest.empty()) {
      std::size_t nl = rest.find('\n');
      proxy_->put(rest.substr(0, nl), false);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    }
    content_.clear();
  }
  co_return true;
}

void Session::add_content(std::string_view piece, bool continued) {
  if (content_overflow_ || content_failed_) return;
  // The client's first lines follow our Received: header (Postfix's rules,
  // mail/received.h): leading "From " lines become X-Mailbox-Line:
  // headers, and a first other line that starts with white space gets an
  // empty line before it, so that it cannot continue our header.
  std::string_view prefix;
  bool blank_first = false;
  if (at_message_start_ && at_line_start_) {
    if (mail::is_mailbox_line(piece)) {
      prefix = "X-Mailbox-Line: ";
    } else {
      at_message_start_ = false;
      blank_first = mail::continues_header(piece);
    }
  }
  at_line_start_ = !continued;
  if (proxy_) {
    if (blank_first) proxy_->put("", false);
    if (!prefix.empty()) proxy_->put(prefix, true);
    proxy_->put(piece, continued);
    return;
  }
  if (blank_first) content_ += '\n';
  content_.append(prefix);
  content_.append(piece);
  if (!continued) content_ += '\n';
}

asio::awaitable<bool> Session::push_content(bool force) {
  if (content_failed_ || content_overflow_) {
    content_.clear();
    co_return !content_failed_;
  }
  if (proxy_) {
    auto st = co_await proxy_->flush(force);
    if (!st) {
      (void)proxy_failure("DATA", st.error().message);
      content_failed_ = true;
      co_return false;
    }
    co_return true;
  }
  if (content_.empty() || (!force && content_.size() < kContentFlush)) co_return true;
  auto st = co_await cleanup_->content(content_);
  content_.clear();
  if (!st) {
    log::warning("{}: cleanup content: {}", cleanup_->queue_id(), st.error().message);
    content_failed_ = true;
    co_return false;
  }
  co_return true;
}

// After the end of the content: the verdict. The transaction is over either way.
asio::awaitable<smtp::Reply> Session::finish_message() {
  if (proxying()) co_return co_await proxy_finish();
  smtp::Reply r;
  if (content_overflow_) {
    r = smtp::Reply(552, "5.3.4", "Error: message file too big");
    note(Problem::kBounce);
    log::info("{}: reject: {} from {}: {}; from=<{}> proto={} helo=<{}>", cleanup_->queue_id(),
              bdat_active_ ? "BDAT" : "DATA", peer(), r.to_string(), str::printable(mail_->sender.to_internal()),
              esmtp_ ? "ESMTP" : "SMTP", str::printable(helo_));
    co_return r;  // the caller resets (closing cleanup removes the file)
  }
  std::optional<smtp::Reply> refused = co_await data_refusal("END-OF-MESSAGE", true);
  if (refused) co_return *refused;  // the caller resets (closing cleanup removes the file)
  co_await push_content(true);
  std::int64_t end_flags = (hold_ ? submit::end_flag::kHold : 0) | (discard_ ? submit::end_flag::kDiscard : 0);
  auto res = co_await cleanup_->finish(end_flags, filter_ ? std::string_view(*filter_) : std::string_view(),
                                       redirect_ ? std::string_view(*redirect_) : std::string_view());
  if (!res) {
    log::warning("{}: cleanup: {}", cleanup_->queue_id(), res.error().message);
    note(Problem::kResource);
    co_return smtp::Reply(451, "4.3.0", "Error: queue file write error");
  }
  if (res->ok()) {
    junk_count_ = 0;
    ++queued_;
    co_return smtp::Reply(250, "2.0.0", "Ok: queued as " + (res->queue_id.empty() ? cleanup_->queue_id() : res->queue_id));
  }
  r = smtp::Reply(static_cast<int>(res->status), res->dsn, res->reason);
  if (r.code < 400 || r.code > 599) r = smtp::Reply(451, "4.3.0", "Error: queue file write error");
  note(cleanup_problem(r));
  log::info("{}: reject: END-OF-MESSAGE from {}: {}; from=<{}> proto={} helo=<{}>", cleanup_->queue_id(), peer(),
            r.to_string(), str::printable(mail_->sender.to_internal()), esmtp_ ? "ESMTP" : "SMTP",
            str::printable(helo_));
  co_return r;
}


asio::awaitable<void> Session::lost_connection(std::string_view what) {
  if (timed_out_) {
    log::info("timeout after {} from {}", what, peer());
    io_error_ = false;
    emit(wire(smtp::Reply(421, "4.4.2", s_.myhostname + " Error: timeout exceeded")));
    co_await flush();
  } else {
    log::info("lost connection after {} from {}", what, peer());
  }
}

asio::awaitable<bool> Session::pump(const std::function<std::size_t(std::string_view)>& step,
                                    const std::function<bool()>& done,
                                    const std::function<asio::awaitable<bool>()>& after) {
  std::string pending = reader_.take_buffered();
  auto buf = read_buffer();
  for (;;) {
    std::size_t used = step(pending);
    if (!co_await after()) {
      // keep reading: the client must still get to the end of its data
    }
    if (done()) {
      reader_.feed(std::string_view(pending).substr(used));
      co_return true;
    }
    std::size_t n = co_await read_raw(buf.get());
    if (n == 0) co_return false;
    data_bytes_ += n;
    pending.assign(buf.get(), n);
  }
}

std::optional<smtp::Reply> Session::transaction_error() {
  if (!mail_ || rcpt_count_ == 0) note(Problem::kProtocol);
  if (!mail_) return smtp::Reply(503, "5.5.1", "Error: need MAIL command");
  if (rcpt_count_ == 0) {
    if (rcpt_attempts_ > 0) return smtp::Reply(554, "5.5.1", "Error: no valid recipients");
    return smtp::Reply(503, "5.5.1", "Error: need RCPT command");
  }
  if (proxying() ? !proxy_ : (cleanup_failed_ || !cleanup_)) {
    note(Problem::kResource);
    return smtp::Reply(451, "4.3.0", "Error: queue file write error");
  }
  return std::nullopt;
}

asio::awaitable<bool> Session::do_data() {
  if (bdat_active_) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: DATA after BDAT"));
    co_return true;
  }
  if (auto e = transaction_error()) {
    co_await reply(*e);
    co_return true;
  }
  std::optional<smtp::Reply> refused = co_await data_refusal("DATA");
  if (refused) {
    co_await reply(*refused);
    co_return true;
  }
  smtp::Reply go_ahead(354, "", "End data with <CR><LF>.<CR><LF>");
  if (proxying()) {
    if (auto refused = co_await proxy_data(go_ahead)) {
      reset_transaction();
      co_await reply(*refused);
      co_return true;
    }
  }
  co_await start_content(rcpt_count_ == 1 ? &*first_rcpt_ : nullptr);
  emit(smtp::format_reply(go_ahead));
  if (!co_await flush()) {
    co_await lost_connection("DATA");
    co_return false;
  }
  smtp::DataDecoder dec(s_.line_length_limit);
  smtp::LineSink sink = [this](std::string_view piece, bool continued) { add_content(piece, continued); };
  data_bytes_ = 0;
  bool ok = co_await pump(
      [&](std::string_view in) {
        std::size_t used = dec.feed(in, sink);
        if (s_.message_size_limit > 0 && dec.message_bytes() > s_.message_size_limit) {
          content_overflow_ = true;
          content_.clear();
        }
        return used;
      },
      [&] { return dec.done(); }, [&]() { return push_content(false); });
  if (!ok) {
    co_await lost_connection(fmt::format("DATA ({} bytes)", dec.wire_bytes()));
    co_return false;
  }
  last_cmd_ = "END-OF-MESSAGE";
  message_bytes_ = dec.message_bytes();
  if (dec.rejects(s_.bare_newline) && !bare_newline_exempt_) {
    smtp::Reply r = smtp::bare_newline_reply(s_.bare_newline_code, s_.myhostname);
    note(Problem::kProtocol);
    log::info("{}: reject: DATA from {}: {}; from=<{}> proto={} helo=<{}>", queue_id_or_noqueue(), peer(),
              r.to_string(), str::printable(mail_->sender.to_internal()), esmtp_ ? "ESMTP" : "SMTP",
              str::printable(helo_));
    reset_transaction();
    co_await reply(r);
    co_return s_.bare_newline_code != 521;
  }
  smtp::Reply r = co_await finish_message();
  // The answer first: closing the cleanup connection (and its epoll
  // registration) need not delay it. Nothing reads the client in between.
  co_await reply(r);
  reset_transaction();
  co_await start_early_prefetch(r.code);
  co_return true;
}

asio::awaitable<bool> Session::do_bdat(const smtp::Command& cmd) {
  const smtp::Bdat& b = cmd.bdat();
  std::optional<smtp::Reply> err;
  if (!bdat_active_) err = transaction_error();
  if (!err && !bdat_active_) err = co_await data_refusal("BDAT");
  if (!err && !bdat_active_ && proxying()) {
    // The filter gets DATA: BDAT is this side's business (Postfix).
    smtp::Reply go_ahead(354, "", "");
    err = co_await proxy_data(go_ahead);
  }
  if (!err && !bdat_active_) {
    bdat_active_ = true;
    bdat_.emplace(s_.line_length_limit, mail_->params.body == smtp::Body::BinaryMime);
    data_bytes_ = 0;
    co_await start_content(rcpt_count_ == 1 ? &*first_rcpt_ : nullptr);
  }
  if (!err && bdat_error_) err = bdat_error_;
  bool good = false;
  if (err) {
    // Refused: the announced bytes must still be read and thrown away.
    std::uint64_t left = b.size;
    good = co_await pump(
        [&](std::string_view in) {
          std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
          left -= take;
          return take;
        },
        [&] { return left == 0; }, []() -> asio::awaitable<bool> { co_return true; });
  } else {
    if (auto st = bdat_->begin_chunk(b.size, b.last); !st) {
      note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: BDAT after LAST"));
      co_return true;
    }
    smtp::LineSink sink = [this](std::string_view piece, bool continued) { add_content(piece, continued); };
    bool first = true;
    good = co_await pump(
        [&](std::string_view in) {
          if (!first && in.empty()) return std::size_t{0};
          first = false;
          std::size_t used = bdat_->feed(in, sink);
          if (s_.message_size_limit > 0 && bdat_->message_bytes() > s_.message_size_limit) {
            content_overflow_ = true;
            content_.clear();
          }
          return used;
        },
        [&] { return bdat_->chunk_remaining() == 0 && (!b.last || bdat_->done()); },
        [&]() { return push_content(false); });
  }
  if (!good) {
    co_await lost_connection(fmt::format("BDAT ({} bytes)", data_bytes_));
    co_return false;
  }
  std::size_t pending = 0;
  if (smtp::improper_pipelining(cmd, pipelining_, 1)) {  // see run(): FIONREAD only when it matters
    error_code ec;
    pending = reader_.buffered();
    if (pending == 0) pending = sock_.available(ec);
  }
  if (smtp::improper_pipelining(cmd, pipelining_, pending)) {
    if (!pipelining_logged_) {
      std::string peek = reader_.take_buffered();
      log::info("improper command pipelining after BDAT from {}: {}", peer(), smtp::escape_for_log(peek));
      reader_.feed(peek);
      pipelining_logged_ = true;
    }
    unauth_pipelining_ = true;
    if (s_.forbid_unauth_pipelining) {
      note(Problem::kProtocol);
      co_await reply(smtp::sync_error_reply());
      co_return false;
    }
  }
  if (err) {
    if (b.last) reset_transaction();
    co_await reply(*err);
    co_return true;
  }
  if (content_overflow_ && !bdat_error_) {
    bdat_error_ = smtp::Reply(552, "5.3.4", "Error: message file too big");
    note(Problem::kBounce);
    log::info("{}: reject: BDAT from {}: {}; from=<{}> proto={} helo=<{}>", queue_id_or_noqueue(), peer(),
              bdat_error_->to_string(), str::printable(mail_->sender.to_internal()), esmtp_ ? "ESMTP" : "SMTP",
              str::printable(helo_));
    smtp::Reply r = *bdat_error_;
    if (b.last) reset_transaction();
    co_await reply(r);
    co_return true;
  }
  if (!b.last) {
    co_await reply(smtp::Reply(250, "2.0.0", fmt::format("Ok: {} bytes", b.size)));
    co_return true;
  }
  last_cmd_ = "END-OF-MESSAGE";
  message_bytes_ = bdat_->message_bytes();
  if (bdat_->rejects(s_.bare_newline) && !bare_newline_exempt_) {
    smtp::Reply r = smtp::bare_newline_reply(s_.bare_newline_code, s_.myhostname);
    note(Problem::kProtocol);
    reset_transaction();
    co_await reply(r);
    co_return s_.bare_newline_code != 521;
  }
  smtp::Reply r = co_await finish_message();
  // The answer first: closing the cleanup connection (and its epoll
  // registration) need not delay it. Nothing reads the client in between.
  co_await reply(r);
  reset_transaction();
  co_await start_early_prefetch(r.code);
  co_return true;
}

asio::awaitable<void> Session::do_vrfy(const smtp::Command& cmd) {
  if (s_.disable_vrfy) {
    note(Problem::kPolicy);
    co_await reply(smtp::Reply(502, "5.5.1", "VRFY command is disabled"));
    co_return;
  }
  if (co_await tls_required()) co_return;
  std::string text = cmd.argument().text;
  std::string_view path = text;
  if (path.size() >= 2 && path.front() == '<' && path.back() == '>') path = path.substr(1, path.size() - 2);
  mail::PathOptions po;
  po.smtputf8 = cmd.argument().smtputf8;
  bool unicode = false;
  auto addr = parse_client_path(path, po, s_.strict_smtputf8, unicode);
  if (unicode) {
    note(Problem::kProtocol);
    co_await reply(unicode_refusal());
    co_return;
  }
  if (!addr) {
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.1.3", "Bad recipient address syntax"));
    co_return;
  }
  RcptContext c = restriction_context();
  c.unauth_pipelining = false;
  c.recipient = &*addr;
  c.recipient_text = path;
  std::optional<smtp::Reply> bad = co_await resolve_recipient(*addr, path, c);
  if (bad) {
    log_reject("VRFY", *bad, addr->to_internal());
    co_await reply(*bad);
    co_return;
  }
  Verdict v = sh_.policy->check_unlisted(c);
  if (v.kind == Verdict::Reject) {
    log_reject("VRFY", v.reply, addr->to_internal());
    note(v.problem);
    co_await reply(v.reply);
    co_return;
  }
  co_await reply(smtp::Reply(252, "2.0.0", text));
}

// Postfix's smtpd asks trivial-rewrite's resolve for every recipient
// (smtpd_check_addr), so smtpd and the queue manager always agree on the
// address class; the restrictions then use that class.
asio::awaitable<std::optional<smtp::Reply>> Session::resolve_recipient(const mail::Address& a,
                                                                       std::string_view text, RcptContext& c) {
  namespace rf = ipc::proto::resolve_flag;
  std::string internal = a.to_internal();
  std::string shown(text);  // copied: `text` may not outlive a suspension
  if (!sh_.rewrite) {
    note(Problem::kData);
    smtp::Reply r = temporary_lookup_failure(shown);
    co_return r;
  }
  // With the envelope sender, as Postfix's smtpd_resolve_addr(): the
  // sender-dependent tables see the real one ("" for <>, and before MAIL
  // FROM, which trivial-rewrite looks up as its null-sender key).
  std::string sender = mail_ ? mail_->sender.to_internal() : std::string();
  auto res = co_await sh_.rewrite->resolve(internal, sender);
  if (!res) {
    log::warning("{}: address resolver for {}: {}", peer(), str::printable(internal, 200), res.error().message);
    note(Problem::kData);
    smtp::Reply r = temporary_lookup_failure(shown);
    co_return r;
  }
  if (res->flags & rf::kFail) {
    log::warning("{}: address resolver for {}: lookup failed (try again later)", peer(),
                 str::printable(internal, 200));
    note(Problem::kData);
    smtp::Reply r = temporary_lookup_failure(shown);
    co_return r;
  }
  if (res->flags & rf::kError) {
    note(Problem::kProtocol);
    smtp::Reply r(501, "5.1.3", "Bad recipient address syntax");
    co_return r;
  }
  c.recipient_class = class_from_resolve_flags(res->flags);
  c.undeliverable = undeliverable_text(*res, "5.1.1");
  co_return std::nullopt;
}

// Postfix's client name: PTR, forward-confirmed (the resolver logs "hostname
// X does not resolve to address Y"), "unknown" otherwise. Bounded by the
// resolver's own timeouts (see kPeernameTryTimeout).
asio::awaitable<void> Session::lookup_client_name(const asio::ip::address& addr) {
  dns::ClientName cn = co_await sh_.dns->lookup_client_name(addr);
  if (cn.name_status == dns::Outcome::Ok && !cn.name.empty()) client_name_ = cn.name;
  name_status_ = cn.name_status;
  reverse_status_ = cn.reverse_status;
  if (cn.reverse_status == dns::Outcome::Ok && !cn.reverse_name.empty()) reverse_client_name_ = cn.reverse_name;
}

asio::awaitable<void> Session::resolve_sender() {
  if (!sh_.policy->wants_sender_class() || mail_->sender_resolved || mail_->sender.is_null() || !sh_.rewrite)
    co_return;
  mail_->sender_resolved = true;
  std::string internal = mail_->sender.to_internal();
  auto res = co_await sh_.rewrite->resolve(internal);
  // A failed lookup leaves the class to classify() (main.cf alone).
  if (res && !(res->flags & (ipc::proto::resolve_flag::kFail | ipc::proto::resolve_flag::kError))) {
    mail_->sender_class = class_from_resolve_flags(res->flags);
    mail_->sender_undeliverable = undeliverable_text(*res, "5.1.0");
  }
}

asio::awaitable<smtp::Reply> Session::greeting() {
  smtp::Reply banner(220, "", s_.banner);
  if (sh_.policy->delay_reject()) co_return banner;
  defer_client_.reset();
  if (sh_.policy->has_client_restrictions()) {
    Verdict v = co_await early_checks("CONNECT", defer_client_);
    take_actions(v, "CONNECT", "");
    if (v.kind == Verdict::Reject) {
      access_denied_ = true;
      note(v.problem);
      co_return v.reply;
    }
  }
  defer_helo_ = defer_client_;
  co_return banner;
}

asio::awaitable<Verdict> Session::early_checks(std::string_view stage, std::optional<smtp::Reply>& pending) {
  std::string stage_name(stage);  // `stage` may not outlive a suspension
  const bool mail = stage_name == "MAIL";
  RcptContext c = mail ? transaction_context() : restriction_context();
  c.protocol_state = stage_name;
  c.protocol_name = esmtp_ ? "ESMTP" : "SMTP";
  c.client_port = client_port_;
  c.instance = instance_;
  const std::optional<smtp::Reply> earlier = stage_name == "CONNECT" ? std::nullopt
                                             : mail                   ? defer_helo_
                                                                      : defer_client_;
  if (earlier) c.earlier_defer_if_permit = &*earlier;
  c.hold = hold_;
  co_await look_up_mailhosts(c);
  Verdict v = co_await run_checks(c, stage_name == "CONNECT" ? &Policy::check_client
                                     : mail                  ? &Policy::check_sender
                                                             : &Policy::check_helo);
  pending = v.defer_if_permit;
  if (v.kind == Verdict::Reject) log_reject(stage_name, v.reply, "");
  co_return v;
}

void Session::take_actions(const Verdict& v, std::string_view stage, std::string_view to) {
  for (const auto& n : v.notes)
    log_action(n.action, stage, n.reply && s_.soft_bounce ? smtp::soften(*n.reply).to_string() : n.text, to);
  hold_ = hold_ || v.hold;
  discard_ = discard_ || v.discard;
  add_prepends(v.prepend);
  for (const auto& b : v.bcc)
    if (bcc_.size() < kMaxPrependHeaders && std::find(bcc_.begin(), bcc_.end(), b) == bcc_.end()) bcc_.push_back(b);
  if (v.filter) filter_ = v.filter;
  if (v.redirect) redirect_ = v.redirect;
}

asio::awaitable<std::optional<smtp::Reply>> Session::data_refusal(std::string_view stage, bool end) {
  if (discard_ || !(end ? sh_.policy->has_end_of_data_restrictions() : sh_.policy->has_data_restrictions()))
    co_return std::nullopt;
  RcptContext c = transaction_context();
  c.protocol_state = end ? "END-OF-MESSAGE" : "DATA";
  // Postfix judges the recipient at DATA only when there is exactly one.
  if (rcpt_count_ == 1 && first_rcpt_) {
    c.recipient = &*first_rcpt_;
    c.recipient_text = first_rcpt_text_;
    c.recipient_class = first_rcpt_class_;
  }
  // At the end, the size of what arrived (Postfix's too).
  if (end) c.size = message_bytes_;
  c.hold = hold_;
  std::string stage_name(stage);  // `stage` may not outlive a suspension
  Verdict v = co_await run_checks(c, end ? &Policy::check_end_of_data : &Policy::check_data);
  const std::string to = rcpt_count_ == 1 && first_rcpt_ ? first_rcpt_->to_internal() : std::string();
  take_actions(v, stage_name, to);
  if (v.kind != Verdict::Reject) co_return std::nullopt;
  log_reject(stage_name, v.reply, to);
  note(v.problem);
  co_return v.reply;
}

// The restrictions of one command, with the DNS list lookups they ask for
// (Verdict::need) and the policy server answers done in between. Each pass
// either decides or adds one answer; past the lookup limit or time budget
// (or without a resolver) a needed name counts as not listed, so the loop
// ends.
asio::awaitable<Verdict> Session::run_checks(RcptContext& c, Verdict (Policy::*check)(const RcptContext&)) {
  if (dnsbl_.size() > 1000) dnsbl_.clear();  // a long session's cache stays small
  c.dnsbl = &dnsbl_;
  std::map<std::string, std::string, std::less<>> policy_answers;  // for this recipient only
  c.policy_answers = &policy_answers;
  Verdict v = ((*sh_.policy).*check)(c);
  std::size_t lookups = 0;
  std::vector<std::string> unasked;  // names past the limits, counted as not listed
  auto until = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(s_.timeout, kDnsblBudget);
  while (v.need || v.policy_need) {
    if (v.policy_need) {
      // One answer per server and recipient; a server that gives none gets
      // its default_action (the client logged why).
      auto pn = std::move(*v.policy_need);
      std::string action = pn.server->default_action;
      if (sh_.policy_servers) {
        auto r = co_await sh_.policy_servers->query(*pn.server, std::move(pn.request));
        if (r) action = std::move(*r);
      }
      policy_answers[pn.server->text] = std::move(action);
      v = ((*sh_.policy).*check)(c);
      continue;
    }
    dnsbl::Need need = std::move(*v.need);
    const std::string key = need.key();
    dnsbl::Answer& a = dnsbl_[key];
    bool may = sh_.dns && lookups++ < dnsbl::kMaxLookupsPerCommand && std::chrono::steady_clock::now() < until;
    if (!may) unasked.push_back(key);
    switch (need.type) {
      case dnsbl::Need::kListed:
        a.outcome = dns::Outcome::TempFail;
        if (may) {
          auto r = co_await sh_.dns->lookup_addresses(need.name, dns::Families::Ipv4);
          a.outcome = r.outcome;
          a.addrs = std::move(r.records);
          // Postfix's words, which log watchers know. Not found is no error,
          // and a name too long for the DNS (the client's doing) not worth a line.
          if (r.outcome == dns::Outcome::TempFail)
            log::warning("{}: RBL lookup error: {}", str::printable(need.name, 300), r.detail);
        }
        break;
      case dnsbl::Need::kTxt:
        a.reason = "";
        if (may) {
          auto r = co_await sh_.dns->lookup_txt(need.name);
          if (r.ok()) a.reason = dnsbl::join_reasons(r.records);
        }
        break;
      case dnsbl::Need::kMx:
      case dnsbl::Need::kNs: {
        // Not found (no such name, no records) is an answer the policy
        // uses (an implicit MX, the parent's NS); other failures are logged
        // here, once per session, in Postfix's words.
        const bool mx = need.type == dnsbl::Need::kMx;
        a.outcome = dns::Outcome::TempFail;
        std::string detail;
        if (may) {
          if (mx) {
            auto r = co_await sh_.dns->lookup_mx(need.name);
            a.outcome = r.outcome;
            for (auto& rec : r.records) a.hosts.push_back(std::move(rec.host));
            detail = std::move(r.detail);
          } else {
            auto r = co_await sh_.dns->lookup_ns(need.name);
            a.outcome = r.outcome;
            a.hosts = std::move(r.records);
            detail = std::move(r.detail);
          }
        }
        // (A lookup skipped for the per-command limits counts as not
        // found, silently, as a DNS list name does.)
        if (may && a.outcome != dns::Outcome::Ok && a.outcome != dns::Outcome::NotFound &&
            a.outcome != dns::Outcome::NoData && a.outcome != dns::Outcome::NullMx)
          log::warning("Unable to look up {} host for {}: {}", mx ? "MX" : "NS", str::printable(need.name, 300),
                       detail);
        break;
      }
      case dnsbl::Need::kAddresses: {
        a.outcome = dns::Outcome::TempFail;
        std::string detail;
        if (may) {
          auto r = co_await sh_.dns->lookup_addresses(need.name, dns::Families::All);
          a.outcome = r.outcome;
          a.addrs = std::move(r.records);
          detail = std::move(r.detail);
        }
        if (may && a.outcome != dns::Outcome::Ok && !need.context.empty())
          log::warning("Unable to look up {}: {}", need.context, detail);
        break;
      }
    }
    v = ((*sh_.policy).*check)(c);
  }
  // What this command could not ask is not an answer for the next one.
  for (const auto& name : unasked) dnsbl_.erase(name);
  co_return v;
}

// XFORWARD and XCLIENT: from an authorized client, between transactions
// (Postfix's replies). False: refused, and answered.
asio::awaitable<bool> Session::identity_command_allowed(bool authorized) {
  if (!authorized) {
    ++error_count_;
    note(Problem::kPolicy);
    co_await reply(smtp::Reply(550, "5.7.0", "Error: insufficient authorization"));
    co_return false;
  }
  if (mail_) {
    ++error_count_;
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(503, "5.5.1", "Error: MAIL transaction in progress"));
    co_return false;
  }
  co_return true;
}

// An XFORWARD or XCLIENT value as it may be logged and passed on:
// printable ASCII without blanks or header specials, as Postfix's neuter().
std::string neuter(std::string v) {
  for (auto& c : v)
    if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == '"' || c == ',' || c == ';' ||
        c == '[' || c == ']' || c == '\\')
      c = '?';
  return v;
}

// XFORWARD (Postfix's XFORWARD_README): only from
// smtpd_authorized_xforward_hosts, only between transactions. The first one
// after a transaction starts from "all unavailable"; each names attributes
// to set, [UNAVAILABLE] erases one. Checked as Postfix checks them: a bad
// address, port, protocol or source is refused (501), an invalid host
// name becomes "unknown".
asio::awaitable<void> Session::do_xforward(const smtp::Command& cmd) {
  if (!co_await identity_command_allowed(xforward_ok_)) co_return;
  Forwarded next = xforward_.active ? xforward_ : Forwarded{};
  next.active = true;
  auto bad = [&](std::string_view what) -> asio::awaitable<void> {
    ++error_count_;
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.5.4", std::string(what)));
  };
  for (const auto& [name, value] : cmd.attributes().items) {
    if (value.size() > 255) {
      co_await bad(fmt::format("Bad {} syntax: too long", name));
      co_return;
    }
    const bool unavailable = str::iequals(value, "[UNAVAILABLE]") || str::iequals(value, "[TEMPUNAVAIL]");
    std::optional<std::string> v;
    if (name == "NAME") {
      if (!unavailable)
        v = mail::is_valid_hostname(value) ? str::lower(value) : std::string("unknown");
      next.name = v;
    } else if (name == "ADDR") {
      if (!unavailable) {
        std::string_view a = value;
        if (a.size() > 5 && str::iequals(a.substr(0, 5), "IPv6:")) a.remove_prefix(5);
        error_code ec;
        auto ip = asio::ip::make_address(a, ec);
        if (ec) {
          co_await bad(fmt::format("Bad ADDR syntax: {}", str::printable(value, 100)));
          co_return;
        }
        v = ip.to_string();
      }
      next.addr = v;
    } else if (name == "PORT") {
      if (!unavailable) {
        auto n = str::parse_uint(value);
        if (!n || *n > 65535) {
          co_await bad(fmt::format("Bad PORT syntax: {}", str::printable(value, 100)));
          co_return;
        }
        v = std::to_string(*n);
      }
      next.port = v;
    } else if (name == "PROTO") {
      if (!unavailable) {
        if (value.empty() || value.size() > 64 || neuter(value) != value) {
          co_await bad(fmt::format("Bad PROTO syntax: {}", str::printable(value, 100)));
          co_return;
        }
        v = value;
      }
      next.proto = v;
    } else if (name == "HELO") {
      if (!unavailable) v = neuter(value);
      next.helo = v;
    } else if (name == "SOURCE") {
      if (!unavailable) {
        if (!str::iequals(value, "LOCAL") && !str::iequals(value, "REMOTE")) {
          co_await bad(fmt::format("Bad SOURCE syntax: {}", str::printable(value, 100)));
          co_return;
        }
        v = str::iequals(value, "LOCAL") ? "LOCAL" : "REMOTE";
      }
      next.source = v;
    } else if (name == "IDENT") {
      if (!unavailable) v = neuter(value);
      next.ident = v;
    } else {
      co_await bad(fmt::format("Bad XFORWARD attribute name: {}", str::printable(name, 100)));
      co_return;
    }
  }
  xforward_ = std::move(next);
  co_await reply(smtp::Reply(250, "2.0.0", "Ok"));
}

// --- smtpd_proxy_filter (proxy.h) ---------------------------------------------

smtp::Reply Session::proxy_failure(std::string_view stage, std::string_view why) {
  log::warning("{}: proxy filter {}: {}: {}", queue_id_or_noqueue(), s_.proxy.endpoint, stage, str::printable(why, 200));
  note(Problem::kSoftware);
  if (proxy_) {
    proxy_in_data_ = true;  // whatever state it is in: no QUIT, just the end
    proxy_close();
  }
  // Postfix's words: a stranger learns nothing of the inside.
  return smtp::Reply(451, "4.3.0", "Error: queue file write error");
}

void Session::proxy_close() {
  if (!proxy_) return;
  std::shared_ptr<ProxyFilter> p(std::move(proxy_));
  if (proxy_in_data_) {
    // In the middle of the content a QUIT would be content: the filter
    // sees the connection end and drops the message.
    proxy_in_data_ = false;
    p->abandon();
    return;
  }
  asio::co_spawn(
      ctx_.io(), [p]() -> asio::awaitable<void> { co_await p->quit(); }, asio::detached);
}

// After smtpd's own MAIL FROM checks: connect, XFORWARD, and the client's
// command as it came; the filter's answer is the client's.
asio::awaitable<void> Session::proxy_mail() {
  auto opened = co_await ProxyFilter::open(ctx_.io(), s_.proxy);
  if (!opened) {
    smtp::Reply r = proxy_failure("connect", opened.error().message);
    reset_transaction();
    co_await reply(r);
    co_return;
  }
  proxy_ = std::move(*opened);
  XforwardClient xc;
  if (client_name_ != "unknown") xc.name = client_name_;  // else [UNAVAILABLE]
  if (client_addr_ != "unknown") xc.addr = client_addr_;
  if (client_port_ != "unknown") xc.port = client_port_;
  xc.proto = esmtp_ ? "ESMTP" : "SMTP";
  xc.helo = helo_;
  for (const auto& x : proxy_xforward_commands(xc, proxy_->xforward())) {
    auto r = co_await proxy_->command(x);
    if (!r || r->klass() != 2) {
      smtp::Reply failed = proxy_failure("XFORWARD", r ? r->to_string() : r.error().message);
      reset_transaction();
      co_await reply(failed);
      co_return;
    }
  }
  const std::string line = command_line_;
  auto r = co_await proxy_->command(line);
  if (!r) {
    smtp::Reply failed = proxy_failure("MAIL FROM", r.error().message);
    reset_transaction();
    co_await reply(failed);
    co_return;
  }
  if (r->klass() != 2) {
    log_action("proxy-reject", "MAIL", r->to_string(), "");
    note(Problem::kPolicy);
    reset_transaction();
  }
  co_await reply(*r);
}

asio::awaitable<void> Session::proxy_rcpt(const mail::Address& addr, const smtp::RcptTo& r, const RcptContext& c) {
  if (!proxy_) {  // it failed earlier in this transaction
    note(Problem::kResource);
    co_await reply(smtp::Reply(451, "4.3.0", "Error: queue file write error"));
    co_return;
  }
  const std::string line = command_line_;
  auto pr = co_await proxy_->command(line);
  if (!pr) {
    smtp::Reply failed = proxy_failure("RCPT TO", pr.error().message);
    co_await reply(failed);
    co_return;
  }
  if (pr->klass() != 2) {
    log_action("proxy-reject", "RCPT", pr->to_string(), addr.to_internal());
    note(Problem::kPolicy);
    co_await reply(*pr);
    co_return;
  }
  if (rcpt_count_ == 0) {
    first_rcpt_ = addr;
    first_rcpt_text_ = r.path.text;
    first_rcpt_class_ = c.recipient_class;
  }
  rcpt_count_++;
  co_await reply(*pr);
}

asio::awaitable<std::optional<smtp::Reply>> Session::proxy_data(smtp::Reply& go_ahead) {
  const std::string data = "DATA";
  auto pr = co_await proxy_->command(data);
  if (!pr) co_return proxy_failure("DATA", pr.error().message);
  if (pr->code != 354) {
    log_action("proxy-reject", "DATA", pr->to_string(), "");
    note(Problem::kPolicy);
    proxy_close();
    co_return *pr;
  }
  proxy_in_data_ = true;
  go_ahead = *pr;
  co_return std::nullopt;
}

// The end of the content: smtpd's own end-of-data verdict first (a refusal
// leaves the filter without the dot, so it drops the message), then the
// filter's, logged in Postfix's shape ("NOQUEUE: proxy-accept:
// END-OF-MESSAGE from host[addr]: 250 ...; from=<s> to=<r> ...").
asio::awaitable<smtp::Reply> Session::proxy_finish() {
  if (content_overflow_) {
    note(Problem::kBounce);
    smtp::Reply r(552, "5.3.4", "Error: message file too big");
    log_reject(bdat_active_ ? "BDAT" : "DATA", r, "");
    co_return r;  // the caller resets, which drops the filter's connection
  }
  std::optional<smtp::Reply> refused = co_await data_refusal("END-OF-MESSAGE", true);
  if (refused) co_return *refused;
  if (content_failed_ || !proxy_) co_return smtp::Reply(451, "4.3.0", "Error: queue file write error");
  if (discard_) co_return smtp::Reply(250, "2.0.0", "Ok");  // the filter never gets the dot
  // What needs a queue file of this smtpd's own cannot travel over SMTP:
  // the after-filter smtpd's tables may do it.
  if (hold_ || filter_ || redirect_ || !bcc_.empty())
    log::warning("{}: HOLD, FILTER, REDIRECT and BCC actions do not apply with smtpd_proxy_filter",
                 queue_id_or_noqueue());
  auto pr = co_await proxy_->end();
  proxy_in_data_ = false;
  if (!pr) co_return proxy_failure("END-OF-MESSAGE", pr.error().message);
  const std::string to = first_rcpt_ ? first_rcpt_->to_internal() : std::string();
  if (pr->klass() == 2) {
    junk_count_ = 0;
    log_action("proxy-accept", "END-OF-MESSAGE", pr->to_string(), rcpt_count_ == 1 ? to : std::string());
  } else {
    note(Problem::kPolicy);
    log_action("proxy-reject", "END-OF-MESSAGE", pr->to_string(), rcpt_count_ == 1 ? to : std::string());
  }
  co_return *pr;
}

void Session::classify_client() {
  auto mn = sh_.policy->in_mynetworks(client_addr_);
  in_mynetworks_ = mn && *mn;
  bare_newline_exempt_ = false;
  if (sh_.bare_newline_exclusions) {
    auto ex = sh_.bare_newline_exclusions->contains(client_addr_);
    bare_newline_exempt_ = ex && *ex;
  }
}

// XCLIENT (Postfix's XCLIENT_README): only from
// smtpd_authorized_xclient_hosts, only between transactions. All the
// attributes are checked before any is taken (a bad one changes nothing);
// then the session starts again at its greeting with the new identity:
// no HELO, no AUTH, no transaction - except what the command itself set
// (HELO, PROTO, LOGIN) - and the client restrictions judged again with
// smtpd_delay_reject = no. TLS stays. The real client keeps the
// connection's anvil count and its right to send XCLIENT again.
asio::awaitable<void> Session::do_xclient(const smtp::Command& cmd) {
  if (!co_await identity_command_allowed(xclient_ok_)) co_return;
  // [UNAVAILABLE] and [TEMPUNAVAIL]: the attribute is not known (for names,
  // after a permanent or a temporary lookup failure).
  enum class Avail { kKnown, kUnavailable, kTempUnavailable };
  struct Value {
    Avail avail = Avail::kKnown;
    std::string text;
  };
  std::optional<Value> name, reverse, addr, port, proto, helo, login, destaddr, destport;
  auto bad = [&](std::string_view what, std::string_view value) -> asio::awaitable<void> {
    ++error_count_;
    note(Problem::kProtocol);
    co_await reply(smtp::Reply(501, "5.5.4", fmt::format("Bad {} syntax: {}", what, str::printable(value, 100))));
  };
  auto parse_ip = [](std::string_view a) -> std::optional<asio::ip::address> {
    if (a.size() > 5 && str::iequals(a.substr(0, 5), "IPv6:")) a.remove_prefix(5);
    error_code ec;
    auto ip = asio::ip::make_address(a, ec);
    if (ec) return std::nullopt;
    return ip;
  };
  for (const auto& [attr, value] : cmd.attributes().items) {
    Value v;
    if (str::iequals(value, "[UNAVAILABLE]")) v.avail = Avail::kUnavailable;
    else if (str::iequals(value, "[TEMPUNAVAIL]")) v.avail = Avail::kTempUnavailable;
    const bool known = v.avail == Avail::kKnown;
    if (known && value.size() > 255) {
      co_await bad(attr, "too long");
      co_return;
    }
    if (attr == "NAME" || attr == "REVERSE_NAME") {
      if (known && !mail::is_valid_hostname(value)) {
        co_await bad(attr, value);
        co_return;
      }
      if (known) v.text = str::lower(value);
      (attr == "NAME" ? name : reverse) = std::move(v);
    } else if (attr == "ADDR" || attr == "DESTADDR") {
      if (known) {
        auto ip = parse_ip(value);
        if (!ip) {
          co_await bad(attr, value);
          co_return;
        }
        v.text = ip->is_v6() && ip->to_v6().is_v4_mapped()
                     ? asio::ip::make_address_v4(asio::ip::v4_mapped, ip->to_v6()).to_string()
                     : ip->to_string();
      }
      (attr == "ADDR" ? addr : destaddr) = std::move(v);
    } else if (attr == "PORT" || attr == "DESTPORT") {
      if (known) {
        auto n = str::parse_uint(value);
        if (!n || *n > 65535) {
          co_await bad(attr, value);
          co_return;
        }
        v.text = std::to_string(*n);
      }
      (attr == "PORT" ? port : destport) = std::move(v);
    } else if (attr == "PROTO") {
      if (known && !str::iequals(value, "SMTP") && !str::iequals(value, "ESMTP")) {
        co_await bad(attr, value);
        co_return;
      }
      v.text = str::iequals(value, "ESMTP") ? "ESMTP" : "SMTP";
      proto = std::move(v);
    } else if (attr == "HELO") {
      if (known) v.text = neuter(value);
      helo = std::move(v);
    } else if (attr == "LOGIN") {
      if (known) v.text = neuter(value);
      login = std::move(v);
    } else {
      ++error_count_;
      note(Problem::kProtocol);
      co_await reply(
          smtp::Reply(501, "5.5.4", fmt::format("Bad XCLIENT attribute name: {}", str::printable(attr, 100))));
      co_return;
    }
  }

  // Back to the greeting: what the client said before is forgotten.
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  pipelining_ = false;
  sasl_username_.clear();
  sasl_method_.clear();
  access_denied_ = false;
  defer_client_.reset();
  defer_helo_.reset();
  defer_sender_.reset();
  dnsbl_.clear();
  auto status_of = [](Avail a) { return a == Avail::kTempUnavailable ? dns::Outcome::TempFail : dns::Outcome::NotFound; };
  if (addr) {
    client_addr_ = addr->avail == Avail::kKnown ? addr->text : std::string("unknown");
    error_code ec;
    client_ip_ = addr->avail == Avail::kKnown ? asio::ip::make_address(addr->text, ec) : asio::ip::address();
  }
  if (port) client_port_ = port->avail == Avail::kKnown ? port->text : std::string("unknown");
  if (name) {
    client_name_ = name->avail == Avail::kKnown ? name->text : std::string("unknown");
    name_status_ = name->avail == Avail::kKnown ? dns::Outcome::Ok : status_of(name->avail);
    // A NAME without REVERSE_NAME stands for both (Postfix).
    if (!reverse) {
      reverse_client_name_ = client_name_;
      reverse_status_ = name_status_;
    }
  }
  if (reverse) {
    reverse_client_name_ = reverse->avail == Avail::kKnown ? reverse->text : std::string("unknown");
    reverse_status_ = reverse->avail == Avail::kKnown ? dns::Outcome::Ok : status_of(reverse->avail);
  }
  if (helo && helo->avail == Avail::kKnown) helo_ = helo->text;
  if (proto && proto->avail == Avail::kKnown) esmtp_ = proto->text == "ESMTP";
  if (login && login->avail == Avail::kKnown && !login->text.empty()) {
    sasl_username_ = login->text;
    sasl_method_ = "XCLIENT";
  }
  if (destaddr) server_addr_ = destaddr->avail == Avail::kKnown ? std::optional(destaddr->text) : std::nullopt;
  if (destport) server_port_ = destport->avail == Avail::kKnown ? std::optional(destport->text) : std::nullopt;
  classify_client();
  smtp::Reply hello = co_await greeting();
  co_await reply(hello);
}

void Session::reset_transaction() {
  mail_.reset();
  proxy_close();
  xforward_ = Forwarded{};
  rcpt_count_ = 0;
  rcpt_attempts_ = 0;
  hold_ = false;
  discard_ = false;
  prepend_.clear();
  prepend_bytes_ = 0;
  prepend_full_ = false;
  bcc_.clear();
  filter_.reset();
  redirect_.reset();
  first_rcpt_.reset();
  cleanup_.reset();  // closing the connection makes cleanup remove the unfinished file
  prefetch_.reset();  // likewise once its open completes
  cleanup_failed_ = false;
  content_.clear();
  content_overflow_ = false;
  content_failed_ = false;
  bdat_active_ = false;
  bdat_.reset();
  bdat_error_.reset();
}

}  // namespace

Status load_tls(Shared& shared) {
  const tls::Settings& t = shared.settings.tls;
  if (!t.warning.empty()) log::warning("{}", t.warning);
  if (!t.enabled()) return {};
  const bool required = t.level == tls::Level::kEncrypt || t.wrappermode;
  if (!t.has_certificates()) {
    if (required) return make_error("No server certs available. TLS can't be enabled");
    log::warning("No server certs available. TLS won't be enabled");
    return {};
  }
  auto c = tls::Context::load(t, tls::Side::kServer);
  if (!c) {
    if (required) return make_error("TLS can't be enabled: {}", c.error().message);
    log::warning("TLS won't be enabled: {}", c.error().message);
    return {};
  }
  shared.tls = std::move(*c);
  return {};
}

void start_clients(asio::io_context& io, Shared& shared) {
  const Settings& s = shared.settings;
  rewrite::Options ro;
  // Postfix bounds internal channels by ipc_timeout; an SMTP client should
  // not wait longer for one recipient than smtpd_timeout either.
  ro.timeout = std::min<std::chrono::milliseconds>(s.ipc_timeout, s.timeout);
  ro.idle = s.ipc_idle;
  shared.rewrite = std::make_unique<rewrite::AsyncClient>(io, s.rewrite_socket, ro);
  // Also for reject_unknown_*_domain, reject_unknown_helo_hostname and DNS lists,
  // whatever smtpd_peername_lookup says.
  if (s.peername_lookup ||
      (shared.policy && (shared.policy->wants_mailhost_lookup(true) || shared.policy->wants_mailhost_lookup(false) ||
                         shared.policy->wants_helo_lookup() || shared.policy->wants_dnsbl() ||
                         shared.policy->wants_mx_backup()))) {
    dns::ResolverOptions o;
    o.servers = s.dns_resolver_address;
    o.timeout = kPeernameTryTimeout;
    o.tries = 2;
    auto r = dns::Resolver::create(io, o);
    if (r)
      shared.dns = std::make_unique<dns::Resolver>(std::move(*r));
    else
      log::warning("DNS resolver: {}: client names will be \"unknown\"", r.error().message);
  }
  if (shared.policy && shared.policy->wants_policy_service())
    shared.policy_servers = std::make_unique<PolicyClients>(io);
  // One anvil connection per process, and none when no limit is set. anvil
  // answers from memory: one that needs more than kAnvilTimeout is broken
  // (say master.cf names a missing program), and the client waiting for it
  // is better served without limits.
  if (s.connection_count_limit > 0 || s.connection_rate_limit > 0 || s.message_rate_limit > 0 ||
      s.recipient_rate_limit > 0 || s.auth_rate_limit > 0 || s.new_tls_rate_limit > 0) {
    auto t = std::min<std::chrono::milliseconds>({s.ipc_timeout, s.timeout, kAnvilTimeout});
    shared.anvil = std::make_unique<AnvilClient>(io, s.anvil_socket, t);
  }
  // Idle connections to cleanup close after ipc_idle, as Postfix's clients
  // of internal services do, so that cleanup processes can retire.
  shared.cleanup = std::make_unique<submit::CleanupConnections>(io, s.ipc_idle, kKeptCleanupConnections);
  // Their sockets belong to the skeleton's io_context: drop them when it goes.
  aio::at_io_shutdown(io, [&shared] {
    shared.cleanup.reset();
    shared.rewrite.reset();
    shared.dns.reset();
    shared.anvil.reset();
  });
}

asio::awaitable<void> serve_session(server::Context& ctx, Shared& shared, server::Socket sock) {
  auto session = std::make_unique<Session>(ctx, shared, std::move(sock));
  co_await session->run();
}

}  // namespace postern::smtpd
