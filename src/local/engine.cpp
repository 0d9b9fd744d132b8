// engine.cpp - see engine.h.
#include "engine.h"

#include <algorithm>

#include "base/strings.h"
#include "log/log.h"
#include "mail/address.h"

namespace postern::local {

using deliver::Outcome;

Outcome aggregate(const std::vector<Leaf>& leaves) {
  if (leaves.empty()) return Outcome::bounced("5.3.0", "alias or forward expansion is empty");
  const Leaf* bounced = nullptr;
  for (const auto& l : leaves) {
    if (l.outcome.is_deferred()) return l.outcome;
    if (l.outcome.is_bounced() && !bounced) bounced = &l;
  }
  if (bounced) {
    Outcome o = bounced->outcome;
    if (leaves.size() > 1) o.text = "<" + bounced->to + ">: " + o.text;
    return o;
  }
  bool same = true;
  for (const auto& l : leaves) same = same && l.outcome.text == leaves.front().outcome.text;
  if (same) return leaves.front().outcome;  // one delivery, or one forwarded message
  return Outcome::sent(fmt::format("delivered to {} destinations", leaves.size()));
}

RecipientResult Engine::deliver(const std::string& address, const std::string& sender,
                                const std::vector<std::string>& delivered_to) {
  loop_headers_ = delivered_to;
  done_.clear();
  leaves_.clear();
  forwards_.clear();
  expanded_ = false;
  Ctx ctx;
  ctx.sender = sender;
  resolve(address, ctx);
  flush_forwards();
  RecipientResult r;
  r.outcome = aggregate(leaves_);
  r.expanded = expanded_;
  r.leaves = std::move(leaves_);
  leaves_.clear();
  return r;
}

void Engine::flush_forwards() {
  std::vector<bool> taken(forwards_.size(), false);
  for (std::size_t i = 0; i < forwards_.size(); ++i) {
    if (taken[i]) continue;
    std::vector<std::size_t> group;
    std::vector<std::string> addresses;
    for (std::size_t j = i; j < forwards_.size(); ++j) {
      if (taken[j] || forwards_[j].sender != forwards_[i].sender) continue;
      taken[j] = true;
      group.push_back(j);
      addresses.push_back(forwards_[j].address);
    }
    Outcome o = b_.forward(forwards_[i].sender, addresses);
    for (auto j : group) leaves_[forwards_[j].leaf].outcome = o;
  }
  forwards_.clear();
}

LocalVars local_vars(const DeliveryInfo& d, std::string home, std::string shell) {
  LocalVars v;
  v.user = d.base;
  v.home = std::move(home);
  v.shell = std::move(shell);
  v.local = d.local;
  v.recipient = d.address;
  v.extension = d.extension;
  v.domain = d.domain;
  v.recipient_delimiter = d.delimiter;
  return v;
}

void Engine::leaf(const std::string& to, Outcome o) { leaves_.push_back(Leaf{to, std::move(o)}); }

void Engine::resubmit(const std::string& address, const Ctx& ctx) {
  if (!first_time("forward:" + str::lower(address))) return;
  forwards_.push_back(PendingForward{leaves_.size(), ctx.sender, address});
  leaf(address, Outcome::deferred("4.3.0", "forwarding not attempted"));
}

bool Engine::first_time(const std::string& key) { return done_.insert(key).second; }

// Whose rights a command, file or :include: of this context has, for the
// duplicate filter: the user name and uid, or none (default_privs).
std::string Engine::privs_key(const Ctx& ctx) {
  if (!ctx.privs) return "-\n";
  return ctx.privs->name + ":" + std::to_string(ctx.privs->uid) + "\n";
}

std::string Engine::qualify(const std::string& address) const {
  auto ld = split_address(address);
  if (!ld.domain.empty() || s_.myorigin.empty()) return address;
  return address + "@" + s_.myorigin;
}

void Engine::resolve(const std::string& address, Ctx ctx) {
  if (leaves_.size() >= kMaxLeaves) {
    leaf(address, Outcome::bounced("5.4.6", "too many destinations in alias or forward expansion"));
    return;
  }
  if (ctx.depth > kMaxDepth) {
    leaf(address, Outcome::bounced("5.4.6", "mail forwarding loop for " + address +
                                                " (too many levels of alias or forward expansion)"));
    return;
  }
  auto ld = split_address(address);
  DeliveryInfo info;
  info.sender = ctx.sender;
  info.address = qualify(address);
  // As Postfix's local(8): $local, $extension and $domain are the
  // lowercased parts of the qualified address (".forward+lists" for
  // "Bob+Lists"; $domain is $myorigin for a bare name from an expansion).
  info.local = str::lower(ld.local);
  info.domain = str::lower(split_address(info.address).domain);

  if (!ld.domain.empty() && !b_.is_local_domain(ld.domain)) {
    resubmit(address, ctx);
    return;
  }
  if (ld.local.empty()) {
    leaf(address, Outcome::bounced("5.1.3", "empty local part"));
    return;
  }

  // Loop detection: this recipient already got the message once.
  const std::string key = str::lower(info.address);
  if (std::find(loop_headers_.begin(), loop_headers_.end(), key) != loop_headers_.end()) {
    leaf(info.address, Outcome::bounced("5.4.6", "mail forwarding loop for " + info.address));
    return;
  }

  const std::string& local_lower = info.local;  // lowercased above
  std::string base = local_lower;
  mail::ExtensionOptions eo;
  eo.owner_request_special = s_.owner_request_special;
  if (auto sp = mail::split_extension(local_lower, s_.recipient_delimiter, eo)) {
    base = std::string(sp->base);
    info.delimiter = info.local.substr(sp->base.size(), 1);
    info.extension = info.local.substr(sp->base.size() + 1);
    // The extension goes into file names ($extension in forward_path and
    // luser_relay): one with a '/' is dropped, as Postfix drops it, so that
    // "bob+../../x" cannot name a file outside the user's home.
    if (info.extension.find('/') != std::string::npos) {
      log::warning("{}: address with illegal extension: {}", str::printable(info.address), str::printable(ld.local));
      info.extension.clear();
      info.delimiter.clear();
    }
  }
  info.base = base;

  // Aliases: the full local part first, then without the extension.
  if (!ctx.alias_seen.count(local_lower) && !ctx.alias_seen.count(base)) {
    std::vector<std::string> keys{local_lower};
    if (base != local_lower) keys.push_back(base);
    for (const auto& k : keys) {
      auto v = b_.lookup_alias(k);
      if (!v) {
        leaf(info.address, Outcome::deferred("4.3.0", "alias database unavailable"));
        return;
      }
      if (!*v) continue;
      Ctx sub = ctx;
      sub.depth++;
      // Only the key that matched: "root+cron: root" reaches the alias of
      // root, as in Postfix; an alias naming itself reaches the user.
      sub.alias_seen.insert(k);
      sub.origin = Origin::Alias;
      // The owner of a user-owned alias table; none (default_privs at
      // delivery, and an :include: may choose its owner) for root's.
      sub.privs = b_.alias_owner();
      // An alias without owner- is globally visible: whoever expands it,
      // its local members are delivered here (Postfix resets the owner).
      sub.owner.reset();
      // owner-NAME: list mail bounces go to the list owner.
      if (s_.owner_request_special && k.rfind("owner-", 0) != 0) {
        auto own = b_.lookup_alias("owner-" + k);
        if (!own) {
          leaf(info.address, Outcome::deferred("4.3.0", "alias database unavailable"));
          return;
        }
        if (*own) {
          if (s_.expand_owner_alias) {
            auto items = split_destinations(**own);
            if (items.size() == 1 && classify(items[0]).kind == DestKind::Address)
              sub.sender = qualify(items[0]);
            else
              sub.sender = qualify("owner-" + k);
          } else {
            sub.sender = qualify("owner-" + k);
          }
          info.sender = sub.sender;
          sub.owner = sub.sender;
        }
      }
      // An alias with no destinations is a table mistake to fix, not the
      // sender's: the mail waits (Postfix's deferral).
      if (split_destinations(**v).empty()) {
        log::warning("no recipient in alias lookup result for {}", str::printable(k));
        leaf(info.address, Outcome::deferred("4.3.0", "alias database unavailable"));
        return;
      }
      if (ctx.depth == 0) expanded_ = !sub.owner;
      expand_list(**v, info, sub);
      return;
    }
  }

  // Not an alias. Reached through an :include: file, an owner- list or
  // another user's .forward: a new message, as in Postfix (engine.h).
  if (ctx.origin == Origin::Include || (ctx.owner && !str::iequals(*ctx.owner, base))) {
    resubmit(info.address, ctx);
    return;
  }

  auto user = b_.lookup_user(base);
  if (!user) {
    leaf(info.address, Outcome::deferred("4.3.0", "user lookup failed: " + user.error().message));
    return;
  }
  if (!*user) {
    // No .forward without a user; the mailbox transport comes first, as in
    // Postfix (it may know users that passwd does not).
    if (hand_on(TransportTable::Mailbox, s_.mailbox_transport, info, base)) return;
    if (hand_on(TransportTable::Fallback, s_.fallback_transport, info, base)) return;
    if (!s_.luser_relay.empty() && !ctx.alias_seen.count("\x01luser")) {
      auto e = expand_local(s_.luser_relay, local_vars(info));
      if (!e) {
        leaf(info.address, Outcome::deferred("4.3.5", "bad luser_relay: " + e.error().message));
        return;
      }
      Ctx sub = ctx;
      sub.depth++;
      sub.alias_seen.insert("\x01luser");  // an unknown relay target must not relay again
      auto relay = str::trim(e->text);
      resolve(std::string(relay), sub);
      return;
    }
    // Postfix's deliver_unknown(): a required name without an alias is
    // a configuration mistake; its mail is discarded with a warning rather
    // than bounced (a bounce to or from the postmaster helps nobody).
    if (str::iequals(base, "MAILER-DAEMON") || str::iequals(base, "postmaster")) {
      log::warning("required alias not found: {}", base);
      leaf(info.address, Outcome::sent("discarded"));
      return;
    }
    leaf(info.address, Outcome::bounced("5.1.1", "unknown user: \"" + base + "\""));
    return;
  }
  info.user = **user;
  const auto& u = **user;

  if (s_.require_home_directory) {
    if (auto bad = b_.check_home(u)) {
      leaf(info.address, *bad);
      return;
    }
  }

  // ~/.forward, read as the user.
  if (!s_.forward_path.empty() && !ctx.forward_seen.count(u.name)) {
    const LocalVars v = local_vars(info, u.home, u.shell);
    std::vector<std::string> paths;
    for (const auto& t : s_.forward_path) {
      auto e = expand_local(t, v, s_.forward_filter);
      if (!e) {
        leaf(info.address, Outcome::deferred("4.3.5", "bad forward_path: " + e.error().message));
        return;
      }
      if (!e->undefined && !e->text.empty()) paths.push_back(e->text);
    }
    auto fw = b_.read_forward(u, paths);
    if (!fw) {
      leaf(info.address, fw.take_failure());
      return;
    }
    if (fw.value()) {
      Ctx sub = ctx;
      sub.depth++;
      sub.forward_seen.insert(u.name);
      sub.alias_seen.insert(base);  // "user" in ~user/.forward means the mailbox
      sub.origin = Origin::Forward;
      sub.owner = u.name;  // other local names in it are resubmitted
      // Root's .forward chooses no one (default_privs at delivery), as
      // Postfix treats uid 0 as "no rights chosen yet".
      sub.privs = u.uid == 0 ? std::nullopt : std::optional<Privs>(Privs::of(u));
      const std::string text = strip_comment_lines(*fw.value());
      auto items = split_destinations(text);
      if (!items.empty()) {
        if (ctx.depth == 0) expanded_ = true;
        expand_list(text, info, sub);
        return;
      }
      // An empty .forward: deliver to the mailbox, as Postfix does.
    }
  }

  if (hand_on(TransportTable::Mailbox, s_.mailbox_transport, info, base)) return;
  if (!first_time("mailbox:" + u.name)) return;
  leaf(info.address, b_.deliver_mailbox(info, u));
}

bool Engine::hand_on(TransportTable table, const std::string& fixed, const DeliveryInfo& info,
                     const std::string& user) {
  auto v = b_.lookup_transport(table, user);
  if (!v) {
    leaf(info.address, Outcome::deferred("4.3.0", "table lookup failure"));
    return true;
  }
  const std::string service = *v ? **v : fixed;
  if (service.empty()) return false;
  // The same address handed to the same transport twice gets one copy.
  if (!first_time("pass:" + service + "\n" + str::lower(info.address))) return true;
  auto p = b_.pass(info, service);
  leaves_.push_back(Leaf{info.address, std::move(p.outcome), p.logged});
  return true;
}

void Engine::expand_list(const std::string& text, const DeliveryInfo& where, Ctx ctx) {
  auto items = split_destinations(text);
  if (items.empty()) {
    leaf(where.address, Outcome::bounced("5.3.0", "alias or forward expansion is empty"));
    return;
  }
  for (const auto& item : items) {
    if (leaves_.size() >= kMaxLeaves) {
      leaf(where.address, Outcome::bounced("5.4.6", "too many destinations in alias or forward expansion"));
      return;
    }
    auto d = classify(item);
    switch (d.kind) {
      case DestKind::Address:
        resolve(d.value, ctx);
        break;
      case DestKind::Include: {
        if (d.value.empty() || d.value[0] != '/') {
          leaf(where.address, Outcome::bounced("5.3.5", ":include: file name must be absolute: " + d.value));
          break;
        }
        if (ctx.include_seen.count(d.value) || ctx.depth >= kMaxDepth) {
          leaf(where.address, Outcome::bounced("5.4.6", "mail forwarding loop in :include:" + d.value));
          break;
        }
        // The same file with the same rights is expanded once per
        // recipient, as in Postfix: without this, files that include
        // another many times each grow the expansion exponentially (only
        // the depth limit bounds it).
        if (!first_time("include:" + privs_key(ctx) + d.value)) break;
        auto inc = b_.read_include(d.value, ctx.privs);
        if (!inc) {
          leaf(where.address, inc.take_failure());
          break;
        }
        Ctx sub = ctx;
        sub.depth++;
        sub.include_seen.insert(d.value);
        sub.origin = Origin::Include;
        // Postfix's rule: a non-root :include: file takes its owner's rights
        // only where no rights were chosen yet (a root-owned alias table,
        // root's .forward). In a user's .forward or a user-owned alias table
        // the rights stay that user's: nobody may make things run as
        // someone else by including a file that person owns.
        if (inc->owner != 0 && !ctx.privs) {
          auto owner = b_.lookup_uid(inc->owner);
          if (!owner || !*owner) {
            leaf(where.address, Outcome::deferred("4.3.0", ":include:" + d.value + ": unknown owner uid " +
                                                                 std::to_string(inc->owner)));
            break;
          }
          sub.privs = Privs::of(**owner);
        }
        expand_list(strip_comment_lines(inc->text), where, sub);
        break;
      }
      case DestKind::Command: {
        if (!s_.allow_commands.allows(ctx.origin)) {
          leaf(where.address, Outcome::bounced("5.7.1", "mail to command is restricted"));
          break;
        }
        if (d.value.empty()) {
          leaf(where.address, Outcome::bounced("5.3.5", "empty command"));
          break;
        }
        // Once per command and identity: the same "|procmail" in two users'
        // .forward files runs for each of them (Postfix keys on user and
        // uid too).
        if (!first_time("command:" + privs_key(ctx) + d.value)) break;
        leaf(where.address, b_.deliver_command(where, d.value, ctx.privs.value_or(b_.default_privs()), ctx.origin));
        break;
      }
      case DestKind::File: {
        if (!s_.allow_files.allows(ctx.origin)) {
          leaf(where.address, Outcome::bounced("5.7.1", "mail to file is restricted"));
          break;
        }
        if (!first_time("file:" + privs_key(ctx) + d.value)) break;
        leaf(where.address, b_.deliver_file(where, d.value, ctx.privs.value_or(b_.default_privs()), ctx.origin));
        break;
      }
    }
  }
}

}  // namespace postern::local
