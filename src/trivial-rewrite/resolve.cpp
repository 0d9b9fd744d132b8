// resolve.cpp - address resolution; see resolve.h.
#include "resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "base/strings.h"
#include "config/host_info.h"
#include "log/log.h"
#include "mail/address.h"
#include "maps/address_search.h"

namespace postern::rewrite_service {

namespace flag = ipc::proto::resolve_flag;

namespace {

// A resolve loop strips one domain or one routing operator per round; a
// bound keeps a hostile address (a@b@c@... of local domains) cheap.
constexpr int kMaxRounds = 64;

struct TransportSpec {
  std::string transport;
  std::string nexthop;
};

// "transport:nexthop" (split at the first colon; nexthops like
// "[10.0.0.1]:587" keep theirs).
TransportSpec split_transport(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos) return {std::string(spec), {}};
  return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

bool has_routing_operator(std::string_view local) {
  return local.find_first_of("@!%") != std::string_view::npos;
}

// "1.2.3.4" -> "[1.2.3.4]", "::1" -> "[IPv6:::1]" (RFC 5321 literals).
std::string bracket_address(std::string_view ip) {
  return (ip.find(':') != std::string_view::npos ? "[IPv6:" : "[") + std::string(ip) + "]";
}

void strip_trailing_dot(std::string& s) {
  if (s.size() >= 2 && s.back() == '.' && s[s.size() - 2] != '.' && s[s.size() - 2] != '@') s.pop_back();
}

}  // namespace

Result<Resolver> Resolver::create(const config::Config& cfg, Mode mode,
                                  std::optional<std::vector<std::string>> own_addresses) {
  Resolver r;
  bool verify = mode == Mode::Verify;
  auto pick = [&](std::string_view normal, std::string_view probe) {
    return std::string(verify ? probe : normal);
  };
  auto parents = cfg.list("parent_domain_matches_subdomains");
  auto parent_style = [&](std::string_view name) {
    return std::find(parents.begin(), parents.end(), name) != parents.end();
  };

  r.local_rewrite_ = RewriteContexts::from_config(cfg).local;
  r.myhostname_ = cfg.str("myhostname");
  r.myorigin_ = cfg.str("myorigin");
  r.empty_address_recipient_ = cfg.str("empty_address_recipient");
  r.recipient_delimiter_ = cfg.str("recipient_delimiter");
  r.resolve_null_domain_ = cfg.boolean("resolve_null_domain");
  r.resolve_numeric_domain_ = cfg.boolean("resolve_numeric_domain");
  r.show_table_name_ = cfg.boolean("show_user_unknown_table_name");
  r.local_transport_ = cfg.str(pick("local_transport", "address_verify_local_transport"));
  r.virtual_transport_ = cfg.str(pick("virtual_transport", "address_verify_virtual_transport"));
  r.relay_transport_ = cfg.str(pick("relay_transport", "address_verify_relay_transport"));
  r.default_transport_ = cfg.str(pick("default_transport", "address_verify_default_transport"));
  r.relayhost_ = cfg.str(pick("relayhost", "address_verify_relayhost"));

  std::string tm = pick("transport_maps", "address_verify_transport_maps");
  r.transport_parent_style_ = parent_style("transport_maps");

  // Postfix matches mydestination and the virtual domain lists as plain
  // strings (string_list: the whole domain, no subdomains, a table asked
  // for the domain alone); only relay_domains is a domain list.
  for (auto [list, name] : {std::pair{&r.mydestination_, "mydestination"},
                            std::pair{&r.virtual_alias_domains_, "virtual_alias_domains"},
                            std::pair{&r.virtual_mailbox_domains_, "virtual_mailbox_domains"},
                            std::pair{&r.relay_domains_, "relay_domains"}}) {
    maps::MatchStyle style = list != &r.relay_domains_ ? maps::MatchStyle::Name
                             : parent_style(name)      ? maps::MatchStyle::ParentDomain
                                                       : maps::MatchStyle::Domain;
    auto l = maps::MatchList::open(name, cfg.get(name).value_or(""), style);
    if (!l) return l.take_error();
    *list = std::move(*l);
  }
  // The tables whose result is a transport or next hop take no $1
  // substitution: a sender or recipient address must not be able to name
  // where mail goes (Postfix opens them with DICT_FLAG_NO_REGSUB).
  maps::OpenOptions route;
  route.no_regsub = true;
  auto open_maps = [&](maps::MapList& out, const std::string& name, const maps::OpenOptions& o) -> Status {
    auto m = maps::MapList::open(name, cfg.get(name).value_or(""), o);
    if (!m) return m.take_error();
    out = std::move(*m);
    return {};
  };
  if (auto st = open_maps(r.transport_maps_, tm, route); !st) return st.take_error();
  if (auto st = open_maps(r.relocated_maps_, "relocated_maps", {}); !st) return st.take_error();
  r.relayhost_maps_name_ = pick("sender_dependent_relayhost_maps", "address_verify_sender_dependent_relayhost_maps");
  if (auto st = open_maps(r.sender_relayhost_maps_, r.relayhost_maps_name_, route); !st) return st.take_error();
  r.relayhost_null_key_ = cfg.str("empty_address_relayhost_maps_lookup_key");
  r.default_transport_null_key_ = cfg.str("empty_address_default_transport_maps_lookup_key");
  if (auto st = open_maps(r.sender_default_transport_maps_, "sender_dependent_default_transport_maps", route); !st)
    return st.take_error();

  if (own_addresses) {
    for (auto& a : *own_addresses)
      if (auto n = mail::canonical_ip_text(a, true)) r.own_addresses_.push_back(*n);
  } else {
    r.own_addresses_ = config::host::own_address_texts(cfg.get("inet_interfaces").value_or("all"),
                                                       cfg.get("inet_protocols").value_or("all"));
    for (auto& p : mail::canonical_ip_texts(cfg.list("proxy_interfaces"))) r.own_addresses_.push_back(std::move(p));
  }
  return r;
}

bool Resolver::changed() const {
  return mydestination_.changed() || virtual_alias_domains_.changed() || virtual_mailbox_domains_.changed() ||
         relay_domains_.changed() || transport_maps_.changed() || relocated_maps_.changed() ||
         sender_relayhost_maps_.changed() ||
         sender_default_transport_maps_.changed();
}

bool Resolver::is_own_address(std::string_view ip) const {
  return std::find(own_addresses_.begin(), own_addresses_.end(), ip) != own_addresses_.end();
}

// Postfix's resolve_local(): mydestination first, then an address literal
// (or, with resolve_numeric_domain, a bare address) of this host.
Result<bool> Resolver::is_local_domain(std::string_view domain) {
  auto listed = mydestination_.match(domain);
  if (!listed || *listed) return listed;
  if (domain.front() == '[') {
    auto ip = mail::canonical_ip_text(domain);
    return ip && is_own_address(*ip);
  }
  if (resolve_numeric_domain_) {
    if (auto ip = mail::canonical_ip_text(domain, true)) return is_own_address(*ip);
  }
  return false;
}

Result<bool> Resolver::is_search_local(std::string_view domain) {
  if (!myorigin_.empty() && str::iequals(domain, myorigin_)) return true;
  return is_local_domain(domain);
}

Result<std::string> Resolver::sender_lookup(maps::MapList& m, const std::string& map_name, const std::string& null_key,
                                            std::optional<std::string_view> sender) {
  if (m.empty()) return std::string();
  // Postfix: the null sender (and a request without one) is looked up as
  // empty_address_*_lookup_key ("<>" by default), with the search order of
  // every address table (extension stripped, localpart, @domain).
  std::string_view key = sender && !sender->empty() ? *sender : std::string_view(null_key);
  if (key.empty()) return std::string();
  maps::AddressSearchOptions so;
  so.recipient_delimiter = recipient_delimiter_;
  so.is_local = [this](std::string_view d) -> Result<bool> { return is_search_local(d); };
  auto hit = maps::find_address(m, key, so);
  if (!hit) return hit.take_error();
  if (!*hit) return std::string();
  std::string value(str::trim((*hit)->value));
  if (value.empty()) {
    log::warning("{}: ignoring null lookup result for {}", map_name, str::printable(key, 200));
    return std::string();
  }
  // DUNNO: stop searching, no override (Postfix).
  if (str::iequals(value, "DUNNO")) return std::string();
  return value;
}

Result<bool> Resolver::transport_lookup(const std::string& recipient, const std::string& domain, Resolved& r) {
  if (transport_maps_.empty()) return false;
  auto found = [&](std::string_view key, bool fixed_only) -> Result<std::optional<std::string>> {
    return transport_maps_.lookup(key, fixed_only);
  };
  std::optional<std::string> value;
  auto try_key = [&](std::string_view key, bool fixed_only) -> Status {
    if (value || key.empty()) return {};
    auto v = found(key, fixed_only);
    if (!v) return v.take_error();
    value = std::move(*v);
    return {};
  };
  if (auto st = try_key(recipient, false); !st) return st.take_error();
  if (!value && !recipient_delimiter_.empty()) {
    if (auto stripped = maps::strip_extension(recipient, recipient_delimiter_))
      if (auto st = try_key(stripped->address, true); !st) return st.take_error();
  }
  if (!value && !domain.empty()) {
    if (auto st = try_key(domain, true); !st) return st.take_error();
    for (std::size_t dot = domain.find('.', 1); !value && dot != std::string::npos;
         dot = domain.find('.', dot + 1)) {
      auto key = transport_parent_style_ ? std::string_view(domain).substr(dot + 1)
                                         : std::string_view(domain).substr(dot);
      if (key.size() <= 1) break;
      if (auto st = try_key(key, true); !st) return st.take_error();
    }
  }
  if (auto st = try_key("*", false); !st) return st.take_error();
  if (!value) return false;

  // transport(5): ":" or empty changes nothing; ":nexthop" keeps the
  // transport; "transport" or "transport:" resets the next hop to the domain.
  auto spec = split_transport(*value);
  if (spec.transport.empty()) {
    if (!spec.nexthop.empty()) r.nexthop = spec.nexthop;
  } else {
    r.transport = spec.transport;
    r.nexthop = spec.nexthop.empty() ? domain : spec.nexthop;
    // Postfix's transport.c: error and retry without a text say why.
    if (spec.nexthop.empty() && (spec.transport == "error" || spec.transport == "retry"))
      r.nexthop = "Address is undeliverable";
  }
  return true;
}

Resolved Resolver::resolve(std::string_view address, std::optional<std::string_view> sender) {
  Resolved r;
  auto fail = [&](const Error& e) {
    log::warning("resolve {}: {}", str::printable(address, 200), e.message);
    r.flags = flag::kFail;
    r.transport.clear();
    r.nexthop = "4.3.0 address resolution failed: table lookup error";
    r.recipient = std::string(address);
    return r;
  };

  std::string s(address);
  bool routed = false;
  if (!s.empty() && s[0] == '@') {
    auto colon = s.find(':');
    if (colon != std::string::npos && colon + 1 < s.size()) {
      s.erase(0, colon + 1);
      routed = true;
    }
  }

  std::optional<std::string> saved_domain;  // the last local domain stripped
  std::optional<std::string> remote_domain;  // set: the address is not local
  bool bad_syntax = false;
  for (int round = 0;; ++round) {
    if (round >= kMaxRounds) {
      bad_syntax = true;
      remote_domain = std::string();
      break;
    }
    strip_trailing_dot(s);
    if (s.empty()) s = rewrite_address(local_rewrite_, "postmaster");
    auto at = s.rfind('@');
    if (at != std::string::npos && at + 1 == s.size() && resolve_null_domain_) {
      // "user@": the "@" goes, and the address is resolved as an
      // unqualified one below (Postfix).
      s.resize(at);
    } else if (at != std::string::npos) {
      std::string d = s.substr(at + 1);
      bool local = false;
      if (!d.empty()) {
        auto l = is_local_domain(d);
        if (!l) return fail(l.error());
        local = *l;
      }
      if (!local) {
        remote_domain = d;
        break;
      }
      saved_domain = d;
      s.resize(at);
    }
    if (s.find('@') != std::string::npos || (local_rewrite_.swap_bangpath && s.find('!') != std::string::npos) ||
        (local_rewrite_.percent_hack && s.find('%') != std::string::npos)) {
      s = rewrite_address(local_rewrite_, s);
      continue;
    }
    // An empty local part is $empty_address_recipient, resolved again.
    if (s.empty()) {
      s = empty_address_recipient_;
      continue;
    }
    // An address that never had a domain is resolved again as
    // user@$myhostname: whether it is local depends on mydestination, as in
    // Postfix since 2.11 (a null client with an empty mydestination relays
    // "root" instead of delivering it locally).
    if (!saved_domain) {
      s += "@" + myhostname_;
      continue;
    }
    break;
  }

  std::string domain;
  if (!remote_domain) {
    // Local class.
    domain = saved_domain && !saved_domain->empty() ? *saved_domain : myhostname_;
    // The domain's syntax is checked for local mail too (Postfix): a bare
    // IP address (mydestination may list one) is bracketed with
    // resolve_numeric_domain, and is bad syntax without.
    if (domain.front() != '[' && !mail::is_valid_hostname(domain, true)) {
      if (!resolve_numeric_domain_ || !mail::canonical_ip_text(domain, true)) {
        r.recipient = s + "@" + domain;
        r.flags = flag::kError | flag::kDefault;
        r.transport = "error";
        r.nexthop = "5.1.3 bad address syntax";
        return r;
      }
      domain = bracket_address(domain);
    }
    r.recipient = s + "@" + domain;
    auto spec = split_transport(local_transport_);
    r.transport = spec.transport;
    // The recipient's domain unless local_transport names a next hop (the
    // default local:$myhostname does), as in Postfix's resolve_addr().
    r.nexthop = spec.nexthop.empty() ? domain : spec.nexthop;
    r.flags = flag::kLocal | flag::kFinal;
  } else {
    domain = *remote_domain;
    r.recipient = s;
    auto at = s.rfind('@');
    std::string_view local_part = at == std::string::npos ? std::string_view(s) : std::string_view(s).substr(0, at);
    if (routed || has_routing_operator(local_part)) r.flags |= flag::kRouted;
    if (!bad_syntax) {
      if (domain.empty()) bad_syntax = true;
      else if (domain.front() == '[') bad_syntax = !mail::is_valid_address_literal(domain);
      else if (!mail::is_valid_hostname(domain, true)) {
        bad_syntax = !(resolve_numeric_domain_ && mail::canonical_ip_text(domain, true));
        // resolve_numeric_domain: "user@1.2.3.4" is "user@[1.2.3.4]" from
        // here on (Postfix), so that the smtp client connects to the address
        // instead of looking it up as a host name. (Postfix writes an IPv6
        // address as "[2001:db8::1]"; Postern as the RFC 5321 literal.)
        if (!bad_syntax) {
          domain = bracket_address(domain);
          r.recipient = s.substr(0, at + 1) + domain;
        }
      }
    }
    if (bad_syntax) {
      r.flags |= flag::kError | flag::kDefault;
      r.transport = "error";
      r.nexthop = "5.1.3 bad address syntax";
      return r;
    }
    auto in = [&](maps::MatchList& l) -> Result<bool> { return l.match(domain); };
    auto alias = in(virtual_alias_domains_);
    if (!alias) return fail(alias.error());
    if (*alias) {
      r.flags |= flag::kAlias | flag::kFinal;
      r.transport = "error";
      r.nexthop = show_table_name_ ? "5.1.1 User unknown in virtual alias table" : "5.1.1 User unknown";
      // transport_maps never override this (Postfix); relocated_maps do.
      if (auto st = relocate(r); !st) return fail(st.error());
      return r;
    }
    auto virt = in(virtual_mailbox_domains_);
    if (!virt) return fail(virt.error());
    if (*virt) {
      r.flags |= flag::kVirtual | flag::kFinal;
      auto spec = split_transport(virtual_transport_);
      r.transport = spec.transport;
      // Postfix's resolve_addr(): the recipient's domain, unless the
      // transport names a next hop.
      r.nexthop = spec.nexthop.empty() ? domain : spec.nexthop;
    } else {
      auto relay = in(relay_domains_);
      if (!relay) return fail(relay.error());
      TransportSpec spec;
      if (*relay) {
        r.flags |= flag::kRelay;
        spec = split_transport(relay_transport_);
      } else {
        r.flags |= flag::kDefault;
        auto sd = sender_lookup(sender_default_transport_maps_, "sender_dependent_default_transport_maps",
                                default_transport_null_key_, sender);
        if (!sd) return fail(sd.error());
        spec = split_transport(sd->empty() ? default_transport_ : *sd);
      }
      if (spec.nexthop.empty()) {
        auto sr = sender_lookup(sender_relayhost_maps_, relayhost_maps_name_, relayhost_null_key_, sender);
        if (!sr) return fail(sr.error());
        spec.nexthop = !sr->empty() ? *sr : !relayhost_.empty() ? relayhost_ : domain;
      }
      r.transport = spec.transport;
      r.nexthop = spec.nexthop;
    }
  }

  if (r.transport.empty()) {
    log::warning("resolve {}: null transport is not allowed; check the *_transport parameters",
                 str::printable(address, 200));
    r.flags = (r.flags & ~flag::kFinal) | flag::kFail;
    return r;
  }
  auto t = transport_lookup(r.recipient, domain, r);
  if (!t) {
    auto flags = r.flags;
    fail(t.error());
    r.flags = (flags & ~flag::kFinal) | flag::kFail;
    return r;
  }
  if (auto st = relocate(r); !st) {
    auto flags = r.flags;
    fail(st.error());
    r.flags = (flags & ~flag::kFinal) | flag::kFail;
  }
  return r;
}

// Postfix's resolver, last step, whatever the address class (so that
// virtual and relay addresses can move too, without a local agent):
// relocated(5) turns the address into a bounce, "5.1.6 User has moved to
// NEW". The search is the usual one (user+ext@domain, user@domain, user for
// local domains, @domain).
Status Resolver::relocate(Resolved& r) {
  if (relocated_maps_.empty()) return {};
  maps::AddressSearchOptions so;
  so.recipient_delimiter = recipient_delimiter_;
  so.is_local = [this](std::string_view d) -> Result<bool> { return is_search_local(d); };
  auto hit = maps::find_address(relocated_maps_, r.recipient, so);
  if (!hit) return hit.take_error();
  if (!*hit) return {};
  std::string where(str::trim((*hit)->value));
  r.transport = "error";
  r.nexthop = "5.1.6 User has moved to " + str::printable(where, 500);
  r.flags &= ~flag::kFinal;
  return {};
}

}  // namespace postern::rewrite_service
