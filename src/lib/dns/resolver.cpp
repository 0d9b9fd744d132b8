// resolver.cpp - see resolver.h.
//
// How c-ares runs inside Asio:
// - ARES_OPT_SOCK_STATE_CB tells us when c-ares opens a socket, what it wants
//   to know about it (readable, writable) and when it is about to close it.
//   Each socket gets a Watch: a posix::stream_descriptor around c-ares's fd
//   (released, never closed, when c-ares says goodbye: the fd is c-ares's)
//   and at most one pending async_wait per direction.
// - A ready socket is handed to ares_process_fd(). Asio's reactor is
//   edge-triggered, so after processing we poll() the fd once more and go on
//   while it is still ready: a second datagram that arrived before c-ares
//   read the first would otherwise wait for an edge that never comes.
// - One steady_timer is set to ares_timeout() after every call into c-ares;
//   when it fires, ares_process_fd(BAD, BAD) handles retransmissions and
//   timeouts.
// - c-ares calls query callbacks from inside ares_process_fd()/ares_query()/
//   ares_destroy(). Those callbacks only store the answer and post the
//   waiting coroutine's completion, never resume it inline: a resumed
//   coroutine could start new queries or destroy the Resolver while c-ares is
//   still in the middle of its own loop.
#include "dns/resolver.h"

#include <ares.h>
#include <poll.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "base/strings.h"
#include "dns/name.h"
#include "log/log.h"

namespace postern::dns {

Result<std::string> normalize_server_list(std::string_view text) {
  auto items = str::split(text);
  if (items.empty()) return make_error("empty name server list");
  if (items.size() > 8) return make_error("too many name servers (at most 8)");
  std::string out;
  for (const auto& item : items) {
    std::string_view s = item, host, port;
    if (!s.empty() && s.front() == '[') {
      auto close = s.find(']');
      if (close == std::string_view::npos) return make_error("missing ']' in name server \"{}\"", str::printable(s, 80));
      host = s.substr(1, close - 1);
      auto rest = s.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return make_error("garbage after ']' in name server \"{}\"", str::printable(s, 80));
        port = rest.substr(1);
      }
    } else if (std::count(s.begin(), s.end(), ':') == 1) {
      host = s.substr(0, s.find(':'));
      port = s.substr(s.find(':') + 1);
    } else {
      host = s;  // IPv4, or a bare IPv6 address without port
    }
    auto ip = parse_ip(host);
    if (!ip) return make_error("name server \"{}\" is not an IP address", str::printable(s, 80));
    std::uint16_t p = 53;
    if (!port.empty() || s.back() == ':') {
      auto n = str::parse_uint(port);
      if (!n || *n == 0 || *n > 65535) return make_error("bad port in name server \"{}\"", str::printable(s, 80));
      p = static_cast<std::uint16_t>(*n);
    }
    if (!out.empty()) out += ',';
    out += ip->is_v6() ? fmt::format("[{}]:{}", ip->to_string(), p) : fmt::format("{}:{}", ip->to_string(), p);
  }
  return out;
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace {

struct Question {
  std::string name;
  RrType type;
};

struct RawAnswer {
  int status = ARES_ECANCELLED;
  std::vector<unsigned char> message;
};

// A batch of queries that complete together (A + AAAA of a host, or the
// addresses of all MX hosts of one preference).
struct Batch {
  struct Slot {
    Batch* batch;
    std::size_t index;
  };
  std::vector<RawAnswer> answers;
  std::vector<Slot> slots;  // stable addresses: c-ares callback arguments
  std::size_t remaining = 0;

  virtual ~Batch() = default;
  // Post the waiting handler with `answers`. Called exactly once.
  virtual void complete() = 0;
};

template <class Handler>
struct BatchOp final : Batch {
  BatchOp(Handler h, asio::io_context::executor_type ex)
      : handler(std::move(h)), io_ex(ex), work(asio::make_work_guard(ex)) {}

  void complete() override {
    auto ex = asio::get_associated_executor(handler, io_ex);
    asio::post(ex, [h = std::move(handler), a = std::move(answers)]() mutable { std::move(h)(std::move(a)); });
  }

  Handler handler;
  asio::io_context::executor_type io_ex;
  // Keeps io_context::run() from returning while the queries are out, even
  // in the instants where no socket wait or timer is pending.
  asio::executor_work_guard<asio::io_context::executor_type> work;
};

void on_query_done(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* slot = static_cast<Batch::Slot*>(arg);
  Batch* b = slot->batch;
  auto& a = b->answers[slot->index];
  a.status = status;
  if (abuf && alen > 0) a.message.assign(abuf, abuf + alen);
  if (--b->remaining == 0) {
    b->complete();
    delete b;
  }
}

// ares_send() reports a reply as ARES_SUCCESS whatever its rcode (it
// retries SERVFAIL, NOTIMP and REFUSED itself); ares_query() then maps the
// rcode. Queries built here (with the AD bit) get the same mapping.
void on_send_done(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
  if (status == ARES_SUCCESS) {
    if (!abuf || alen < 12) {
      status = ARES_EBADRESP;
    } else {
      int ancount = abuf[6] << 8 | abuf[7];
      switch (abuf[3] & 0x0f) {
        case 0: status = ancount > 0 ? ARES_SUCCESS : ARES_ENODATA; break;
        case 1: status = ARES_EFORMERR; break;
        case 2: status = ARES_ESERVFAIL; break;
        case 3: status = ARES_ENOTFOUND; break;
        case 4: status = ARES_ENOTIMP; break;
        case 5: status = ARES_EREFUSED; break;
        default: status = ARES_EBADRESP; break;
      }
    }
  }
  on_query_done(arg, status, timeouts, abuf, alen);
}

std::once_flag g_ares_init;
int g_ares_init_rc = ARES_SUCCESS;

std::string_view gai_text(Outcome o) {
  switch (o) {
    case Outcome::TempFail: return "Temporary failure in name resolution";
    case Outcome::NoData: return "No address associated with hostname";
    default: return "Name or service not known";
  }
}

}  // namespace

// ---------------------------------------------------------------------------

struct Resolver::Impl : std::enable_shared_from_this<Resolver::Impl> {
  struct Watch {
    explicit Watch(asio::io_context& io, ares_socket_t f) : sd(io), fd(f) {}
    asio::posix::stream_descriptor sd;
    ares_socket_t fd;
    bool want_read = false, want_write = false;
    bool read_pending = false, write_pending = false;
    bool alive = true;
  };

