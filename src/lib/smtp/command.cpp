// command.cpp - see command.h.
#include "smtp/command.h"

#include <array>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "smtp/chars.h"
#include "smtp/xtext.h"

namespace postern::smtp {

namespace {

using chars::is_blank;

ProtocolError fail(int code, std::string enhanced, std::string text, std::string reason,
                   bool disconnect = false) {
  return ProtocolError{Reply(code, std::move(enhanced), std::move(text)), std::move(reason), disconnect};
}

struct VerbEntry {
  std::string_view name;
  Verb verb;
};

constexpr std::array<VerbEntry, 17> kVerbs = {{
    {"HELO", Verb::Helo},         {"EHLO", Verb::Ehlo},         {"MAIL", Verb::Mail},
    {"RCPT", Verb::Rcpt},         {"DATA", Verb::Data},         {"BDAT", Verb::Bdat},
    {"RSET", Verb::Rset},         {"NOOP", Verb::Noop},         {"QUIT", Verb::Quit},
    {"VRFY", Verb::Vrfy},         {"EXPN", Verb::Expn},         {"HELP", Verb::Help},
    {"STARTTLS", Verb::Starttls}, {"AUTH", Verb::Auth},         {"XCLIENT", Verb::Xclient},
    {"XFORWARD", Verb::Xforward}, {"ETRN", Verb::Etrn},
}};

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::vector<std::string_view> split_blanks(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    std::size_t b = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && chars::iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 5321: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool valid_keyword(std::string_view kw) {
  if (kw.empty() || !chars::is_alnum(kw[0])) return false;
  for (char c : kw)
    if (!chars::is_alnum(c) && c != '-') return false;
  return true;
}

// RFC 5321 esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531).
bool valid_value(std::string_view v) {
  if (v.empty()) return false;
  for (char ch : v) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80) continue;
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return true;
}

// RFC 5322 atext, for the ORCPT address type (RFC 3461: addr-type = atom).
bool valid_atom(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!chars::is_alnum(c) && std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) == std::string_view::npos)
      return false;
  return true;
}

bool has_ctl(std::string_view s) {
  for (char c : s)
    if (chars::is_ctl(static_cast<unsigned char>(c))) return true;
  return false;
}

struct Param {
  std::string_view text;     // as sent, for "Unsupported option: ..."
  std::string_view keyword;
  std::string_view value;
  bool has_value = false;
};

Param split_param(std::string_view text) {
  Param p;
  p.text = text;
  std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    p.keyword = text;
  } else {
    p.keyword = text.substr(0, eq);
    p.value = text.substr(eq + 1);
    p.has_value = true;
  }
  return p;
}

// A parameter is well-formed when its keyword is and, if there is an '=',
// the value is non-empty and made of esmtp-value characters.
bool well_formed(const Param& p) {
  return valid_keyword(p.keyword) && (!p.has_value || valid_value(p.value));
}

// Strict decimal: digits only, at most 2^63-1 (the size of an off_t).
std::optional<std::uint64_t> parse_count(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (!chars::is_digit(c)) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return v;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!chars::is_digit(c)) return false;
  return true;
}

// Take the path off the front of `s` (which starts after "FROM:"/"TO:" and
// any blanks). Bracketed: up to the matching '>', skipping quoted strings and
// backslash escapes so that <"a>b"@example> works; the '>' must be followed
// by a blank or the end of the line. Unbracketed: up to the next blank.
std::optional<Path> take_path(std::string_view& s, bool strict) {
  Path path;
  if (!s.empty() && s[0] == '<') {
    bool quoted = false;
    std::size_t i = 1;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '\\') {
        ++i;  // the escaped byte cannot end anything
        continue;
      }
      if (c == '"') quoted = !quoted;
      else if (c == '>' && !quoted) break;
    }
    if (i >= s.size()) return std::nullopt;  // no closing '>'
    path.text = std::string(s.substr(1, i - 1));
    s.remove_prefix(i + 1);
    if (!s.empty() && !is_blank(s[0])) return std::nullopt;  // "<a@b>junk"
    return path;
  }
  if (strict) return std::nullopt;
  std::size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  path.text = std::string(s.substr(0, end));
  path.bracketed = false;
  s.remove_prefix(end);
  return path;
}

