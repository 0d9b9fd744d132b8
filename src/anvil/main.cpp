// anvil - connection count and rate service (Postfix's anvil(8)).
//
// Listens on private/anvil (master.cf "anvil unix - - n - 1 anvil"). Exactly
// one process, long-lived (it ignores max_use and max_idle), so that its
// counts span every smtpd process. Each smtpd process keeps one connection
// and sends connect/disconnect/lookup requests over it (ipc/proto/anvil.h);
// counts live in a bounded table (table.h). A connection that closes gives
// back every connect it made that was not matched by a disconnect: an
// smtpd process that exits or crashes never leaves stale counts behind.
//
// Every anvil_status_update_time, and when it stops, anvil logs the peaks
// since the last report, like Postfix:
//   statistics: max connection rate 3/60s for (smtp:192.0.2.1) at Dec  1 23:31:21
//   statistics: max connection count 2 for (smtp:192.0.2.1) at Dec  1 23:31:21
//   statistics: max cache size 5 at Dec  1 23:31:21
// and "warning: table full (N entries): ..." (at most once per report
// interval) when a new client cannot be counted.
//
// Parameters: anvil_rate_time_unit, anvil_status_update_time, ipc_timeout
// (plus the skeleton's).
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "aio/io_scope.h"
#include "ipc/async.h"
#include "ipc/proto/anvil.h"
#include "log/log.h"
#include "server/skeleton.h"
#include "table.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

// Distinct (service, client) pairs kept at once: far above what one host's
// smtpd processes can hold open (100 processes x 100 clients) plus a busy
// rate window's worth of one-shot clients; about 100 bytes each.
constexpr std::size_t kMaxEntries = 100000;
// How long an smtpd's connection may stay silent: smtpd keeps it for the
// life of the process, which max_idle/max_use end long before this.
constexpr auto kIdleTimeout = std::chrono::hours(24);

struct State {
  std::unique_ptr<anvil::Table> table;
  std::chrono::seconds status_update{600};
  std::int64_t rate_unit_s = 60;
  bool full_warned = false;
};
State g;

