// session.cpp - one QMQP client; see session.h.
#include "qmqpd/session.h"

#include <sys/socket.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "base/strings.h"
#include "ipc/async_stream.h"
#include "log/log.h"
#include "mail/address.h"
#include "mail/received.h"
#include "server/peer.h"
#include "qmqpd/packet.h"
#include "submit/cleanup_client.h"
#include "submit/cleanup_proto.h"

namespace postern::qmqpd {

namespace {

// One read from the client at most (the request is parsed as it arrives).
constexpr std::size_t kReadSize = 64 * 1024;

struct Peer {
  std::string name = "unknown";
  std::string addr = "unknown";  // "192.0.2.1", "2001:db8::1"
  std::string port = "unknown";
  std::optional<asio::ip::address> ip;
};

Peer peer_of(server::Socket& sock) {
  Peer p;
  auto a = server::peer_of(sock);
  if (a.unix_domain) {
    // A local (Unix-domain) client, as in a "qmqp unix ... qmqpd" service
    // that a content filter reinjects into: Postfix names it so.
    p.name = "localhost";
    p.addr = "127.0.0.1";
    p.port = "0";
  } else if (a.ip) {
    p.addr = std::move(a.addr);
    p.port = std::move(a.port);
    p.ip = a.ip;
  }
  return p;
}

// The reply to a cleanup verdict that is not "queued".
std::pair<char, std::string> refusal(const submit::CleanupResult& r) {
  std::string text = r.reason.rfind("Error", 0) == 0 ? r.reason : "Error: " + r.reason;
  return {r.status >= 500 ? 'D' : 'Z', std::move(text)};
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\0' || c == '\r' || c == '\n'; });
}

class Session {
 public:
  Session(server::Context& ctx, Shared& sh, server::Socket sock)
      : ctx_(ctx), sh_(sh), s_(sh.settings), sock_(std::move(sock)) {}

  asio::awaitable<void> run();

 private:
  asio::awaitable<void> look_up_name();
  asio::awaitable<void> receive();
  // Reads more of the request into the reader; false at end of file, a
  // read error or the timeout (reason_ says which).
  asio::awaitable<bool> read_more();
  // Every argument a named object: GCC 12 destroys temporaries inside a
  // co_await expression twice (docs/coding.md).
  asio::awaitable<void> send_reply(char status, const std::string& text, bool log_it);

