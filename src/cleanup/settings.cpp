// settings.cpp - cleanup's typed view of main.cf (see settings.h).
//
// Reads the parameters listed in settings.h; logs what settings.h says.
#include "cleanup/settings.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "base/strings.h"
#include "config/host_info.h"
#include "log/log.h"

namespace postern::cleanup {

Result<Network> parse_network(std::string_view text) {
  std::string t(str::trim(text));
  Network n;
  std::string addr = t, len;
  if (auto slash = t.rfind('/'); slash != std::string::npos) {
    addr = t.substr(0, slash);
    len = t.substr(slash + 1);
  }
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (!maps::parse_ip(addr, n.family, n.addr)) return make_error("bad network address \"{}\"", str::printable(t, 128));
  n.prefix = n.family == AF_INET ? 32 : 128;
  if (!len.empty()) {
    auto p = str::parse_int(len);
    if (!p || *p < 0 || *p > n.prefix) return make_error("bad network mask in \"{}\"", str::printable(t, 128));
    n.prefix = static_cast<int>(*p);
  }
  return n;
}

bool network_contains(const Network& net, std::string_view text) {
  if (str::istarts_with(text, "ipv6:")) text.remove_prefix(5);
  unsigned char bytes[16] = {};
  int family = 0;
  // An IPv4-mapped IPv6 client ("::ffff:192.0.2.1") comes back as IPv4.
  if (!maps::parse_ip(text, family, bytes) || family != net.family) return false;
  int full = net.prefix / 8, rest = net.prefix % 8;
  if (std::memcmp(bytes, net.addr, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (bytes[full] & mask) == (net.addr[full] & mask);
}

namespace {

// A list entry that names a table or a file rather than a literal value.
// "[2001:db8::]/32" is an IPv6 network (Postfix wants IPv6 in brackets in
// these lists), not a table.
bool is_table_entry(std::string_view s) {
  if (!s.empty() && s.front() == '[') return false;
  return s.find(':') != std::string_view::npos || (!s.empty() && s.front() == '/');
}

}  // namespace

Result<CleanupSettings> CleanupSettings::from_config(const config::Config& cfg) {
  CleanupSettings s;
  s.queue_directory = cfg.str("queue_directory");
  auto hash = queue::HashConfig::from_params(cfg.str("hash_queue_names"), cfg.integer("hash_queue_depth"));
  if (!hash) return make_error("hash_queue_names/hash_queue_depth: {}", hash.error().message);
  s.hash = *hash;
  s.id_format = queue::id_format(cfg.boolean("enable_long_queue_ids"));

  s.hopcount_limit = cfg.integer("hopcount_limit");
  s.message_size_limit = cfg.size("message_size_limit");
  s.header_size_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.size("header_size_limit")));
  s.header_address_token_limit = static_cast<std::size_t>(cfg.integer("header_address_token_limit"));
  s.line_length_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("line_length_limit")));
  s.duplicate_filter_limit = static_cast<std::size_t>(cfg.integer("duplicate_filter_limit"));

  s.myhostname = cfg.str("myhostname");
  s.myorigin = str::lower(str::trim(cfg.str("myorigin")));
  s.append_at_myorigin = cfg.boolean("append_at_myorigin");
  for (const auto& d : cfg.list("mydestination"))
    if (!is_table_entry(d)) s.mydestination.push_back(str::lower(d));

  for (const auto& h : cfg.list("message_drop_headers")) s.drop_headers.insert(str::lower(h));
  auto char_set = [&](const char* name) {
    std::string set = str::unescape(cfg.str(name));
    std::erase(set, '\n');
    return set;
  };
  s.reject_chars = char_set("message_reject_characters");
  s.strip_chars = char_set("message_strip_characters");
  s.header_checks = cfg.str("header_checks");
  s.mime_header_checks = cfg.str("mime_header_checks");
  s.nested_header_checks = cfg.str("nested_header_checks");
  s.body_checks = cfg.str("body_checks");
  s.body_checks_size_limit = static_cast<std::size_t>(cfg.integer("body_checks_size_limit"));
  s.mime_input_processing = !cfg.boolean("disable_mime_input_processing");
  s.detect_8bit_encoding_header = cfg.boolean("detect_8bit_encoding_header");
  s.mime_nesting_limit = static_cast<std::size_t>(cfg.integer("mime_nesting_limit"));
  s.mime_boundary_length_limit = static_cast<std::size_t>(cfg.integer("mime_boundary_length_limit"));
  s.strict_7bit_headers = cfg.boolean("strict_7bit_headers") || cfg.boolean("strict_8bitmime");
  s.strict_8bitmime_body = cfg.boolean("strict_8bitmime_body") || cfg.boolean("strict_8bitmime");
  s.strict_encoding_domain = cfg.boolean("strict_mime_encoding_domain");
  {
    std::string v = str::lower(str::trim(cfg.str("always_add_missing_headers")));
    if (v == "yes" || v == "true" || v == "1")
      s.always_add_missing_headers = true;
    else if (v == "no" || v == "false" || v == "0" || v.empty())
      s.always_add_missing_headers = false;
    else
      return make_error("always_add_missing_headers: bad boolean value \"{}\"", str::printable(v, 64));
  }
  s.undisclosed_recipients_header = std::string(str::trim(cfg.str("undisclosed_recipients_header")));
  if (!s.undisclosed_recipients_header.empty() &&
      (s.undisclosed_recipients_header.find('\n') != std::string::npos ||
       s.undisclosed_recipients_header.find(':') == std::string::npos))
    return make_error("undisclosed_recipients_header: not a header: \"{}\"",
                      str::printable(s.undisclosed_recipients_header, 128));
  {
    std::string f = str::lower(str::trim(cfg.str("header_from_format")));
    if (f == "obsolete")
      s.obsolete_from_format = true;
    else if (f != "standard")
      return make_error("header_from_format: expected standard or obsolete, not \"{}\"", str::printable(f, 64));
  }
  s.enable_original_recipient = cfg.boolean("enable_original_recipient");
  s.ipc_timeout = cfg.time("ipc_timeout");
  s.in_flow_delay = cfg.time("in_flow_delay");
  s.delay_warning_time = cfg.time("delay_warning_time");
  s.queue_service_name = cfg.str("queue_service_name");
  if (s.queue_service_name.empty() || s.queue_service_name.find('/') != std::string::npos)
    return make_error("queue_service_name: bad service name \"{}\"", str::printable(s.queue_service_name, 64));
  s.trace_service_name = cfg.str("trace_service_name");
  if (s.trace_service_name.empty() || s.trace_service_name.find('/') != std::string::npos)
    return make_error("trace_service_name: bad service name \"{}\"", str::printable(s.trace_service_name, 64));
  s.rewrite_service_name = cfg.str("rewrite_service_name");
  if (s.rewrite_service_name.empty() || s.rewrite_service_name.find('/') != std::string::npos)
    return make_error("rewrite_service_name: bad service name \"{}\"", str::printable(s.rewrite_service_name, 64));

  for (const auto& c : cfg.list("local_header_rewrite_clients")) {
    std::string l = str::lower(c);
    if (l == "static:all")
      s.rewrite_all_clients = true;
    else if (l == "permit_inet_interfaces")
      s.rewrite_inet_interfaces = true;
    else if (l == "permit_mynetworks")
      s.rewrite_mynetworks = true;
    else if (l == "permit_sasl_authenticated")
      s.rewrite_sasl_authenticated = true;
    // Other restrictions (tables, TLS certificates) never match here.
  }
  if (s.rewrite_inet_interfaces) {
    for (const char* lo : {"127.0.0.0/8", "::1/128"}) s.own_networks.push_back(*parse_network(lo));
    for (const auto& a : config::host::own_addresses(cfg.str("inet_interfaces"), cfg.str("inet_protocols"))) {
      Network n;
      n.family = a.family;
      std::memcpy(n.addr, a.addr.data(), 16);
      n.prefix = a.family == AF_INET ? 32 : 128;
      s.own_networks.push_back(n);
    }
    for (const auto& p : cfg.list("proxy_interfaces"))
      if (auto n = parse_network(p)) s.own_networks.push_back(*n);
  }
  if (s.rewrite_mynetworks) {
    // The whole network list, as smtpd reads it: "!" entries, /file/name
    // and type:table entries included.
    auto nets = maps::NetworkList::parse("mynetworks", cfg.str("mynetworks"));
    if (!nets) return nets.take_error();
    s.mynetworks = std::make_shared<maps::NetworkList>(std::move(*nets));
  }
  s.remote_header_rewrite_domain = std::string(str::trim(cfg.str("remote_header_rewrite_domain")));

  MapperOptions& m = s.mapper;
  auto classes = [&](std::string_view name, unsigned& out) -> Status {
    auto bits = parse_classes(name, cfg.list(name));
    if (!bits) return bits.take_error();
    out = *bits;
    return {};
  };
  if (auto st = classes("canonical_classes", m.canonical_classes); !st) return st.take_error();
  if (auto st = classes("sender_canonical_classes", m.sender_canonical_classes); !st) return st.take_error();
  if (auto st = classes("recipient_canonical_classes", m.recipient_canonical_classes); !st) return st.take_error();
  if (auto st = classes("masquerade_classes", m.masquerade_classes); !st) return st.take_error();
  m.masquerade_domains = cfg.list("masquerade_domains");
  {
    auto ex = maps::MatchList::open("masquerade_exceptions", cfg.str("masquerade_exceptions"), maps::MatchStyle::Name);
    if (!ex) return make_error("masquerade_exceptions: {}", ex.error().message);
    m.masquerade_exceptions = std::make_shared<maps::MatchList>(std::move(*ex));
  }
  m.propagate_canonical = m.propagate_virtual = false;
  for (const auto& p : cfg.list("propagate_unmatched_extensions")) {
    std::string l = str::lower(p);
    if (l == "canonical") m.propagate_canonical = true;
    if (l == "virtual") m.propagate_virtual = true;
  }
  m.virtual_expansion_limit = static_cast<std::size_t>(cfg.integer("virtual_alias_expansion_limit"));
  m.virtual_recursion_limit = static_cast<std::size_t>(cfg.integer("virtual_alias_recursion_limit"));
  m.virtual_address_length_limit = static_cast<std::size_t>(cfg.integer("virtual_alias_address_length_limit"));
  m.search.recipient_delimiter = cfg.str("recipient_delimiter");
  m.search.double_bounce_sender = cfg.str("double_bounce_sender");

  s.canonical_maps = cfg.str("canonical_maps");
  s.sender_canonical_maps = cfg.str("sender_canonical_maps");
  s.recipient_canonical_maps = cfg.str("recipient_canonical_maps");
  s.virtual_alias_maps = cfg.str("virtual_alias_maps");
  s.sender_bcc_maps = cfg.str("sender_bcc_maps");
  s.recipient_bcc_maps = cfg.str("recipient_bcc_maps");
  s.always_bcc = std::string(str::trim(cfg.str("always_bcc")));
  return s;
}

