// proxy_table.cpp - proxy:type:name, in the process or through proxymap.
//
// config/proxy_settings.h says which: a chrooted daemon asks the proxymap
// service (ipc/proto/proxymap.h), which runs outside the jail; any other
// process opens type:name itself, read-only. A daemon may open only the
// tables proxy_read_maps approves, in both cases, so that a configuration
// behaves the same whether or not its master.cf chroots the daemon.
//
// The proxymap connection is one per process, shared by its proxy: tables
// and kept between lookups. A lookup that fails on the connection (proxymap
// retired after max_use or max_idle, or was restarted) is asked once more on
// a new connection; a second failure is a table error, so that the caller
// defers mail rather than treating the key as unknown.
#include <memory>
#include <mutex>
#include <optional>

#include "config/proxy_settings.h"
#include "ipc/client.h"
#include "ipc/proto/proxymap.h"
#include "maps/internal.h"

namespace postern::maps::detail {
namespace {

namespace proto = ipc::proto;

class LocalProxyTable final : public Table {
 public:
  LocalProxyTable(std::string name, std::unique_ptr<Table> inner, OpenOptions o)
      : Table("proxy", std::move(name), std::move(o)), inner_(std::move(inner)) {}
  bool fixed() const override { return inner_->fixed(); }
  Result<std::optional<std::string>> lookup(std::string_view key) override { return inner_->lookup(key); }
  Status for_each(const std::function<bool(std::string_view, std::string_view)>&) override {
    return make_error("table {}: can't sequence maps via the proxy service", spec());
  }
  bool changed() const override { return inner_->changed(); }

 private:
  std::unique_ptr<Table> inner_;
};

// The process's connection to proxymap.
class Proxymap {
 public:
  Result<proto::ProxymapReply> call(const proto::ProxymapRequest& req) {
    std::lock_guard lock(mu_);
    const auto& s = config::proxy_settings();
    Error last = make_error("no attempt");
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!client_ || !client_->usable()) {
        client_.reset();
        auto c = ipc::Client::connect(s.socket, s.timeout);
        if (!c) {
          last = c.take_error();
          continue;
        }
        client_.emplace(std::move(*c));
      }
      auto r = client_->call<proto::ProxymapReply>(req, s.timeout);
      if (r) return r;
      last = r.take_error();
      client_.reset();
    }
    return make_error("proxymap service ({}): {}", s.socket, last.message);
  }

 private:
  std::mutex mu_;
  std::optional<ipc::Client> client_;
};

Proxymap& proxymap() {
  static Proxymap p;
  return p;
}

proto::ProxymapRequest request(proto::ProxymapOp op, std::string_view table, const OpenOptions& o) {
  proto::ProxymapRequest r;
  r.request = op;
  r.table = std::string(table);
  r.fold_fix = o.fold_fix;
  r.fold_mul = o.fold_mul;
  return r;
}

class RemoteProxyTable final : public Table {
 public:
  RemoteProxyTable(std::string name, bool fixed, OpenOptions o)
      : Table("proxy", std::move(name), std::move(o)), fixed_(fixed) {}
  bool fixed() const override { return fixed_; }

  Result<std::optional<std::string>> lookup(std::string_view key) override {
    if (key.size() > proto::kProxymapMaxKey) return make_error("table {}: key too long", spec());
    auto req = request(proto::ProxymapOp::Lookup, name(), options());
    req.key = std::string(key);
    auto r = proxymap().call(req);
    if (!r) return make_error("table {}: {}", spec(), r.error().message);
    switch (r->status) {
      case proto::ProxymapStatus::Ok: return std::optional<std::string>(std::move(r->value));
      case proto::ProxymapStatus::NotFound: return std::optional<std::string>();
      case proto::ProxymapStatus::Retry: return make_error("table {}: lookup error", spec());
      case proto::ProxymapStatus::Deny: return make_error("table {}: {}", spec(), not_approved(name()));
      case proto::ProxymapStatus::Bad: break;
    }
    return make_error("table {}: the proxymap service cannot open or use the table", spec());
  }
  Status for_each(const std::function<bool(std::string_view, std::string_view)>&) override {
    return make_error("table {}: can't sequence maps via the proxy service", spec());
  }

  static std::string not_approved(std::string_view table) {
    return fmt::format("proxymap service is not configured for table \"{}\" (list proxy:{} in proxy_read_maps)",
                       table, table);
  }

 private:
  bool fixed_;
};

}  // namespace

Result<std::unique_ptr<Table>> open_proxy(std::string_view n, const OpenOptions& o) {
  if (o.access != Access::ReadOnly)
    return make_error("proxy:{}: write access is not supported (Postern has no proxywrite service)", n);
  auto parts = split_spec(n);
  if (!parts) return parts.take_error();
  if (parts->first == "proxy") return make_error("proxy:{}: nested proxy tables are not allowed", n);
  if (!is_supported_type(parts->first)) return make_error("unsupported dictionary type: {}", parts->first);
  // Security-sensitive data never comes through proxymap: the table is
  // opened here, directly, as Postfix's dict_proxy_open() does.
  if (o.paranoid) return open_table(n, o);
  const auto& s = config::proxy_settings();
  if (s.configured && !s.approved.contains(n))
    return make_error("proxy:{}: {}", n, RemoteProxyTable::not_approved(n));
  if (s.configured && !s.socket.empty()) {
    auto r = proxymap().call(request(proto::ProxymapOp::Open, n, o));
    if (!r) return make_error("proxy:{}: {}", n, r.error().message);
    switch (r->status) {
      case proto::ProxymapStatus::Ok:
        return std::unique_ptr<Table>(new RemoteProxyTable(std::string(n), r->fixed, o));
      case proto::ProxymapStatus::Deny: return make_error("proxy:{}: {}", n, RemoteProxyTable::not_approved(n));
      default:
        return make_error("proxy:{}: the proxymap service cannot open the table (its log says why)", n);
    }
  }
  auto inner = open_table(n, o);
  if (!inner) return inner.take_error();
  return std::unique_ptr<Table>(new LocalProxyTable(std::string(n), std::move(*inner), o));
}

}  // namespace postern::maps::detail