  explicit Impl(asio::io_context& ctx) : io(ctx), timer(ctx), rng(std::random_device{}()) {}
  ~Impl() { shutdown(); }

  asio::io_context& io;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::unordered_map<ares_socket_t, std::shared_ptr<Watch>> watches;
  std::mt19937_64 rng;
  bool closed = false;
  bool dnssec = false;  // ResolverOptions::dnssec
  std::optional<Question> probe;  // ResolverOptions::dnssec_probe, parsed
  std::string probe_text;
  bool seen_authentic = false, probed = false;

  // Answer::authentic for a reply, when DNSSEC was asked for. The first
  // reply without AD, before any with it, sends the DNSSEC probe.
  bool authentic(const RawAnswer& raw) {
    if (!dnssec) return false;
    const bool ad = authentic_data(raw.message);
    if (ad) {
      seen_authentic = true;
    } else if (!seen_authentic && !probed && probe && !closed) {
      probed = true;
      asio::co_spawn(io, send_probe(shared_from_this()), asio::detached);
    }
    return ad;
  }
  static asio::awaitable<void> send_probe(std::shared_ptr<Impl> self);

  Status init(const ResolverOptions& opts);
  void shutdown();

  static void sock_state_thunk(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->on_sock_state(fd, readable != 0, writable != 0);
  }
  void on_sock_state(ares_socket_t fd, bool readable, bool writable);
  void arm(const std::shared_ptr<Watch>& w);
  void on_ready(const std::shared_ptr<Watch>& w, bool read, const error_code& ec);
  void reschedule();

  void start(std::vector<Question> qs, Batch* batch);

  template <class Token>
  auto async_query_all(std::vector<Question> qs, Token&& token) {
    return asio::async_initiate<Token, void(std::vector<RawAnswer>)>(
        [self = shared_from_this()](auto handler, std::vector<Question> qs) {
          auto* b = new BatchOp<decltype(handler)>(std::move(handler), self->io.get_executor());
          self->start(std::move(qs), b);
        },
        token, std::move(qs));
  }