std::string when(std::time_t t) {
  char buf[32];
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

void log_stats() {
  auto s = g.table->take_stats();
  if (s.rate.value > 1)
    log::info("statistics: max connection rate {}/{}s for ({}) at {}", s.rate.value, g.rate_unit_s, s.rate.who,
              when(s.rate.when));
  if (s.message.value > 1)
    log::info("statistics: max message rate {}/{}s for ({}) at {}", s.message.value, g.rate_unit_s, s.message.who,
              when(s.message.when));
  if (s.recipient.value > 1)
    log::info("statistics: max recipient rate {}/{}s for ({}) at {}", s.recipient.value, g.rate_unit_s,
              s.recipient.who, when(s.recipient.when));
  if (s.auth.value > 1)
    log::info("statistics: max AUTH rate {}/{}s for ({}) at {}", s.auth.value, g.rate_unit_s, s.auth.who,
              when(s.auth.when));
  if (s.newtls.value > 1)
    log::info("statistics: max new TLS sessions {}/{}s for ({}) at {}", s.newtls.value, g.rate_unit_s, s.newtls.who,
              when(s.newtls.when));
  if (s.count.value > 1)
    log::info("statistics: max connection count {} for ({}) at {}", s.count.value, s.count.who, when(s.count.when));
  if (s.size.value > 1) log::info("statistics: max cache size {} at {}", s.size.value, when(s.size.when));
  g.full_warned = false;
}

asio::awaitable<void> status_loop(asio::io_context& io) {
  asio::steady_timer t(io);
  for (;;) {
    t.expires_after(g.status_update);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    g.table->expire();
    log_stats();
  }
}

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  const auto io_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  // What this connection holds: given back when it closes.
  std::map<std::pair<std::string, std::string>, std::int64_t> held;
  struct Release {
    decltype(held)& h;
    ~Release() {
      for (auto& [k, n] : h) g.table->disconnect(k.first, k.second, anvil::Clock::now(), n);
    }
  } release{held};

  for (;;) {
    auto frame = co_await ipc::read_frame(sock, {}, kIdleTimeout);
    if (!frame) {
      const auto& m = frame.error().message;
      if (m.find("connection closed by peer") == std::string::npos)
        log::warning("read request from {}: {}", server::peer_text(sock), m);
      co_return;
    }
    auto req = ipc::decode<proto::AnvilRequest>(frame->payload);
    if (!req) {
      log::warning("malformed request from {}: {}", server::peer_text(sock), req.error().message);
      co_await ipc::refuse(sock, req.error().message);
      co_return;
    }
    Status st;
    switch (req->request) {
      case proto::AnvilOp::Connect: {
        auto c = g.table->connect(req->service, req->client);
        if (!c) {
          if (!g.full_warned) {
            log::warning("{}: not counting {}:{}", c.error().message, req->service, req->client);
            g.full_warned = true;
          }
          proto::StatusReply r{proto::kStatusRetry, c.error().message};
          st = co_await ipc::write_message(sock, std::move(r), {}, io_timeout);
          break;
        }
        held[{req->service, req->client}]++;
        proto::AnvilReply r{c->count, c->rate};
        st = co_await ipc::write_message(sock, r, {}, io_timeout);
        break;
      }
      case proto::AnvilOp::Disconnect: {
        // Only what this connection connected: one smtpd cannot release
        // another's counts.
        auto it = held.find({req->service, req->client});
        if (it != held.end()) {
          g.table->disconnect(req->service, req->client);
          if (--it->second == 0) held.erase(it);
        }
        proto::StatusReply r{proto::kStatusOk, ""};
        st = co_await ipc::write_message(sock, std::move(r), {}, io_timeout);
        break;
      }
      case proto::AnvilOp::NewTlsReport: {
        proto::AnvilReply r{g.table->lookup(req->service, req->client).count,
                            g.table->event_rate(req->service, req->client, anvil::Event::NewTls)};
        st = co_await ipc::write_message(sock, r, {}, io_timeout);
        break;
      }
      case proto::AnvilOp::Message:
      case proto::AnvilOp::Recipient:
      case proto::AnvilOp::Auth:
      case proto::AnvilOp::NewTls: {
        const anvil::Event ev = req->request == proto::AnvilOp::Message     ? anvil::Event::Message
                                : req->request == proto::AnvilOp::Recipient ? anvil::Event::Recipient
                                : req->request == proto::AnvilOp::Auth      ? anvil::Event::Auth
                                                                            : anvil::Event::NewTls;
        auto n = g.table->event(req->service, req->client, ev);
        if (!n) {
          proto::StatusReply r{proto::kStatusRetry, n.error().message};
          st = co_await ipc::write_message(sock, std::move(r), {}, io_timeout);
          break;
        }
        proto::AnvilReply r{g.table->lookup(req->service, req->client).count, *n};
        st = co_await ipc::write_message(sock, r, {}, io_timeout);
        break;
      }
      case proto::AnvilOp::Lookup: {
        auto c = g.table->lookup(req->service, req->client);
        proto::AnvilReply r{c.count, c.rate};
        st = co_await ipc::write_message(sock, r, {}, io_timeout);
        break;
      }
    }
    if (!st) {
      log::warning("write reply to {}: {}", server::peer_text(sock), st.error().message);
      co_return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "anvil";
  d.model = server::Model::Multi;
  d.long_lived = true;
  // One connection per smtpd process (and per other client): room for
  // many smtpd services at their default process limits.
  d.client_limit = 10000;
  d.pre_drop = [](server::Context& ctx) -> Status {
    auto unit = ctx.cfg().time("anvil_rate_time_unit");
    g.rate_unit_s = std::max<std::int64_t>(1, unit.count());
    g.status_update = std::max(std::chrono::seconds(1), ctx.cfg().time("anvil_status_update_time"));
    g.table = std::make_unique<anvil::Table>(std::chrono::seconds(g.rate_unit_s), kMaxEntries);
    return {};
  };
  d.post_drop = [](server::Context& ctx) -> Status {
    asio::co_spawn(ctx.io(), status_loop(ctx.io()), asio::detached);
    // Postfix's anvil reports its peaks when it stops, too.
    aio::at_io_shutdown(ctx.io(), [] { log_stats(); });
    return {};
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
