// sql_server.cpp - see sql_server.h.
#include "maps/sql_server.h"

#include "base/strings.h"
#include "log/log.h"
#include "maps/internal.h"
#include "maps/source.h"

namespace postern::maps::sql {

Result<ServerParams::Opened> ServerParams::open(std::string_view type, std::string_view name, const OpenOptions& o,
                                                std::string_view function_query_param) {
  if (auto s = detail::require_read_only(type, name, o); !s) return s.take_error();
  if (name.front() != '/' && name.front() != '.')
    return make_error("{}:{}: name a parameter file by its path (Postern does not read {} parameters from main.cf)",
                      type, str::printable(name, 200), type);
  auto params = Params::read(type, std::string(name));
  if (!params) return params.take_error();
  std::string function_query;
  if (!function_query_param.empty()) {
    std::string f = params->get(function_query_param);
    if (!f.empty()) function_query = "SELECT " + f + "('%s')";
  }
  auto common = Common::from(*params, o, function_query);
  if (!common) return common.take_error();
  ServerParams s;
  s.hosts = split_braced(params->get("hosts", "localhost"));
  if (s.hosts.empty()) return make_error("{}:{}: hosts is empty", type, name);
  s.user = params->get("user");
  s.password = params->get("password");
  s.dbname = params->get("dbname");
  auto idle = params->seconds("idle_interval", "60");
  if (!idle) return idle.take_error();
  auto retry = params->seconds("retry_interval", "60");
  if (!retry) return retry.take_error();
  s.idle_interval = *idle;
  s.retry_interval = *retry;
  return Opened{std::move(*params), std::move(*common), std::move(s)};
}

ServerTable::ServerTable(std::string type, std::string name, std::string product, Common common,
                         std::size_t servers, const ServerParams& p, OpenOptions o)
    : Table(std::move(type), std::move(name), std::move(o)),
      common_(std::move(common)),
      product_(std::move(product)),
      servers_(servers, p.retry_interval),
      idle_interval_(p.idle_interval) {}

Status ServerTable::connect() {
  std::string errors;
  const auto now = Clock::now();
  for (std::size_t i : servers_.due(now)) {
    auto c = connect_to(i);
    if (c) {
      last_used_ = now;
      return {};
    }
    servers_.failed(i, now);
    log::warning("{}: cannot connect to {} server {}: {}", spec(), product_, server_text(i), c.error().message);
    if (!errors.empty()) errors += "; ";
    errors += server_text(i) + ": " + c.error().message;
  }
  if (errors.empty()) return servers_.none_due();
  return make_error("cannot connect to a {} server: {}", product_, errors);
}

Result<std::optional<std::string>> ServerTable::lookup(std::string_view raw) {
  std::string key = fixed_key(raw);
  if (key.empty()) return std::optional<std::string>();
  auto ok = common_.eligible(key);
  if (!ok) return ok.take_error();
  if (!*ok) return std::optional<std::string>();
  if (connected() && Clock::now() - last_used_ > idle_interval_) disconnect();
  for (int attempt = 0;; ++attempt) {
    const bool kept = connected();
    if (!kept) {
      if (auto c = connect(); !c) return c.take_error();
    }
    auto r = query(key);
    if (connection_lost()) {
      disconnect();
      if (!r && kept && attempt == 0) continue;
    }
    last_used_ = Clock::now();
    return r;
  }
}

}  // namespace postern::maps::sql