  static asio::awaitable<MxResult> lookup_mx(std::shared_ptr<Impl> self, std::string domain);
  static asio::awaitable<AddrResult> lookup_addresses(std::shared_ptr<Impl> self, std::string host,
                                                      Families families);
  static asio::awaitable<PtrResult> lookup_ptr(std::shared_ptr<Impl> self, asio::ip::address address);
  static asio::awaitable<TxtResult> lookup_txt(std::shared_ptr<Impl> self, std::string name);
  static asio::awaitable<Answer<std::string>> lookup_ns(std::shared_ptr<Impl> self, std::string domain);
  static asio::awaitable<TlsaResult> lookup_tlsa(std::shared_ptr<Impl> self, std::string name);
  static asio::awaitable<ClientName> lookup_client_name(std::shared_ptr<Impl> self, asio::ip::address address);
  // A host's addresses by opts.host_lookup (the system's resolver, DNS,
  // or DNS then the system's).
  static asio::awaitable<AddrResult> host_addresses(std::shared_ptr<Impl> self, std::string host,
                                                    const NexthopOptions& opts);
  static asio::awaitable<AddrResult> native_addresses(std::shared_ptr<Impl> self, std::string host,
                                                      Families families);
  static asio::awaitable<NexthopResult> direct_destinations(std::shared_ptr<Impl> self, std::string host,
                                                            std::uint16_t port, NexthopOptions opts);
  static asio::awaitable<NexthopResult> resolve_nexthop(std::shared_ptr<Impl> self, std::string text,
                                                        NexthopOptions opts);
};

Status Resolver::Impl::init(const ResolverOptions& opts) {
  if (opts.timeout < std::chrono::milliseconds(1) || opts.timeout > std::chrono::minutes(5))
    return make_error("DNS timeout {} ms out of range (1 ms .. 5 min)", opts.timeout.count());
  if (opts.tries < 1 || opts.tries > 10) return make_error("DNS tries {} out of range (1 .. 10)", opts.tries);
  dnssec = opts.dnssec;
  if (dnssec && !str::trim(opts.dnssec_probe).empty()) {
    auto bad = [&] {
      return make_error("malformed dnssec_probe value: {}: format is qtype:qname",
                        str::printable(opts.dnssec_probe, 100));
    };
    const std::string text(str::trim(opts.dnssec_probe));
    auto colon = text.find(':');
    if (colon == std::string::npos || colon + 1 == text.size()) return bad();
    const std::string type = str::lower(text.substr(0, colon)), name = text.substr(colon + 1);
    std::optional<RrType> t;
    for (RrType k : {RrType::A, RrType::NS, RrType::PTR, RrType::MX, RrType::TXT, RrType::AAAA, RrType::TLSA})
      if (type == str::lower(to_string(k))) t = k;
    if (!t) return bad();
    if (name != ".") {
      auto n = normalize_hostname(name);
      if (!n) return bad();
    }
    probe = Question{name, *t};
    probe_text = text;
  }
  std::string servers;
  if (!str::trim(opts.servers).empty()) {
    auto s = normalize_server_list(opts.servers);
    if (!s) return s.take_error();
    servers = std::move(*s);
  }

  std::call_once(g_ares_init, [] { g_ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL); });
  if (g_ares_init_rc != ARES_SUCCESS)
    return make_error("c-ares library initialization failed: {}", ares_strerror(g_ares_init_rc));

  ares_options o{};
  int mask = 0;
  // Query exactly the given name: no search list, no HOSTALIASES.
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  mask |= ARES_OPT_FLAGS;
  o.timeout = static_cast<int>(opts.timeout.count());
  mask |= ARES_OPT_TIMEOUTMS;
  o.tries = opts.tries;
  mask |= ARES_OPT_TRIES;
  o.domains = nullptr;
  o.ndomains = 0;
  mask |= ARES_OPT_DOMAINS;
  char lookups[] = "b";  // DNS only, never /etc/hosts
  o.lookups = lookups;
  mask |= ARES_OPT_LOOKUPS;
  o.sock_state_cb = &Impl::sock_state_thunk;
  o.sock_state_cb_data = this;
  mask |= ARES_OPT_SOCK_STATE_CB;
  int rc = ares_init_options(&channel, &o, mask);
  if (rc != ARES_SUCCESS) {
    channel = nullptr;
    return make_error("c-ares initialization failed: {}", ares_strerror(rc));
  }
  if (!servers.empty()) {
    rc = ares_set_servers_ports_csv(channel, servers.c_str());
    if (rc != ARES_SUCCESS) return make_error("cannot use name servers \"{}\": {}", servers, ares_strerror(rc));
  }
  return {};
}

void Resolver::Impl::shutdown() {
  if (closed) return;
  closed = true;
  timer.cancel();
  if (channel) {
    // Completes every outstanding query with ARES_EDESTRUCTION (-> TempFail)
    // and tells us about every socket it closes.
    ares_destroy(channel);
    channel = nullptr;
  }
  for (auto& [fd, w] : watches) {
    w->alive = false;
    (void)w->sd.release();
  }
  watches.clear();
}

void Resolver::Impl::on_sock_state(ares_socket_t fd, bool readable, bool writable) {
  if (!readable && !writable) {
    auto it = watches.find(fd);
    if (it == watches.end()) return;
    it->second->alive = false;
    // Cancels the pending waits (their handlers see operation_aborted) and
    // gives the fd back: c-ares closes it right after this callback.
    (void)it->second->sd.release();
    watches.erase(it);
    return;
  }
  auto& w = watches[fd];
  if (!w) {
    w = std::make_shared<Watch>(io, fd);
    error_code ec;
    w->sd.assign(fd, ec);
    if (ec) {
      // Without a watch the query can only time out, which the timer covers.
      log::warning("dns: cannot watch c-ares socket {}: {}", fd, ec.message());
      w->alive = false;
      watches.erase(fd);
      return;
    }
  }
  w->want_read = readable;
  w->want_write = writable;
  arm(w);
}

