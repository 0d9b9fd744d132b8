// engine.h - local(8)'s decisions: what one recipient expands to, and where each piece goes.
//
// For one recipient of a delivery request the Engine walks Postfix's
// local(8) order, calling a Backend for every lookup and every delivery
// (the real one in agent.cpp forks privilege-dropped children; the unit
// tests use a recording fake):
//
//   1. a domain that is not ours: forward (resubmit through cleanup);
//   2. loop check: a Delivered-To: header equal to this address bounces
//      5.4.6 "mail forwarding loop for ADDR";
//   3. alias_maps: "user+ext", then "user" (recipient_delimiter); a table
//      error defers (4.3.0). The expansion is a list of addresses, /files,
//      |commands and :include:/files. An alias that names itself ("bob: bob,
//      /archive") reaches the user without a second alias lookup. If the
//      alias "owner-NAME" exists it becomes the sender of the expansions
//      (owner-NAME@$myorigin). Commands and files run with the privileges
//      of the alias database owner, or default_privs when root owns it;
//   4. the passwd lookup (getpwnam of the lowercased name without
//      extension);
//   5. for a user found there (whose home directory must exist with
//      require_home_directory, or the delivery is deferred), the first
//      forward_path file that exists
//      (~/.forward+ext, ~/.forward), read as the user (a symlink, a foreign
//      or world-writable file is skipped with a warning: mailbox): its
//      entries are expanded like an alias, commands and files run as the
//      user; "\user" or "user" inside it reaches the mailbox, other local
//      names are resubmitted;
//   6. mailbox_transport_maps (key: the name without extension), else
//      mailbox_transport: the delivery is handed to that transport (below),
//      whether or not the user exists, as in Postfix;
//   7. an unknown user: fallback_transport_maps, else fallback_transport
//      (handed on likewise), else luser_relay, else bounce 5.1.1 unknown
//      user: "name";
//   8. the mailbox: mailbox_command_maps, else mailbox_command, else home_mailbox (Maildir when it
//      ends in '/'), else mail_spool_directory/user.
//
// Handing on (Postfix's deliver_pass()): the value is "transport" or
// "transport:nexthop" (nexthop defaults to the request's); local sends that
// agent a delivery request for this one address, on the same queue file,
// and takes its answer as the verdict. That agent logs the status line.
//
// Local names in expansions (no domain, or a domain in mydestination) are
// expanded here, recursively: an alias at once, wherever it was named. A
// local name that is not an alias is delivered here (its .forward, its
// mailbox) when it came from an alias without an owner- companion, and
// resubmitted as a new message, as Postfix's deliver_switch() does, when it
// came from an :include: file, from an owner- list or from another user's
// .forward: each member then has its own queue file, retries and bounces
// (to owner-NAME), so that one member's temporary failure does not hold
// the others back nor deliver them twice on the retry. "bob" in bob's own
// .forward is bob's mailbox. Addresses elsewhere and resubmitted local
// names are collected and resubmitted at the end, one new message per
// sender (as Postfix's local batches its forwards); the recursion is bounded
// (kMaxDepth levels, kMaxLeaves deliveries per request recipient) and a
// destination reached twice (same mailbox or address; same file, command or
// :include: file with the same rights) is delivered or read once, like
// Postfix's duplicate filter.
//
// |command and /file entries are refused with 5.7.1 unless
// allow_mail_to_commands / allow_mail_to_files list where they came from
// (alias, forward, include). An :include: file's entries run with the
// privileges of the file's owner only where no rights were chosen yet (a
// root-owned alias table, root's .forward) and the owner is not root; in a
// user's .forward or a user-owned alias table they keep that user's rights,
// as in Postfix, so that including a file someone else owns never runs
// anything as them.
//
// An extension with a '/' is dropped (it would reach file names through
// $extension), as Postfix drops it.
//
// Reads no parameters (Settings come from the agent); logs "address with
// illegal extension" warnings, nothing else (the agent logs one status
// line per Leaf).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "deliver/outcome.h"
#include "expand.h"
#include "security/privileges.h"

