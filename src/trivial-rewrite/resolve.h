// resolve.h - trivial-rewrite's address resolution (Postfix resolve_addr()).
//
// Given a recipient address (internal form), decide where its mail goes:
//
// 1. Strip local domains. While the address ends in @domain and the domain is
//    local ($mydestination; an address literal of ours - inet_interfaces,
//    proxy_interfaces; with resolve_numeric_domain also a bare IP of ours;
//    with resolve_null_domain the empty domain of "user@"), remove it. If
//    what is left still routes ("@", or "!" with swap_bangpath, or "%" with
//    allow_percent_hack), rewrite it (rewrite.h, local context) and repeat:
//    user%host@localhost -> user@host. The empty address resolves as
//    postmaster, an empty local part as $empty_address_recipient.
// 2. Classify and pick transport and next hop:
//      local    (no domain left)         $local_transport, nexthop from it or $myhostname;
//                                         recipient user@<the stripped domain or $myhostname>
//      alias    $virtual_alias_domains   transport "error", "5.1.1 User unknown in virtual alias table"
//      virtual  $virtual_mailbox_domains $virtual_transport, nexthop from it or $myhostname
//      relay    $relay_domains           $relay_transport
//      default  everything else          sender_dependent_default_transport_maps, $default_transport
//    For relay and default the next hop comes, by decreasing precedence, from
//    the transport setting ("smtp:[gw]"), sender_dependent_relayhost_maps,
//    $relayhost, then the recipient domain. "[host]" and "host:port" forms are
//    kept as written.
// 3. transport_maps override (transport(5)): keys tried in order: the full
//    address; without its extension (recipient_delimiter); the domain; its
//    parents as ".parent" (or "parent" when transport_maps is listed in
//    parent_domain_matches_subdomains); "*". Results are "transport:nexthop":
//    empty transport keeps the transport, a transport with an empty next hop
//    uses the recipient domain, ":" or empty changes nothing. Partial keys
//    are looked up in fixed-string tables only.
// 4. relocated_maps (relocated(5)), whatever the class: a listed address
//    goes to transport "error" with "5.1.6 User has moved to NEW".
// Flags: the class bit; kFinal for local, alias and virtual; kRouted when a
// non-local address still has "@", "!" or "%" in its local part or had a
// source route; kError (transport "error") for a malformed domain; kFail when
// a table lookup failed (try again later) or a transport is empty.
//
// Verify mode (address verification probes) reads address_verify_local_transport,
// address_verify_virtual_transport, address_verify_relay_transport,
// address_verify_default_transport, address_verify_relayhost,
// address_verify_transport_maps and address_verify_sender_dependent_relayhost_maps
// instead of the plain names.
//
// Other parameters: myhostname, mydestination, inet_interfaces, inet_protocols,
// proxy_interfaces, virtual_alias_domains, virtual_mailbox_domains,
// relay_domains, parent_domain_matches_subdomains, recipient_delimiter,
// empty_address_recipient, resolve_null_domain, resolve_numeric_domain,
// show_user_unknown_table_name, sender_dependent_default_transport_maps,
// relocated_maps, and
// the rewriting parameters of rewrite.h. Logs: warnings for table lookup
// failures and empty transports.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "ipc/proto/trivial_rewrite.h"
#include "maps/map_list.h"
#include "rewrite.h"
#include "maps/match_list.h"

namespace postern::rewrite_service {

using Resolved = ipc::proto::ResolveReply;

class Resolver {
 public:
  enum class Mode { Normal, Verify };

  // Opens every table the parameters name. `own_addresses`: normalized IP
  // addresses (inet_ntop form, no brackets) that count as local; nullopt
  // computes them from inet_interfaces, inet_protocols and proxy_interfaces.
  static Result<Resolver> create(const config::Config& cfg, Mode mode,
                                 std::optional<std::vector<std::string>> own_addresses = std::nullopt);

  Resolved resolve(std::string_view address, std::optional<std::string_view> sender = {});

  // True when a table file changed since the tables were opened.
  bool changed() const;

 private:
  Resolver() = default;
  // True/false, or an error when a table behind mydestination failed.
  Result<bool> is_local_domain(std::string_view domain);
  // The "local" of the address tables' search order (maps/address_search.h):
  // $myorigin too, as Postfix's mail_addr_find() (a bare "user" key matches
  // user@$myorigin in relocated and sender-dependent tables).
  Result<bool> is_search_local(std::string_view domain);
  bool is_own_address(std::string_view ip) const;
  // A sender_dependent_* table's override for this sender ("" when none);
  // `null_key` stands for the null sender.
  Result<std::string> sender_lookup(maps::MapList& maps, const std::string& map_name, const std::string& null_key,
                                    std::optional<std::string_view> sender);
  // transport_maps; returns false when nothing matched.
  Result<bool> transport_lookup(const std::string& recipient, const std::string& domain, Resolved& r);
  // relocated_maps: "error", "5.1.6 User has moved to NEW" when listed.
  Status relocate(Resolved& r);

  RewriteParams local_rewrite_;
  std::string myhostname_;
  std::string myorigin_;
  std::string empty_address_recipient_;
  std::string recipient_delimiter_;
  bool resolve_null_domain_ = false;
  bool resolve_numeric_domain_ = false;
  bool show_table_name_ = true;
  bool transport_parent_style_ = false;
  std::string relayhost_maps_name_, relayhost_null_key_, default_transport_null_key_;
  std::string local_transport_, virtual_transport_, relay_transport_, default_transport_, relayhost_;
  std::vector<std::string> own_addresses_;
  maps::MatchList mydestination_, virtual_alias_domains_, virtual_mailbox_domains_, relay_domains_;
  maps::MapList transport_maps_, sender_relayhost_maps_, sender_default_transport_maps_, relocated_maps_;
};

}  // namespace postern::rewrite_service