Parsed<MailFrom> parse_mail(std::string_view args, const CommandOptions& o) {
  auto syntax = [] { return fail(501, "5.5.4", "Syntax: MAIL FROM:<address>", "MAIL syntax"); };
  if (!istarts_with(args, "FROM:")) return syntax();
  std::string_view s = skip_blanks(args.substr(5));
  if (s.empty()) return syntax();
  auto path = take_path(s, o.strict_rfc821_envelopes);
  if (!path) return fail(501, "5.1.7", "Bad sender address syntax", "malformed sender path");

  MailFrom m;
  m.path = std::move(*path);
  bool seen_size = false, seen_body = false, seen_ret = false, seen_envid = false, seen_utf8 = false,
       seen_auth = false;
  for (std::string_view text : split_blanks(s)) {
    Param p = split_param(text);
    if (!valid_keyword(p.keyword))
      return fail(501, "5.5.4", "Error: bad parameter syntax", "malformed MAIL parameter");
    const bool ok = well_formed(p);

    if (chars::iequals(p.keyword, "SIZE")) {  // RFC 1870
      auto bad = [] { return fail(501, "5.5.4", "Bad message size syntax", "bad SIZE parameter"); };
      if (seen_size || !ok || !p.has_value || !all_digits(p.value)) return bad();
      auto n = parse_count(p.value);
      if (!n)
        return fail(552, "5.3.4", "Message size exceeds file system imposed limit", "SIZE overflow");
      m.size = *n;
      seen_size = true;
    } else if (chars::iequals(p.keyword, "BODY")) {  // RFC 1652, RFC 3030
      auto bad = [] { return fail(501, "5.5.4", "Bad BODY parameter syntax", "bad BODY parameter"); };
      if (seen_body || !ok || !p.has_value) return bad();
      if (chars::iequals(p.value, "7BIT")) m.body = Body::SevenBit;
      else if (chars::iequals(p.value, "8BITMIME")) m.body = Body::EightBitMime;
      else if (chars::iequals(p.value, "BINARYMIME") && o.binarymime) m.body = Body::BinaryMime;
      else if (chars::iequals(p.value, "BINARYMIME"))
        return fail(555, "5.5.4", fmt::format("Unsupported option: {}", p.text), "BINARYMIME not offered");
      else return bad();
      seen_body = true;
    } else if (chars::iequals(p.keyword, "RET")) {  // RFC 3461
      if (!o.dsn) return fail(501, "5.7.1", "DSN support is disabled", "RET without DSN");
      auto bad = [] { return fail(501, "5.5.4", "Bad RET parameter syntax", "bad RET parameter"); };
      if (seen_ret || !ok || !p.has_value) return bad();
      if (chars::iequals(p.value, "FULL")) m.ret = Ret::Full;
      else if (chars::iequals(p.value, "HDRS")) m.ret = Ret::Hdrs;
      else return bad();
      seen_ret = true;
    } else if (chars::iequals(p.keyword, "ENVID")) {  // RFC 3461
      if (!o.dsn) return fail(501, "5.7.1", "DSN support is disabled", "ENVID without DSN");
      auto bad = [] { return fail(501, "5.5.4", "Bad ENVID parameter syntax", "bad ENVID parameter"); };
      if (seen_envid || !ok || !p.has_value) return bad();
      auto v = xtext_decode(p.value);
      // RFC 3461 section 4.4: printable ASCII, at most 100 characters.
      if (!v || v->empty() || v->size() > 100) return bad();
      for (char c : *v)
        if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) return bad();
      m.envid = std::move(*v);
      seen_envid = true;
    } else if (chars::iequals(p.keyword, "SMTPUTF8")) {  // RFC 6531
      if (!o.smtputf8)
        return fail(555, "5.5.4", fmt::format("Unsupported option: {}", p.text), "SMTPUTF8 not offered");
      if (seen_utf8 || p.has_value)
        return fail(501, "5.5.4", "Bad SMTPUTF8 parameter syntax", "bad SMTPUTF8 parameter");
      m.smtputf8 = true;
      seen_utf8 = true;
    } else if (chars::iequals(p.keyword, "AUTH")) {  // RFC 4954 section 5
      if (!o.auth) return fail(503, "5.7.4", "Error: authentication disabled", "AUTH= without SASL");
      if (seen_auth) return fail(503, "5.5.4", "Error: multiple AUTH= options", "duplicate AUTH=");
      auto bad = [] { return fail(501, "5.5.4", "Bad AUTH parameter syntax", "bad AUTH= parameter"); };
      if (!ok || !p.has_value) return bad();
      auto v = xtext_decode(p.value);
      if (!v || v->empty() || has_ctl(*v)) return bad();
      m.auth = std::move(*v);
      seen_auth = true;
    } else {
      if (!ok) return fail(501, "5.5.4", "Error: bad parameter syntax", "malformed MAIL parameter");
      return fail(555, "5.5.4", fmt::format("Unsupported option: {}", p.text), "unknown MAIL parameter");
    }
  }
  return m;
}

