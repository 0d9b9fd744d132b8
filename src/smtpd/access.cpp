// access.cpp - access(5) keys, actions and replies (see access.h).
#include "smtpd/access.h"

#include <fmt/format.h>

#include <array>
#include <cctype>

#include "base/strings.h"
#include "config/registry.h"
#include "config/transport.h"
#include "mail/header.h"
#include "maps/address_search.h"

namespace postern::smtpd::access {

std::string reply_text(std::string_view text, std::size_t room) {
  std::string out;
  out.reserve(std::min(text.size(), room));
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (out.size() > room) {
    std::size_t cut = room;
    // Do not leave half a UTF-8 sequence behind.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

namespace {

// Postfix's ISSPACE in the table-result parser (check_table_result,
// dsn_split): the C locale's isspace().
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view skip_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

class KeyList {
 public:
  void add(std::string key, bool fixed_only) {
    // Empty keys are never found (MapList skips them anyway); oversized ones
    // could only come from a caller bug, so they are not worth a lookup.
    if (key.empty() || key.size() > kMaxKeyBytes) return;
    keys_.push_back(Key{std::move(key), fixed_only});
  }
  // An address key: the quoted (external) form, then the internal form when
  // it differs -- mail_addr_find()'s MA_FORM_EXTERNAL_FIRST queries.
  void add_address(std::string_view local, std::string_view suffix, bool fixed_only) {
    std::string external = mail::quote_local(local) + std::string(suffix);
    std::string internal = std::string(local) + std::string(suffix);
    bool differ = external != internal;
    add(std::move(external), fixed_only);
    if (differ) add(std::move(internal), fixed_only);
  }
  // `domain`, then its parents; see access.h. The first key is full or
  // partial as the caller says, parents are always partial.
  void add_domain(std::string_view domain, bool first_fixed, bool parent_style, bool numeric_stop) {
    std::size_t pos = 0;
    std::size_t count = 0;
    bool first = true;
    while (pos < domain.size() && count < kMaxDomainKeys) {
      add(std::string(domain.substr(pos)), first ? first_fixed : true);
      ++count;
      // check_domain_access: "Don't apply subdomain magic to numerical
      // hostnames" (the whole name is tested once, after its own lookup).
      if (first && numeric_stop && (mail::is_valid_ipv4(domain) || mail::is_valid_ipv6(domain))) break;
      first = false;
      // The search for the next dot starts after the current first
      // character, so ".example.com" moves on to ".com", not to itself.
      std::size_t next = domain.find('.', pos + 1);
      if (next == std::string_view::npos) break;
      pos = parent_style ? next + 1 : next;
    }
  }
  std::vector<Key> take() { return std::move(keys_); }

 private:
  std::vector<Key> keys_;
};

// check_addr_access: the whole address for every table, then the string
// cut at its last '.' (IPv4) or ':' (IPv6) until nothing is left.
void addr_keys(KeyList& keys, std::string addr) {
  char delim = addr.find(':') != std::string::npos ? ':' : '.';
  bool fixed_only = false;
  for (;;) {
    keys.add(addr, fixed_only);
    fixed_only = true;
    auto cut = addr.rfind(delim);
    if (cut == std::string::npos) break;
    addr.resize(cut);
  }
}

void client_keys(KeyList& keys, const Subject& s, const Options& o) {
  // check_namadr_access: the name (including "unknown"), then the address.
  keys.add_domain(s.client_name, false, o.parent_matches_subdomains, true);
  addr_keys(keys, std::string(s.client_addr));
}

void address_keys(KeyList& keys, Kind kind, const Subject& s, const Options& o) {
  const mail::Address* a = s.address;
  if (!a) return;
  if (a->is_null()) {
    // Postfix looks up only the configured key for MAIL FROM:<>, with every
    // table; an empty recipient never gets this far in Postfix.
    if (kind == Kind::Sender) keys.add(o.null_sender_key, false);
    return;
  }
  // The source route is not part of the key: smtpd strips it, and the
  // resolver's recipient has none.
  const std::string& local = a->local;
  std::string full = a->has_domain() ? local + "@" + a->domain : local;

  std::string bare_local;  // local part without the extension, or ""
  if (!o.recipient_delimiter.empty()) {
    if (auto st = maps::strip_extension(full, o.recipient_delimiter, o.double_bounce_sender)) {
      auto at = st->address.rfind('@');
      bare_local = a->has_domain() && at != std::string::npos ? st->address.substr(0, at) : st->address;
    }
  }

  if (a->has_domain()) {
    // MA_FIND_FULL, MA_FIND_NOEXT, MA_FIND_DOMAIN with PDMS or PDDMDS.
    std::string at_domain = "@" + a->domain;
    keys.add_address(local, at_domain, false);
    if (!bare_local.empty()) keys.add_address(bare_local, at_domain, true);
    keys.add_domain(a->domain, true, o.parent_matches_subdomains, false);
  }
  // Without a domain Postfix would have looked up user@$myorigin (resolved
  // by trivial-rewrite); we do not know $myorigin here, so only the user@
  // keys remain, which Postfix would try as well.
  // MA_FIND_LOCALPART_AT: user+ext@, then user@.
  keys.add_address(local, "@", true);
  if (!bare_local.empty()) keys.add_address(bare_local, "@", true);
}

// dsn_valid(): "D.S.D" with class 2, 4 or 5, subject and detail 1-3 digits,
// followed by the end of the text or white space. Returns the length or 0.
std::size_t dsn_length(std::string_view t) {
  std::size_t end = 0;
  while (end < t.size() && !is_space(t[end])) ++end;
  return smtp::valid_enhanced_code(t.substr(0, end)) ? end : 0;
}


Action reject(int code, std::string_view def_dsn, std::string_view text, Kind kind, const Subject& s) {
  Action a;
  a.type = Action::Type::Reject;
  // smtpd_check_reject(): a reply code outside 4xx/5xx is a configuration
  // error answered with a generic deferral. Postern also refuses codes that
  // RFC 5321 does not allow (second digit above 5), which Postfix would send.
  if (code < 400 || code > 599 || !smtp::valid_reply_code(code)) {
    a.reply = smtp::Reply(450, "4.7.1", "Service unavailable");
    a.why = fmt::format("SMTP reply code configuration error: {}", code);
    return a;
  }
  // dsn_split(): an optional enhanced status code opens the text.
  text = skip_space(text);
  std::string dsn(def_dsn);
  if (std::size_t n = dsn_length(text)) {
    dsn = std::string(text.substr(0, n));
    text = skip_space(text.substr(n));
  }
  dsn = fix_dsn(dsn, kind);
  // "SMTP has the higher precedence since it came here first."
  dsn[0] = static_cast<char>('0' + code / 100);

  std::string body = fmt::format("<{}>: {} rejected: {}", reply_name(kind, s), reply_class(kind),
                                 text.empty() ? std::string_view("Access denied") : text);
  std::size_t prefix = 4 + dsn.size() + 1;  // "554 5.7.1 "
  a.reply = smtp::Reply(code, dsn, reply_text(body, kMaxReplyBytes - prefix));
  return a;
}

}  // namespace

std::string_view reply_class(Kind kind) {
  switch (kind) {
    case Kind::Client:
      return "Client host";
    case Kind::Helo:
      return "Helo command";
    case Kind::Sender:
      return "Sender address";
    case Kind::Recipient:
      return "Recipient address";
    case Kind::Ccert:
      return "Client certificate";
    case Kind::ReverseClient:
      return "Unverified Client host";
    case Kind::Sasl:
      return "SASL login name";
  }
  return "Client host";
}

std::string neuter_helo(std::string_view helo) {
  // Postfix 3.x smtpd's NEUTER_CHARACTERS: ':' is allowed (IPv6), space is not.
  static constexpr std::string_view kNeuter = " <>()\\\";@";
  std::string out(helo);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || kNeuter.find(c) != std::string_view::npos) c = '?';
  }
  return out;
}

std::string reply_name(Kind kind, const Subject& s) {
  switch (kind) {
    case Kind::Client:
      return fmt::format("{}[{}]", s.client_name, s.client_addr);
    case Kind::Helo:
      return neuter_helo(s.helo);
    case Kind::Sender:
    case Kind::Recipient:
      if (!s.address_text.empty()) return std::string(s.address_text);
      return s.address ? s.address->to_internal() : std::string();
    case Kind::Ccert:
      return std::string(s.ccert_cn);
    case Kind::ReverseClient:
      return std::string(s.client_name);  // the name alone, as Postfix
    case Kind::Sasl: {
      // Postfix prints the login name with anything unprintable as '_'.
      std::string out(s.sasl_username);
      for (char& ch : out)
        if (auto u = static_cast<unsigned char>(ch); u < 0x20 || u >= 0x7f) ch = '_';
      return out;
    }
  }
  return {};
}

std::string fix_dsn(std::string_view dsn, Kind kind) {
  // Only address statuses X.1.Y are touched: they describe a sender or a
  // recipient, and must describe the thing actually rejected.
  if (dsn.size() < 5 || !is_digit(dsn[0]) || dsn.substr(1, 3) != ".1.") return std::string(dsn);
  std::string_view detail = dsn.substr(4);
  std::string fixed;
  if (kind == Kind::Sender || kind == Kind::Recipient) {
    // Detail 1..8 of the "X.1.Y" family, replaced by the status with the
    // same meaning for the other side (RFC 3463 section 3.2). 4.1.7 stands
    // in for sender problems without a sender code (Postfix's SND_DSN).
    struct Map {
      std::string_view detail, sender, recipient;
    };
    static constexpr std::array<Map, 8> kMap{{
        {"1", "4.1.7", "4.1.1"},
        {"2", "4.1.8", "4.1.2"},
        {"3", "4.1.7", "4.1.3"},
        {"4", "4.1.7", "4.1.4"},
        {"5", "4.1.0", "4.1.5"},
        {"6", "4.1.7", "4.1.6"},
        {"7", "4.1.7", "4.1.3"},
        {"8", "4.1.8", "4.1.2"},
    }};
    fixed = "4.1.0";  // unknown details
    for (const auto& m : kMap)
      if (m.detail == detail) fixed = std::string(kind == Kind::Sender ? m.sender : m.recipient);
  } else {
    fixed = "4.0.0";  // an address status while rejecting a non-address
  }
  fixed[0] = dsn[0];  // the caller forces the class to the reply code's
  return fixed;
}

bool permit_is_suspicious(Kind kind, const Subject& s, const Options& o) {
  return kind == Kind::Recipient && !o.allow_untrusted_routing && s.address &&
         s.address->has_routing_tricks().any();
}

std::vector<Key> lookup_keys(Kind kind, const Subject& s, const Options& o) {
  KeyList keys;
  switch (kind) {
    case Kind::Client:
    case Kind::ReverseClient:
      client_keys(keys, s, o);
      break;
    case Kind::Sasl:
      // The whole login name, for every table; no parts of it.
      if (!s.sasl_username.empty()) keys.add(std::string(s.sasl_username), false);
      break;
    case Kind::Helo:
      // check_domain_access with the whole name for every table.
      keys.add_domain(neuter_helo(s.helo), false, o.parent_matches_subdomains, true);
      break;
    case Kind::Sender:
    case Kind::Recipient:
      address_keys(keys, kind, s, o);
      break;
    case Kind::Ccert:
      // Postfix's default search order: cert_fingerprint, pubkey_fingerprint.
      if (!s.ccert_fingerprint.empty()) keys.add(std::string(s.ccert_fingerprint), false);
      if (!s.ccert_pkey_fingerprint.empty()) keys.add(std::string(s.ccert_pkey_fingerprint), false);
      break;
  }
  return keys.take();
}

Action parse_action(std::string_view result, Kind kind, const Subject& s, const Options& o) {
  // check_table_result(): the keyword ends at the first space or tab, the
  // text starts after the white space that follows.
  std::string_view value = result;
  std::size_t cmd_len = value.find_first_of(" \t");
  if (cmd_len == std::string_view::npos) cmd_len = value.size();
  std::string_view cmd = value.substr(0, cmd_len);
  std::string_view text = skip_space(value.substr(cmd_len));
  auto is = [&](std::string_view kw) { return str::iequals(cmd, kw); };

  Action a;
  if (is("DUNNO")) return a;  // optional text is ignored
  if (is("REJECT")) return reject(o.reject_code, "5.7.1", text, kind, s);
  if (is("DEFER")) return reject(o.defer_code, "4.7.1", text, kind, s);
  if (is("WARN") || is("INFO")) {
    // Postfix logs and carries on as for DUNNO.
    a.why = fmt::format("{}: {}", str::lower(cmd), str::printable(text));
    return a;
  }
  if (is("DEFER_IF_REJECT") || is("DEFER_IF_PERMIT")) {
    // A deferral that stands only if a later restriction rejects (permits).
    a = reject(o.defer_code, "4.7.1", text.empty() ? std::string_view("Service unavailable") : text, kind, s);
    if (a.type == Action::Type::Reject)
      a.type = is("DEFER_IF_REJECT") ? Action::Type::DeferIfReject : Action::Type::DeferIfPermit;
    return a;
  }
  if (is("HOLD") || is("DISCARD")) {
    // Postfix logs "<name>: Class TEXT"; the session adds its details.
    a.type = is("HOLD") ? Action::Type::Hold : Action::Type::Discard;
    a.why = fmt::format("<{}>: {} {}", reply_name(kind, s), reply_class(kind),
                        text.empty() ? fmt::format("triggers {} action", is("HOLD") ? "HOLD" : "DISCARD")
                                     : str::printable(text));
    return a;
  }
  if (is("PREPEND")) {
    // Postfix's is_header() test; anything else is a table mistake that
    // decides nothing.
    if (text.empty() || mail::header_name_length(text) == 0) {
      a.warning = fmt::format("access table entry \"{}\" requires header: text", str::printable(value));
      return a;
    }
    a.type = Action::Type::Prepend;
    a.why = std::string(text);
    return a;
  }
  if (is("BCC")) {
    if (text.find('@') == std::string_view::npos) {
      a.warning = fmt::format("access table entry \"{}\" requires user@domain target", str::printable(value));
      return a;
    }
    a.type = Action::Type::Bcc;
    a.address = std::string(text);
    a.why = fmt::format("<{}>: {} triggers BCC {}", reply_name(kind, s), reply_class(kind), str::printable(text));
    return a;
  }
  if (is("FILTER")) {
    // Postfix: "transport:destination" is required; anything else is a
    // table mistake that decides nothing.
    if (text.empty() || text.find(':') == std::string_view::npos || !config::check_content_filter(text)) {
      a.warning = fmt::format("access table entry \"{}\" requires transport:destination", str::printable(value));
      return a;
    }
    a.type = Action::Type::Filter;
    a.address = std::string(text);
    a.why = fmt::format("<{}>: {} triggers FILTER {}", reply_name(kind, s), reply_class(kind), str::printable(text));
    return a;
  }
  if (is("REDIRECT")) {
    if (text.find('@') == std::string_view::npos || text.find_first_of(" \t") != std::string_view::npos) {
      a.warning = fmt::format("access table entry \"{}\" requires user@domain target", str::printable(value));
      return a;
    }
    a.type = Action::Type::Redirect;
    a.address = std::string(text);
    a.why = fmt::format("<{}>: {} triggers REDIRECT {}", reply_name(kind, s), reply_class(kind), str::printable(text));
    return a;
  }
  static constexpr std::array<std::string_view, 1> kUnsupported = {"HANGUP"};
  for (auto kw : kUnsupported) {
    if (is(kw)) {
      a.type = Action::Type::Unsupported;
      a.why = fmt::format("access table action {} is not supported", kw);
      return a;
    }
  }
  // "All-numeric result probably means OK": pop-before-smtp style tables
  // store a time stamp. The whole value must be digits, so "550" is OK too.
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos) {
    a.type = Action::Type::Permit;
    return a;
  }
  if (cmd.size() == 3 && !text.empty() && (cmd[0] == '4' || cmd[0] == '5') && is_digit(cmd[1]) &&
      is_digit(cmd[2])) {
    int code = (cmd[0] - '0') * 100 + (cmd[1] - '0') * 10 + (cmd[2] - '0');
    std::string def_dsn = std::string(1, cmd[0]) + ".7.1";
    return reject(code, def_dsn, text, kind, s);
  }
  if (is("OK") || is("RELAY")) {  // trailing text is ignored
    a.type = Action::Type::Permit;
    return a;
  }
  // Tables must be opened before smtpd drops privileges, so a table named in
  // a result cannot be honoured; Postfix answers 451 4.3.5 as well.
  if (value.find(':') != std::string_view::npos) {
    a.type = Action::Type::Unsupported;
    a.why = fmt::format("access table result \"{}\" names a lookup table, which a table result may not do",
                        str::printable(value));
    return a;
  }
  // Split as main.cf's restriction lists are: a "{...}" group stays one element.
  auto list = config::split_list(value);
  for (auto& name : list) name = str::lower(name);
  if (list.empty()) {
    // "In the dark ages, an empty right-hand side meant OK."
    a.type = Action::Type::Permit;
    a.why = "access table entry has empty value";
    return a;
  }
  a.type = Action::Type::Restrictions;
  a.restrictions = std::move(list);
  return a;
}

