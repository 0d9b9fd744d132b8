// alias_source.cpp - aliases(5) entries: RFC 822 tokens to name and value.
//
// A small, flat RFC 822 tokenizer with the token classes and spacing rules
// of Postfix's tok822 scanner, so that postalias builds byte-identical
// values (local(8) re-parses them at delivery time). Reads no parameters
// and logs nothing; warnings are returned to the caller.
#include "maps/alias_source.h"

#include <cstring>

#include "maps/source.h"

namespace postern::maps {
namespace {

enum class Tok { Atom, QString, Comment, DomLit, Op };

struct Token {
  Tok type;
  char op = 0;       // Op: the operator character
  std::string text;  // Atom/QString/DomLit: contents; Comment: "(...)" as written
};

bool is_lwsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Postfix's operator set: "|%!" plus RFC 822 specials.
bool is_op(char c) { return c != '\0' && std::strchr("|%!()<>@,;:\\\".[]", c) != nullptr; }

bool is_cntrl(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// Collects characters up to one that fails `keep`, honouring backslash
// escapes; white space inside becomes a plain space.
template <class Keep>
std::size_t collect(std::string_view s, std::size_t i, std::string& out, Keep keep) {
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\') {
      if (++i >= s.size()) break;
      c = s[i];
    } else if (!keep(c)) {
      break;
    }
    out.push_back(is_lwsp(c) ? ' ' : c);
    ++i;
  }
  return i;
}

std::vector<Token> scan(std::string_view s) {
  std::vector<Token> toks;
  std::size_t i = 0;
  while (i < s.size()) {
    char ch = s[i++];
    if (is_lwsp(ch)) continue;
    if (ch == '(') {
      Token t{Tok::Comment, 0, "("};
      int level = 1;
      while (i < s.size()) {
        char c = s[i++];
        t.text.push_back(c);
        if (c == '(') {
          ++level;
        } else if (c == ')') {
          if (--level == 0) break;
        } else if (c == '\\') {
          if (i >= s.size()) break;
          t.text.push_back(s[i++]);
        }
      }
      toks.push_back(std::move(t));
    } else if (ch == '[' || ch == '"') {
      char close = ch == '[' ? ']' : '"';
      Token t{ch == '[' ? Tok::DomLit : Tok::QString, 0, {}};
      i = collect(s, i, t.text, [close](char c) { return c != close; });
      if (i < s.size()) ++i;  // the closing bracket or quote
      toks.push_back(std::move(t));
    } else if (ch != '\\' && is_op(ch)) {
      toks.push_back(Token{Tok::Op, ch, {}});
    } else {
      Token t{Tok::Atom, 0, {}};
      i = collect(s, i - 1, t.text, [](char c) { return !is_lwsp(c) && !is_op(c); });
      // An atom that needs quoting is written back as a quoted string.
      for (char c : t.text) {
        if (c == ' ' || is_cntrl(c) || is_op(c)) {
          t.type = Tok::QString;
          break;
        }
      }
      toks.push_back(std::move(t));
    }
  }
  return toks;
}

bool non_operator(const Token& t) { return t.type != Tok::Op; }

// Postfix inserts a space after "," and before "<", and between two words.
bool space_after(const std::vector<Token>& toks, std::size_t i, std::size_t end) {
  if (i + 1 >= end) return false;
  const Token& t = toks[i];
  const Token& next = toks[i + 1];
  if ((t.type == Tok::Op && t.op == ',') || (next.type == Tok::Op && next.op == '<')) return true;
  return non_operator(t) && non_operator(next);
}

void append_quoted(std::string& out, const std::string& s, const char* quote_set) {
  for (char c : s) {
    if (c != '\0' && std::strchr(quote_set, c)) out.push_back('\\');
    out.push_back(c);
  }
}

// Tokens [b, e) in internal (unquoted) form.
std::string internalize(const std::vector<Token>& toks, std::size_t b, std::size_t e) {
  std::string out;
  for (std::size_t i = b; i < e; ++i) {
    const Token& t = toks[i];
    switch (t.type) {
      case Tok::Atom:
      case Tok::QString:
      case Tok::Comment: out += t.text; break;
      case Tok::DomLit: out += '[' + t.text + ']'; break;
      case Tok::Op: out.push_back(t.op); break;
    }
    if (space_after(toks, i, e)) out.push_back(' ');
  }
  return out;
}

// Tokens [b, e) in external (quoted) form.
std::string externalize(const std::vector<Token>& toks, std::size_t b, std::size_t e) {
  std::string out;
  for (std::size_t i = b; i < e; ++i) {
    const Token& t = toks[i];
    switch (t.type) {
      case Tok::Atom:
      case Tok::Comment: out += t.text; break;
      case Tok::QString:
        out.push_back('"');
        append_quoted(out, t.text, "\"\\\r\n");
        out.push_back('"');
        break;
      case Tok::DomLit:
        out.push_back('[');
        append_quoted(out, t.text, "\\\r\n");
        out.push_back(']');
        break;
      case Tok::Op: out.push_back(t.op); break;
    }
    if (space_after(toks, i, e)) out.push_back(' ');
  }
  return out;
}

bool is_op_tok(const Token& t, char op) { return t.type == Tok::Op && t.op == op; }

}  // namespace

std::variant<AliasEntry, AliasReject> parse_alias_entry(std::string_view line) {
  std::vector<Token> toks = scan(line);
  if (toks.empty()) return AliasReject{};
  std::size_t colon = 0;
  while (colon < toks.size() && !is_op_tok(toks[colon], ':')) ++colon;
  if (colon == toks.size() || colon == 0 || colon + 1 == toks.size())
    return AliasReject{"need name:value pair"};
  for (std::size_t i = 0; i < colon; ++i)
    if (is_op_tok(toks[i], ',')) return AliasReject{"need name:value pair"};
  for (std::size_t i = 0; i < colon; ++i)
    if (is_op_tok(toks[i], '@') || is_op_tok(toks[i], '%')) return AliasReject{"name must be local"};
  return AliasEntry{internalize(toks, 0, colon), externalize(toks, colon + 1, toks.size())};
}

std::vector<AliasSourceEntry> parse_alias_source(std::istream& in, std::string_view name,
                                                 std::vector<std::string>& warnings) {
  std::vector<AliasSourceEntry> out;
  std::string nm(name);
  LineReader reader(in, nm, [&](std::string w) { warnings.push_back(std::move(w)); });
  while (auto line = reader.next()) {
    auto r = parse_alias_entry(line->text);
    if (auto* rej = std::get_if<AliasReject>(&r)) {
      if (!rej->why.empty())
        warnings.push_back(nm + ", line " + std::to_string(line->first_line) + ": " + rej->why);
      continue;
    }
    out.push_back(AliasSourceEntry{std::move(std::get<AliasEntry>(r)), line->first_line});
  }
  return out;
}

}  // namespace postern::maps