void Resolver::Impl::arm(const std::shared_ptr<Watch>& w) {
  if (!w->alive || closed) return;
  if (w->want_read && !w->read_pending) {
    w->read_pending = true;
    w->sd.async_wait(asio::posix::descriptor_base::wait_read,
                     [self = shared_from_this(), w](const error_code& ec) {
                       w->read_pending = false;
                       self->on_ready(w, true, ec);
                     });
  }
  if (w->want_write && !w->write_pending) {
    w->write_pending = true;
    w->sd.async_wait(asio::posix::descriptor_base::wait_write,
                     [self = shared_from_this(), w](const error_code& ec) {
                       w->write_pending = false;
                       self->on_ready(w, false, ec);
                     });
  }
}

void Resolver::Impl::on_ready(const std::shared_ptr<Watch>& w, bool read, const error_code& ec) {
  if (!w->alive || closed || ec == asio::error::operation_aborted) return;
  // A wait that c-ares no longer asks for (it stopped wanting to write) is
  // simply dropped.
  if (read ? !w->want_read : !w->want_write) return;
  const ares_socket_t fd = w->fd;
  for (int round = 0; round < 64; ++round) {
    ares_process_fd(channel, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    if (!w->alive || closed) break;
    if (read ? !w->want_read : !w->want_write) break;
    pollfd p{fd, static_cast<short>(read ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, 0) <= 0) break;
  }
  if (closed) return;
  if (w->alive) arm(w);
  reschedule();
}

void Resolver::Impl::reschedule() {
  if (closed || !channel) return;
  timeval tv{};
  timeval* t = ares_timeout(channel, nullptr, &tv);
  if (!t) {
    timer.cancel();
    return;
  }
  timer.expires_after(std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec));
  timer.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec == asio::error::operation_aborted || self->closed) return;
    ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->reschedule();
  });
}

void Resolver::Impl::start(std::vector<Question> qs, Batch* b) {
  b->answers.resize(qs.size());
  b->slots.reserve(qs.size());
  for (std::size_t i = 0; i < qs.size(); ++i) b->slots.push_back(Batch::Slot{b, i});
  if (qs.empty() || closed || !channel) {
    for (auto& a : b->answers) a.status = ARES_EDESTRUCTION;
    b->complete();
    delete b;
    return;
  }
  // Count first: a query may complete synchronously inside ares_query().
  b->remaining = qs.size();
  for (std::size_t i = 0; i < qs.size(); ++i) {
    log::debug("dns: query {} {}", qs[i].name, to_string(qs[i].type));
    if (!dnssec) {
      ares_query(channel, qs[i].name.c_str(), 1 /* C_IN */, static_cast<int>(qs[i].type), &on_query_done,
                 &b->slots[i]);
      continue;
    }
    // The query with the AD bit set (RFC 6840 5.7: "tell me whether you
    // validated this"); ares_send() gives it its own id.
    unsigned char* q = nullptr;
    int qlen = 0;
    int rc = ares_create_query(qs[i].name.c_str(), 1 /* C_IN */, static_cast<int>(qs[i].type), 0, 1, &q, &qlen, 0);
    if (rc != ARES_SUCCESS || !q || qlen < 12) {
      if (q) ares_free_string(q);
      on_query_done(&b->slots[i], rc != ARES_SUCCESS ? rc : ARES_EBADQUERY, 0, nullptr, 0);
      continue;
    }
    q[3] |= 0x20;
    ares_send(channel, q, qlen, &on_send_done, &b->slots[i]);
    ares_free_string(q);
  }
  reschedule();
}

// ---------------------------------------------------------------------------