std::vector<Key> host_name_keys(std::string_view host, const Options& o) {
  KeyList keys;
  keys.add_domain(host, false, o.parent_matches_subdomains, true);
  return keys.take();
}

std::vector<Key> address_keys(const asio::ip::address& a) {
  KeyList keys;
  addr_keys(keys, a.to_string());
  return keys.take();
}

Result<std::optional<Action>> evaluate(maps::MapList& table, Kind kind, const Subject& s, const Options& o) {
  return evaluate_keys(table, lookup_keys(kind, s, o), kind, s, o);
}

Result<std::optional<Action>> evaluate_keys(maps::MapList& table, const std::vector<Key>& keys, Kind kind,
                                            const Subject& s, const Options& o, bool* hit) {
  if (hit) *hit = false;
  for (const auto& k : keys) {
    auto r = table.lookup(k.key, k.fixed_only);
    if (!r) return r.take_error();
    if (!*r) continue;
    if (hit) *hit = true;
    // The first key found decides, even when it says DUNNO: the less
    // specific keys are never tried.
    Action a = parse_action(**r, kind, s, o);
    if (a.type == Action::Type::Dunno) {
      if (a.why.empty() && a.warning.empty()) return std::optional<Action>();
      return std::optional<Action>(std::move(a));
    }
    // check_mail_access: "Source-routed (non-local or virtual) recipient
    // addresses are too suspicious for returning an OK result."
    if (a.type == Action::Type::Permit && permit_is_suspicious(kind, s, o)) return std::optional<Action>();
    return std::optional<Action>(std::move(a));
  }
  return std::optional<Action>();
}

}  // namespace postern::smtpd::access
