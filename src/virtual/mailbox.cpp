// mailbox.cpp - see mailbox.h.
#include "mailbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/strings.h"
#include "deliver/maildir.h"
#include "deliver/mbox.h"
#include "log/log.h"
#include "maps/address_search.h"

namespace postern::virt {

using deliver::Outcome;

namespace {

constexpr std::size_t kMaxIdResult = 64;

Outcome config_error() { return Outcome::deferred("4.3.5", "mail system configuration error"); }

// The status of a mailbox that cannot be created, opened or locked, unless
// its errno says more (ENOSPC, EDQUOT...): virtual(8) defers, because the
// mailbox base is the administrator's to fix ("perhaps you need to create
// the maildirs in advance"), where local(8) bounces (5.2.0).
constexpr std::string_view kMailboxDsn = "4.2.0";

std::string without_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Creates the missing directories `base`/a, `base`/a/b, ... for every
// component of `relative` but the last, as the calling identity. Returns a
// failure Outcome, or nullopt.
std::optional<Outcome> make_parents(const std::string& base, std::string_view relative) {
  std::string path = without_trailing_slashes(base);
  auto parts = str::split(relative, "/");
  if (!relative.empty() && relative.back() != '/' && !parts.empty()) parts.pop_back();  // the file itself
  for (const auto& p : parts) {
    if (p.empty() || p == ".") continue;
    path += "/";
    path += p;
    if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) continue;
    int err = errno;
    return Outcome::from_errno(err, kMailboxDsn, fmt::format("create directory {}: {}", path, std::strerror(err)));
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_mailbox_result(std::string_view result) {
  if (result.empty()) return "empty mailbox path";
  if (result.size() > kMaxMailboxResult) return fmt::format("mailbox path longer than {} bytes", kMaxMailboxResult);
  for (unsigned char c : result)
    if (c < 0x20 || c == 0x7f) return "control character in mailbox path";
  if (result.front() == '/') return "absolute mailbox path (must be relative to virtual_mailbox_base)";
  for (const auto& part : str::split(result, "/"))
    if (part == "..") return "\"..\" in mailbox path";
  return std::nullopt;
}

std::string mailbox_path(std::string_view base, std::string_view relative) {
  std::string path = without_trailing_slashes(std::string(base));
  if (path != "/") path += "/";
  path += relative;
  return path;
}

std::optional<std::uint32_t> parse_id(std::string_view value) {
  value = str::trim(value);
  if (value.empty() || value.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v >= 0xffffffffULL) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

Result<Resolver> Resolver::open(std::string_view mailbox_maps, std::string_view uid_maps, std::string_view gid_maps,
                                ResolverOptions options) {
  // No $1 in regexp/pcre results: the sender's address must not choose a
  // path or an owner (Postfix opens these tables "paranoid").
  maps::OpenOptions paranoid;
  paranoid.paranoid = true;
  auto mb = maps::MapList::open("virtual_mailbox_maps", mailbox_maps, paranoid);
  if (!mb) return mb.take_error();
  auto uid = maps::MapList::open("virtual_uid_maps", uid_maps, paranoid);
  if (!uid) return uid.take_error();
  auto gid = maps::MapList::open("virtual_gid_maps", gid_maps, paranoid);
  if (!gid) return gid.take_error();
  return Resolver(std::move(*mb), std::move(*uid), std::move(*gid), std::move(options));
}

deliver::Attempt<std::optional<std::string>> Resolver::find(maps::MapList& list, std::string_view address) {
  maps::AddressSearchOptions so;
  so.recipient_delimiter = opts_.recipient_delimiter;
  // Virtual mailbox domains are never local: no bare "user" lookups.
  so.is_local = [](std::string_view) -> Result<bool> { return false; };
  auto m = maps::find_address(list, address, so);
  if (!m) {
    log::warning("{}: lookup of {}: {}", list.title(), str::printable(address), m.error().message);
    return config_error();
  }
  if (!*m) return std::optional<std::string>{};
  return std::optional<std::string>{std::move((*m)->value)};
}

deliver::Attempt<Destination> Resolver::resolve(std::string_view address_in) {
  const std::string address = str::lower(address_in);
  const std::string shown = str::printable(address);

  auto mb = find(mailbox_, address);
  if (!mb) return mb.take_failure();
  if (!mb.value()) return Outcome::bounced("5.1.1", fmt::format("unknown user: \"{}\"", shown));
  Destination d;
  d.relative = std::move(*mb.value());
  if (auto why = check_mailbox_result(d.relative)) {
    log::warning("recipient {}: bad result \"{}\" in {}: {}", shown, str::printable(d.relative, 100),
                 mailbox_.title(), *why);
    return config_error();
  }
  if (opts_.mailbox_base.empty() || opts_.mailbox_base.front() != '/') {
    log::warning("virtual_mailbox_base must be an absolute path, not \"{}\"", str::printable(opts_.mailbox_base));
    return config_error();
  }
  d.maildir = d.relative.back() == '/';
  d.path = mailbox_path(opts_.mailbox_base, d.relative);
  if (d.path.size() > kMaxPath) {
    log::warning("recipient {}: mailbox path is longer than {} bytes", shown, kMaxPath);
    return config_error();
  }

  auto uid = find(uid_, address);
  if (!uid) return uid.take_failure();
  if (!uid.value()) {
    log::warning("recipient {}: not found in {}", shown, uid_.title());
    return config_error();
  }
  auto u = parse_id(uid.value()->substr(0, kMaxIdResult));
  if (!u || uid.value()->size() > kMaxIdResult || *u == 0 || static_cast<std::int64_t>(*u) < opts_.minimum_uid) {
    log::warning("recipient {}: bad uid {} in {}", shown, str::printable(*uid.value(), kMaxIdResult), uid_.title());
    return config_error();
  }
  auto gid = find(gid_, address);
  if (!gid) return gid.take_failure();
  if (!gid.value()) {
    log::warning("recipient {}: not found in {}", shown, gid_.title());
    return config_error();
  }
  auto g = parse_id(gid.value()->substr(0, kMaxIdResult));
  // gid 0 would give the worker root's group (Postfix: "bad gid").
  if (!g || gid.value()->size() > kMaxIdResult || *g == 0) {
    log::warning("recipient {}: bad gid {} in {}", shown, str::printable(*gid.value(), kMaxIdResult), gid_.title());
    return config_error();
  }
  d.uid = static_cast<uid_t>(*u);
  d.gid = static_cast<gid_t>(*g);
  return d;
}

Outcome store(const Destination& d, const deliver::Envelope& envelope, deliver::ContentReader& content,
              const StoreOptions& options) {
  if (d.maildir) {
    // deliver_maildir() creates the Maildir and its missing parents (mode
    // 0700) as this identity when the first attempt finds them missing.
    deliver::MaildirOptions mo;
    mo.size_limit = options.size_limit;
    mo.hostname = options.hostname;
    mo.sync = options.sync;
    mo.create_dsn = kMailboxDsn;
    auto o = deliver::deliver_maildir(d.path, envelope, content, mo);
    if (o.is_sent()) o.text = "delivered to maildir";
    return o;
  }
  if (auto failed = make_parents(options.mailbox_base, d.relative)) {
    failed->prepend("delivery failed to mailbox " + d.path + ": ");
    return *failed;
  }
  deliver::MboxTarget t;
  t.path = d.path;
  t.open.required_owner = ::geteuid();  // the recipient: the worker became them
  t.open.default_dsn = kMailboxDsn;  // also the lock's (deliver_mbox())
  t.locks = options.locks;
  t.lock_params = options.lock_params;
  t.lock_params.dotlock_may_fail = false;
  deliver::MboxOptions mo;
  mo.size_limit = options.size_limit;
  mo.sync = options.sync;
  auto o = deliver::deliver_mbox(t, envelope, content, mo);
  if (o.is_sent()) o.text = "delivered to mailbox";
  else o.prepend("delivery failed to mailbox " + d.path + ": ");
  return o;
}

}  // namespace postern::virt