bool CleanupSettings::is_local_domain(std::string_view domain) const {
  std::string d = str::lower(domain);
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty()) return false;
  if (d == myorigin) return true;
  for (const auto& m : mydestination)
    if (m == d) return true;
  if (d.size() > 2 && d.front() == '[' && d.back() == ']') {
    std::string lit = d.substr(1, d.size() - 2);
    for (const auto& n : own_networks)
      if (n.prefix == (n.family == AF_INET ? 32 : 128) && network_contains(n, lit)) return true;
  }
  return false;
}

std::string CleanupSettings::header_rewrite_context(std::string_view client_addr, bool sasl_authenticated) const {
  if (client_addr.empty()) return "local";
  if (rewrite_all_clients) return "local";
  if (rewrite_sasl_authenticated && sasl_authenticated) return "local";
  if (rewrite_inet_interfaces)
    for (const auto& n : own_networks)
      if (network_contains(n, client_addr)) return "local";
  if (rewrite_mynetworks && mynetworks) {
    std::string_view a = client_addr;
    if (str::istarts_with(a, "ipv6:")) a.remove_prefix(5);
    auto hit = mynetworks->contains(a);
    // A table that cannot answer grants nothing: local rewriting is the
    // privileged choice.
    if (!hit) log::warning("local_header_rewrite_clients: mynetworks lookup for {}: {}", str::printable(a, 64),
                           hit.error().message);
    else if (*hit) return "local";
  }
  if (!remote_header_rewrite_domain.empty()) return "remote";
  return "";
}

