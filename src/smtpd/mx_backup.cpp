// mx_backup.cpp - see mx_backup.h.
#include "mx_backup.h"

#include <fmt/format.h>

namespace postern::smtpd {

MxBackupAnswer decide_mx_backup(const std::vector<MxHostFacts>& hosts, bool restrict_networks) {
  MxBackupAnswer a;
  if (hosts.empty()) return a;
  const std::uint16_t best = hosts.front().preference;
  // A host we could not look up may be this one: "not a backup" would be a
  // guess, so that turns into a deferral should nothing else permit.
  std::string unknown;
  auto no = [&]() {
    if (!unknown.empty()) return MxBackupAnswer{MxBackup::kTempFail, unknown};
    return MxBackupAnswer{};
  };
  bool backup = false, any_backup = false;
  for (const auto& h : hosts) {
    if (h.lookup_failed && unknown.empty())
      unknown = fmt::format("Unable to look up host {} as mail exchanger", h.host);
    if (h.preference == best) {
      if (h.is_me) return MxBackupAnswer{};  // the primary: the domain must be listed here
    } else {
      any_backup = true;
      backup = backup || h.is_me;
    }
  }
  if (!any_backup || !backup) return no();
  if (restrict_networks) {
    for (const auto& h : hosts)
      if (h.preference == best && (h.lookup_failed || !h.in_networks)) return no();
  }
  return MxBackupAnswer{MxBackup::kYes, {}};
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
asio::awaitable<MxBackupAnswer> check_mx_backup(
    dns::Resolver& dns, std::string domain, std::function<bool(const asio::ip::address&)> is_me,
    std::function<Result<bool>(const asio::ip::address&)> in_networks) {
  auto mx = co_await dns.lookup_mx(domain);
  if (mx.outcome == dns::Outcome::TempFail)
    co_return MxBackupAnswer{MxBackup::kTempFail, "Unable to look up mail exchanger information: " + mx.detail};
  if (mx.outcome != dns::Outcome::Ok) co_return MxBackupAnswer{};
  std::vector<MxHostFacts> facts;
  for (const auto& r : mx.records) {
    if (facts.size() >= dns::kMaxMxHostsResolved) break;
    MxHostFacts f;
    f.preference = r.preference;
    f.host = r.host;
    auto addrs = co_await dns.lookup_addresses(r.host);
    if (addrs.outcome == dns::Outcome::TempFail) {
      f.lookup_failed = true;
    } else if (addrs.ok()) {
      for (const auto& a : addrs.records) {
        f.is_me = f.is_me || is_me(a);
        if (in_networks) {
          auto in = in_networks(a);
          if (!in) f.lookup_failed = true;  // the network table failed: not known
          else if (!*in) f.in_networks = false;
        }
      }
    } else {
      f.in_networks = false;  // a primary without addresses vouches for nothing
    }
    facts.push_back(std::move(f));
  }
  co_return decide_mx_backup(facts, static_cast<bool>(in_networks));
}
#endif

}  // namespace postern::smtpd
