// mx_backup.h - Postfix's permit_mx_backup: accept mail for a domain that
// lists this host as a backup MX.
//
// The restriction permits a recipient whose domain we deliver to or relay
// for (as permit_auth_destination). For any other domain (no address
// literal, no routing tricks) the session looks up its MX hosts and their
// addresses before the restrictions run:
//   - no MX records (or none found): not a backup; a temporary DNS
//     failure turns a later 5xx into "450 4.4.4 ... Unable to look up mail
//     exchanger information" (defer_if_reject), as in Postfix;
//   - this host among the best-preference (primary) MX hosts: not a backup
//     (since Postfix 2.3: a primary MX must list the domain itself);
//   - this host among the others: a backup, and permitted, unless
//     permit_mx_backup_networks is set and a primary MX host has an address
//     outside it.
// "This host" is an address of inet_interfaces (with inet_protocols) or
// proxy_interfaces. At most kMaxMxHostsResolved MX hosts are looked up.
//
// decide_mx_backup() is the decision from the facts, check_mx_backup()
// gathers them. Reads no parameters (Policy passes them); logs nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "dns/resolver.h"

namespace postern::smtpd {

enum class MxBackup { kNo, kYes, kTempFail };

struct MxBackupAnswer {
  MxBackup verdict = MxBackup::kNo;
  std::string why;  // kTempFail: the DNS detail for the reply
};

// What permit_mx_backup knows of one MX host.
struct MxHostFacts {
  std::uint16_t preference = 0;
  bool lookup_failed = false;  // its addresses could not be looked up (for now)
  bool is_me = false;          // one of its addresses is this host's
  bool in_networks = true;     // all its addresses are in permit_mx_backup_networks
  std::string host;
};

// `hosts` sorted by preference. `restrict_networks`: permit_mx_backup_networks
// is set (then every primary must be in_networks).
MxBackupAnswer decide_mx_backup(const std::vector<MxHostFacts>& hosts, bool restrict_networks);

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// The lookups for `domain`. `is_me` tells this host's addresses;
// `in_networks` (empty: no restriction) matches permit_mx_backup_networks
// and fails when its table does.
asio::awaitable<MxBackupAnswer> check_mx_backup(
    dns::Resolver& dns, std::string domain, std::function<bool(const asio::ip::address&)> is_me,
    std::function<Result<bool>(const asio::ip::address&)> in_networks);
#endif

}  // namespace postern::smtpd