namespace {

template <class T>
Answer<T> invalid_name(std::string_view name, RrType type, const Error& why) {
  Answer<T> a;
  a.outcome = Outcome::Invalid;
  a.detail = fmt::format("malformed domain name \"{}\" for type={} lookup: {}",
                         str::printable(name, kMaxNameLength + 1), to_string(type), why.message);
  return a;
}

void log_failure(std::string_view name, RrType type, const RawAnswer& raw) {
  if (raw.status != ARES_SUCCESS && log::verbose() > 0)
    log::debug("dns: {} {}: {}", str::printable(name, kMaxNameLength + 1), to_string(type),
               ares_strerror(raw.status));
}

void log_warning(const std::string& w) {
  if (!w.empty()) log::warning("{}", w);
}

// Combine the A and AAAA answers for one host (see lookup_addresses()).
AddrResult combine(std::vector<AddrResult> parts) {
  bool authentic = !parts.empty();
  for (auto& p : parts) authentic = authentic && p.authentic;
  for (auto& p : parts) p.authentic = authentic;
  AddrResult out;
  out.authentic = authentic;
  for (auto& p : parts) {
    if (p.ok()) {
      out.records.insert(out.records.end(), p.records.begin(), p.records.end());
      out.capped = out.capped || p.capped;
    }
  }
  if (!out.records.empty()) {
    out.outcome = Outcome::Ok;
    return out;
  }
  // No address: the most hopeful failure wins (a temporary failure may turn
  // into addresses later; NotFound beats NoData because it names the cause).
  for (Outcome o : {Outcome::TempFail, Outcome::Invalid, Outcome::NotFound, Outcome::NoData}) {
    for (auto& p : parts)
      if (p.outcome == o) return std::move(p);
  }
  return parts.empty() ? out : std::move(parts.back());
}

// (No braced initializer lists inside coroutines: g++ 12 miscompiles them.)
std::vector<Question> one_question(const std::string& name, RrType type) {
  std::vector<Question> qs;
  qs.push_back(Question{name, type});
  return qs;
}

std::vector<Question> address_questions(const std::string& host, Families families) {
  std::vector<Question> qs;
  if (families != Families::Ipv6) qs.push_back({host, RrType::A});
  if (families != Families::Ipv4) qs.push_back({host, RrType::AAAA});
  return qs;
}

bool family_allowed(const asio::ip::address& a, Families f) {
  return f == Families::All || (a.is_v4() ? f == Families::Ipv4 : f == Families::Ipv6);
}

}  // namespace

asio::awaitable<MxResult> Resolver::Impl::lookup_mx(std::shared_ptr<Impl> self, std::string domain) {
  auto name = normalize_hostname(domain);
  if (!name) co_return invalid_name<MxRecord>(domain, RrType::MX, name.error());
  auto raw = co_await self->async_query_all(one_question(*name, RrType::MX), asio::use_awaitable);
  log_failure(*name, RrType::MX, raw[0]);
  auto r = parse_mx_answer(*name, raw[0].status, raw[0].message, self->rng);
  r.authentic = self->authentic(raw[0]);
  log_warning(r.warning);
  co_return r;
}

asio::awaitable<AddrResult> Resolver::Impl::lookup_addresses(std::shared_ptr<Impl> self, std::string host,
                                                             Families families) {
  if (auto ip = parse_ip(host)) {
    AddrResult r;
    if (family_allowed(*ip, families)) {
      r.outcome = Outcome::Ok;
      r.records.push_back(*ip);
    } else {
      r.outcome = Outcome::NoData;
      r.detail = fmt::format("address {} is of a disabled address family (inet_protocols)", ip->to_string());
    }
    co_return r;
  }
  auto name = normalize_hostname(host);
  if (!name) co_return invalid_name<asio::ip::address>(host, RrType::A, name.error());
  auto qs = address_questions(*name, families);
  auto raws = co_await self->async_query_all(qs, asio::use_awaitable);
  std::vector<AddrResult> parts;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    log_failure(qs[i].name, qs[i].type, raws[i]);
    parts.push_back(parse_address_answer(qs[i].name, qs[i].type, raws[i].status, raws[i].message));
    parts.back().authentic = self->authentic(raws[i]);
  }
  co_return combine(std::move(parts));
}

asio::awaitable<TxtResult> Resolver::Impl::lookup_txt(std::shared_ptr<Impl> self, std::string name_in) {
  auto name = normalize_hostname(name_in);
  if (!name) co_return invalid_name<std::string>(name_in, RrType::TXT, name.error());
  auto raw = co_await self->async_query_all(one_question(*name, RrType::TXT), asio::use_awaitable);
  log_failure(*name, RrType::TXT, raw[0]);
  co_return parse_txt_answer(*name, raw[0].status, raw[0].message);
}

asio::awaitable<Answer<std::string>> Resolver::Impl::lookup_ns(std::shared_ptr<Impl> self, std::string name_in) {
  auto name = normalize_hostname(name_in);
  if (!name) co_return invalid_name<std::string>(name_in, RrType::NS, name.error());
  auto raw = co_await self->async_query_all(one_question(*name, RrType::NS), asio::use_awaitable);
  log_failure(*name, RrType::NS, raw[0]);
  auto r = parse_ns_answer(*name, raw[0].status, raw[0].message);
  log_warning(r.warning);
  co_return r;
}

// Postfix's dnssec_probe and its words.
asio::awaitable<void> Resolver::Impl::send_probe(std::shared_ptr<Impl> self) {
  const Question q = *self->probe;
  auto raw = co_await self->async_query_all(one_question(q.name, q.type), asio::use_awaitable);
  if (self->closed) co_return;
  if (authentic_data(raw[0].message)) {
    self->seen_authentic = true;
    log::debug("dnssec_probe '{}' received a response that is DNSSEC validated", self->probe_text);
    co_return;
  }
  if (self->seen_authentic) co_return;  // another answer vouched meanwhile
  log::warning("DNSSEC validation may be unavailable");
  const int st = raw[0].status;
  if (st == ARES_SUCCESS || st == ARES_ENODATA || st == ARES_ENOTFOUND)
    log::warning("reason: dnssec_probe '{}' received a response that is not DNSSEC validated", self->probe_text);
  else
    log::warning("reason: dnssec_probe '{}' received no response: {}", self->probe_text,
                 describe(q.name, q.type, outcome_from_ares(st)));
}