std::optional<std::uint8_t> parse_notify(std::string_view v) {
  std::uint8_t bits = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = v.find(',', start);
    std::string_view item = v.substr(start, comma == std::string_view::npos ? v.npos : comma - start);
    if (chars::iequals(item, "NEVER")) bits |= kNotifyNever;
    else if (chars::iequals(item, "SUCCESS")) bits |= kNotifySuccess;
    else if (chars::iequals(item, "FAILURE")) bits |= kNotifyFailure;
    else if (chars::iequals(item, "DELAY")) bits |= kNotifyDelay;
    else return std::nullopt;  // unknown or empty element
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if ((bits & kNotifyNever) && bits != kNotifyNever) return std::nullopt;  // NEVER is exclusive
  return bits;
}

Parsed<RcptTo> parse_rcpt(std::string_view args, const CommandOptions& o) {
  auto syntax = [] { return fail(501, "5.5.4", "Syntax: RCPT TO:<address>", "RCPT syntax"); };
  if (!istarts_with(args, "TO:")) return syntax();
  std::string_view s = skip_blanks(args.substr(3));
  if (s.empty()) return syntax();
  auto path = take_path(s, o.strict_rfc821_envelopes);
  if (!path || path->text.empty())
    return fail(501, "5.1.3", "Bad recipient address syntax", "malformed recipient path");

  RcptTo r;
  r.path = std::move(*path);
  bool seen_notify = false, seen_orcpt = false;
  for (std::string_view text : split_blanks(s)) {
    Param p = split_param(text);
    if (!valid_keyword(p.keyword))
      return fail(501, "5.5.4", "Error: bad parameter syntax", "malformed RCPT parameter");
    const bool ok = well_formed(p);
    if (chars::iequals(p.keyword, "NOTIFY")) {
      if (!o.dsn) return fail(501, "5.7.1", "DSN support is disabled", "NOTIFY without DSN");
      auto bad = [] { return fail(501, "5.5.4", "Error: Bad NOTIFY parameter syntax", "bad NOTIFY"); };
      if (seen_notify || !ok || !p.has_value) return bad();
      auto bits = parse_notify(p.value);
      if (!bits) return bad();
      r.notify = *bits;
      seen_notify = true;
    } else if (chars::iequals(p.keyword, "ORCPT")) {
      if (!o.dsn) return fail(501, "5.7.1", "DSN support is disabled", "ORCPT without DSN");
      auto bad = [] { return fail(501, "5.5.4", "Error: Bad ORCPT parameter syntax", "bad ORCPT"); };
      // RFC 3461 section 4.2: the whole parameter value is at most 500 characters.
      if (seen_orcpt || !ok || !p.has_value || p.value.size() > 500) return bad();
      std::size_t semi = p.value.find(';');
      if (semi == std::string_view::npos) return bad();
      std::string_view type = p.value.substr(0, semi);
      if (!valid_atom(type)) return bad();
      auto addr = xtext_decode(p.value.substr(semi + 1));
      if (!addr || addr->empty() || has_ctl(*addr)) return bad();
      r.orcpt_type = chars::lower(type);
      r.orcpt = std::move(*addr);
      seen_orcpt = true;
    } else {
      if (!ok) return fail(501, "5.5.4", "Error: bad parameter syntax", "malformed RCPT parameter");
      return fail(555, "5.5.4", fmt::format("Unsupported option: {}", p.text), "unknown RCPT parameter");
    }
  }
  return r;
}

Parsed<Bdat> parse_bdat(std::string_view args) {
  auto bad = [] {
    return fail(521, "5.5.4", "Syntax: BDAT count [LAST]", "malformed BDAT command", /*disconnect=*/true);
  };
  auto tok = split_blanks(args);
  if (tok.empty() || tok.size() > 2) return bad();
  auto n = parse_count(tok[0]);
  if (!n) return bad();
  Bdat b{*n, false};
  if (tok.size() == 2) {
    if (!chars::iequals(tok[1], "LAST")) return bad();
    b.last = true;
  }
  return b;
}

