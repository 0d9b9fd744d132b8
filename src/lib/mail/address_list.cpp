// address_list.cpp - see address_list.h.
//
// Two passes: a tokenizer that turns the value into atoms, quoted strings,
// domain literals and operators (comments are dropped, with their nesting
// counted iteratively), then a left-to-right pass that groups tokens into
// addresses. Neither pass recurses, so hostile nesting cannot exhaust the
// stack; both are linear in the input.
#include "mail/address_list.h"

#include <string_view>

#include "base/strings.h"

namespace postern::mail {

namespace {

enum class Tok { kAtom, kQuoted, kLiteral, kOp };

struct Token {
  Tok type;
  char op = 0;            // for kOp
  std::size_t begin = 0;  // span in the input
  std::size_t end = 0;
  std::string text;       // internal content (unquoted, unescaped)
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Single-character operators: RFC 822 specials that are not token openers,
// plus Postfix's extra routing operators % and ! and the alias-file '|'.
bool is_op(char c) {
  switch (c) {
    case ')': case '<': case '>': case '@': case ',': case ';': case ':': case '.': case ']':
    case '%': case '!': case '|':
      return true;
    default:
      return false;
  }
}

// Characters that end an atom.
bool ends_atom(char c) { return is_space(c) || is_op(c) || c == '(' || c == '"' || c == '['; }

struct Tokenized {
  std::vector<Token> tokens;
  bool malformed = false;
  bool truncated = false;
};

Result<Tokenized> tokenize(std::string_view s, const AddressListOptions& o) {
  Tokenized out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  // Quoted strings and literals: backslash quotes the next byte, CR and LF
  // are folding and vanish, a tab is white space.
  auto collect_until = [&](char close, Token& t) {
    while (i < n && s[i] != close) {
      char c = s[i];
      if (c == '\\') {
        if (i + 1 >= n) {
          ++i;
          break;
        }
        c = s[++i];
      }
      ++i;
      if (c == '\r' || c == '\n') continue;
      t.text.push_back(c == '\t' ? ' ' : c);
    }
    if (i < n) {
      ++i;  // closing character
    } else {
      out.malformed = true;
    }
  };
  while (i < n) {
    char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (c == '(') {
      // Comments nest; count the depth instead of recursing.
      std::size_t depth = 0;
      while (i < n) {
        char d = s[i++];
        if (d == '\\') {
          if (i < n) ++i;
        } else if (d == '(') {
          if (++depth > o.max_comment_depth)
            return make_error("comments nested more than {} levels", o.max_comment_depth);
        } else if (d == ')') {
          if (--depth == 0) break;
        }
      }
      if (depth != 0) out.malformed = true;
      continue;
    }
    if (out.tokens.size() >= o.max_tokens) {
      out.truncated = true;
      break;
    }
    Token t;
    t.begin = i;
    if (c == '"') {
      t.type = Tok::kQuoted;
      ++i;
      collect_until('"', t);
    } else if (c == '[') {
      t.type = Tok::kLiteral;
      ++i;
      collect_until(']', t);
    } else if (is_op(c)) {
      t.type = Tok::kOp;
      t.op = c;
      ++i;
    } else {
      t.type = Tok::kAtom;
      while (i < n && !ends_atom(s[i])) {
        char a = s[i];
        if (a == '\\') {
          if (i + 1 >= n) {
            ++i;
            break;
          }
          a = s[++i];
        }
        t.text.push_back(a);
        ++i;
      }
    }
    t.end = i;
    out.tokens.push_back(std::move(t));
  }
  return out;
}

bool is_word(const Token& t) { return t.type != Tok::kOp; }
bool is_op(const Token& t, char op) { return t.type == Tok::kOp && t.op == op; }

void append_internal(std::string& out, const Token& t) {
  switch (t.type) {
    case Tok::kAtom:
    case Tok::kQuoted:
      out += t.text;
      break;
    case Tok::kLiteral:
      out += '[';
      out += t.text;
      out += ']';
      break;
    case Tok::kOp:
      out += t.op;
      break;
  }
}

// Tokens [first, last) of one address -> Address in internal form.
Address make_address(const std::vector<Token>& tokens, std::size_t first, std::size_t last) {
  Address a;
  std::size_t start = first;
  if (first < last && is_op(tokens[first], '@')) {
    for (std::size_t k = first; k < last; ++k) {
      if (is_op(tokens[k], ':')) {
        for (std::size_t r = first; r < k; ++r) append_internal(a.route, tokens[r]);
        start = k + 1;
        break;
      }
    }
  }
  std::size_t at = last;
  for (std::size_t k = last; k > start; --k) {
    if (is_op(tokens[k - 1], '@')) {
      at = k - 1;
      break;
    }
  }
  for (std::size_t k = start; k < std::min(at, last); ++k) append_internal(a.local, tokens[k]);
  for (std::size_t k = at + 1; k < last; ++k) append_internal(a.domain, tokens[k]);
  return a;
}

std::string raw_trimmed(std::string_view s, std::size_t begin, std::size_t end) {
  if (begin >= end) return {};
  return std::string(str::trim(s.substr(begin, end - begin)));
}

class ListParser {
 public:
  ListParser(std::string_view value, const Tokenized& tk, AddressList& out)
      : s_(value), t_(tk.tokens), out_(out) {
    for (std::size_t k = 0; k < t_.size(); ++k)
      if (is_op(t_[k], ';')) last_semicolon_ = k;
  }