asio::awaitable<TlsaResult> Resolver::Impl::lookup_tlsa(std::shared_ptr<Impl> self, std::string name_in) {
  auto name = normalize_hostname(name_in);
  if (!name) co_return invalid_name<TlsaRecord>(name_in, RrType::TLSA, name.error());
  auto raw = co_await self->async_query_all(one_question(*name, RrType::TLSA), asio::use_awaitable);
  log_failure(*name, RrType::TLSA, raw[0]);
  auto r = parse_tlsa_answer(*name, raw[0].status, raw[0].message);
  r.authentic = self->authentic(raw[0]);
  log_warning(r.warning);
  co_return r;
}

asio::awaitable<PtrResult> Resolver::Impl::lookup_ptr(std::shared_ptr<Impl> self, asio::ip::address address) {
  auto a = unmap(address);
  auto qname = reverse_name(a);
  auto raw = co_await self->async_query_all(one_question(qname, RrType::PTR), asio::use_awaitable);
  log_failure(qname, RrType::PTR, raw[0]);
  auto r = parse_ptr_answer(a, raw[0].status, raw[0].message);
  log_warning(r.warning);
  co_return r;
}

asio::awaitable<ClientName> Resolver::Impl::lookup_client_name(std::shared_ptr<Impl> self,
                                                               asio::ip::address address) {
  ClientName c;
  auto a = unmap(address);
  auto ptr = co_await lookup_ptr(self, a);
  if (!ptr.ok()) {
    c.reverse_status = c.name_status = ptr.outcome == Outcome::TempFail ? Outcome::TempFail : Outcome::NotFound;
    co_return c;
  }
  c.reverse_name = ptr.records.front();
  c.reverse_status = Outcome::Ok;
  Families fam = a.is_v4() ? Families::Ipv4 : Families::Ipv6;
  bool temp = false;
  std::optional<AddrResult> first;
  std::size_t n = std::min(ptr.records.size(), kMaxPtrNamesChecked);
  for (std::size_t i = 0; i < n; ++i) {
    auto fwd = co_await lookup_addresses(self, ptr.records[i], fam);
    if (fwd.ok() && std::find(fwd.records.begin(), fwd.records.end(), a) != fwd.records.end()) {
      c.name = ptr.records[i];
      c.name_status = Outcome::Ok;
      co_return c;
    }
    if (fwd.outcome == Outcome::TempFail) temp = true;
    if (!first) first = std::move(fwd);
  }
  c.name_status = temp ? Outcome::TempFail : Outcome::NotFound;
  // Postfix smtpd's wording, which fail2ban and friends match.
  if (first->ok())
    log::warning("hostname {} does not resolve to address {}", c.reverse_name, a.to_string());
  else
    log::warning("hostname {} does not resolve to address {}: {}", c.reverse_name, a.to_string(),
                 gai_text(first->outcome));
  co_return c;
}

// getaddrinfo() on Asio's resolver thread, so the event loop goes on.
asio::awaitable<AddrResult> Resolver::Impl::native_addresses(std::shared_ptr<Impl> self, std::string host,
                                                             Families families) {
  AddrResult r;
  auto name = normalize_hostname(host);
  if (!name) co_return invalid_name<asio::ip::address>(host, RrType::A, name.error());
  asio::ip::tcp::resolver res(self->io);
  error_code ec;
  auto entries = co_await res.async_resolve(*name, "25", asio::ip::resolver_base::numeric_service,
                                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    r.outcome = ec == asio::error::host_not_found ? Outcome::NotFound
                : ec == asio::error::no_data      ? Outcome::NoData
                                                  : Outcome::TempFail;
    r.detail = fmt::format("Host or domain name not found. Name service error for name={} type=A: {}", *name,
                           gai_text(r.outcome));
    co_return r;
  }
  std::size_t v4 = 0, v6 = 0;
  for (const auto& e : entries) {
    asio::ip::address a = unmap(e.endpoint().address());
    if (!family_allowed(a, families)) continue;
    if (std::find(r.records.begin(), r.records.end(), a) != r.records.end()) continue;
    std::size_t& n = a.is_v4() ? v4 : v6;
    if (n >= kMaxAddressesPerFamily) {
      r.capped = true;
      continue;
    }
    ++n;
    r.records.push_back(a);
  }
  // IPv4 first, as the DNS path returns them.
  std::stable_partition(r.records.begin(), r.records.end(), [](const asio::ip::address& a) { return a.is_v4(); });
  if (r.records.empty()) {
    r.outcome = Outcome::NoData;
    r.detail = fmt::format("Host or domain name not found. Name service error for name={} type=A: {}", *name,
                           gai_text(Outcome::NoData));
  } else {
    r.outcome = Outcome::Ok;
  }
  co_return r;
}