Parsed<Auth> parse_auth(std::string_view args) {
  auto bad = [] { return fail(501, "5.5.4", "Syntax: AUTH mechanism", "AUTH syntax"); };
  auto tok = split_blanks(args);
  if (tok.empty() || tok.size() > 2) return bad();
  // RFC 4422 section 3.1: 1..20 of upper-case letters, digits, '-' and '_'.
  if (tok[0].size() > 20) return bad();
  for (char c : tok[0])
    if (!chars::is_alnum(c) && c != '-' && c != '_') return bad();
  Auth a;
  a.mechanism = chars::upper(tok[0]);
  if (tok.size() == 2) a.initial_response = std::string(tok[1]);
  return a;
}

Parsed<Attributes> parse_attributes(std::string_view args, std::string_view verb) {
  auto tok = split_blanks(args);
  if (tok.empty())
    return fail(501, "5.5.4", fmt::format("Syntax: {} attribute=value...", verb), "no attributes");
  Attributes a;
  for (std::string_view t : tok) {
    std::size_t eq = t.find('=');
    std::string_view name = t.substr(0, eq);
    bool name_ok = eq != std::string_view::npos && !name.empty();
    for (char c : name)
      if (!chars::is_alnum(c) && c != '_' && c != '-') name_ok = false;
    if (!name_ok) return fail(501, "5.5.4", "Error: attribute=value expected", "malformed attribute");
    auto value = xtext_decode(t.substr(eq + 1));
    if (!value || has_ctl(*value))
      return fail(501, "5.5.4", fmt::format("Error: bad {} attribute value", verb), "bad attribute value");
    a.items.emplace_back(chars::upper(name), std::move(*value));
  }
  return a;
}

}  // namespace

std::string_view verb_name(Verb v) {
  for (const auto& e : kVerbs)
    if (e.verb == v) return e.name;
  return "UNKNOWN";
}

