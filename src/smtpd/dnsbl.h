// dnsbl.h - DNS block lists for smtpd: reject_rbl_client and reject_rhsbl_*.
//
// A list is named in a restriction as "domain" or "domain=d.d.d.d", where
// each d is a number, or a bracketed set of numbers and ranges
// ("127.0.0.[2;4..11]"), as in Postfix. A name is listed when its query
// name (the client address's reversed octets or nibbles, or a domain name,
// under the list's domain) has an A record; with a filter, one that the
// filter matches. The reason text is the TXT records of the same name,
// joined with " / " (at most kMaxReasonLength bytes), as in Postfix.
//
// A lookup that fails (timeout, SERVFAIL) counts as not listed: a block
// list that cannot be reached must not stop mail, as in Postfix.
//
// The policy never waits for DNS: it asks for what it is missing (Need),
// the session looks that up, stores it in Answers and runs the restrictions
// again (smtpd/policy.h).
//
// Parameters (read by the policy): maps_rbl_reject_code ($rbl_code),
// default_rbl_reply, rbl_reply_maps. Logs nothing (the session logs
// "warning: NAME: RBL lookup error: DETAIL" for a failed lookup).
#pragma once

#include <array>
#include <bitset>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "dns/types.h"
#include "smtp/reply.h"

namespace postern::smtpd::dnsbl {

struct List {
  std::string domain;  // lower case, without the filter
  // Allowed values of each octet of a listing address; unset: any address.
  std::optional<std::array<std::bitset<256>, 4>> filter;

  static Result<List> parse(std::string_view spec);
  bool listed(const std::vector<asio::ip::address>& addrs) const;
};

// What the session learned about one query name.
struct Answer {
  dns::Outcome outcome = dns::Outcome::TempFail;
  std::vector<asio::ip::address> addrs;  // the A records (Need::kAddresses: A and AAAA)
  std::optional<std::string> reason;     // the TXT text once looked up ("" when none)
  std::vector<std::string> hosts = {};   // Need::kMx, kNs: the server names
};
using Answers = std::map<std::string, Answer, std::less<>>;

// A lookup the restrictions need before they can decide.
struct Need {
  enum Type {
    kListed,     // a DNS list's A records for `name`
    kTxt,        // its TXT reason (the A records are known and list the name)
    kMx,         // check_*_mx_access: the MX hosts of `name`
    kNs,         // check_*_ns_access: the NS hosts of `name`
    kAddresses,  // check_*_{mx,ns,a}_access: a server's A and AAAA records
  };
  std::string name;  // the query name
  Type type = kListed;
  // kAddresses: for the warning when the lookup fails, Postfix's "MX host
  // HOST for Sender address <ADDR>" ("A host ..." stays silent).
  std::string context;
  // The key of the answer in Answers (DNS list names are the bare name).
  std::string key() const;
  static std::string key(Type type, std::string_view name);
};

// At most this many lookups for one RCPT command (each restriction needs at
// most two); beyond it the remaining lists count as not listed.
inline constexpr std::size_t kMaxLookupsPerCommand = 64;

inline constexpr std::size_t kMaxReasonLength = 500;
std::string join_reasons(const std::vector<std::string>& txt_records);

// The attribute values of one rejection, for default_rbl_reply and
// rbl_reply_maps templates (Postfix's names).
struct ReplyAttributes {
  std::string rbl_code, rbl_domain, rbl_reason, rbl_what, rbl_class;
  std::string client_address, client_name, reverse_client_name, helo_name;
  std::string sender, recipient;
};

// The reply that `templ` gives once expanded: "CODE [D.D.D] text". An error
// when the template does not expand or gives no 4xx/5xx code.
Result<smtp::Reply> build_reply(std::string_view templ, const ReplyAttributes& attrs);

}  // namespace postern::smtpd::dnsbl