asio::awaitable<AddrResult> Resolver::Impl::host_addresses(std::shared_ptr<Impl> self, std::string host,
                                                           const NexthopOptions& opts) {
  const HostLookup how = opts.mx_lookups ? opts.host_lookup : HostLookup::kNative;
  if (how == HostLookup::kNative && !parse_ip(host)) co_return co_await native_addresses(self, host, opts.families);
  auto dns = co_await lookup_addresses(self, host, opts.families);
  if (dns.ok() || how != HostLookup::kDnsThenNative || parse_ip(host)) co_return dns;
  auto native = co_await native_addresses(self, host, opts.families);
  co_return native.ok() ? native : dns;
}

// The host's own addresses: [host], or a domain without MX records.
asio::awaitable<NexthopResult> Resolver::Impl::direct_destinations(std::shared_ptr<Impl> self, std::string host,
                                                                   std::uint16_t port, NexthopOptions opts) {
  NexthopResult r;
  auto addrs = co_await host_addresses(self, host, opts);
  if (!addrs.ok()) {
    r.outcome = addrs.outcome;
    r.detail = std::move(addrs.detail);
    co_return r;
  }
  const bool secure = addrs.authentic && !parse_ip(host);
  for (auto& a : addrs.records) r.destinations.push_back(Destination{a, port, host, std::nullopt, secure});
  order_group(r.destinations, opts, self->rng);
  limit_destinations(r.destinations, opts);
  r.outcome = Outcome::Ok;
  co_return r;
}

asio::awaitable<NexthopResult> Resolver::Impl::resolve_nexthop(std::shared_ptr<Impl> self, std::string text,
                                                               NexthopOptions opts) {
  NexthopResult out;
  auto nh = parse_nexthop(text);
  if (!nh) {
    out.outcome = Outcome::Invalid;
    out.detail = nh.error().message;
    co_return out;
  }
  const std::uint16_t port = nh->port.value_or(opts.default_port);
  const std::size_t limit = address_limit(opts);

  if (nh->literal) {
    if (!family_allowed(*nh->literal, opts.families)) {
      out.outcome = Outcome::NoData;
      out.detail = fmt::format("address {} is of a disabled address family (inet_protocols)", nh->host);
      co_return out;
    }
    out.outcome = Outcome::Ok;
    out.destinations.push_back(Destination{*nh->literal, port, nh->host, std::nullopt});
    co_return out;
  }

  if (!nh->mx_lookup || !opts.mx_lookups) co_return co_await direct_destinations(self, nh->host, port, opts);

  auto mx = co_await lookup_mx(self, nh->host);
  switch (mx.outcome) {
    case Outcome::Ok: break;
    case Outcome::NoData: {  // RFC 5321 5.1: implicit MX
      auto direct = co_await direct_destinations(self, nh->host, port, opts);
      direct.mx_dnssec = mx.authentic;
      co_return direct;
    }
    default:
      out.outcome = mx.outcome;
      out.detail = std::move(mx.detail);
      co_return out;
  }
  out.used_mx = true;
  out.mx_dnssec = mx.authentic;
  out.warning = std::move(mx.warning);
  for (const auto& m : mx.records)
    if (!out.best_preference || m.preference < *out.best_preference) out.best_preference = m.preference;

  // One preference at a time, the hosts of one preference in parallel; stop
  // once the address limit is reached.
  std::vector<Destination> all;
  bool temp = false;
  std::optional<AddrResult> last_failure;
  std::size_t hosts_done = 0;
  auto it = mx.records.begin();
  while (it != mx.records.end() && all.size() < limit && hosts_done < kMaxMxHostsResolved) {
    auto end = std::find_if(it, mx.records.end(), [&](const MxRecord& m) { return m.preference != it->preference; });
    std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(end - it), kMaxMxHostsResolved - hosts_done);
    std::vector<AddrResult> results;
    if (opts.host_lookup == HostLookup::kDns) {
      // All the group's questions at once.
      std::vector<Question> qs;
      std::vector<std::size_t> first_q;  // index of each host's first question
      for (std::size_t h = 0; h < take; ++h) {
        first_q.push_back(qs.size());
        for (auto& q : address_questions(it[h].host, opts.families)) qs.push_back(std::move(q));
      }
      auto raws = co_await self->async_query_all(qs, asio::use_awaitable);
      for (std::size_t h = 0; h < take; ++h) {
        std::vector<AddrResult> parts;
        std::size_t qend = h + 1 < take ? first_q[h + 1] : qs.size();
        for (std::size_t q = first_q[h]; q < qend; ++q) {
          log_failure(qs[q].name, qs[q].type, raws[q]);
          parts.push_back(parse_address_answer(qs[q].name, qs[q].type, raws[q].status, raws[q].message));
          parts.back().authentic = self->authentic(raws[q]);
        }
        results.push_back(combine(std::move(parts)));
      }
    } else {
      for (std::size_t h = 0; h < take; ++h) results.push_back(co_await host_addresses(self, it[h].host, opts));
    }
    std::vector<Destination> group;
    for (std::size_t h = 0; h < take; ++h) {
      auto addrs = std::move(results[h]);
      if (!addrs.ok()) {
        if (addrs.outcome == Outcome::TempFail) temp = true;
        if (!last_failure || addrs.outcome == Outcome::TempFail) last_failure = std::move(addrs);
        continue;
      }
      const bool secure = addrs.authentic;
      for (auto& a : addrs.records) group.push_back(Destination{a, port, it[h].host, it[h].preference, secure});
    }
    order_group(group, opts, self->rng);
    all.insert(all.end(), group.begin(), group.end());
    hosts_done += take;
    it = end;
  }

  if (all.empty()) {
    // Every MX host failed. Temporary trouble with any of them means the
    // domain may work later; otherwise the MX data points nowhere.
    out.outcome = temp ? Outcome::TempFail : (last_failure ? last_failure->outcome : Outcome::NotFound);
    if (out.outcome == Outcome::NoData) out.outcome = Outcome::NotFound;
    out.detail = last_failure ? last_failure->detail
                              : fmt::format("no usable MX host for {}", nh->host);
    co_return out;
  }
  out.partial = temp;
  limit_destinations(all, opts);
  out.destinations = std::move(all);
  out.outcome = Outcome::Ok;
  co_return out;
}

