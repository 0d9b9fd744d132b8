// mailbox.h - virtual(8)'s decisions: where a recipient's mail goes, as whom,
// and the file work of one delivery.
//
// Resolver::resolve() turns a recipient address into a Destination:
//
//   1. virtual_mailbox_maps, in Postfix's address search order
//      (maps/address_search.h with no domain counted as local):
//      user+ext@domain, user@domain (recipient_delimiter), @domain.
//      Not found: bounce "5.1.1 unknown user: "ADDR"" (Postfix's text).
//      Table error: defer 4.3.0.
//   2. The result is a path relative to virtual_mailbox_base; ending in "/"
//      means a Maildir, else a UNIX mailbox file. A result that is absolute,
//      has a ".." component, control characters or is too long is a
//      configuration error: warning, defer 4.3.5.
//   3. virtual_uid_maps and virtual_gid_maps, same search order. Missing,
//      not a plain decimal number, or a uid below virtual_minimum_uid (uid 0
//      always is): warning, defer 4.3.5 ("mail system configuration error").
//
// Every table value is hostile: lengths are bounded, numbers are parsed
// strictly, paths are checked before they are used.
//
// store() is the file work of one delivery, run in a worker that already
// became the recipient's uid/gid (agent.h). Missing directories below
// virtual_mailbox_base are created with mode 0700 as that identity (so they
// belong to the recipient); a Maildir gets tmp/ new/ cur/. An mbox file is
// opened through deliver::safe_open_append() (no symlinks, no hard links,
// regular files only, owned by the identity the worker runs as), locked
// with virtual_mailbox_lock and appended to; virtual_mailbox_limit bounds
// the mbox file and each Maildir file (5.2.2, a bounce).
//
// Parameters: passed in by the agent (virtual_mailbox_base,
// virtual_minimum_uid, recipient_delimiter, virtual_mailbox_lock,
// virtual_mailbox_limit, deliver_lock_*, stale_lock_time). Logs warnings
// for configuration errors in table results.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "deliver/copy.h"
#include "deliver/delivered_to.h"
#include "deliver/lock.h"
#include "deliver/outcome.h"
#include "maps/map_list.h"

namespace postern::virt {

// Bounds on table results.
inline constexpr std::size_t kMaxMailboxResult = 1024;
inline constexpr std::size_t kMaxPath = 4000;  // the worker task carries at most 4096

struct Destination {
  std::string path;     // virtual_mailbox_base + "/" + the table result
  std::string relative; // the table result
  bool maildir = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Why `result` is not an acceptable mailbox path, or nullopt when it is.
std::optional<std::string> check_mailbox_result(std::string_view result);

// virtual_mailbox_base joined with a checked table result (one "/" between).
std::string mailbox_path(std::string_view base, std::string_view relative);

// A uid or gid from a table: decimal digits only (surrounding blanks
// allowed), below 2^32 - 1 (which means "no id" to the kernel).
std::optional<std::uint32_t> parse_id(std::string_view value);

struct ResolverOptions {
  std::string mailbox_base;  // absolute, no trailing "/" needed
  std::int64_t minimum_uid = 100;
  std::string recipient_delimiter;
};

class Resolver {
 public:
  Resolver() = default;
  Resolver(maps::MapList mailbox, maps::MapList uid, maps::MapList gid, ResolverOptions options)
      : mailbox_(std::move(mailbox)), uid_(std::move(uid)), gid_(std::move(gid)), opts_(std::move(options)) {}

  // Opens the three tables (before any privilege drop).
  static Result<Resolver> open(std::string_view mailbox_maps, std::string_view uid_maps,
                               std::string_view gid_maps, ResolverOptions options);

  deliver::Attempt<Destination> resolve(std::string_view address);

  bool changed() const { return mailbox_.changed() || uid_.changed() || gid_.changed(); }

 private:
  // The table's answer for `address`; a failure Outcome on a table error.
  deliver::Attempt<std::optional<std::string>> find(maps::MapList& maps, std::string_view address);

  maps::MapList mailbox_, uid_, gid_;
  ResolverOptions opts_;
};

using deliver::delivered_to_values;  // loop detection, shared with local(8)

struct StoreOptions {
  std::string mailbox_base;
  deliver::LockMethods locks;
  deliver::LockParams lock_params;
  std::uint64_t size_limit = 0;  // virtual_mailbox_limit; 0 = none
  std::string hostname;          // for Maildir file names
  bool sync = true;
};

// Delivers one message to `d`, with the identity of the calling process.
// Success: "delivered to maildir" or "delivered to mailbox".
deliver::Outcome store(const Destination& d, const deliver::Envelope& envelope, deliver::ContentReader& content,
                       const StoreOptions& options);

}  // namespace postern::virt
