// reply.cpp - see reply.h.
#include "smtp/reply.h"

#include <fmt/format.h>

#include "smtp/chars.h"

namespace postern::smtp {

namespace {

// Split one text entry at line breaks (CRLF, LF or CR each count as one);
// a break at the very end does not add an empty line.
void split_breaks(std::string_view text, std::vector<std::string>& out) {
  std::size_t start = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\r' || c == '\n') {
      out.emplace_back(text.substr(start, i - start));
      any = true;
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = ++i;
      continue;
    }
    ++i;
  }
  if (start < text.size() || !any) out.emplace_back(text.substr(start));
}

// Control characters (other than HTAB) and bytes that are not part of valid
// UTF-8 become '?': reply text must be a textstring (RFC 5321 4.2, RFC 6531).
std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back((chars::is_ctl(c) && c != '\t') ? '?' : char(c));
      ++i;
      continue;
    }
    std::size_t n = chars::utf8_sequence_length(s, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// Wrap `text` into pieces of at most `avail` bytes, preferring to break at a
// space (which is dropped) and never inside a UTF-8 sequence.
void wrap(std::string_view text, std::size_t avail, std::vector<std::string>& out) {
  while (text.size() > avail) {
    std::size_t cut = text.rfind(' ', avail);
    if (cut != std::string_view::npos && cut > 0) {
      out.emplace_back(text.substr(0, cut));
      text.remove_prefix(cut + 1);
      continue;
    }
    cut = avail;
    while (cut > 1 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    out.emplace_back(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  out.emplace_back(text);
}

}  // namespace

Reply::Reply(int c, std::string enh, std::string text) : code(c), enhanced(std::move(enh)) {
  lines.push_back(std::move(text));
}

Reply::Reply(int c, std::string enh, std::vector<std::string> l)
    : code(c), enhanced(std::move(enh)), lines(std::move(l)) {}

std::string Reply::text(std::string_view sep) const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out.append(sep);
    out.append(lines[i]);
  }
  return out;
}

std::string Reply::to_string() const {
  std::string out = fmt::format("{}", code);
  if (!enhanced.empty()) out += " " + enhanced;
  std::string t = text();
  if (!t.empty()) out += " " + t;
  return out;
}

Reply soften(Reply r) {
  if (r.klass() != 5) return r;
  r.code -= 100;
  if (!r.enhanced.empty() && r.enhanced[0] == '5') r.enhanced[0] = '4';
  return r;
}

bool valid_reply_code(int code) {
  if (code < 200 || code > 599) return false;
  return (code / 10) % 10 <= 5;
}

bool valid_enhanced_code(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < s.size() && chars::is_digit(s[i])) {
      ++i;
      ++digits;
    }
    if (digits < 1 || digits > 3) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

std::string format_reply(const Reply& r, std::size_t max_line) {
  if (!valid_reply_code(r.code)) return format_reply(Reply(451, "4.3.0", "Error: internal error"), max_line);
  if (max_line < 64) max_line = 64;

  std::string enh;
  if (!r.enhanced.empty() && valid_enhanced_code(r.enhanced)) {
    enh = r.enhanced;
    int klass = r.klass();
    if (klass == 2 || klass == 4 || klass == 5) enh[0] = char('0' + klass);
    else enh.clear();  // 3xx replies have no enhanced status class
  }

  std::vector<std::string> logical;
  if (r.lines.empty()) logical.emplace_back();
  for (const auto& l : r.lines) split_breaks(l, logical);

  const std::size_t prefix = 4 + (enh.empty() ? 0 : enh.size() + 1);
  const std::size_t avail = max_line - 2 - prefix;
  std::vector<std::string> wire_lines;
  for (const auto& l : logical) wrap(sanitize(l), avail, wire_lines);

  std::string out;
  const std::string code = fmt::format("{}", r.code);
  for (std::size_t i = 0; i < wire_lines.size(); ++i) {
    const bool last = i + 1 == wire_lines.size();
    const auto& text = wire_lines[i];
    out += code;
    if (enh.empty() && text.empty()) {
      if (!last) out += '-';
    } else {
      out += last ? ' ' : '-';
      out += enh;
      if (!enh.empty() && !text.empty()) out += ' ';
      out += text;
    }
    out += "\r\n";
  }
  return out;
}

bool ehlo_keyword_discarded(std::string_view keyword, const std::vector<std::string>& discard) {
  std::size_t end = keyword.find_first_of(" =");
  std::string_view name = keyword.substr(0, end);
  for (const auto& d : discard)
    if (chars::iequals(chars::trim_blanks(d), name)) return true;
  return false;
}

std::vector<std::string> ehlo_keywords(const EhloFeatures& f) {
  std::vector<std::string> all;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& w : v) {
      if (!s.empty()) s += ' ';
      s += w;
    }
    return s;
  };
  if (f.pipelining) all.emplace_back("PIPELINING");
  if (f.size) all.push_back(*f.size ? fmt::format("SIZE {}", *f.size) : std::string("SIZE"));
  if (f.vrfy) all.emplace_back("VRFY");
  if (f.etrn) all.emplace_back("ETRN");
  if (f.starttls) all.emplace_back("STARTTLS");
  if (!f.auth_mechanisms.empty()) {
    all.push_back("AUTH " + join(f.auth_mechanisms));
    if (f.auth_broken_clients) all.push_back("AUTH=" + join(f.auth_mechanisms));
  }
  if (!f.xclient_attributes.empty()) all.push_back("XCLIENT " + join(f.xclient_attributes));
  if (!f.xforward_attributes.empty()) all.push_back("XFORWARD " + join(f.xforward_attributes));
  if (f.enhanced_status_codes) all.emplace_back("ENHANCEDSTATUSCODES");
  if (f.eight_bit_mime) all.emplace_back("8BITMIME");
  if (f.dsn) all.emplace_back("DSN");
  if (f.smtputf8) all.emplace_back("SMTPUTF8");
  if (f.chunking) all.emplace_back("CHUNKING");

  std::vector<std::string> out;
  for (auto& k : all)
    if (!ehlo_keyword_discarded(k, f.discard)) out.push_back(std::move(k));
  return out;
}

Reply ehlo_reply(std::string_view hostname, const std::vector<std::string>& keywords) {
  Reply r;
  r.code = 250;
  r.lines.emplace_back(hostname);
  for (const auto& k : keywords) r.lines.push_back(k);
  return r;
}

}  // namespace postern::smtp