// ---------------------------------------------------------------------------

Result<Resolver> Resolver::create(asio::io_context& io, const ResolverOptions& opts) {
  auto impl = std::make_shared<Impl>(io);
  auto st = impl->init(opts);
  if (!st) return st.take_error();
  return Resolver(std::move(impl));
}

Resolver::Resolver(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::Resolver(Resolver&&) noexcept = default;
Resolver& Resolver::operator=(Resolver&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->shutdown();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
Resolver::~Resolver() {
  if (impl_) impl_->shutdown();
}

// A moved-from Resolver has no channel; using it is a bug in the caller.
#define POSTERN_DNS_CHECK_IMPL() \
  if (!impl_) log::panic("dns: lookup on a moved-from Resolver")

asio::awaitable<MxResult> Resolver::lookup_mx(std::string domain) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_mx(impl_, std::move(domain));
}
asio::awaitable<AddrResult> Resolver::lookup_addresses(std::string host, Families families) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_addresses(impl_, std::move(host), families);
}
asio::awaitable<MxResult> Resolver::lookup_mailhost(std::string domain) {
  POSTERN_DNS_CHECK_IMPL();
  MxResult mx = co_await Impl::lookup_mx(impl_, domain);
  if (mx.outcome == Outcome::Ok || mx.outcome == Outcome::NullMx || mx.outcome == Outcome::Invalid ||
      mx.outcome == Outcome::NotFound)
    co_return mx;
  // No MX (or no answer about it): the domain's own addresses, as an SMTP
  // client would use them. A failed MX lookup with addresses is still a
  // domain that exists (Postfix's dns_lookup_l stops at the first success).
  AddrResult a = co_await Impl::lookup_addresses(impl_, std::move(domain), Families::All);
  MxResult out;
  out.outcome = a.outcome;
  out.detail = a.detail;
  if (a.outcome != Outcome::Ok && mx.outcome == Outcome::TempFail) {
    out.outcome = Outcome::TempFail;
    out.detail = mx.detail;
  }
  co_return out;
}
asio::awaitable<TxtResult> Resolver::lookup_txt(std::string name) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_txt(impl_, std::move(name));
}

asio::awaitable<Answer<std::string>> Resolver::lookup_ns(std::string domain) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_ns(impl_, std::move(domain));
}
asio::awaitable<TlsaResult> Resolver::lookup_tlsa(std::string name) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_tlsa(impl_, std::move(name));
}
asio::awaitable<PtrResult> Resolver::lookup_ptr(asio::ip::address address) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_ptr(impl_, address);
}
asio::awaitable<ClientName> Resolver::lookup_client_name(asio::ip::address address) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::lookup_client_name(impl_, address);
}
asio::awaitable<NexthopResult> Resolver::resolve_nexthop(std::string nexthop, NexthopOptions opts) {
  POSTERN_DNS_CHECK_IMPL();
  return Impl::resolve_nexthop(impl_, std::move(nexthop), opts);
}

#endif  // BOOST_ASIO_HAS_CO_AWAIT

}  // namespace postern::dns