bool Command::looks_like_header() const {
  if (verb != Verb::Unknown || verb_text.size() < 2 || verb_text.back() != ':') return false;
  for (std::size_t i = 0; i + 1 < verb_text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(verb_text[i]);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

Parsed<Command> parse_command(std::string_view line, const CommandOptions& o) {
  // Framing damage first: these bytes make the rest of the line meaningless.
  for (char c : line) {
    if (c == '\0') return fail(500, "5.5.2", "Error: bad syntax", "NUL character in command");
    if (c == '\n') return fail(500, "5.5.2", "Error: bad syntax", "LF character in command");
  }
  if (line.find('\r') != std::string_view::npos)
    return fail(501, "5.5.2", "Error: bare <CR> received", "bare CR in command");
  if (o.check_utf8 && !chars::valid_utf8(line))
    return fail(500, "5.5.2", "Error: bad UTF-8 syntax", "invalid UTF-8 in command");

  std::string_view s = skip_blanks(line);
  std::size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  if (end == 0) return fail(500, "5.5.2", "Error: bad syntax", "empty command");

  Command cmd;
  cmd.verb_text = std::string(s.substr(0, end));
  std::string_view args = chars::trim_blanks(s.substr(end));
  cmd.args = std::string(args);
  for (const auto& e : kVerbs)
    if (chars::iequals(e.name, cmd.verb_text)) cmd.verb = e.verb;

  switch (cmd.verb) {
    case Verb::Helo:
    case Verb::Ehlo: {
      if (args.empty())
        return fail(501, "", cmd.verb == Verb::Helo ? "Syntax: HELO hostname" : "Syntax: EHLO hostname",
                    "missing hostname");
      Helo h;
      for (std::string_view w : split_blanks(args)) {
        if (!h.domain.empty()) h.domain += ' ';
        h.domain.append(w);
      }
      cmd.detail = std::move(h);
      break;
    }
    case Verb::Mail: {
      auto m = parse_mail(args, o);
      if (!m) return m.error();
      cmd.detail = std::move(m).value();
      break;
    }
    case Verb::Rcpt: {
      auto r = parse_rcpt(args, o);
      if (!r) return r.error();
      cmd.detail = std::move(r).value();
      break;
    }
    case Verb::Data:
      if (!args.empty()) return fail(501, "5.5.4", "Syntax: DATA", "DATA with arguments");
      break;
    case Verb::Rset:
      if (!args.empty()) return fail(501, "5.5.4", "Syntax: RSET", "RSET with arguments");
      break;
    case Verb::Starttls:
      if (!args.empty()) return fail(501, "5.5.4", "Syntax: STARTTLS", "STARTTLS with arguments");
      break;
    case Verb::Bdat: {
      auto b = parse_bdat(args);
      if (!b) return b.error();
      cmd.detail = *b;
      break;
    }
    case Verb::Auth: {
      auto a = parse_auth(args);
      if (!a) return a.error();
      cmd.detail = std::move(a).value();
      break;
    }
    case Verb::Vrfy:
    case Verb::Expn: {
      const char* usage = cmd.verb == Verb::Vrfy ? "Syntax: VRFY address" : "Syntax: EXPN address";
      if (args.empty()) return fail(501, "5.5.4", usage, "missing argument");
      Argument a;
      std::string_view text = args;
      // RFC 6531 section 3.7.4.2: "VRFY <addr> SMTPUTF8".
      std::size_t sp = text.find_last_of(" \t");
      if (o.smtputf8 && sp != std::string_view::npos && chars::iequals(text.substr(sp + 1), "SMTPUTF8")) {
        a.smtputf8 = true;
        text = chars::trim_blanks(text.substr(0, sp));
      }
      a.text = std::string(text);
      cmd.detail = std::move(a);
      break;
    }
    case Verb::Etrn:
      if (args.empty()) return fail(501, "5.5.4", "Syntax: ETRN domain", "missing argument");
      cmd.detail = Argument{std::string(args), false};
      break;
    case Verb::Xclient:
    case Verb::Xforward: {
      auto a = parse_attributes(args, verb_name(cmd.verb));
      if (!a) return a.error();
      cmd.detail = std::move(a).value();
      break;
    }
    case Verb::Noop:
    case Verb::Help:
    case Verb::Quit:
    case Verb::Unknown:
      break;
  }
  return cmd;
}

std::string notify_to_string(std::uint8_t bits) {
  if (bits & kNotifyNever) return "NEVER";
  std::string out;
  auto add = [&](std::uint8_t bit, const char* name) {
    if (!(bits & bit)) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(kNotifySuccess, "SUCCESS");
  add(kNotifyFailure, "FAILURE");
  add(kNotifyDelay, "DELAY");
  return out;
}

namespace {

Status check_path_text(const Path& p) {
  for (char c : p.text)
    if (c == '\r' || c == '\n' || c == '\0') return make_error("path contains CR, LF or NUL");
  return {};
}

}  // namespace

Result<std::string> format_mail_from(const MailFrom& m) {
  if (auto st = check_path_text(m.path); !st) return st.take_error();
  std::string out = "MAIL FROM:<" + m.path.text + ">";
  if (m.size) out += fmt::format(" SIZE={}", *m.size);
  switch (m.body) {
    case Body::SevenBit: out += " BODY=7BIT"; break;
    case Body::EightBitMime: out += " BODY=8BITMIME"; break;
    case Body::BinaryMime: out += " BODY=BINARYMIME"; break;
    case Body::Unspecified: break;
  }
  if (m.ret == Ret::Full) out += " RET=FULL";
  if (m.ret == Ret::Hdrs) out += " RET=HDRS";
  if (m.envid) out += " ENVID=" + xtext_encode(*m.envid);
  if (m.smtputf8) out += " SMTPUTF8";
  if (m.auth) out += " AUTH=" + xtext_encode(*m.auth);
  return out;
}

Result<std::string> format_rcpt_to(const RcptTo& r) {
  if (auto st = check_path_text(r.path); !st) return st.take_error();
  std::string out = "RCPT TO:<" + r.path.text + ">";
  if (r.notify) out += " NOTIFY=" + notify_to_string(r.notify);
  if (!r.orcpt_type.empty() || !r.orcpt.empty()) {
    if (!valid_atom(r.orcpt_type)) return make_error("invalid ORCPT address type");
    out += " ORCPT=" + r.orcpt_type + ";" + xtext_encode(r.orcpt);
  }
  return out;
}

}  // namespace postern::smtp