  server::Context& ctx_;
  Shared& sh_;
  const Settings& s_;
  server::Socket sock_;
  Peer peer_;
  std::string namaddr_;
  std::string queue_id_;
  const char* reason_ = nullptr;  // why the request ended early
  std::unique_ptr<PacketReader> reader_;
};

asio::awaitable<void> Session::look_up_name() {
  if (!peer_.ip) co_return;
  if (sh_.hosts) {
    if (auto n = sh_.hosts->name_of(peer_.addr)) {
      peer_.name = *n;
      co_return;
    }
  }
  if (sh_.dns) {
    dns::ClientName cn = co_await sh_.dns->lookup_client_name(*peer_.ip);
    if (cn.name_status == dns::Outcome::Ok && !cn.name.empty()) peer_.name = cn.name;
  }
  // The resolver reads no hosts file; the loopback has a name all the same.
  if (peer_.name == "unknown" && peer_.ip->is_loopback()) peer_.name = "localhost";
}

asio::awaitable<void> Session::run() {
  peer_ = peer_of(sock_);
  co_await look_up_name();
  namaddr_ = peer_.name + "[" + peer_.addr + "]";
  if (s_.port_logging) namaddr_ += ":" + peer_.port;
  log::info("connect from {}", namaddr_);
  auto ok = sh_.authorized.match_host(peer_.name, peer_.addr);
  if (!ok) {
    log::warning("qmqpd_authorized_clients: {}", ok.error().message);
    const std::string text = "Error: temporary lookup failure";
    co_await send_reply('Z', text, false);
  } else if (!*ok) {
    const std::string text = "Error: " + namaddr_ + " is not authorized to use this service";
    co_await send_reply('D', text, false);
  } else {
    co_await receive();
  }
  log::info("disconnect from {}", namaddr_);
}

asio::awaitable<bool> Session::read_more() {
  auto buf = std::make_unique_for_overwrite<char[]>(kReadSize);
  ipc::detail::Watchdog<server::Socket> dog(sock_, s_.timeout);
  error_code ec;
  std::size_t n =
      co_await sock_.async_read_some(asio::buffer(buf.get(), kReadSize), asio::redirect_error(asio::use_awaitable, ec));
  if (dog.fired()) {
    reason_ = "read/write timeout";
    co_return false;
  }
  if (ec || n == 0) {
    reason_ = "lost connection";
    co_return false;
  }
  reader_->feed(std::string_view(buf.get(), n));
  co_return true;
}

asio::awaitable<void> Session::send_reply(char status, const std::string& text, bool log_it) {
  if (status == 'D' && s_.soft_bounce) status = 'Z';
  if (log_it) {
    if (status == 'K')
      log::info("{}: {}: {}", queue_id_, namaddr_, str::printable(text));
    else
      log::warning("{}: {}: {}", queue_id_, namaddr_, str::printable(text));
  }
  // A pause before any refusal slows a client that has run away.
  if (status != 'K' && s_.error_delay.count() > 0) {
    asio::steady_timer t(ctx_.io(), s_.error_delay);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::string out = reply(status, text);
  ipc::detail::Watchdog<server::Socket> dog(sock_, s_.timeout);
  error_code ec;
  co_await asio::async_write(sock_, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Session::receive() {
  const std::time_t arrival = std::time(nullptr);
  // The queue file first, so that every later log line has its ID.
  std::string origin = namaddr_;
  auto opened = co_await submit::CleanupClient::open(ctx_.io(), s_.cleanup_socket, s_.receiving.cleanup_flags, origin,
                                                     s_.ipc_timeout);
  if (!opened) {
    log::warning("connect to cleanup service: {}", opened.error().message);
    const std::string text = "Error: queue file write error";
    co_await send_reply('Z', text, false);
    co_return;
  }
  submit::CleanupClient cleanup = std::move(*opened);
  queue_id_ = cleanup.queue_id();
  log::info("{}: client={}", queue_id_, namaddr_);

  PacketLimits limits;
  limits.message = s_.message_limit;
  limits.address = s_.address_limit;
  limits.packet = s_.message_limit + kRecipientBytes;
  reader_ = std::make_unique<PacketReader>(limits);

  std::string message;
  std::size_t recipients = 0;
  std::string only_recipient;
  bool sending = true;  // false once cleanup gave up or we refuse the message
  std::optional<std::pair<char, std::string>> refused;
  for (;;) {
    auto part = reader_->next();
    if (!part) {
      // Postfix replies to a broken request, and closes.
      const std::string text = part.error().message + " while " + std::string(reader_->where());
      log::info("{}: {}: {}", queue_id_, namaddr_, text);
      co_await send_reply('D', text, false);
      co_return;  // the cleanup connection closes: no file
    }
    if (*part == PacketReader::Part::kEnd) break;
    switch (*part) {
      case PacketReader::Part::kNeedMore:
        if (!co_await read_more()) {
          log::info("{}: {}: {} while {}", queue_id_, namaddr_, reason_, reader_->where());
          co_return;
        }
        break;
      case PacketReader::Part::kMessage:
        message = reader_->take_message();
        break;
      case PacketReader::Part::kSender: {
        const std::string& sender = reader_->address();
        if (has_control(sender)) {
          refused = {'D', "Error: malformed sender address"};
          sending = false;
        } else if (asks_for_verp(sender)) {
          refused = {'Z', "Error: VERP (a sender ending in \"-@[]\") is not supported by this server"};
          sending = false;
        } else {
          submit::CleanupEnvelope env;
          env.sender = sender;
          env.client_name = peer_.name;
          env.client_addr = peer_.addr;
          env.client_port = peer_.port;
          env.protocol = "QMQP";
          env.arrival_time = static_cast<std::int64_t>(arrival);
          if (!s_.receiving.content_filter.empty()) env.content_filter = s_.receiving.content_filter;
          if (!co_await cleanup.envelope(env)) sending = false;
        }
        break;
      }
      case PacketReader::Part::kRecipient: {
        ++recipients;
        std::string rcpt = reader_->address().empty() ? s_.empty_address_recipient : reader_->address();
        if (recipients == 1) only_recipient = rcpt;
        if (has_control(rcpt)) {
          if (!refused) refused = {'D', "Error: malformed recipient address"};
          sending = false;
        }
        if (sending) {
          submit::CleanupRecipient r;
          r.address = std::move(rcpt);
          if (!co_await cleanup.recipient(r)) sending = false;
        }
        break;
      }
      default:
        break;
    }
  }
  if (refused) {
    if (refused->first == 'Z') log::warning("{}: {}: {}", queue_id_, namaddr_, refused->second);
    co_await send_reply(refused->first, refused->second, refused->first != 'Z');
    co_return;  // the cleanup connection closes: no file
  }
  if (sending) {
    mail::ReceivedInfo ri;
    ri.client_name = peer_.name;
    ri.client_addr = peer_.addr;
    ri.protocol = mail::ReceivedProtocol::kQmqp;
    ri.myhostname = s_.myhostname;
    ri.mail_name = s_.mail_name;
    ri.queue_id = queue_id_;
    mail::Address one = mail::Address::from_internal(only_recipient);
    if (recipients == 1) ri.recipient = &one;
    ri.when = arrival;
    std::string head = mail::build_received(ri);
    head += '\n';
    if (!co_await cleanup.content(head)) sending = false;
    // Leading "From " lines become headers, one at a time (the client
    // buffers them into full frames).
    std::size_t pos = 0;
    for (auto ml = mailbox_line_at(message, pos); sending && ml; ml = mailbox_line_at(message, pos)) {
      std::string h = "X-Mailbox-Line: ";
      h += ml->line;
      h += '\n';
      if (!co_await cleanup.content(h)) sending = false;
      pos = ml->next;
    }
    const std::string_view rest = std::string_view(message).substr(pos);
    if (sending && needs_blank_line(rest)) {
      const std::string blank = "\n";
      if (!co_await cleanup.content(blank)) sending = false;
    }
    if (sending && !co_await cleanup.content(rest)) sending = false;
  }
  auto verdict = co_await cleanup.finish();
  if (!verdict) {
    log::warning("{}: cleanup: {}", queue_id_, verdict.error().message);
    const std::string text = "Error: queue file write error";
    co_await send_reply('Z', text, true);
  } else if (verdict->ok()) {
    const std::string text = "Ok: queued as " + (verdict->queue_id.empty() ? queue_id_ : verdict->queue_id);
    co_await send_reply('K', text, false);
  } else {
    const auto [status, text] = refusal(*verdict);
    co_await send_reply(status, text, true);
  }
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.timeout = cfg.time("qmqpd_timeout");
  s.error_delay = cfg.time("qmqpd_error_delay");
  s.ipc_timeout = cfg.time("ipc_timeout");
  s.port_logging = cfg.boolean("qmqpd_client_port_logging");
  s.soft_bounce = cfg.boolean("soft_bounce");
  std::int64_t limit = cfg.size("message_size_limit");
  s.message_limit = limit > 0 ? std::min<std::size_t>(static_cast<std::size_t>(limit), kUnlimitedMessageCap)
                              : kUnlimitedMessageCap;
  s.address_limit = std::min<std::size_t>(
      static_cast<std::size_t>(std::max<std::int64_t>(80, cfg.integer("line_length_limit"))),
      submit::kMaxAddressLength);
  s.empty_address_recipient = cfg.str("empty_address_recipient");
  s.myhostname = cfg.str("myhostname");
  s.mail_name = cfg.str("mail_name");
  auto rs = submit::receiving_settings(cfg, "qmqpd");
  if (!rs) return rs.take_error();
  s.receiving = std::move(*rs);
  s.dns_resolver_address = cfg.str("dns_resolver_address");
  return s;
}

Result<maps::MatchList> open_authorized_clients(const config::Config& cfg) {
  bool parent = false;
  for (const auto& f : cfg.list("parent_domain_matches_subdomains"))
    if (f == "qmqpd_authorized_clients") parent = true;
  return maps::MatchList::open_hosts("qmqpd_authorized_clients", cfg.str("qmqpd_authorized_clients"),
                                     parent ? maps::MatchStyle::ParentDomain : maps::MatchStyle::Domain);
}

asio::awaitable<void> serve_session(server::Context& ctx, Shared& sh, server::Socket sock) {
  Session s(ctx, sh, std::move(sock));
  co_await s.run();
}

}  // namespace postern::qmqpd