namespace postern::local {

inline constexpr int kMaxDepth = 20;
inline constexpr std::size_t kMaxLeaves = 1000;

struct EngineSettings {
  std::string recipient_delimiter;  // recipient_delimiter
  std::string myorigin;             // qualifies owner- senders and bare names for the loop check
  std::vector<std::string> local_domains;  // mydestination (literal names, lowercased)
  std::vector<std::string> forward_path;   // templates, see expand_local()
  std::string forward_filter;              // forward_expansion_filter (empty: none)
  std::string luser_relay;                 // template; empty: bounce unknown users
  std::string mailbox_transport;           // "transport[:nexthop]"; empty: deliver here
  std::string fallback_transport;          // for unknown users; empty: luser_relay or bounce
  AllowList allow_commands{true, true, false};
  AllowList allow_files{true, true, false};
  bool owner_request_special = true;
  bool expand_owner_alias = false;
  // require_home_directory: a user whose home directory the user cannot
  // stat gets a deferral before .forward and mailbox (NFS homes not
  // mounted yet), as in Postfix.
  bool require_home_directory = false;
};

// Whose privileges a command or file delivery uses.
struct Privs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
  // default_privs standing in for root's rights: no home or shell of its
  // own is given to commands (Postfix leaves HOME and SHELL unset).
  bool fallback = false;
  static Privs of(const security::UserInfo& u) { return {u.name, u.uid, u.gid, u.home, u.shell}; }
};

// What a delivery needs to know besides the destination.
struct DeliveryInfo {
  std::string sender;        // may be an owner- alias
  std::string address;       // the recipient whose expansion this is (to=<...> in the log)
  std::string local;         // its local part (with extension), lowercased ($local)
  std::string base;          // the local part without extension ($user, LOGNAME)
  std::string delimiter;     // the recipient_delimiter character it used; empty without extension
  std::string extension;     // lowercased
  std::string domain;        // of the qualified address, lowercased
  std::optional<security::UserInfo> user;  // the system user, when the address is one
};

// The $name attributes of a recipient, for forward_path, luser_relay and
// command_execution_directory: $user is its local part without extension;
// $home and $shell those given (the user's, or whose rights a command has).
LocalVars local_vars(const DeliveryInfo& d, std::string home = {}, std::string shell = {});

// Which per-user transport table a lookup is for.
enum class TransportTable { Mailbox, Fallback };  // mailbox_transport_maps, fallback_transport_maps

// What a delivery handed to another transport came back with.
struct Passed {
  deliver::Outcome outcome;
  // The other agent answered, and so logged the status line itself; false
  // when it could not be asked (local logs the deferral).
  bool logged = false;
};

struct IncludeFile {
  std::string text;
  uid_t owner = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual bool is_local_domain(std::string_view domain) = 0;
  // nullopt: not found; Error: the tables could not answer (defer).
  virtual Result<std::optional<std::string>> lookup_alias(std::string_view key) = 0;
  // The owner of the alias table that answered last (commands/files run as
  // that user; nullopt: root owns it, use default_privs).
  virtual std::optional<Privs> alias_owner() = 0;
  virtual Privs default_privs() = 0;
  virtual Result<std::optional<security::UserInfo>> lookup_user(std::string_view name) = 0;
  // The table's transport for `user` (nullopt: no table, or no entry);
  // Error: the table could not answer (defer).
  virtual Result<std::optional<std::string>> lookup_transport(TransportTable table, std::string_view user) = 0;
  // Hands the delivery to d.address over to `service` ("transport" or
  // "transport:nexthop", not yet checked).
  virtual Passed pass(const DeliveryInfo& d, const std::string& service) = 0;
  virtual Result<std::optional<security::UserInfo>> lookup_uid(uid_t uid) = 0;
  // Reads the first of `paths` that exists, as `user`. nullopt: none
  // exists, or the first one is not fit to use (not a regular file, a
  // foreign owner, world-writable: the mailbox takes the mail).
  virtual deliver::Attempt<std::optional<std::string>> read_forward(const security::UserInfo& user,
                                                                    const std::vector<std::string>& paths) = 0;
  // Reads an :include: file as `as`, or, where no rights were chosen yet
  // (nullopt: a root-owned alias table, root's .forward), with root's rights
  // when root owns the file and with its owner's otherwise (Postfix's
  // stat_as()/open_as() as root, then as the owner). IncludeFile::owner
  // says whose file it is.
  virtual deliver::Attempt<IncludeFile> read_include(const std::string& path, const std::optional<Privs>& as) = 0;
  // require_home_directory: the deferral when `user` cannot stat its home
  // directory; nullopt when it can.
  virtual std::optional<deliver::Outcome> check_home(const security::UserInfo& user) = 0;
  virtual deliver::Outcome deliver_mailbox(const DeliveryInfo& d, const security::UserInfo& user) = 0;
  virtual deliver::Outcome deliver_file(const DeliveryInfo& d, const std::string& path, const Privs& as,
                                        Origin origin) = 0;
  virtual deliver::Outcome deliver_command(const DeliveryInfo& d, const std::string& command, const Privs& as,
                                           Origin origin) = 0;
  // Resubmits the message once, through cleanup, to all `addresses` with
  // this envelope `sender`; the outcome holds for each of them.
  virtual deliver::Outcome forward(const std::string& sender, const std::vector<std::string>& addresses) = 0;
};

