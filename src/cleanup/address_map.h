// address_map.h - cleanup's table-driven address mappings.
//
// What cleanup(8) does to an address after trivial-rewrite has put it in
// user@domain form, in Postfix's order:
//
//   canonical   sender_canonical_maps / recipient_canonical_maps, then
//               canonical_maps, each only for the address classes its
//               *_classes parameter names (envelope_sender,
//               envelope_recipient, header_sender, header_recipient);
//               one address in, one out; a result is looked up again until
//               it is not found or maps to itself (ten steps at most, then
//               "unreasonable ... map nesting" defers the message).
//   masquerade  masquerade_domains: user@host.example.com -> user@example.com
//               for the classes in masquerade_classes, except local parts in
//               masquerade_exceptions (a name list: names, /file,
//               type:table); "!domain" entries stop the search.
//   virtual     virtual_alias_maps, envelope recipients only: one address
//               in, many out, recursively, with Postfix's loop handling (an
//               address that comes back is kept as it is, not expanded
//               again), virtual_alias_recursion_limit,
//               virtual_alias_expansion_limit and
//               virtual_alias_address_length_limit.
//   dedupe      DuplicateFilter: the same recipient (with the same DSN
//               details) is written once; at most duplicate_filter_limit
//               entries are remembered.
//
// Table searches follow Postfix's address search order (maps/address_search.h)
// with recipient_delimiter; results of the form "@domain" keep the local
// part; unmatched extensions are put back for the mappings named in
// propagate_unmatched_extensions. Results without a domain are qualified by
// the caller's `qualify` function (cleanup appends @$myorigin, as
// trivial-rewrite's local rule does).
//
// Lookup failures are not "not found": they come back as a MappingError
// with a temporary status, so the message is deferred, not mis-delivered.
//
//   bcc         sender_bcc_maps, recipient_bcc_maps: one copy address per
//               sender or recipient (the caller adds it, with always_bcc).
//
// Parameters (via CleanupSettings): canonical_maps, sender_canonical_maps,
// recipient_canonical_maps, sender_bcc_maps, recipient_bcc_maps, *_classes, masquerade_*, virtual_alias_maps and
// its limits, propagate_unmatched_extensions, recipient_delimiter,
// duplicate_filter_limit.
// Logs: warnings for over-long alias results, nesting and expansion limits
// and table errors (with the queue ID).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "maps/address_search.h"
#include "maps/map_list.h"
#include "maps/match_list.h"

namespace postern::cleanup {

// The fallback qualification (trivial-rewrite's append_at_myorigin part):
// "user" -> "user@myorigin"; addresses with a domain and the empty address
// are unchanged.
std::string append_myorigin(std::string_view address, std::string_view myorigin);

// Address classes (canonical_classes and friends).
namespace addr_class {
inline constexpr unsigned kEnvelopeSender = 1u << 0;
inline constexpr unsigned kEnvelopeRecipient = 1u << 1;
inline constexpr unsigned kHeaderSender = 1u << 2;
inline constexpr unsigned kHeaderRecipient = 1u << 3;
}  // namespace addr_class

// "envelope_sender, header_recipient" -> bits; unknown names are errors.
Result<unsigned> parse_classes(std::string_view param, const std::vector<std::string>& names);

// A problem that decides the fate of the whole message.
struct MappingError {
  int status = 451;          // SMTP reply code
  std::string dsn = "4.3.0";
  std::string reason;        // one line, for the client
  bool protocol = false;     // the client broke the protocol: answer now and close
};

struct MapperOptions {
  unsigned canonical_classes = 0;
  unsigned sender_canonical_classes = 0;
  unsigned recipient_canonical_classes = 0;
  unsigned masquerade_classes = 0;
  std::vector<std::string> masquerade_domains;     // as configured, "!" prefix allowed
  // masquerade_exceptions: local parts (names, /file, type:table, !name;
  // Postfix's string list); null: none. Shared: options are copied.
  std::shared_ptr<maps::MatchList> masquerade_exceptions;
  bool propagate_canonical = true;
  bool propagate_virtual = true;
  std::size_t virtual_expansion_limit = 1000;
  std::size_t virtual_recursion_limit = 1000;
  std::size_t virtual_address_length_limit = 1000;
  maps::AddressSearchOptions search;
  // Qualifies a table result that has no @domain.
  std::function<std::string(std::string_view)> qualify;
};

class AddressMapper {
 public:
  AddressMapper(MapperOptions options, maps::MapList canonical, maps::MapList sender_canonical,
                maps::MapList recipient_canonical, maps::MapList virtual_alias);

  // Canonical mapping then masquerading for an address of class `cls`
  // (exactly one addr_class bit). `id` is for log lines.
  Result<std::string> map_sender(std::string_view address, unsigned cls, std::string_view id);
  Result<std::string> map_recipient(std::string_view address, unsigned cls, std::string_view id);

  // virtual_alias_maps expansion of one envelope recipient. The result has
  // at least one address unless an error is returned.
  std::optional<MappingError> expand_virtual(std::string_view address, std::string_view id,
                                             std::vector<std::string>& out);

  // Automatic BCC (sender_bcc_maps, recipient_bcc_maps): the copy's address
  // for `address`, searched as the other tables are, or none. A result
  // without a domain is qualified; "@domain" results are not addresses.
  void set_bcc_maps(maps::MapList sender_bcc, maps::MapList recipient_bcc);
  Result<std::optional<std::string>> sender_bcc(std::string_view address, std::string_view id);
  Result<std::optional<std::string>> recipient_bcc(std::string_view address, std::string_view id);

  // Masquerading alone (exposed for tests). An error: masquerade_exceptions
  // could not answer (the message is deferred).
  Result<std::string> masquerade(std::string_view address, std::string_view id = {}) const;

  const MapperOptions& options() const { return opts_; }

 private:
  Result<std::string> canonical(maps::MapList& list, std::string_view address, std::string_view id);
  Result<std::optional<std::string>> bcc(maps::MapList& list, std::string_view address, std::string_view id);

  MapperOptions opts_;
  maps::MapList canonical_;
  maps::MapList sender_canonical_;
  maps::MapList recipient_canonical_;
  maps::MapList virtual_;
  maps::MapList sender_bcc_{"sender_bcc_maps", {}};
  maps::MapList recipient_bcc_{"recipient_bcc_maps", {}};
};

// Remembers recipients already written. Beyond `limit` entries new keys are
// not remembered (duplicates may then get through, as in Postfix); 0 is no
// bound, as Postfix's been_here table takes it (it used to turn the filter
// off, which delivered every duplicate).
//
// What counts as the same recipient is Postfix's: with
// enable_original_recipient, the address together with its original
// recipient, NOTIFY and ORCPT (two addresses that map onto one mailbox stay
// two recipients, so each keeps its X-Original-To and its DSN details);
// without it, the address alone.
class DuplicateFilter {
 public:
  DuplicateFilter(std::size_t limit, bool by_original_recipient)
      : limit_(limit), by_original_(by_original_recipient) {}
  // True the first time a key is seen.
  bool first(std::string_view address, std::string_view original, unsigned notify, std::string_view orcpt);

 private:
  std::size_t limit_;
  bool by_original_;
  std::unordered_set<std::string> seen_;
};

}  // namespace postern::cleanup
