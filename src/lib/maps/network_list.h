// network_list.h - Postfix's network lists (mynetworks, permit_mx_backup_networks,
// smtpd_authorized_xclient_hosts, ...): client addresses against networks.
//
// A list of entries, tried in order; the first that matches decides:
//   192.0.2.1  192.0.2.0/24  [2001:db8::1]  [2001:db8::]/32  2001:db8::/32
//              an address or a network (brackets optional for IPv6);
//   !entry     a match means "not in the list" and stops the search;
//   /file/name entries read from the file ("#" comments; nested files up to
//              four deep);
//   type:table the address is looked up as a key; any value matches.
// An IPv4-mapped IPv6 client address (::ffff:192.0.2.1) matches IPv4
// networks. A malformed entry is an error at parse(); a table error at
// contains() is returned, so that callers defer instead of deciding wrongly.
// Used by smtpd and by cleanup (local_header_rewrite_clients).
//
// Reads no parameters itself; logs nothing.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/map_list.h"

namespace postern::maps {

class NetworkList {
 public:
  // `list` is the parameter's value; `title` names it in warnings.
  static Result<NetworkList> parse(std::string_view title, std::string_view list);
  // Fails only when a table lookup fails (the caller defers).
  Result<bool> contains(std::string_view addr);

 private:
  struct Net {
    bool negate = false;
    int family = 0;  // AF_INET / AF_INET6
    unsigned char bytes[16] = {};
    int prefix = 0;
    std::unique_ptr<MapList> table;  // type:table entry
  };
  static Status add_entry(NetworkList& nl, std::string_view title, std::string entry, int depth);
  std::vector<Net> nets_;
};

// Parse "a.b.c.d" or an IPv6 address (without brackets): family and bytes.
bool parse_ip(std::string_view text, int& family, unsigned char out[16]);

}  // namespace postern::maps