Result<AddressMapper> open_mapper(const CleanupSettings& s) {
  auto open = [](std::string_view title, const std::string& list) -> Result<maps::MapList> {
    if (str::trim(list).empty()) return maps::MapList(std::string(title), {});
    return maps::MapList::open(title, list);
  };
  auto canonical = open("canonical_maps", s.canonical_maps);
  if (!canonical) return canonical.take_error();
  auto sender = open("sender_canonical_maps", s.sender_canonical_maps);
  if (!sender) return sender.take_error();
  auto recipient = open("recipient_canonical_maps", s.recipient_canonical_maps);
  if (!recipient) return recipient.take_error();
  auto virt = open("virtual_alias_maps", s.virtual_alias_maps);
  if (!virt) return virt.take_error();

  MapperOptions opts = s.mapper;
  // Copies, so the mapper does not depend on the settings' lifetime.
  opts.search.is_local = [myorigin = s.myorigin, dest = s.mydestination,
                          own = s.own_networks](std::string_view domain) -> Result<bool> {
    CleanupSettings probe;
    probe.myorigin = myorigin;
    probe.mydestination = dest;
    probe.own_networks = own;
    return probe.is_local_domain(domain);
  };
  opts.qualify = [myorigin = s.myorigin, append = s.append_at_myorigin](std::string_view a) {
    return append ? append_myorigin(a, myorigin) : std::string(a);
  };
  auto sender_bcc = open("sender_bcc_maps", s.sender_bcc_maps);
  if (!sender_bcc) return sender_bcc.take_error();
  auto recipient_bcc = open("recipient_bcc_maps", s.recipient_bcc_maps);
  if (!recipient_bcc) return recipient_bcc.take_error();
  AddressMapper mapper(std::move(opts), std::move(*canonical), std::move(*sender), std::move(*recipient),
                       std::move(*virt));
  mapper.set_bcc_maps(std::move(*sender_bcc), std::move(*recipient_bcc));
  return mapper;
}

}  // namespace postern::cleanup