// One final delivery (or failure) inside a recipient's expansion.
struct Leaf {
  std::string to;  // the address whose delivery this is (log: to=<...>)
  deliver::Outcome outcome;
  bool logged = false;  // handed on: the other agent logged it
};

struct RecipientResult {
  std::vector<Leaf> leaves;
  deliver::Outcome outcome;  // the request recipient's verdict (see aggregate())
  // The request recipient was an alias or had a .forward, expanded with
  // the sender kept: its NOTIFY=SUCCESS notice says "expanded" and the
  // members' copies go without SUCCESS (Postfix's alias.c, dotforward.c).
  // An owner- list (a new sender) reports "delivered".
  bool expanded = false;
};

// All leaves sent: sent. Any deferred: deferred (the whole recipient is
// tried again; duplicates are possible, loss is not). Otherwise any bounced:
// that bounce (the other destinations already have their copy).
deliver::Outcome aggregate(const std::vector<Leaf>& leaves);

class Engine {
 public:
  Engine(const EngineSettings& settings, Backend& backend) : s_(settings), b_(backend) {}

  // `address` is the request recipient (internal form); `delivered_to` the
  // lowercased Delivered-To: values already in the message.
  RecipientResult deliver(const std::string& address, const std::string& sender,
                          const std::vector<std::string>& delivered_to);

 private:
  struct Ctx {
    std::string sender;
    int depth = 0;
    Origin origin = Origin::Alias;
    std::optional<Privs> privs;          // for commands and files from this list; none: default_privs, not chosen yet
    // Postfix's owner attribute: the owner- address of the list being
    // expanded, or the user whose .forward this is; none in an alias
    // without owner-. Local members other than the owner are resubmitted.
    std::optional<std::string> owner;
    std::set<std::string> alias_seen;    // aliases expanded on the way here
    std::set<std::string> forward_seen;  // users whose .forward was read on the way here
    std::set<std::string> include_seen;  // :include: files on the way here
  };

  void resolve(const std::string& address, Ctx ctx);
  void expand_list(const std::string& text, const DeliveryInfo& where, Ctx ctx);
  void leaf(const std::string& to, deliver::Outcome o);
  // Queues `address` for resubmission with the context's sender.
  void resubmit(const std::string& address, const Ctx& ctx);
  // Steps 6 and 7: true when `table` or `fixed` named a transport and the
  // delivery was handed to it (or deferred for a table failure).
  bool hand_on(TransportTable table, const std::string& fixed, const DeliveryInfo& info, const std::string& user);
  bool first_time(const std::string& key);
  static std::string privs_key(const Ctx& ctx);
  std::string qualify(const std::string& address) const;

  const EngineSettings& s_;
  Backend& b_;
  std::vector<std::string> loop_headers_;
  std::set<std::string> done_;  // duplicate filter
  std::vector<Leaf> leaves_;
  bool expanded_ = false;
  struct PendingForward {
    std::size_t leaf;  // index into leaves_, whose outcome the batch decides
    std::string sender;
    std::string address;
  };
  std::vector<PendingForward> forwards_;
  void flush_forwards();
};

}  // namespace postern::local