  void run() {
    std::size_t i = 0;
    while (i < t_.size()) i = element(i);
  }

 private:
  // One comma-separated element starting at token i; returns the index after it.
  std::size_t element(std::size_t i) {
    std::vector<std::size_t> pending;  // candidate tokens of a bare address or a phrase
    bool saw_angle = false;
    while (i < t_.size()) {
      const Token& t = t_[i];
      if (is_op(t, ',')) {
        ++i;
        break;
      }
      if (is_op(t, ';')) {
        ++i;
        flush_bare(pending);
        in_group_ = false;
        group_.clear();
        return i;
      }
      if (is_op(t, ':') && !in_group_ && !saw_angle && !pending.empty() && last_semicolon_ != kNone &&
          i < last_semicolon_ && is_phrase(pending)) {
        in_group_ = true;
        group_ = raw_trimmed(s_, t_[pending.front()].begin, t.begin);
        pending.clear();
        ++i;
        continue;
      }
      if (is_op(t, '<')) {
        i = angle(i, pending);
        saw_angle = true;
        pending.clear();
        continue;
      }
      if (is_op(t, '>')) {
        out_.malformed = true;  // stray '>': ignore it
        ++i;
        continue;
      }
      pending.push_back(i);
      ++i;
    }
    flush_bare(pending);
    return i;
  }

  // '<' at token i; the phrase before it is in `phrase`. Returns the index
  // after the closing '>'.
  std::size_t angle(std::size_t i, const std::vector<std::size_t>& phrase) {
    const std::size_t open = i;
    std::size_t j = open + 1;
    while (j < t_.size() && !is_op(t_[j], '>') && !is_op(t_[j], ',') && !is_op(t_[j], ';') &&
           !is_op(t_[j], '<'))
      ++j;
    bool closed = j < t_.size() && is_op(t_[j], '>');
    if (!closed && j < t_.size() && is_op(t_[j], ',') && open + 1 < t_.size() && is_op(t_[open + 1], '@')) {
      // Commas belong to the address only in an obsolete route <@a,@b:u@h>.
      std::size_t k = open + 1;
      while (k < t_.size() && !is_op(t_[k], '>') && !is_op(t_[k], ';') && !is_op(t_[k], '<')) ++k;
      if (k < t_.size() && is_op(t_[k], '>')) {
        j = k;
        closed = true;
      }
    }
    if (!closed) {
      // An unclosed '<' ends at the next element separator.
      out_.malformed = true;
    }
    HeaderAddress h;
    h.angle = true;
    h.begin = t_[open].end;
    h.end = closed ? t_[j].begin : (j > open + 1 ? t_[j - 1].end : h.begin);
    if (!phrase.empty()) h.display_name = raw_trimmed(s_, t_[phrase.front()].begin, t_[open].begin);
    h.address = make_address(t_, open + 1, j);
    emit(std::move(h));
    return closed ? j + 1 : j;
  }

  // A bare address list segment: adjacent words start a new address.
  void flush_bare(const std::vector<std::size_t>& pending) {
    std::size_t run_start = 0;
    for (std::size_t k = 1; k <= pending.size(); ++k) {
      bool boundary = k == pending.size() ||
                      (pending[k] != pending[k - 1] + 1) ||  // tokens were split by '<' handling
                      (is_word(t_[pending[k]]) && is_word(t_[pending[k - 1]]));
      if (!boundary) continue;
      bare(pending[run_start], pending[k - 1] + 1);
      run_start = k;
    }
  }

  void bare(std::size_t first, std::size_t last) {
    bool any_word = false;
    for (std::size_t k = first; k < last; ++k) any_word = any_word || is_word(t_[k]);
    if (!any_word) return;
    HeaderAddress h;
    h.begin = t_[first].begin;
    h.end = t_[last - 1].end;
    h.address = make_address(t_, first, last);
    emit(std::move(h));
  }

  void emit(HeaderAddress h) {
    if (h.address.is_null()) return;
    h.group = group_;
    out_.addresses.push_back(std::move(h));
  }

  bool is_phrase(const std::vector<std::size_t>& toks) const {
    for (auto k : toks)
      if (!is_word(t_[k]) && !is_op(t_[k], '.')) return false;
    return true;
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::string_view s_;
  const std::vector<Token>& t_;
  AddressList& out_;
  std::size_t last_semicolon_ = kNone;
  bool in_group_ = false;
  std::string group_;
};

}  // namespace

Result<AddressList> parse_address_list(std::string_view value, const AddressListOptions& options) {
  if (value.size() > options.max_bytes)
    return make_error("header value too long ({} bytes, limit {})", value.size(), options.max_bytes);
  auto tk = tokenize(value, options);
  if (!tk) return tk.take_error();
  AddressList out;
  out.malformed = tk->malformed;
  out.truncated = tk->truncated;
  ListParser(value, *tk, out).run();
  return out;
}

std::string rewrite_address_list(std::string_view value, const AddressList& list,
                                 const std::function<std::optional<Address>(const HeaderAddress&)>& rewrite) {
  std::string out;
  out.reserve(value.size());
  std::size_t pos = 0;
  for (const auto& h : list.addresses) {
    if (h.begin < pos || h.end < h.begin || h.end > value.size()) continue;  // not from this value
    auto replacement = rewrite(h);
    if (!replacement) continue;
    out.append(value.substr(pos, h.begin - pos));
    out += replacement->to_external();
    pos = h.end;
  }
  out.append(value.substr(pos));
  return out;
}

}  // namespace postern::mail
