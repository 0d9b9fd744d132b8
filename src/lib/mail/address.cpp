// address.cpp - see address.h.
//
// The RFC 5321 path grammar is small enough for a hand-written scanner over
// the whole string: no recursion, one pass, every error names what is wrong.
// Error texts never echo the input (the caller logs it through printable()).
#include "mail/address.h"

#include <arpa/inet.h>

#include "base/strings.h"
#include "mail/text.h"

namespace postern::mail {

namespace {

// RFC 5322 atext: printable ASCII except specials, space and '"'. Equal to
// RFC 822 "any CHAR except specials, SPACE and CTLs" for 7-bit input.
bool is_atext(unsigned char c) {
  if (is_ascii_alnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

// RFC 822 specials that force quoting of a local part (Postfix's list; '.'
// is handled separately because it is allowed between atoms).
bool is_822_special(unsigned char c) {
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':': case '\\':
    case '"': case '[': case ']':
      return true;
    default:
      return false;
  }
}

// Printable description of a byte for error messages, never the byte itself
// when it is not plain printable ASCII.
std::string describe_byte(unsigned char c) {
  if (c > 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
  return fmt::format("byte 0x{:02x}", static_cast<unsigned>(c));
}

bool is_valid_domain_text(std::string_view d, bool allow_utf8) {
  if (!d.empty() && d.front() == '[') return is_valid_address_literal(d);
  return is_valid_hostname(d, allow_utf8);
}

// Local part of a path, starting at pos; stops at '@' or the end. Appends the
// internal form to out.
Status parse_local_part(std::string_view s, std::size_t& pos, const PathOptions& o, bool eight_ok,
                        std::string& out) {
  const std::size_t n = s.size();
  std::size_t words = 0, quoted_words = 0, empty_words = 0;
  for (;;) {
    ++words;
    if (pos < n && s[pos] == '"') {
      ++quoted_words;
      ++pos;
      for (;;) {
        if (pos >= n) return make_error("unterminated quoted string in local part");
        unsigned char c = static_cast<unsigned char>(s[pos]);
        if (c == '"') break;
        if (c == '\\') {
          // quoted-pairSMTP: backslash followed by any printable character
          // (controls were rejected up front; 8-bit was validated up front).
          if (pos + 1 >= n) return make_error("unterminated quoted string in local part");
          out.push_back(s[pos + 1]);
          pos += 2;
          continue;
        }
        out.push_back(static_cast<char>(c));
        ++pos;
      }
      ++pos;  // closing quote
    } else {
      std::size_t start = pos;
      while (pos < n) {
        unsigned char c = static_cast<unsigned char>(s[pos]);
        if (is_atext(c) || (c >= 0x80 && eight_ok)) {
          ++pos;
          continue;
        }
        break;
      }
      if (pos == start) ++empty_words;
      out.append(s.substr(start, pos - start));
    }
    if (pos < n && s[pos] == '.') {
      out.push_back('.');
      ++pos;
      continue;
    }
    break;
  }
  if (pos < n && s[pos] != '@') {
    return make_error("invalid character {} in local part",
                      describe_byte(static_cast<unsigned char>(s[pos])));
  }
  if (empty_words == words) return make_error("empty local part");
  if (!o.lenient_local) {
    // RFC 5321: Dot-string / Quoted-string, not a mixture.
    bool dot_string = quoted_words == 0 && empty_words == 0;
    bool quoted_string = words == 1 && quoted_words == 1;
    if (!dot_string && !quoted_string) return make_error("malformed local part");
  }
  return {};
}

}  // namespace

// --- RoutingTricks / Address ---------------------------------------------

std::string RoutingTricks::to_string() const {
  std::string out;
  auto add = [&](RoutingTrick t, const char* name) {
    if (!has(t)) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(RoutingTrick::kPercentHack, "percent-hack");
  add(RoutingTrick::kBangPath, "bang-path");
  add(RoutingTrick::kQuotedAt, "quoted-at");
  add(RoutingTrick::kSourceRoute, "source-route");
  return out.empty() ? "none" : out;
}

std::string Address::to_internal() const {
  std::string out;
  if (!route.empty()) {
    out = route;
    out += ':';
  }
  out += local;
  if (!domain.empty()) {
    out += '@';
    out += domain;
  }
  return out;
}

std::string Address::to_external() const {
  if (is_null()) return {};
  std::string out;
  if (!route.empty()) {
    out = route;
    out += ':';
  }
  out += quote_local(local);
  if (!domain.empty()) {
    out += '@';
    out += domain;
  }
  return out;
}

std::string Address::lower_domain() const { return str::lower(domain); }

bool Address::same_domain(std::string_view other_domain) const { return str::iequals(domain, other_domain); }

RoutingTricks Address::has_routing_tricks() const {
  RoutingTricks t;
  if (local.find('%') != std::string::npos) t.add(RoutingTrick::kPercentHack);
  if (local.find('!') != std::string::npos) t.add(RoutingTrick::kBangPath);
  if (local.find('@') != std::string::npos) t.add(RoutingTrick::kQuotedAt);
  if (!route.empty()) t.add(RoutingTrick::kSourceRoute);
  return t;
}

Address Address::from_internal(std::string_view internal) {
  Address a;
  std::string_view rest = internal;
  if (!internal.empty() && internal.front() == '@') {
    auto colon = internal.find(':');
    if (colon != std::string_view::npos) {
      a.route = std::string(internal.substr(0, colon));
      rest = internal.substr(colon + 1);
    }
  }
  auto at = rest.rfind('@');
  if (at == std::string_view::npos) {
    a.local = std::string(rest);
  } else {
    a.local = std::string(rest.substr(0, at));
    a.domain = std::string(rest.substr(at + 1));
  }
  return a;
}

// --- Path parsing --------------------------------------------------------

PathOptions PathOptions::rfc5321_strict() {
  PathOptions o;
  o.allow_bare_local = false;
  o.lenient_local = false;
  o.allow_trailing_dot = false;
  o.max_local = 64;
  o.max_domain = 255;
  o.max_path = 256;
  return o;
}

namespace {

Result<Address> parse_path_text(std::string_view s, const PathOptions& o) {
  if (s.size() > kMaxPathBytes) return make_error("address too long ({} bytes)", s.size());
  if (o.max_path != 0 && s.size() + 2 > o.max_path)
    return make_error("address too long ({} bytes, limit {})", s.size() + 2, o.max_path);
  if (s.empty()) {
    if (o.allow_null) return Address{};
    return make_error("empty address");
  }
  for (unsigned char c : s)
    if (is_ctl(c)) return make_error("control character ({}) in address", describe_byte(c));
  bool eight_ok = false;
  if (has_8bit(s)) {
    if (o.smtputf8) {
      if (!valid_utf8(s)) return make_error("malformed UTF-8 in address");
      eight_ok = true;
    } else if (o.allow_raw_8bit) {
      eight_ok = true;
    } else {
      return make_error("8-bit characters in address without SMTPUTF8");
    }
  }

  Address a;
  const std::size_t n = s.size();
  std::size_t pos = 0;

  // A-d-l ":" -- the obsolete source route.
  if (s[0] == '@') {
    if (!o.allow_source_route) return make_error("source routes are not allowed");
    for (;;) {
      if (pos >= n || s[pos] != '@') return make_error("malformed source route");
      std::size_t start = ++pos;
      while (pos < n && s[pos] != ',' && s[pos] != ':') ++pos;
      if (pos >= n) return make_error("source route without ':'");
      if (!is_valid_domain_text(s.substr(start, pos - start), eight_ok))
        return make_error("invalid domain in source route");
      if (s[pos] == ':') {
        a.route = std::string(s.substr(0, pos));
        ++pos;
        break;
      }
      ++pos;  // ','
    }
  }

  if (auto st = parse_local_part(s, pos, o, eight_ok, a.local); !st) return st.take_error();
  if (o.max_local != 0 && a.local.size() > o.max_local)
    return make_error("local part too long ({} bytes, limit {})", a.local.size(), o.max_local);

  if (pos == n) {
    // No @domain. Postfix accepts this and appends $myorigin later; RFC 5321
    // only allows it for <postmaster>.
    if (!a.route.empty()) return make_error("source route without a domain in the mailbox");
    if (a.local.empty()) return make_error("empty local part without a domain");
    if (!o.allow_bare_local && !str::iequals(a.local, "postmaster"))
      return make_error("missing domain");
    return a;
  }

  ++pos;  // '@'
  std::string_view domain = s.substr(pos);
  if (domain.empty()) return make_error("missing domain after '@'");
  if (domain.front() == '[') {
    if (!is_valid_address_literal(domain)) return make_error("invalid address literal");
  } else {
    if (o.allow_trailing_dot && domain.size() > 1 && domain.back() == '.' && domain[domain.size() - 2] != '.')
      domain.remove_suffix(1);
    if (!is_valid_hostname(domain, eight_ok)) return make_error("invalid domain name");
  }
  if (o.max_domain != 0 && domain.size() > o.max_domain)
    return make_error("domain too long ({} bytes, limit {})", domain.size(), o.max_domain);
  a.domain = std::string(domain);
  return a;
}

}  // namespace

Result<Address> parse_smtp_path(std::string_view s, const PathOptions& o) {
  auto a = parse_path_text(s, o);
  // An accepted address must come back whole from its external form (a
  // content filter reinjects it, a reply quotes it): quoting may lengthen
  // it, up to twice, past the cap that any parse applies.
  if (a && s.size() > kMaxPathBytes / 2) {
    if (std::size_t ext = a->to_external().size(); ext > kMaxPathBytes)
      return make_error("address too long ({} bytes when quoted)", ext);
  }
  return a;
}

// --- Quoting -------------------------------------------------------------

namespace {

// Postfix's is_822_dot_string() for a bare local part, 8-bit clean.
bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (i + 1 < s.size() && s[i + 1] == '.') return false;
      continue;
    }
    if (c >= 0x80) continue;
    if (c == ' ' || is_ctl(c) || is_822_special(c)) return false;
  }
  return true;
}

}  // namespace

std::string quote_local(std::string_view internal) {
  if (is_dot_string(internal)) return std::string(internal);
  std::string out;
  out.reserve(internal.size() + 2);
  out.push_back('"');
  for (char c : internal) {
    if (c == '"' || c == '\\' || c == '\r') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string unquote_local(std::string_view external) {
  std::string out;
  out.reserve(external.size());
  for (std::size_t i = 0; i < external.size(); ++i) {
    char c = external[i];
    if (c == '"') continue;
    if (c == '\\') {
      if (i + 1 >= external.size()) break;
      out.push_back(external[++i]);
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// --- Domain syntax -------------------------------------------------------

bool is_valid_hostname(std::string_view name, bool allow_utf8) {
  if (name.empty() || name.size() > 255) return false;
  std::size_t label_len = 0;
  bool non_numeric = false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '.') {
      if (label_len == 0 || i + 1 == name.size() || name[i - 1] == '-') return false;
      label_len = 0;
    } else if (c == '-') {
      if (label_len == 0 || i + 1 == name.size()) return false;
      ++label_len;
    } else if (is_ascii_alnum(c) || c == '_' || (c >= 0x80 && allow_utf8)) {
      if (++label_len > 63) return false;
      if (!is_ascii_digit(c)) non_numeric = true;
    } else {
      return false;
    }
  }
  // An all-numeric name looks like an IP address and is not a hostname.
  return non_numeric;
}

bool is_valid_ipv4(std::string_view t) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < t.size() && is_ascii_digit(static_cast<unsigned char>(t[i])) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(t[i] - '0');
      ++i;
    }
    if (i == start || value > 255) return false;
    ++parts;
    if (i == t.size()) break;
    if (t[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool is_valid_ipv6(std::string_view t) {
  if (t.empty() || t.size() > 45) return false;
  std::size_t i = 0, groups = 0;
  bool compressed = false;
  if (t.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == t.size()) return true;
  } else if (t[0] == ':') {
    return false;
  }
  while (i < t.size()) {
    std::size_t start = i;
    while (i < t.size() && is_ascii_hex(static_cast<unsigned char>(t[i]))) ++i;
    if (i < t.size() && t[i] == '.') {
      // Embedded IPv4 address: must be the last element, counts as two groups.
      if (!is_valid_ipv4(t.substr(start))) return false;
      groups += 2;
      i = t.size();
      break;
    }
    std::size_t len = i - start;
    if (len == 0 || len > 4) return false;
    ++groups;
    if (i == t.size()) break;
    if (t[i] != ':') return false;
    ++i;
    if (i < t.size() && t[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
      if (i == t.size()) break;
    } else if (i == t.size()) {
      return false;  // trailing single ':'
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool is_valid_address_literal(std::string_view t) {
  if (t.size() < 3 || t.front() != '[' || t.back() != ']') return false;
  std::string_view inner = t.substr(1, t.size() - 2);
  if (str::istarts_with(inner, "IPv6:")) return is_valid_ipv6(inner.substr(5));
  return is_valid_ipv4(inner);
}

// --- Extensions ----------------------------------------------------------

std::optional<ExtensionSplit> split_extension(std::string_view local, std::string_view delimiters,
                                              const ExtensionOptions& o) {
  if (delimiters.empty() || local.empty()) return std::nullopt;
  if (str::iequals(local, "postmaster") || str::iequals(local, "MAILER-DAEMON")) return std::nullopt;
  if (!o.double_bounce_sender.empty() && str::iequals(local, o.double_bounce_sender)) return std::nullopt;
  if (o.owner_request_special && delimiters.find('-') != std::string_view::npos) {
    if (str::istarts_with(local, "owner-")) return std::nullopt;
    if (local.size() > 8 && str::iequals(local.substr(local.size() - 8), "-request")) return std::nullopt;
  }
  auto pos = local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) return std::nullopt;
  return ExtensionSplit{local.substr(0, pos), local.substr(pos + 1), local[pos]};
}

std::optional<std::string> canonical_ip_text(std::string_view text, bool allow_bare) {
  std::string ip;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    ip = std::string(text.substr(1, text.size() - 2));
    if (str::istarts_with(ip, "IPv6:")) ip.erase(0, 5);
  } else if (allow_bare) {
    ip = std::string(text);
  } else {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  in_addr a4;
  in6_addr a6;
  if (ip.find(':') == std::string::npos) {
    if (!is_valid_ipv4(ip) || ::inet_pton(AF_INET, ip.c_str(), &a4) != 1) return std::nullopt;
    ::inet_ntop(AF_INET, &a4, buf, sizeof buf);
  } else {
    if (::inet_pton(AF_INET6, ip.c_str(), &a6) != 1) return std::nullopt;
    ::inet_ntop(AF_INET6, &a6, buf, sizeof buf);
  }
  return std::string(buf);
}

std::vector<std::string> canonical_ip_texts(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts)
    if (auto ip = canonical_ip_text(t, true)) out.push_back(std::move(*ip));
  return out;
}

}  // namespace postern::mail
