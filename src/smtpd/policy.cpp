// policy.cpp - domain classes and RCPT restrictions (see policy.h).
#include "smtpd/policy.h"

#include "dns/name.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"
#include "config/host_info.h"
#include "config/registry.h"
#include "config/unsupported.h"
#include "log/log.h"
#include "ipc/proto/trivial_rewrite.h"
#include "maps/address_search.h"
#include "submit/cleanup_proto.h"

namespace postern::smtpd {

namespace {

// check_*_{mx,ns,a}_access: the restrictions that ask the DNS for servers.
bool server_access_restriction(std::string_view n) {
  return n.starts_with("check_") && (n.ends_with("_mx_access") || n.ends_with("_ns_access") || n.ends_with("_a_access"));
}

maps::OpenOptions quiet_fixed() {
  maps::OpenOptions o;
  return o;
}

}  // namespace



Result<std::unique_ptr<Policy>> Policy::from_config(const config::Config& cfg) {
  auto p = std::make_unique<Policy>();
  auto nets = NetworkList::parse("mynetworks", cfg.str("mynetworks"));
  if (!nets) return nets.error();
  p->mynetworks_ = std::move(*nets);
  auto backup_nets = NetworkList::parse("permit_mx_backup_networks", cfg.str("permit_mx_backup_networks"));
  if (!backup_nets) return backup_nets.error();
  p->mx_backup_networks_ = std::move(*backup_nets);
  p->mx_backup_networks_set_ = !str::trim(cfg.str("permit_mx_backup_networks")).empty();
  p->own_addresses_ = config::host::own_address_texts(cfg.str("inet_interfaces"), cfg.str("inet_protocols"));
  p->interface_addresses_ = p->own_addresses_.size();
  for (auto& a : mail::canonical_ip_texts(cfg.list("proxy_interfaces"))) p->own_addresses_.push_back(std::move(a));
  auto exc = NetworkList::parse("smtpd_client_event_limit_exceptions", cfg.str("smtpd_client_event_limit_exceptions"));
  if (!exc) return exc.error();
  p->limit_exceptions_ = std::move(*exc);

  bool relay_sub = false;
  for (const auto& f : cfg.list("parent_domain_matches_subdomains"))
    if (f == "relay_domains") relay_sub = true;
  auto open_domains = [&](std::string_view name, maps::MatchStyle style, maps::MatchList& out) -> Status {
    auto dl = maps::MatchList::open(name, cfg.str(name), style);
    if (!dl) return dl.error();
    out = std::move(*dl);
    return {};
  };
  // As trivial-rewrite: mydestination and the virtual domain lists match
  // whole domain names (Postfix's string_list), relay_domains is a domain list.
  using maps::MatchStyle;
  if (auto st = open_domains("mydestination", MatchStyle::Name, p->mydestination_); !st) return st.error();
  if (auto st = open_domains("relay_domains", relay_sub ? MatchStyle::ParentDomain : MatchStyle::Domain,
                             p->relay_domains_);
      !st)
    return st.error();
  if (auto st = open_domains("virtual_alias_domains", MatchStyle::Name, p->virtual_alias_domains_); !st)
    return st.error();
  if (auto st = open_domains("virtual_mailbox_domains", MatchStyle::Name, p->virtual_mailbox_domains_); !st)
    return st.error();
  p->myhostname_ = str::lower(cfg.str("myhostname"));
  p->myorigin_ = str::lower(cfg.str("myorigin"));
  p->recipient_delimiter_ = cfg.str("recipient_delimiter");
  p->double_bounce_sender_ = cfg.str("double_bounce_sender");
  p->relay_code_ = static_cast<int>(cfg.integer("relay_domains_reject_code"));
  p->plaintext_code_ = static_cast<int>(cfg.integer("plaintext_reject_code"));
  p->reject_code_ = static_cast<int>(cfg.integer("reject_code"));
  p->expansion_filter_ = str::unescape(cfg.raw("smtpd_expansion_filter").value_or(""));
  p->defer_code_ = static_cast<int>(cfg.integer("defer_code"));
  p->unknown_local_code_ = static_cast<int>(cfg.integer("unknown_local_recipient_reject_code"));
  // receive_override_options = no_unknown_recipient_checks (behind a
  // content filter) switches off both the implicit and the explicit check.
  auto overrides = submit::parse_receive_overrides(cfg.str("receive_override_options"));
  if (!overrides) return overrides.error();
  p->no_unknown_recipient_checks_ = overrides->no_unknown_recipient_checks;
  p->reject_unlisted_ = cfg.boolean("smtpd_reject_unlisted_recipient") && !p->no_unknown_recipient_checks_;
  p->reject_unlisted_sender_ = cfg.boolean("smtpd_reject_unlisted_sender");
  p->delay_reject_ = cfg.boolean("smtpd_delay_reject");
  p->wants_sender_class_ = p->reject_unlisted_sender_;
  p->local_recipient_maps_ = open_recipient_table(cfg, "local_recipient_maps");
  p->virtual_mailbox_maps_ = open_recipient_table(cfg, "virtual_mailbox_maps");
  p->relay_recipient_maps_ = open_recipient_table(cfg, "relay_recipient_maps");
  for (const char* name : {"recipient_canonical_maps", "canonical_maps", "virtual_alias_maps"})
    if (auto t = open_recipient_table(cfg, name); t.configured()) p->mapped_recipient_maps_.push_back(std::move(t));
  p->unknown_virtual_mailbox_code_ = static_cast<int>(cfg.integer("unknown_virtual_mailbox_reject_code"));
  p->unknown_virtual_alias_code_ = static_cast<int>(cfg.integer("unknown_virtual_alias_reject_code"));
  p->unknown_relay_code_ = static_cast<int>(cfg.integer("unknown_relay_recipient_reject_code"));
  if (std::string slm = cfg.str("smtpd_sender_login_maps"); !str::trim(slm).empty()) {
    auto ml = maps::MapList::open("smtpd_sender_login_maps", slm, quiet_fixed());
    if (!ml) {
      log::warning("smtpd_sender_login_maps: {}", ml.error().message);
      p->sender_login_error_ = ml.error().message;
    } else {
      p->sender_login_maps_ = std::make_unique<maps::MapList>(std::move(*ml));
    }
  }
  p->relay_clientcerts_ = open_recipient_table(cfg, "relay_clientcerts");
  p->invalid_hostname_code_ = static_cast<int>(cfg.integer("invalid_hostname_reject_code"));
  p->non_fqdn_code_ = static_cast<int>(cfg.integer("non_fqdn_reject_code"));
  p->unknown_address_code_ = static_cast<int>(cfg.integer("unknown_address_reject_code"));
  p->unknown_address_tempfail_defer_ = str::iequals(cfg.str("unknown_address_tempfail_action"), "defer");
  p->unknown_client_code_ = static_cast<int>(cfg.integer("unknown_client_reject_code"));
  p->unknown_hostname_code_ = static_cast<int>(cfg.integer("unknown_hostname_reject_code"));
  p->unknown_helo_tempfail_defer_ = str::iequals(cfg.str("unknown_helo_hostname_tempfail_action"), "defer");
  p->access_.parent_matches_subdomains = false;
  for (const auto& f : cfg.list("parent_domain_matches_subdomains"))
    if (f == "smtpd_access_maps") p->access_.parent_matches_subdomains = true;
  p->access_.recipient_delimiter = p->recipient_delimiter_;
  p->access_.null_sender_key = cfg.str("smtpd_null_access_lookup_key");
  p->access_.reject_code = static_cast<int>(cfg.integer("access_map_reject_code"));
  p->access_.defer_code = static_cast<int>(cfg.integer("access_map_defer_code"));
  p->access_.allow_untrusted_routing = cfg.boolean("allow_untrusted_routing");
  p->access_.double_bounce_sender = p->double_bounce_sender_;
  p->rbl_code_ = static_cast<int>(cfg.integer("maps_rbl_reject_code"));
  p->multi_bounce_code_ = static_cast<int>(cfg.integer("multi_recipient_bounce_reject_code"));
  p->compatibility_level_ = cfg.str("compatibility_level");
  p->mail_version_ = cfg.str("mail_version");
  p->default_rbl_reply_ = cfg.raw("default_rbl_reply").value_or("");
  if (std::string rrm = cfg.str("rbl_reply_maps"); !str::trim(rrm).empty()) {
    auto ml = maps::MapList::open("rbl_reply_maps", rrm, quiet_fixed());
    if (!ml) return make_error("rbl_reply_maps: {}", ml.error().message);
    p->rbl_reply_maps_ = std::make_unique<maps::MapList>(std::move(*ml));
  }
  const std::pair<std::vector<Restriction>*, std::string_view> lists[] = {
      {&p->client_r_, "smtpd_client_restrictions"}, {&p->helo_r_, "smtpd_helo_restrictions"},
      {&p->sender_r_, "smtpd_sender_restrictions"}, {&p->relay_r_, "smtpd_relay_restrictions"},
      {&p->rcpt_r_, "smtpd_recipient_restrictions"}, {&p->data_r_, "smtpd_data_restrictions"},
      {&p->eod_r_, "smtpd_end_of_data_restrictions"}};
  std::vector<std::string> classes = cfg.list("smtpd_restriction_classes");
  for (const auto& [list, name] : lists) {
    auto l = parse_list(cfg, name, cfg.list(name), classes);
    if (!l) return l.error();
    *list = std::move(*l);
  }
  // Each class's tables are opened now, with the lists': smtpd cannot open
  // one after the privilege drop (and Postfix's reason for classes is that
  // a table result may not name a table, but may name a class).
  for (const auto& name : classes) {
    auto raw = cfg.raw(name);
    auto value = config::expand(cfg, raw.value_or(""));
    if (!value) return make_error("{}: {}", name, value.error().message);
    auto l = parse_list(cfg, name, config::split_list(*value), classes);
    if (!l) return l.error();
    p->classes_[name] = std::move(*l);
  }
  std::vector<const std::vector<Restriction>*> all;
  for (const auto& [list, name] : lists) all.push_back(list);
  for (const auto& [name, list] : p->classes_) all.push_back(&list);
  for (const auto* list : all)
    for (const auto& r : *list) {
      p->wants_sender_dns_ = p->wants_sender_dns_ || r.name == "reject_unknown_sender_domain";
      p->wants_sender_class_ = p->wants_sender_class_ || r.name == "reject_unlisted_sender";
      p->wants_recipient_dns_ = p->wants_recipient_dns_ || r.name == "reject_unknown_recipient_domain";
      p->wants_helo_dns_ = p->wants_helo_dns_ || r.name == "reject_unknown_helo_hostname";
      p->wants_dnsbl_ = p->wants_dnsbl_ || r.dnsbl != nullptr || server_access_restriction(r.name);
      p->wants_policy_service_ = p->wants_policy_service_ || r.server != nullptr;
      p->wants_mx_backup_ = p->wants_mx_backup_ || r.name == "permit_mx_backup";
    }
  // Postfix refuses to run without some relay control in either list, a
  // class named there included (its has_required()).
  const auto& classes_by_name = p->classes_;
  std::function<bool(const std::vector<Restriction>&, int)> has_relay_control =
      [&](const std::vector<Restriction>& l, int depth) {
        for (const auto& r : l) {
          if (r.name == "reject_unauth_destination" || r.name == "defer_unauth_destination" || r.name == "reject" ||
              r.name == "defer" || r.name == "defer_if_permit")
            return true;
          auto k = classes_by_name.find(r.name);
          if (k != classes_by_name.end() && depth < kMaxRestrictionDepth && has_relay_control(k->second, depth + 1))
            return true;
        }
        return false;
      };
  p->relay_control_ok_ = has_relay_control(p->relay_r_, 0) || has_relay_control(p->rcpt_r_, 0);
  if (!p->relay_control_ok_)
    log::warning("in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one "
                 "working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer");
  return p;
}

Result<std::vector<Restriction>> Policy::parse_list(const config::Config& cfg, std::string_view name,
                                                    const std::vector<std::string>& items,
                                                    const std::vector<std::string>& classes) {
  std::vector<Restriction> out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    Restriction r;
    bool is_class = std::find(classes.begin(), classes.end(), items[i]) != classes.end();
    r.name = is_class ? items[i] : str::lower(items[i]);
    if (is_class) {
      out.push_back(std::move(r));
      continue;
    }
    if (config::smtpd_restriction_takes_table(r.name)) {
      // Config refused a list that ends without the table; stay safe anyway.
      if (i + 1 == items.size()) return make_error("{}: {} needs a type:table argument", name, r.name);
      r.table_spec = items[++i];
      // As in Postfix, a table that cannot be opened stops smtpd rather
      // than letting the restriction pass.
      auto ml = maps::MapList::open(name, r.table_spec, quiet_fixed());
      if (!ml) return make_error("{}: {}", name, ml.error().message);
      r.table = std::make_shared<maps::MapList>(std::move(*ml));
    } else if (config::smtpd_restriction_takes_server(r.name)) {
      if (i + 1 == items.size()) return make_error("{}: {} needs a policy server", name, r.name);
      r.table_spec = items[++i];
      auto spec = PolicyServiceSpec::parse(r.table_spec, cfg);
      if (!spec) return make_error("{}: {} {}: {}", name, r.name, r.table_spec, spec.error().message);
      r.server = std::make_shared<const PolicyServiceSpec>(std::move(*spec));
    } else if (config::smtpd_restriction_takes_domain(r.name)) {
      if (i + 1 == items.size()) return make_error("{}: {} needs a DNS list domain", name, r.name);
      r.table_spec = items[++i];
      auto l = dnsbl::List::parse(r.table_spec);
      if (!l) return make_error("{}: {} {}", name, r.name, l.error().message);
      r.dnsbl = std::make_shared<const dnsbl::List>(std::move(*l));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<std::string> Policy::mailhost_domain(const mail::Address& a, std::optional<DomainClass> cls) {
  if (a.is_null() || !a.has_domain()) return std::nullopt;
  if (a.domain.front() == '[') return std::nullopt;
  if (!cls) {
    // A table behind mydestination failed: look the domain up all the same.
    if (auto k = classify(a)) cls = *k;
  }
  if (cls && *cls != DomainClass::Relay && *cls != DomainClass::Default) return std::nullopt;
  return a.lower_domain();
}

std::optional<std::string> Policy::mx_backup_domain(const RcptContext& c) {
  if (!c.recipient || c.recipient->is_null() || !c.recipient->has_domain()) return std::nullopt;
  const mail::Address& a = *c.recipient;
  if (a.domain.front() == '[' || a.has_routing_tricks()) return std::nullopt;
  std::optional<DomainClass> cls = c.recipient_class;
  if (!cls) {
    auto k = classify(a);
    if (!k) return std::nullopt;  // permit_mx_backup reports the table failure itself
    cls = *k;
  }
  if (*cls != DomainClass::Default) return std::nullopt;  // permitted without DNS
  std::string d = a.lower_domain();
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

bool Policy::is_own_address(const asio::ip::address& a, bool with_proxy) const {
  asio::ip::address x = a;
  if (x.is_v6() && x.to_v6().is_v4_mapped()) x = asio::ip::make_address_v4(asio::ip::v4_mapped, x.to_v6());
  const std::string s = x.to_string();
  const std::size_t n = with_proxy ? own_addresses_.size() : interface_addresses_;
  for (std::size_t i = 0; i < n && i < own_addresses_.size(); ++i)
    if (own_addresses_[i] == s) return true;
  return false;
}

Result<DomainClass> Policy::classify(const mail::Address& a) {
  if (!a.has_domain()) return DomainClass::Local;  // unqualified: completed with $myorigin (local)
  std::string d = a.lower_domain();
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d == myhostname_) return DomainClass::Local;
  auto local = mydestination_.match(d);
  if (!local) return local.error();
  if (*local) return DomainClass::Local;
  auto va = virtual_alias_domains_.match(d);
  if (!va) return va.error();
  if (*va) return DomainClass::VirtualAlias;
  auto vm = virtual_mailbox_domains_.match(d);
  if (!vm) return vm.error();
  if (*vm) return DomainClass::VirtualMailbox;
  auto rl = relay_domains_.match(d);
  if (!rl) return rl.error();
  if (*rl) return DomainClass::Relay;
  return DomainClass::Default;
}

Result<DomainClass> Policy::recipient_class(const RcptContext& c) {
  if (c.recipient_class) return *c.recipient_class;
  if (!c.recipient) return DomainClass::Default;
  return classify(*c.recipient);
}

DomainClass class_from_resolve_flags(std::int64_t flags) {
  namespace rf = ipc::proto::resolve_flag;
  if (flags & rf::kLocal) return DomainClass::Local;
  if (flags & rf::kAlias) return DomainClass::VirtualAlias;
  if (flags & rf::kVirtual) return DomainClass::VirtualMailbox;
  if (flags & rf::kRelay) return DomainClass::Relay;
  return DomainClass::Default;
}

smtp::Reply temporary_lookup_failure(std::string_view rcpt) {
  return smtp::Reply(451, "4.3.0", fmt::format("<{}>: Recipient address rejected: Temporary lookup failure", rcpt));
}

namespace {

smtp::Reply config_error_reply() { return smtp::Reply(451, "4.3.5", "Server configuration error"); }
smtp::Reply lookup_error_reply(std::string_view rcpt) { return temporary_lookup_failure(rcpt); }

// Postfix drops one trailing dot (not two) before judging a name.
std::string_view without_final_dot(std::string_view name) {
  if (name.size() >= 2 && name.back() == '.' && name[name.size() - 2] != '.') name.remove_suffix(1);
  return name;
}

// "[1.2.3.4]", "[IPv6:2001:db8::1]" (and Postfix's laxer "[2001:db8::1]").
bool valid_literal(std::string_view name) {
  if (name.size() < 3 || name.front() != '[' || name.back() != ']') return false;
  std::string_view inner = name.substr(1, name.size() - 2);
  if (str::istarts_with(inner, "IPv6:")) inner.remove_prefix(5);
  return mail::is_valid_ipv4(inner) || mail::is_valid_ipv6(inner);
}

// The reply for a rejected name or address, in Postfix's words:
// "CODE D.D.D <NAME>: CLASS rejected: TEXT".
smtp::Reply rejected(int code, std::string_view detail, std::string_view name, access::Kind what,
                     std::string_view text) {
  std::string dsn = fmt::format("{}.{}", code / 100, detail);
  return smtp::Reply(code, dsn, fmt::format("<{}>: {} rejected: {}", str::printable(name, 300),
                                            access::reply_class(what), text));
}

// The domain part of an address for reject_non_fqdn_*: nullopt when the
// check does not apply (an address literal), else whether it is a
// fully-qualified name.
std::optional<bool> fqdn_domain(const mail::Address& a, bool utf8) {
  std::string_view d = a.domain;
  if (!d.empty() && d.front() == '[' && d.back() == ']') return std::nullopt;
  d = without_final_dot(d);
  return !d.empty() && mail::is_valid_hostname(d, utf8) && d.find('.') != std::string_view::npos;
}

}  // namespace

std::optional<std::string> Policy::helo_dns_name(std::string_view helo) {
  helo = without_final_dot(helo);
  if (helo.empty() || helo.front() == '[' || mail::is_valid_ipv4(helo) || mail::is_valid_ipv6(helo))
    return std::nullopt;
  return str::lower(helo);
}

bool Policy::auth_destination(const RcptContext& c, Verdict& v, bool& failed) {
  failed = false;
  // Routing tricks (user%host@us, host!user@us, "user@host"@us, @route:user@host)
  // may make the next hop relay: never an authorized destination.
  if (c.recipient->has_routing_tricks()) return false;
  auto cls = recipient_class(c);
  if (!cls) {
    log::warning("recipient domain lookup failed: {}", cls.error().message);
    v.reject(lookup_error_reply(c.recipient_text), mail::Problem::kData);
    failed = true;
    return false;
  }
  return *cls != DomainClass::Default;
}

// What a list's own replies name: "<name[addr]>: Client host rejected", ...
Policy::ListSubject Policy::list_subject(std::string_view title, const RcptContext& c) {
  if (title == "smtpd_client_restrictions")
    return {"Client host", fmt::format("{}[{}]", c.client_name, c.client_addr)};
  if (title == "smtpd_helo_restrictions") return {"Helo command", std::string(c.helo)};
  if (title == "smtpd_sender_restrictions") return {"Sender address", std::string(c.sender_text)};
  if (title == "smtpd_data_restrictions") return {"Data command", "DATA"};
  if (title == "smtpd_end_of_data_restrictions") return {"End-of-data", "END-OF-DATA"};
  return {"Recipient address", std::string(c.recipient_text)};
}

Policy::Outcome Policy::eval_list(std::span<const Restriction> list, std::string_view title,
                                  const RcptContext& c, Verdict& v, int depth) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Restriction& step = list[i];
    const std::string& r = step.name;
    if (r == "warn_if_reject") {
      // Postfix: changes the meaning of the next restriction only; at the
      // end of a list it has nothing to change.
      if (i + 1 == list.size()) continue;
      Outcome o = eval_warned(list.subspan(++i, 1), title, c, v, depth);
      if (o == Outcome::Dunno) continue;
      return o;
    }
    if (step.table || step.dnsbl || step.server) {
      Outcome o = step.table   ? eval_access(step, title, c, v, depth)
                  : step.dnsbl ? eval_dnsbl(step, title, c, v)
                               : eval_policy_service(step, title, c, v, depth);
      if (o == Outcome::Dunno) continue;
      return o;
    }
    if (r == "permit") return Outcome::Permit;
    if (r == "reject" || r == "defer") {
      // Named after the list they stand in (Postfix's reply_name and
      // reply_class), with Postfix's words: reject_code and X.7.1 "Access
      // denied", defer_code and X.3.2 "Try again later". The status class
      // follows the code's, as Postfix's smtpd_dsn_fix() makes it (either
      // code may be set to 4xx or 5xx).
      const ListSubject s = list_subject(title, c);
      const bool reject = r == "reject";
      const int code = reject ? reject_code_ : defer_code_;
      const char* detail = reject ? ".7.1" : ".3.2";
      v.reject(smtp::Reply(code, (code < 500 ? "4" : "5") + std::string(detail),
                           fmt::format("<{}>: {} rejected: {}", s.name, s.what,
                                       reject ? "Access denied" : "Try again later")),
               false);
      return Outcome::Reject;
    }
    if (r == "defer_if_permit" || r == "defer_if_reject") {
      // Postfix's generic restrictions: a later permit (explicit or at the
      // end of the lists) becomes a 450, or a later 5xx rejection does; the
      // reply names what the list is about.
      const ListSubject s = list_subject(title, c);
      smtp::Reply reply(450, "4.7.0", fmt::format("<{}>: {} rejected: {} requested", s.name, s.what, r));
      auto& pending = r == "defer_if_permit" ? v.defer_if_permit : v.defer_if_reject;
      if (!pending) pending = std::move(reply);
      continue;
    }
    if (r == "permit_mynetworks") {
      if (c.client_in_mynetworks) return Outcome::Permit;
      continue;
    }
    if (r == "permit_sasl_authenticated") {
      if (!c.sasl_username.empty()) return Outcome::Permit;
      continue;
    }
    if (r == "permit_inet_interfaces") {
      // Postfix: the client is this host, at an address of inet_interfaces.
      error_code ec;
      auto a = asio::ip::make_address(std::string(c.client_addr), ec);
      if (!ec && is_own_address(a, false)) return Outcome::Permit;
      continue;
    }
    if (r == "reject_plaintext_session") {
      if (!c.encryption_protocol.empty()) continue;
      v.reject(smtp::Reply(plaintext_code_, plaintext_code_ < 500 ? "4.7.1" : "5.7.1",
                           "Session encryption is required"),
               mail::Problem::kPolicy);
      return Outcome::Reject;
    }
    if (r == "permit_tls_all_clientcerts") {
      if (c.ccert_trusted) return Outcome::Permit;
      continue;
    }
    if (r == "permit_tls_clientcerts") {
      Outcome o = listed_client_certificate(c, v);
      if (o == Outcome::Dunno) continue;
      return o;
    }
    if (r == "reject_unauth_pipelining") {
      if (c.unauth_pipelining) {
        v.reject(smtp::Reply(554, "5.5.0", "Error: SMTP protocol synchronization"), mail::Problem::kProtocol);
        return Outcome::Reject;
      }
      continue;
    }
    if (r == "reject_unauth_destination" || r == "defer_unauth_destination" || r == "permit_auth_destination") {
      if (!c.recipient) continue;  // DATA with several recipients: nothing to judge
      bool failed = false;
      bool ok = auth_destination(c, v, failed);
      if (failed) return Outcome::Reject;
      if (r == "permit_auth_destination") {
        if (ok) return Outcome::Permit;
        continue;
      }
      if (ok) continue;
      bool defer = r == "defer_unauth_destination";
      v.reject(smtp::Reply(defer ? 454 : relay_code_, defer ? "4.7.1" : "5.7.1",
                       fmt::format("<{}>: Relay access denied", c.recipient_text)), false);
      return Outcome::Reject;
    }
    if (r == "permit_mx_backup") {
      // Postfix: our own destinations (as permit_auth_destination), then a
      // domain whose MX list names this host as a backup (mx_backup.h).
      if (!c.recipient) continue;
      bool failed = false;
      bool ok = auth_destination(c, v, failed);
      if (failed) return Outcome::Reject;
      if (ok) return Outcome::Permit;
      if (!c.recipient_mx_backup) continue;
      if (c.recipient_mx_backup->verdict == MxBackup::kYes) return Outcome::Permit;
      if (c.recipient_mx_backup->verdict == MxBackup::kTempFail && !v.defer_if_reject)
        v.defer_if_reject = smtp::Reply(
            450, "4.4.4",
            fmt::format("<{}>: Recipient address rejected: {}", str::printable(c.recipient_text, 300),
                        c.recipient_mx_backup->why));
      continue;
    }
    if (r == "reject_invalid_helo_hostname" || r == "reject_invalid_hostname" ||
        r == "reject_non_fqdn_helo_hostname" || r == "reject_non_fqdn_hostname") {
      if (c.helo.empty()) continue;  // no HELO: nothing to judge (smtpd_helo_required is the cure)
      bool fqdn = r == "reject_non_fqdn_helo_hostname" || r == "reject_non_fqdn_hostname";
      if (c.helo.front() == '[') {
        if (valid_literal(c.helo)) continue;
        v.reject(rejected(invalid_hostname_code_, "5.2", c.helo, access::Kind::Helo, "invalid ip address"), mail::Problem::kProtocol);
        return Outcome::Reject;
      }
      std::string_view name = without_final_dot(c.helo);
      if (fqdn) {
        if (mail::is_valid_hostname(name, c.smtputf8) && name.find('.') != std::string_view::npos) continue;
        v.reject(rejected(non_fqdn_code_, "5.2", c.helo, access::Kind::Helo, "need fully-qualified hostname"), mail::Problem::kProtocol);
        return Outcome::Reject;
      }
      // Bare IP addresses pass, as in Postfix (for old clients).
      if (mail::is_valid_hostname(name) || mail::is_valid_ipv4(name) || mail::is_valid_ipv6(name)) continue;
      v.reject(rejected(invalid_hostname_code_, "5.2", c.helo, access::Kind::Helo, "Invalid name"), mail::Problem::kProtocol);
      return Outcome::Reject;
    }
    if (r == "reject_non_fqdn_sender" || r == "reject_non_fqdn_recipient") {
      bool sender = r == "reject_non_fqdn_sender";
      const mail::Address* a = sender ? c.sender : c.recipient;
      if (!a || a->is_null()) continue;  // <> has no domain to judge
      auto ok = fqdn_domain(*a, c.smtputf8);
      if (!ok || *ok) continue;
      v.reject(rejected(non_fqdn_code_, "5.2", sender ? c.sender_text : c.recipient_text,
                    sender ? access::Kind::Sender : access::Kind::Recipient, "need fully-qualified address"), mail::Problem::kProtocol);
      return Outcome::Reject;
    }
    if (r == "reject_unknown_sender_domain" || r == "reject_unknown_recipient_domain") {
      bool sender = r == "reject_unknown_sender_domain";
      const mail::Address* a = sender ? c.sender : c.recipient;
      if (!a) continue;
      auto domain = mailhost_domain(*a, sender ? std::nullopt : c.recipient_class);
      if (!domain) continue;
      dns::Outcome o = (sender ? c.sender_mailhost : c.recipient_mailhost).value_or(dns::Outcome::TempFail);
      if (o == dns::Outcome::Ok) continue;
      std::string_view name = sender ? c.sender_text : c.recipient_text;
      access::Kind what = sender ? access::Kind::Sender : access::Kind::Recipient;
      if (o == dns::Outcome::NullMx) {
        // RFC 7505: the domain says it takes no mail.
        v.reject(rejected(sender ? 550 : 556, sender ? "7.27" : "1.10", name, what,
                      fmt::format("Domain {} does not accept mail (nullMX)", str::printable(*domain, 300))), false);
        return Outcome::Reject;
      }
      smtp::Reply reply = rejected(o == dns::Outcome::TempFail ? 450 : unknown_address_code_,
                                   sender ? "1.8" : "1.2", name, what, "Domain not found");
      if (o == dns::Outcome::TempFail && !unknown_address_tempfail_defer_) {
        // defer_if_permit: stands only if nothing later rejects.
        if (!v.defer_if_permit) v.defer_if_permit = reply;
        continue;
      }
      v.reject(reply, false);
      return Outcome::Reject;
    }
    if (r == "reject_unknown_client_hostname" || r == "reject_unknown_client" ||
        r == "reject_unknown_reverse_client_hostname") {
      // Postfix: the forward-confirmed name (4.7.25) or any PTR name
      // (4.7.1); a temporary failure is always 450.
      bool reverse = r == "reject_unknown_reverse_client_hostname";
      dns::Outcome o = (reverse ? c.reverse_name_status : c.client_name_status).value_or(dns::Outcome::TempFail);
      if (o == dns::Outcome::Ok) continue;
      int code = o == dns::Outcome::TempFail ? 450 : unknown_client_code_;
      std::string dsn = fmt::format("{}.7.{}", code / 100, reverse ? "1" : "25");
      v.reject(smtp::Reply(code, dsn,
                       fmt::format("Client host rejected: cannot find your {}hostname, [{}]", reverse ? "reverse " : "",
                                   str::printable(c.client_addr, 100))), false);
      return Outcome::Reject;
    }
    if (r == "reject_unknown_helo_hostname") {
      if (!helo_dns_name(c.helo)) continue;  // none, or an address: no name to look up
      dns::Outcome o = c.helo_mailhost.value_or(dns::Outcome::TempFail);
      if (o == dns::Outcome::Ok || o == dns::Outcome::NullMx) continue;  // an MTA name may have a null MX
      smtp::Reply reply =
          rejected(o == dns::Outcome::TempFail ? 450 : unknown_hostname_code_, "7.1", c.helo, access::Kind::Helo,
                   "Host not found");
      if (o == dns::Outcome::TempFail && !unknown_helo_tempfail_defer_) {
        if (!v.defer_if_permit) v.defer_if_permit = reply;
        continue;
      }
      v.reject(reply, false);
      return Outcome::Reject;
    }
    if (r == "reject_sender_login_mismatch" || r == "reject_authenticated_sender_login_mismatch" ||
        r == "reject_known_sender_login_mismatch" || r == "reject_unauthenticated_sender_login_mismatch") {
      // Postfix: an authenticated client must own the MAIL FROM address
      // per smtpd_sender_login_maps; an unauthenticated one may not use an
      // address that has an owner. The null sender is not checked.
      if (!c.sender || c.sender->is_null()) continue;
      const bool authenticated = !c.sasl_username.empty();
      const bool check_auth = authenticated && r != "reject_unauthenticated_sender_login_mismatch";
      const bool check_unauth = !authenticated && (r == "reject_sender_login_mismatch" ||
                                                   r == "reject_unauthenticated_sender_login_mismatch" ||
                                                   r == "reject_known_sender_login_mismatch");
      if (!check_auth && !check_unauth) continue;
      auto owners = sender_owners(*c.sender);
      if (!owners) {
        log::warning("smtpd_sender_login_maps lookup of {}: {}", str::printable(c.sender_text), owners.error().message);
        v.reject(smtp::Reply(451, "4.3.0",
                             fmt::format("<{}>: Sender address rejected: Temporary lookup failure",
                                         str::printable(c.sender_text, 300))),
                 mail::Problem::kData);
        return Outcome::Reject;
      }
      if (check_auth) {
        if (owners->empty() && r == "reject_known_sender_login_mismatch") continue;
        bool owned = false;
        for (const auto& o : *owners)
          if (str::iequals(o, c.sasl_username)) owned = true;
        if (owned) continue;
        v.reject(rejected(553, "7.1", c.sender_text, access::Kind::Sender,
                          fmt::format("not owned by user {}", str::printable(c.sasl_username, 255))),
                 false);
        return Outcome::Reject;
      }
      if (owners->empty()) continue;
      v.reject(rejected(553, "7.1", c.sender_text, access::Kind::Sender, "not logged in"), false);
      return Outcome::Reject;
    }
    if (r == "reject_multi_recipient_bounce") {
      // At RCPT time: a second recipient for the null sender.
      // At RCPT the count is of the recipients before this one; at DATA, of all.
      const std::size_t others = c.protocol_state != "RCPT" && c.rcpt_count > 0 ? c.rcpt_count - 1 : c.rcpt_count;
      if (c.sender && c.sender->is_null() && others > 0) {
        v.reject(smtp::Reply(multi_bounce_code_, fmt::format("{}.5.3", multi_bounce_code_ / 100),
                             "<>: Sender address rejected: Multi-recipient bounce"),
                 false);
        return Outcome::Reject;
      }
      continue;
    }
    if (r == "reject_unlisted_sender") {
      Verdict u = check_unlisted_sender(c);
      if (u.kind == Verdict::Reject) {
        v = u;
        return Outcome::Reject;
      }
      continue;
    }
    if (r == "reject_unlisted_recipient") {
      if (no_unknown_recipient_checks_ || !c.recipient) continue;
      Verdict u = check_unlisted(c);
      if (u.kind == Verdict::Reject) {
        v = u;
        return Outcome::Reject;
      }
      continue;
    }
    // A restriction class (smtpd_restriction_classes): its list decides
    // in place of this element, as in Postfix; built-in names come first.
    if (auto k = classes_.find(r); k != classes_.end()) {
      if (depth >= kMaxRestrictionDepth) {
        // A class that names itself, directly or not. Postfix: "causes
        // unreasonable recursion", and a server error.
        log::warning("{}: restriction class {} nests more than {} levels deep", title, r, kMaxRestrictionDepth);
        v.reject(config_error_reply(), true);
        return Outcome::Reject;
      }
      Outcome o = eval_list(k->second, title, c, v, depth + 1);
      if (o == Outcome::Dunno) continue;
      return o;
    }
    // Not reached with a configuration that loaded: Config refuses every
    // name that is not in config::smtpd_restrictions() or a class, which
    // the cases above cover. Fail closed all the same, as Postfix does.
    log::warning("unknown smtpd restriction: \"{}\" in {}", str::printable(r, 100), title);
    v.reject(config_error_reply(), true);
    return Outcome::Reject;
  }
  return Outcome::Dunno;
}

Policy::Outcome Policy::eval_warned(std::span<const Restriction> next, std::string_view title,
                                    const RcptContext& c, Verdict& v, int depth) {
  Verdict w = v;
  Outcome o = eval_list(next, title, c, w, depth);
  // A lookup still to be made is asked for as usual (the list runs again
  // with its answer, and this again turns its rejection into a warning); a
  // configuration error stays an error: it is not the restriction's verdict
  // on this client.
  if (o == Outcome::Reject && (w.need || w.policy_need || w.config_error())) {
    v = std::move(w);
    return o;
  }
  // As Postfix's DEFER_IF_PERMIT: a deferral the warned restriction would
  // leave pending is logged as a warning at once and not kept (a
  // defer_if_reject is kept, as there). Its other actions (WARN, PREPEND,
  // HOLD, ... from an access table) stand.
  if (w.defer_if_permit && !v.defer_if_permit && w.notes.size() < 16)
    w.notes.push_back({"reject_warning", w.defer_if_permit->to_string(), *w.defer_if_permit});
  w.defer_if_permit = v.defer_if_permit;
  if (o == Outcome::Reject) {
    if (w.notes.size() < 16) w.notes.push_back({"reject_warning", w.reply.to_string(), w.reply});
    w.kind = v.kind;
    w.reply = v.reply;
    w.problem = v.problem;
    o = Outcome::Dunno;
  }
  v = std::move(w);
  return o;
}

Policy::Outcome Policy::eval_access(const Restriction& r, std::string_view title, const RcptContext& c,
                                    Verdict& v, int depth) {
  // check_X_access, or check_X_{mx,ns,a}_access: the subject X.
  std::string_view subject_of = r.name;
  const bool server = server_access_restriction(r.name);
  auto starts = [&](std::string_view p) { return subject_of.starts_with(p); };
  access::Kind kind = starts("check_client_")                     ? access::Kind::Client
                      : starts("check_helo_")                     ? access::Kind::Helo
                      : starts("check_sender_")                   ? access::Kind::Sender
                      : starts("check_ccert_")                    ? access::Kind::Ccert
                      : starts("check_reverse_client_hostname_")  ? access::Kind::ReverseClient
                      : starts("check_sasl_")                     ? access::Kind::Sasl
                                                                  : access::Kind::Recipient;
  access::Subject subject;
  subject.client_name = c.client_name;
  subject.client_addr = c.client_addr;
  subject.helo = c.helo;
  subject.ccert_fingerprint = c.ccert_fingerprint;
  subject.ccert_pkey_fingerprint = c.ccert_pkey_fingerprint;
  subject.ccert_cn = c.ccert_subject;
  subject.sasl_username = c.sasl_username;
  if (kind == access::Kind::Sender) {
    subject.address = c.sender;
    subject.address_text = c.sender_text;
  } else if (kind == access::Kind::Recipient) {
    subject.address = c.recipient;
    subject.address_text = c.recipient_text;
  } else if (kind == access::Kind::ReverseClient) {
    // The name the address maps back to, not checked against its own
    // address records ("unknown" when there is none: looked up as such).
    subject.client_name = c.reverse_client_name;
  }
  // Nothing to look up: no HELO, no sender (VRFY), a client that did not
  // authenticate.
  if ((kind == access::Kind::Helo && c.helo.empty()) ||
      ((kind == access::Kind::Sender || kind == access::Kind::Recipient) && !subject.address) ||
      (kind == access::Kind::Sasl && c.sasl_username.empty()))
    return Outcome::Dunno;
  if (server) {
    // The name whose servers are asked: a client name that is known, the
    // HELO name, an address's domain (the whole address without one); never
    // the null sender.
    std::string name;
    switch (kind) {
      case access::Kind::Client:
      case access::Kind::ReverseClient:
        name = std::string(subject.client_name);
        if (str::iequals(name, "unknown")) return Outcome::Dunno;
        break;
      case access::Kind::Helo: name = std::string(c.helo); break;
      default:
        if (subject.address->is_null()) return Outcome::Dunno;
        name = subject.address->has_domain() ? subject.address->domain : subject.address->local;
        break;
    }
    if (name.empty()) return Outcome::Dunno;
    return eval_server_access(r, kind, subject, name, title, c, v, depth);
  }
  auto result = access::evaluate(*r.table, kind, subject, access_);
  if (!result) {
    // The table search has logged what failed ("... lookup error for ...").
    log::warning("{}: {} map lookup problem", title, r.table_spec);
    v.reject(lookup_error_reply(c.recipient_text), mail::Problem::kData);
    return Outcome::Reject;
  }
  if (!*result) return Outcome::Dunno;
  Outcome o = apply_action(**result, title, r.name + " " + r.table_spec, kind, subject, c, v, depth);
  // Postfix: an unverified name is whatever the client's DNS says, so it
  // may deny but never allow.
  if (o == Outcome::Permit && kind == access::Kind::ReverseClient) return forbid_ok(r.name, subject.client_name, v);
  return o;
}

Policy::Outcome Policy::forbid_ok(std::string_view restriction, std::string_view name, Verdict& v) {
  if (v.discard) return Outcome::Permit;  // nothing is accepted by it: Postfix lets it be
  log::warning("restriction {} returns OK for {}", restriction, str::printable(name, 255));
  log::warning("this is not allowed for security reasons");
  log::warning("use DUNNO instead of OK if you want to make an exception");
  v.reject(config_error_reply(), true);
  return Outcome::Reject;
}

namespace {

// The address inside a mail host literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"),
// or a bare address.
std::optional<asio::ip::address> host_address(std::string_view name) {
  auto text = mail::canonical_ip_text(name, true);
  if (!text) return std::nullopt;
  error_code ec;
  auto a = asio::ip::make_address(*text, ec);
  if (ec) return std::nullopt;
  return a;
}

}  // namespace

Policy::Outcome Policy::eval_server_access(const Restriction& r, access::Kind kind, const access::Subject& subject,
                                           std::string_view name, std::string_view title, const RcptContext& c,
                                           Verdict& v, int depth) {
  const std::string_view n = r.name;
  const auto type = n.ends_with("_mx_access")   ? dnsbl::Need::kMx
                    : n.ends_with("_ns_access") ? dnsbl::Need::kNs
                                                : dnsbl::Need::kAddresses;
  const std::string_view type_name = type == dnsbl::Need::kMx ? "MX" : type == dnsbl::Need::kNs ? "NS" : "A";
  const std::string source = r.name + " " + r.table_spec;
  const std::string reply_name = access::reply_name(kind, subject);
  // What Postfix's warning about an OK result names: the client or HELO
  // name, the whole address.
  const std::string ok_target =
      kind == access::Kind::Sender || kind == access::Kind::Recipient ? reply_name : std::string(name);
  // The answer to a lookup, or null with v.need set.
  auto answer = [&](dnsbl::Need::Type t, std::string_view q, std::string context = {}) -> const dnsbl::Answer* {
    if (c.dnsbl)
      if (auto it = c.dnsbl->find(dnsbl::Need::key(t, q)); it != c.dnsbl->end()) return &it->second;
    v.need = dnsbl::Need{std::string(q), t, std::move(context)};
    return nullptr;
  };
  // One table search: the first key found decides, a DUNNO included.
  bool hit = false;
  auto search = [&](const std::vector<access::Key>& keys) -> std::optional<Outcome> {
    auto result = access::evaluate_keys(*r.table, keys, kind, subject, access_, &hit);
    if (!result) {
      // The table search has logged what failed ("... lookup error for ...").
      log::warning("{}: {} map lookup problem", title, r.table_spec);
      v.reject(lookup_error_reply(c.recipient_text), mail::Problem::kData);
      return Outcome::Reject;
    }
    if (!hit) return std::nullopt;
    if (!*result) return Outcome::Dunno;
    Outcome o = apply_action(**result, title, source, kind, subject, c, v, depth);
    return o == Outcome::Permit ? forbid_ok(r.name, ok_target, v) : o;
  };

  // An address literal or a bare address: that address only (NS servers
  // have no such equivalent).
  if (name.front() == '[' || mail::is_valid_ipv4(name) || mail::is_valid_ipv6(name)) {
    if (type == dnsbl::Need::kNs) return Outcome::Dunno;
    auto a = host_address(name);
    if (!a) return Outcome::Dunno;
    return search(access::address_keys(*a)).value_or(Outcome::Dunno);
  }

  // The servers: MX hosts (the name itself when it has none: the implicit
  // MX), NS hosts (of the closest enclosing domain that has some, the root
  // excluded), or the name itself for its A and AAAA records.
  std::vector<std::string> hosts;
  if (type == dnsbl::Need::kAddresses) {
    hosts.emplace_back(name);
  } else if (type == dnsbl::Need::kMx) {
    const dnsbl::Answer* a = answer(dnsbl::Need::kMx, name);
    if (!a) return Outcome::Reject;  // stop here until the answer is known
    if (a->outcome == dns::Outcome::Ok) hosts = a->hosts;
    else if (a->outcome == dns::Outcome::NotFound || a->outcome == dns::Outcome::NoData) hosts.emplace_back(name);
    else return Outcome::Dunno;  // null MX, or the lookup failed (logged)
  } else {
    std::string_view d = name;
    for (;;) {
      const dnsbl::Answer* a = answer(dnsbl::Need::kNs, d);
      if (!a) return Outcome::Reject;
      if (a->outcome == dns::Outcome::Ok) {
        hosts = a->hosts;
        break;
      }
      if (a->outcome != dns::Outcome::NotFound && a->outcome != dns::Outcome::NoData) return Outcome::Dunno;
      auto dot = d.find('.');
      if (dot == std::string_view::npos || dot + 1 >= d.size()) {
        log::warning("Unable to look up NS host for {}: no NS records found", str::printable(name, 300));
        return Outcome::Dunno;
      }
      d.remove_prefix(dot + 1);
    }
  }

  std::size_t addresses = 0;
  for (const auto& host : hosts) {
    if (auto ip = host_address(host)) {
      if (auto o = search(access::address_keys(*ip))) return *o;
      continue;
    }
    if (type != dnsbl::Need::kAddresses)
      if (auto o = search(access::host_name_keys(host, access_))) return *o;
    // Postfix logs a server whose addresses are unknown, except for the A
    // form (the name itself, looked up as the client gave it).
    std::string context = type == dnsbl::Need::kAddresses
                              ? std::string()
                              : fmt::format("{} host {} for {} <{}>", type_name, host, access::reply_class(kind),
                                            str::printable(reply_name, 300));
    const dnsbl::Answer* a = answer(dnsbl::Need::kAddresses, host, std::move(context));
    if (!a) return Outcome::Reject;
    if (a->outcome != dns::Outcome::Ok) continue;
    for (const auto& addr : a->addrs) {
      if (++addresses > kMaxServerAddresses) {
        log::warning("{}: {} server address count limit ({}) exceeded for {} <{}> -- ignoring the remainder",
                     str::printable(name, 300), type_name, kMaxServerAddresses, access::reply_class(kind),
                     str::printable(reply_name, 300));
        return Outcome::Dunno;
      }
      if (auto o = search(access::address_keys(addr))) return *o;
    }
  }
  return Outcome::Dunno;
}

Policy::Outcome Policy::apply_action(const access::Action& a, std::string_view title, std::string_view source,
                                     access::Kind kind, const access::Subject& subject, const RcptContext& c,
                                     Verdict& v, int depth) {
  // WARN/INFO text ("warn: TEXT", logged by the session in Postfix's
  // shape), HOLD/DISCARD text (noted below), or a note on a bad table
  // entry (a warning here).
  if (!a.warning.empty()) log::warning("{}: {}: {}", title, source, a.warning);
  if (!a.why.empty()) {
    if (a.type == access::Action::Type::Dunno) {
      auto colon = a.why.find(": ");
      if (colon != std::string::npos && v.notes.size() < 16)
        v.notes.push_back({a.why.substr(0, colon), a.why.substr(colon + 2)});
    } else if (a.type != access::Action::Type::Unsupported && a.type != access::Action::Type::Hold &&
               a.type != access::Action::Type::Discard && a.type != access::Action::Type::Prepend &&
               a.type != access::Action::Type::Bcc && a.type != access::Action::Type::Filter &&
               a.type != access::Action::Type::Redirect) {
      log::warning("{}: {}: {}", title, source, str::printable(a.why, 300));
    }
  }
  switch (a.type) {
    case access::Action::Type::Permit: return Outcome::Permit;
    case access::Action::Type::Dunno: return Outcome::Dunno;
    case access::Action::Type::Reject: v.reject(a.reply, false); return Outcome::Reject;
    case access::Action::Type::DeferIfReject:
      if (!v.defer_if_reject) v.defer_if_reject = a.reply;
      return Outcome::Dunno;
    case access::Action::Type::DeferIfPermit:
      if (!v.defer_if_permit) v.defer_if_permit = a.reply;
      return Outcome::Dunno;
    case access::Action::Type::Hold:
      // Postfix: logged once, and the restrictions go on (a later reject
      // or discard still wins).
      if (!v.hold && !c.hold && v.notes.size() < 16) v.notes.push_back({"hold", a.why});
      v.hold = true;
      return Outcome::Dunno;
    case access::Action::Type::Prepend:
      // Postfix: no log line; the header goes before smtpd's Received:.
      if (v.prepend.size() < kMaxPrependHeaders) v.prepend.push_back(a.why);
      return Outcome::Dunno;
    case access::Action::Type::Bcc:
      if (v.bcc.size() < kMaxPrependHeaders) {
        if (v.notes.size() < 16) v.notes.push_back({"bcc", a.why});
        v.bcc.push_back(a.address);
      }
      return Outcome::Dunno;
    case access::Action::Type::Redirect:
      // Postfix: logged, the restrictions go on, the last REDIRECT wins.
      if (v.notes.size() < 16) v.notes.push_back({"redirect", a.why});
      v.redirect = a.address;
      return Outcome::Dunno;
    case access::Action::Type::Filter:
      // Postfix: logged, and the restrictions go on; the last FILTER of
      // the transaction wins (the session keeps it).
      if (v.notes.size() < 16) v.notes.push_back({"filter", a.why});
      v.filter = a.address;
      return Outcome::Dunno;
    case access::Action::Type::Discard:
      // A permit, and the end of every restriction (see check_recipient).
      if (v.notes.size() < 16) v.notes.push_back({"discard", a.why});
      v.discard = true;
      return Outcome::Permit;
    case access::Action::Type::Unsupported:
      log::warning("{}: {}: {}", title, source, a.why);
      v.reject(config_error_reply(), true);
      return Outcome::Reject;
    case access::Action::Type::Restrictions: {
      // A table result may name restrictions, but not tables (Postfix's
      // rule), so one level of nesting is all there can be.
      std::vector<Restriction> nested;
      for (const auto& name : a.restrictions) {
        // A class, named in any case (the table result arrives lower-cased):
        // the way a table result reaches restrictions that use tables.
        auto cls = std::find_if(classes_.begin(), classes_.end(),
                                [&](const auto& kv) { return str::iequals(kv.first, name); });
        if (cls != classes_.end()) {
          nested.push_back(Restriction{cls->first, {}, nullptr, nullptr, nullptr});
          continue;
        }
        bool known = false;
        for (auto k : config::smtpd_restrictions()) known = known || k == name;
        if (!known || config::smtpd_restriction_takes_table(name) || config::smtpd_restriction_takes_domain(name) ||
            config::smtpd_restriction_takes_server(name)) {
          log::warning("{}: {}: unknown restriction \"{}\" in a table result", title, source,
                       str::printable(name, 100));
          v.reject(config_error_reply(), true);
          return Outcome::Reject;
        }
        nested.push_back(Restriction{name, {}, nullptr, nullptr, nullptr});
      }
      Outcome o = eval_list(nested, title, c, v, depth + 1);
      // Postfix: an OK that such a list gives a routed recipient
      // (user%host@us) decides nothing either.
      if (o == Outcome::Permit && access::permit_is_suspicious(kind, subject, access_)) return Outcome::Dunno;
      return o;
    }
  }
  return Outcome::Dunno;
}

Policy::Outcome Policy::eval_dnsbl(const Restriction& r, std::string_view title, const RcptContext& c,
                                   Verdict& v) {
  const dnsbl::List& list = *r.dnsbl;
  // The query name, what is listed, and its class (Postfix's words).
  std::string query, what;
  std::string_view cls;
  auto under = [&](std::string_view name) { return std::string(name) + "." + list.domain; };
  auto domain_of = [](const mail::Address* a) -> std::optional<std::string> {
    if (!a || a->is_null() || !a->has_domain() || a->domain.front() == '[') return std::nullopt;
    return a->lower_domain();
  };
  bool allow = r.name == "permit_dnswl_client" || r.name == "permit_rhswl_client";
  if (r.name == "reject_rbl_client" || r.name == "permit_dnswl_client") {
    auto ip = dns::parse_ip(c.client_addr);
    if (!ip) return Outcome::Dunno;
    query = dns::reversed_under(*ip, list.domain);
    what = std::string(c.client_addr);
    cls = "Client host";
  } else if (r.name == "reject_rhsbl_client" || r.name == "reject_rhsbl_reverse_client" ||
             r.name == "permit_rhswl_client") {
    bool reverse = r.name == "reject_rhsbl_reverse_client";
    std::string_view name = reverse ? c.reverse_client_name : c.client_name;
    if (name.empty() || name == "unknown") return Outcome::Dunno;
    query = under(str::lower(name));
    what = std::string(name);
    cls = reverse ? "Unverified Client host" : "Client host";
  } else if (r.name == "reject_rhsbl_helo") {
    auto name = helo_dns_name(c.helo);
    if (!name) return Outcome::Dunno;
    query = under(*name);
    what = std::string(c.helo);
    cls = "Helo command";
  } else {
    bool sender = r.name == "reject_rhsbl_sender";
    auto d = domain_of(sender ? c.sender : c.recipient);
    if (!d) return Outcome::Dunno;
    query = under(*d);
    what = std::string(sender ? c.sender_text : c.recipient_text);
    cls = sender ? "Sender address" : "Recipient address";
  }
  const dnsbl::Answer* a = nullptr;
  if (c.dnsbl)
    if (auto it = c.dnsbl->find(query); it != c.dnsbl->end()) a = &it->second;
  if (!a) {
    v.need = dnsbl::Need{query, dnsbl::Need::kListed, {}};
    return Outcome::Reject;  // stop here until the answer is known
  }
  if (allow) {
    if (a->outcome == dns::Outcome::TempFail) {
      // Postfix: the client might have been allowed, so a later rejection
      // must not be final.
      if (!v.defer_if_reject)
        v.defer_if_reject = smtp::Reply(450, "4.7.1", fmt::format("<{}>: {} rejected: Service unavailable",
                                                                  str::printable(what, 300), cls));
      return Outcome::Dunno;
    }
    if (a->outcome != dns::Outcome::Ok || !list.listed(a->addrs)) return Outcome::Dunno;
    // Never a way around relay control: for a recipient that
    // reject_unauth_destination would refuse, the allow list decides nothing.
    if (c.recipient) {
      bool failed = false;
      bool ok = auth_destination(c, v, failed);
      if (failed) return Outcome::Reject;
      if (!ok) return Outcome::Dunno;
    }
    return Outcome::Permit;
  }
  if (a->outcome != dns::Outcome::Ok || !list.listed(a->addrs)) return Outcome::Dunno;
  if (!a->reason) {
    v.need = dnsbl::Need{query, dnsbl::Need::kTxt, {}};
    return Outcome::Reject;
  }
  dnsbl::ReplyAttributes at;
  at.rbl_code = std::to_string(rbl_code_);
  at.rbl_domain = list.domain;
  at.rbl_reason = *a->reason;
  at.rbl_what = str::printable(what, 300);
  at.rbl_class = std::string(cls);
  at.client_address = std::string(c.client_addr);
  at.client_name = std::string(c.client_name);
  at.reverse_client_name = std::string(c.reverse_client_name);
  at.helo_name = str::printable(c.helo, 300);
  at.sender = str::printable(c.sender_text, 300);
  at.recipient = str::printable(c.recipient_text, 300);
  // smtpd_expansion_filter: what a value may bring into the reply (a TXT
  // record is anybody's text).
  for (std::string* f : {&at.rbl_code, &at.rbl_domain, &at.rbl_reason, &at.rbl_what, &at.rbl_class,
                         &at.client_address, &at.client_name, &at.reverse_client_name, &at.helo_name, &at.sender,
                         &at.recipient})
    *f = str::censor(*f, expansion_filter_);
  std::string templ = default_rbl_reply_;
  if (rbl_reply_maps_) {
    auto m = rbl_reply_maps_->lookup(list.domain);
    if (!m) {
      log::warning("{}: rbl_reply_maps lookup of {}: {}", title, list.domain, m.error().message);
      v.reject(lookup_error_reply(c.recipient_text), mail::Problem::kData);
      return Outcome::Reject;
    }
    if (*m) templ = **m;
  }
  auto reply = dnsbl::build_reply(templ, at);
  if (!reply) {
    log::warning("{}: {} {}: {}", title, r.name, r.table_spec, reply.error().message);
    v.reject(config_error_reply(), true);
    return Outcome::Reject;
  }
  v.reject(std::move(*reply), false);
  return Outcome::Reject;
}

Policy::Outcome Policy::eval_policy_service(const Restriction& r, std::string_view title, const RcptContext& c,
                                            Verdict& v, int depth) {
  const PolicyServiceSpec& spec = *r.server;
  const std::string* action = nullptr;
  if (c.policy_answers)
    if (auto it = c.policy_answers->find(spec.text); it != c.policy_answers->end()) action = &it->second;
  if (!action) {
    // Postfix's attributes, in its order; the ones Postern has no value
    // for (sasl_sender, client certificates, ETRN) are sent empty, as Postfix does without them.
    auto addr = [](const mail::Address* a) { return a ? a->to_internal() : std::string(); };
    std::vector<std::pair<std::string_view, std::string>> attrs = {
        {"request", "smtpd_access_policy"},
        {"protocol_state", std::string(c.protocol_state)},
        {"protocol_name", std::string(c.protocol_name)},
        {"client_address", std::string(c.client_addr)},
        {"client_name", std::string(c.client_name)},
        {"client_port", std::string(c.client_port)},
        {"reverse_client_name", std::string(c.reverse_client_name)},
        {"helo_name", std::string(c.helo)},
        {"sender", addr(c.sender)},
        {"recipient", addr(c.recipient)},
        // Postfix: non-zero only at DATA and END-OF-MESSAGE.
        {"recipient_count", c.protocol_state != "RCPT" ? std::to_string(c.rcpt_count) : std::string("0")},
        {"queue_id", std::string(c.queue_id)},
        {"instance", std::string(c.instance)},
        {"size", std::to_string(c.size)},
        {"etrn_domain", ""},
        {"stress", ""},
        {"sasl_method", std::string(c.sasl_method)},
        {"sasl_username", std::string(c.sasl_username)},
        {"sasl_sender", ""},
        // Postfix: the names only from a certificate that verified.
        {"ccert_subject", c.ccert_trusted ? std::string(c.ccert_subject) : std::string()},
        {"ccert_issuer", c.ccert_trusted ? std::string(c.ccert_issuer) : std::string()},
        {"ccert_fingerprint", std::string(c.ccert_fingerprint)},
        {"ccert_pubkey_fingerprint", std::string(c.ccert_pkey_fingerprint)},
        {"encryption_protocol", std::string(c.encryption_protocol)},
        {"encryption_cipher", std::string(c.encryption_cipher)},
        {"encryption_keysize", std::to_string(c.encryption_keysize)},
        {"policy_context", spec.policy_context},
        {"compatibility_level", compatibility_level_},
        {"mail_version", mail_version_}};
    v.policy_need = Verdict::PolicyNeed{r.server, policy_request(attrs)};
    return Outcome::Reject;  // stop here until the answer is known
  }
  access::Subject subject;
  subject.client_name = c.client_name;
  subject.client_addr = c.client_addr;
  subject.helo = c.helo;
  subject.address = c.recipient;
  subject.address_text = c.recipient_text;
  access::Action a = access::parse_action(*action, access::Kind::Recipient, subject, access_);
  Outcome o = apply_action(a, title, r.name + " " + spec.text, access::Kind::Recipient, subject, c, v, depth);
  return o;
}

namespace {

// defer_if_reject (remembered in `v` while its lists ran) turns a final
// rejection into a deferral; a pending lookup or a configuration error
// stays as it is.
void apply_defer_if_reject(Verdict& out, const Verdict& v) {
  if (out.kind == Verdict::Reject && !out.need && !out.policy_need && !out.config_error() && v.defer_if_reject &&
      out.reply.code >= 500)
    out.reply = *v.defer_if_reject;
}

}  // namespace

Verdict Policy::check_recipient(const RcptContext& c) {
  Verdict v;
  if (!relay_control_ok_) return Verdict::rejection(config_error_reply(), true);
  // smtpd_delay_reject = yes: client, helo and sender restrictions run at RCPT
  // time; each list ends at its first permit, a reject ends everything.
  // With "no" they ran at their own commands (check_client() ...), and
  // what those left pending (defer_if_permit) comes along in the context.
  const std::pair<const std::vector<Restriction>*, std::string_view> lists[] = {
      {&client_r_, "smtpd_client_restrictions"}, {&helo_r_, "smtpd_helo_restrictions"},
      {&sender_r_, "smtpd_sender_restrictions"}, {&relay_r_, "smtpd_relay_restrictions"},
      {&rcpt_r_, "smtpd_recipient_restrictions"}};
  std::span<const std::pair<const std::vector<Restriction>*, std::string_view>> run(lists);
  if (!delay_reject_) {
    run = run.subspan(3);
    if (c.earlier_defer_if_permit) v.defer_if_permit = *c.earlier_defer_if_permit;
  }
  for (const auto& [list, title] : run) {
    // A defer_if_reject (an allow list that could not be asked) softens
    // rejections of its own stage only: the client, HELO and sender lists
    // are a stage each, relay and recipient lists one, as Postfix's
    // smtpd_check_*() reset it.
    if (title != "smtpd_recipient_restrictions") v.defer_if_reject.reset();
    if (eval_list(*list, title, c, v) == Outcome::Reject) {
      apply_defer_if_reject(v, v);
      return v;  // (or v.need)
    }
    // Postfix: once the message is to be discarded, no restriction is
    // evaluated any more, so nothing can reject this recipient now.
    if (v.discard) break;
  }
  // The implicit checks: the sender's, then the recipient's.
  // (The sender's was done at MAIL FROM when smtpd_delay_reject = no.)
  Verdict out = reject_unlisted_sender_ && delay_reject_ && !v.discard ? check_unlisted_sender(c) : Verdict{};
  if (out.kind == Verdict::Accept && reject_unlisted_ && !v.discard) out = check_unlisted(c);
  if (out.kind == Verdict::Accept && v.defer_if_permit) out.reject(*v.defer_if_permit);
  apply_defer_if_reject(out, v);
  out.notes = std::move(v.notes);
  out.hold = v.hold;
  out.discard = v.discard;
  out.prepend = std::move(v.prepend);
  out.bcc = std::move(v.bcc);
  out.filter = std::move(v.filter);
  out.redirect = std::move(v.redirect);
  return out;
}

// smtpd_delay_reject = no. Each stage evaluates its own list, rejects at
// once, and leaves a defer_if_permit in the verdict for the caller to carry
// to the next stages (Postfix enforces it only at RCPT TO); a later stage
// starts from the earlier one's (RcptContext::earlier_defer_if_permit).
Verdict Policy::check_client(const RcptContext& c) { return check_early_stage(client_r_, "smtpd_client_restrictions", c); }

Verdict Policy::check_helo(const RcptContext& c) { return check_early_stage(helo_r_, "smtpd_helo_restrictions", c); }

Verdict Policy::check_sender(const RcptContext& c) {
  Verdict v = check_early_stage(sender_r_, "smtpd_sender_restrictions", c);
  // The implicit reject_unlisted_sender, at MAIL FROM now (Postfix's
  // smtpd_check_mail()).
  if (v.kind == Verdict::Reject || v.discard || !reject_unlisted_sender_) return v;
  Verdict u = check_unlisted_sender(c);
  if (u.kind == Verdict::Reject) {
    apply_defer_if_reject(u, v);
    v.reject(u.reply, u.problem);
  }
  return v;
}

Verdict Policy::check_early_stage(const std::vector<Restriction>& list, std::string_view title,
                                  const RcptContext& c) {
  Verdict v;
  if (c.earlier_defer_if_permit) v.defer_if_permit = *c.earlier_defer_if_permit;
  if (list.empty()) return v;
  if (eval_list(list, title, c, v) == Outcome::Reject) apply_defer_if_reject(v, v);
  return v;
}

Verdict Policy::check_data(const RcptContext& c) { return check_stage(data_r_, "smtpd_data_restrictions", c); }

Verdict Policy::check_end_of_data(const RcptContext& c) {
  return check_stage(eod_r_, "smtpd_end_of_data_restrictions", c);
}

// One list alone (no implicit checks), with defer_if_permit and
// defer_if_reject as at RCPT.
Verdict Policy::check_stage(const std::vector<Restriction>& list, std::string_view title, const RcptContext& c) {
  Verdict v;
  if (list.empty()) return v;
  if (eval_list(list, title, c, v) == Outcome::Reject) {
    apply_defer_if_reject(v, v);
    return v;
  }
  if (v.defer_if_permit) v.reject(*v.defer_if_permit);
  return v;
}

Policy::Outcome Policy::listed_client_certificate(const RcptContext& c, Verdict& v) {
  // Postfix's permit_tls_clientcerts: the certificate's fingerprint, then
  // its public key's; a listed one need not verify (the fingerprint is the
  // trust). Any value counts.
  if (c.ccert_fingerprint.empty() && c.ccert_pkey_fingerprint.empty()) return Outcome::Dunno;
  const RecipientTable& t = relay_clientcerts_;
  if (!t.configured()) return Outcome::Dunno;
  for (std::string_view key : {c.ccert_fingerprint, c.ccert_pkey_fingerprint}) {
    if (key.empty()) continue;
    auto found = t.maps ? t.maps->lookup(key) : Result<std::optional<std::string>>(make_error("{}", t.error));
    if (!found) {
      log::warning("relay_clientcerts: lookup error for fingerprint '{}', pkey fingerprint '{}': {}",
                   c.ccert_fingerprint, c.ccert_pkey_fingerprint, found.error().message);
      v.reject(lookup_error_reply(c.recipient_text), mail::Problem::kData);
      return Outcome::Reject;
    }
    if (*found) return Outcome::Permit;
  }
  return Outcome::Dunno;
}

Result<std::vector<std::string>> Policy::sender_owners(const mail::Address& sender) {
  std::vector<std::string> out;
  if (!sender_login_error_.empty()) return make_error("{}", sender_login_error_);
  if (!sender_login_maps_) return out;
  maps::AddressSearchOptions opts;
  opts.recipient_delimiter = recipient_delimiter_;
  opts.double_bounce_sender = double_bounce_sender_;
  opts.is_local = [this](std::string_view domain) -> Result<bool> {
    mail::Address probe;
    probe.local = "x";
    probe.domain = std::string(domain);
    auto k = classify(probe);
    if (!k) return k.error();
    return *k == DomainClass::Local;
  };
  std::string key = sender.has_domain() ? sender.local + "@" + sender.lower_domain() : sender.local;
  auto m = maps::find_address(*sender_login_maps_, key, opts);
  if (!m) return m.take_error();
  if (*m)
    for (const auto& o : str::split((*m)->value, ", \t"))
      if (!o.empty()) out.push_back(o);
  return out;
}

Policy::RecipientTable Policy::open_recipient_table(const config::Config& cfg, const char* name) {
  RecipientTable t;
  std::string value = cfg.str(name);
  if (str::trim(value).empty()) return t;
  auto ml = maps::MapList::open(name, value, quiet_fixed());
  if (!ml) {
    // Postfix defers recipients when a table is unavailable; so do we
    // (an empty MapList with a recorded failure would accept everyone).
    log::warning("{}", ml.error().message);  // MapList::open names the parameter
    t.error = ml.error().message;
  } else {
    t.maps = std::make_unique<maps::MapList>(std::move(*ml));
  }
  return t;
}

// Postfix's check_rcpt_maps(), for smtpd_reject_unlisted_recipient and
// reject_unlisted_recipient, and for the sender (smtpd_reject_unlisted_sender,
// reject_unlisted_sender: "Sender address rejected", 5.1.0).
Verdict Policy::check_unlisted(const RcptContext& c) {
  if (!c.recipient) return {};
  return check_unlisted_address(Unlisted{c.recipient, c.recipient_text, c.recipient_class, c.undeliverable, false});
}

Verdict Policy::check_unlisted_sender(const RcptContext& c) {
  if (!c.sender || c.sender->is_null()) return {};
  return check_unlisted_address(Unlisted{c.sender, c.sender_text, c.sender_class, c.sender_undeliverable, true});
}

Verdict Policy::check_unlisted_address(const Unlisted& a) {
  const char* role = a.sender ? "Sender" : "Recipient";
  const char* unknown_dsn = a.sender ? "5.1.0" : "5.1.1";
  Result<DomainClass> cls = a.cls ? Result<DomainClass>(*a.cls) : classify(*a.address);
  if (!cls) {
    log::warning("{} domain lookup failed: {}", a.sender ? "sender" : "recipient", cls.error().message);
    return Verdict::rejection(lookup_error_reply(a.text), mail::Problem::kData);
  }
  // Other domains have no recipient table here, but an address the
  // resolver sends to the error transport is refused in any class.
  if (*cls == DomainClass::Default && a.undeliverable.empty()) return {};
  maps::AddressSearchOptions opts;
  opts.recipient_delimiter = recipient_delimiter_;
  opts.double_bounce_sender = double_bounce_sender_;
  opts.is_local = [this, &a, cls = *cls](std::string_view domain) -> Result<bool> {
    // The address's own domain: trivial-rewrite already said what it is.
    if (a.address->has_domain() && str::iequals(domain, a.address->domain)) return cls == DomainClass::Local;
    mail::Address probe;
    probe.local = "x";
    probe.domain = std::string(domain);
    auto k = classify(probe);
    if (!k) return k.error();
    return *k == DomainClass::Local;
  };
  std::string key = a.address->has_domain() ? a.address->local + "@" + a.address->lower_domain()
                                            : a.address->local;
  // nullopt: found; a Verdict: not found (empty) or a lookup failure (a 4xx).
  auto find = [&](const RecipientTable& t, const char* name) -> std::optional<Verdict> {
    if (!t.error.empty()) return Verdict::rejection(lookup_error_reply(a.text), mail::Problem::kData);
    auto m = maps::find_address(*t.maps, key, opts);
    if (!m) {
      log::warning("{} lookup of {}: {}", name, str::printable(key), m.error().message);
      return Verdict::rejection(lookup_error_reply(a.text), mail::Problem::kData);
    }
    // Postfix also finds "user" alone for a local domain (the passwd and
    // alias tables are keyed by the bare name); find_address does that
    // when is_local.
    if (m->has_value()) return std::nullopt;
    return Verdict{};
  };
  // An address the canonical or virtual alias tables rewrite is valid
  // whatever its class (cleanup maps it before it is delivered).
  for (const auto& t : mapped_recipient_maps_) {
    auto v = find(t, "address mapping table");
    if (!v) return {};
    if (v->kind == Verdict::Reject) return *v;
  }
  // Postfix: anything that resolves to the error mailer is known to be
  // undeliverable (a relocated user, an "error:" transport_maps entry).
  if (!a.undeliverable.empty()) {
    std::string_view text = a.undeliverable;
    std::string dsn = unknown_dsn;
    std::string_view first = text.substr(0, text.find(' '));
    if (first.size() < text.size() && smtp::valid_enhanced_code(first) && first[0] == '5') {
      dsn = std::string(first);
      text = str::trim(text.substr(first.size()));
    }
    int code = *cls == DomainClass::VirtualAlias ? unknown_virtual_alias_code_ : 550;
    return Verdict::rejection(
        smtp::Reply(code, dsn, fmt::format("<{}>: {} address rejected: {}", a.text, role, text)), false);
  }
  auto unknown = [&](int code, const char* table) {
    return Verdict::rejection(
        smtp::Reply(code, unknown_dsn,
                    fmt::format("<{}>: {} address rejected: User unknown in {}", a.text, role, table)),
        false);
  };
  const RecipientTable* table = nullptr;
  const char* name = "";
  int code = 550;
  const char* what = "";
  switch (*cls) {
    case DomainClass::VirtualAlias:
      // Not rewritten by virtual_alias_maps: trivial-rewrite sends it to
      // the error transport, so it can only bounce.
      return unknown(unknown_virtual_alias_code_, "virtual alias table");
    case DomainClass::Local:
      table = &local_recipient_maps_, name = "local_recipient_maps", code = unknown_local_code_;
      what = "local recipient table";
      break;
    case DomainClass::VirtualMailbox:
      table = &virtual_mailbox_maps_, name = "virtual_mailbox_maps", code = unknown_virtual_mailbox_code_;
      what = "virtual mailbox table";
      break;
    case DomainClass::Relay:
      table = &relay_recipient_maps_, name = "relay_recipient_maps", code = unknown_relay_code_;
      what = "relay recipient table";
      break;
    case DomainClass::Default: return {};
  }
  if (!table->configured()) return {};  // an empty parameter: every address of the class is valid
  auto v = find(*table, name);
  if (!v) return {};
  if (v->kind == Verdict::Reject) return *v;
  return unknown(code, what);
}

}  // namespace postern::smtpd
