// proxymap - the lookup table proxy (Postfix's proxymap(8), read-only
// service).
//
// Listens on private/proxymap (master.cf "proxymap unix - - n - -
// proxymap"). It runs outside any chroot, so that a chrooted daemon can use
// tables its jail does not contain: local_recipient_maps =
// proxy:unix:passwd.byname in a chrooted smtpd is the classic case
// (config/proxy_settings.h says which processes come here). Requests and
// replies: ipc/proto/proxymap.h.
//
// Only the tables proxy_read_maps lists as proxy:type:name are served, as
// with Postfix; a request for another is refused and logged:
//   warning: request for unapproved table: "hash:/etc/shadow-map"
//   warning: to approve this table for read-only access, list proxy:hash:/etc/shadow-map in main.cf:proxy_read_maps
// Tables are opened on first request, with the privileges the process
// dropped to (mail_owner, as Postfix's proxymap), and kept: one open table
// per name and key-folding flags serves every client. A table whose file
// changed makes the process retire after the request, so that the next one
// opens it afresh. Lookups block the process, as in Postfix: keep slow
// servers (a distant SQL server) out of tables that many clients share.
//
// The read-write service (proxywrite) is not provided: Postern's daemons
// never write tables through a proxy.
//
// Parameters: proxy_read_maps, ipc_timeout, max_idle, max_use (plus the
// skeleton's and the tables' own).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <variant>

#include "base/strings.h"
#include "config/proxy_settings.h"
#include "ipc/async.h"
#include "ipc/proto/proxymap.h"
#include "log/log.h"
#include "maps/table.h"
#include "server/requests.h"
#include "server/skeleton.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

struct State {
  // (table, fold_fix, fold_mul) -> the open table.
  std::map<std::tuple<std::string, bool, bool>, std::unique_ptr<maps::Table>> open;
};
State g;

// The open table for a request, or the status that refuses it.
std::variant<maps::Table*, proto::ProxymapStatus> find_table(const proto::ProxymapRequest& req) {
  // The approved tables are the skeleton's reading of proxy_read_maps, the
  // same that the clients check (config/proxy_settings.h).
  std::string_view name = config::without_proxy_prefix(req.table);
  if (!config::proxy_settings().approved.contains(name)) {
    log::warning("request for unapproved table: \"{}\"", name);
    log::warning("to approve this table for read-only access, list proxy:{} in main.cf:proxy_read_maps", name);
    return proto::ProxymapStatus::Deny;
  }
  auto key = std::tuple{std::string(name), req.fold_fix, req.fold_mul};
  if (auto it = g.open.find(key); it != g.open.end()) return it->second.get();
  maps::OpenOptions o;
  o.fold_fix = req.fold_fix;
  o.fold_mul = req.fold_mul;
  auto t = maps::open_table(name, o);
  if (!t) {
    log::warning("cannot open table {}: {}", name, t.error().message);
    return proto::ProxymapStatus::Bad;
  }
  return g.open.emplace(std::move(key), std::move(*t)).first->second.get();
}

proto::ProxymapReply answer(const proto::ProxymapRequest& req) {
  proto::ProxymapReply r;
  auto found = find_table(req);
  if (auto* st = std::get_if<proto::ProxymapStatus>(&found)) {
    r.status = *st;
    return r;
  }
  maps::Table* t = std::get<maps::Table*>(found);
  r.fixed = t->fixed();
  if (req.request == proto::ProxymapOp::Open) return r;
  auto v = t->lookup(req.key);
  if (!v) {
    log::warning("table {}: {}", t->spec(), v.error().message);
    r.status = proto::ProxymapStatus::Retry;
  } else if (!*v) {
    r.status = proto::ProxymapStatus::NotFound;
  } else if ((*v)->size() > proto::kProxymapMaxValue) {
    log::warning("table {}: value for key {} too long to pass on ({} bytes)", t->spec(), str::printable(req.key),
                 (*v)->size());
    r.status = proto::ProxymapStatus::Retry;
  } else {
    r.value = std::move(**v);
  }
  return r;
}

// A request is a table name and a key (each bounded in proto/proxymap.h)
// in a few bytes of framing; anything longer is refused at its header.
constexpr ipc::FrameLimits kRequestLimits{.max_payload = proto::kProxymapMaxTable + proto::kProxymapMaxKey + 1024};

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  const auto io_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  for (bool first = true;; first = false) {
    // A stopping process (a changed table, a reload, max_use) answers no
    // more requests after the one a connection came with: the skeleton's
    // stop cancels only the connections that wait at that moment, and this
    // one may have been busy, or may be the one that saw the change. Its
    // client's next request meets the close and is asked again on a new
    // connection, of a new process that opens the tables afresh under the
    // current proxy_read_maps.
    if (ctx.stopping() && !first) co_return;
    std::optional<proto::ProxymapRequest> req;
    {
      server::IdleWait idle(ctx, sock);
      req = co_await server::next_request<proto::ProxymapRequest>(ctx, sock, kRequestLimits);
    }
    if (!req) co_return;
    auto reply = answer(*req);
    if (auto st = co_await ipc::write_message(sock, reply, {}, io_timeout); !st) {
      log::warning("write reply to {}: {}", server::peer_text(sock), st.error().message);
      co_return;
    }
    for (auto& [k, t] : g.open)
      if (t->changed()) {
        log::info("table {} has changed -- restarting", t->spec());
        ctx.request_stop();
        break;
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "proxymap";
  d.model = server::Model::Multi;
  // One connection per client process, kept for its life.
  d.client_limit = 10000;
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
