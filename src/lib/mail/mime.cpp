// mime.cpp - see mime.h.
#include "mail/mime.h"

#include <algorithm>
#include <utility>

#include "base/strings.h"

namespace postern::mail {

namespace {

constexpr std::string_view kTspecials = "()<>@,;:\\\"/[]?=";  // RFC 2045

bool is_token_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c > 0x20 && c < 0x7f && kTspecials.find(ch) == std::string_view::npos;
}

// Folding keeps the "\n" in Header::value; a "\r" before it is data from a
// CRLF line. All of it is whitespace inside a structured header.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Unquoted parameter values end at these. Real mail carries unquoted
// boundaries with tspecials in them ("----=_NextPart_..."); cutting those at
// the '=' would make "--" + "----" match every dashed line, so everything up
// to blank, ';', comment or quote counts.
bool ends_bare_value(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c <= 0x20 || c == 0x7f || ch == ';' || ch == '(' || ch == '"';
}

// Skips blanks, folding and RFC 822 comments: "(...)", nested, with
// backslash-quoted characters. An unterminated comment runs to the end. The
// nesting is a counter, not recursion: the value is hostile.
std::size_t skip_cfws(std::string_view s, std::size_t i) {
  std::size_t depth = 0;
  while (i < s.size()) {
    char c = s[i];
    if (depth > 0) {
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')') --depth;
      ++i;
    } else if (is_space(c)) {
      ++i;
    } else if (c == '(') {
      depth = 1;
      ++i;
    } else {
      break;
    }
  }
  return std::min(i, s.size());
}

std::size_t skip_token(std::string_view s, std::size_t i) {
  while (i < s.size() && is_token_char(s[i])) ++i;
  return i;
}

// s[i] is the opening quote. Appends the unquoted text (unfolded, at most
// `cap` bytes kept) to `out`; returns the position after the closing quote
// (or the end, when there is none).
std::size_t take_quoted(std::string_view s, std::size_t i, std::string& out, std::size_t cap) {
  for (++i; i < s.size();) {
    char c = s[i++];
    if (c == '"') return i;
    if (c == '\\' && i < s.size()) {
      c = s[i++];
    } else if (c == '\n' || (c == '\r' && i < s.size() && s[i] == '\n')) {
      continue;  // unfolding removes the line break, keeps the blank after it
    }
    if (out.size() < cap) out += c;
  }
  return i;
}

// Position of the next ';' that starts a parameter, outside quoted strings
// and comments; s.size() when there is none.
std::size_t next_parameter(std::string_view s, std::size_t i) {
  std::string ignored;
  while (i < s.size() && s[i] != ';') {
    if (s[i] == '"') {
      i = take_quoted(s, i, ignored, 0);
    } else if (s[i] == '(') {
      i = skip_cfws(s, i);
    } else {
      ++i;
    }
  }
  return i;
}

// Fills ct.type and ct.subtype, and calls on_boundary(std::string&&) for
// every boundary parameter, in order, keeping at most `cap` bytes of each.
// Garbage between parameters is skipped up to the next ';'.
template <class OnBoundary>
void parse_into(std::string_view s, std::size_t cap, ContentType& ct, OnBoundary&& on_boundary) {
  std::size_t i = skip_cfws(s, 0);
  std::size_t end = skip_token(s, i);
  if (end == i) return;
  ct.type = str::lower(s.substr(i, end - i));
  i = skip_cfws(s, end);
  if (i < s.size() && s[i] == '/') {
    i = skip_cfws(s, i + 1);
    end = skip_token(s, i);
    ct.subtype = str::lower(s.substr(i, end - i));
    i = end;
  }
  for (;;) {
    i = next_parameter(s, i);
    if (i >= s.size()) return;
    i = skip_cfws(s, i + 1);
    end = skip_token(s, i);
    std::string_view name = s.substr(i, end - i);
    i = skip_cfws(s, end);
    if (i >= s.size() || s[i] != '=') continue;
    i = skip_cfws(s, i + 1);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      i = take_quoted(s, i, value, cap);
    } else {
      end = i;
      while (end < s.size() && !ends_bare_value(s[end])) ++end;
      value = s.substr(i, std::min(end - i, cap));
      i = end;
    }
    if (str::iequals(name, "boundary")) on_boundary(std::move(value));
  }
}

bool is_attached_message(const ContentType& ct) {
  return ct.type == "message" && (ct.subtype == "rfc822" || ct.subtype == "global");
}

}  // namespace

std::string_view mime_error_text(MimeError e) {
  switch (e) {
    case MimeError::kNesting: return "MIME nesting exceeds safety limit";
    case MimeError::k8bitInHeader: return "improper use of 8-bit data in message header";
    case MimeError::k8bitIn7bitBody: return "improper use of 8-bit data in message body";
    case MimeError::kEncodingDomain: return "invalid message/* or multipart/* encoding domain";
  }
  return "MIME error";
}

ContentType parse_content_type(std::string_view value) {
  ContentType ct;
  bool seen = false;
  parse_into(value, std::string_view::npos, ct, [&](std::string&& b) {
    if (seen) return;
    seen = true;
    ct.boundary = std::move(b);
  });
  return ct;
}

MimeScanner::MimeScanner(MimeOptions o) : options_(o) {}

void MimeScanner::primary_content_type(std::string_view value) {
  if (!started_) content_type(value);
}

void MimeScanner::primary_transfer_encoding(std::string_view value) {
  if (!started_) transfer_encoding(value);
}

void MimeScanner::report(MimeError e, std::string_view text) {
  if (problem_) return;
  problem_ = MimeProblem{e, std::string(text.substr(0, 100))};
}

// The value's first token; anything else (an x-token, garbage) leaves the
// encoding as it was, like Postfix.
void MimeScanner::transfer_encoding(std::string_view value) {
  std::size_t i = skip_cfws(value, 0);
  std::string_view token = value.substr(i, skip_token(value, i) - i);
  if (str::iequals(token, "7bit")) encoding_ = Encoding::k7bit;
  else if (str::iequals(token, "8bit")) encoding_ = Encoding::k8bit;
  else if (str::iequals(token, "binary")) encoding_ = Encoding::kBinary;
  else if (str::iequals(token, "quoted-printable")) encoding_ = Encoding::kQuotedPrintable;
  else if (str::iequals(token, "base64")) encoding_ = Encoding::kBase64;
}

void MimeScanner::start_section(MimeSection section, bool message, std::size_t depth) {
  HeaderParserOptions ho;
  ho.header_size_limit = options_.header_size_limit;
  parser_.emplace(ho);
  section_ = section;
  message_ = message;
  kind_ = message ? Kind::kMessage : Kind::kOther;
  encoding_ = Encoding::k7bit;
  depth_ = depth;
  pending_.clear();
}

// A Content-Type header of the current section (primary, part or attached
// message). As in Postfix, the last one decides the type, and the boundaries
// of all multipart ones take effect when the section ends.
void MimeScanner::content_type(std::string_view value) {
  ContentType ct;
  // One byte more than the limit is enough to tell "too long".
  const std::size_t cap = options_.boundary_length_limit + 1;
  parse_into(value, cap, ct, [&](std::string&& b) {
    if (ct.type != "multipart" || b.empty()) return;
    if (depth_ + pending_.size() >= options_.nesting_limit) {
      limit_exceeded_ = true;
      if (options_.report_nesting) report(MimeError::kNesting, value);
      return;
    }
    // A longer boundary is cut to the limit and still matched by prefix,
    // as Postfix does: treating its parts as plain text would let a sender
    // hide attachment headers from mime_header_checks.
    if (b.size() > options_.boundary_length_limit) {
      limit_exceeded_ = true;
      b.resize(options_.boundary_length_limit);
    }
    pending_.push_back(Boundary{std::move(b), ct.subtype == "digest", 0});
  });
  // An empty or unparsable value leaves the (default) type alone, like
  // Postfix does for a Content-Type without tokens.
  if (!ct.type.empty()) {
    message_ = is_attached_message(ct);
    kind_ = ct.type == "multipart" ? Kind::kMultipart
            : ct.type != "message" ? Kind::kOther
            : ct.subtype == "partial" || ct.subtype == "external-body" ? Kind::kOpaqueMessage
                                                                       : Kind::kMessage;
  }
}

void MimeScanner::end_section(bool empty_separator) {
  parser_.reset();
  if (options_.report_encoding_domain) {
    // RFC 2045 6.4: a composite entity is not encoded, it has a domain
    // (7bit, 8bit, binary); message/partial and external-body only 7bit.
    const bool domain = encoding_ == Encoding::k7bit || encoding_ == Encoding::k8bit || encoding_ == Encoding::kBinary;
    const bool bad = (kind_ == Kind::kMultipart || kind_ == Kind::kMessage) ? !domain
                     : kind_ == Kind::kOpaqueMessage ? encoding_ == Encoding::k8bit || encoding_ == Encoding::kBinary
                                                     : false;
    if (bad) {
      constexpr std::string_view kNames[] = {"7bit", "8bit", "binary", "quoted-printable", "base64"};
      report(MimeError::kEncodingDomain, kNames[static_cast<std::size_t>(encoding_)]);
    }
  }
  // A multipart's preamble is 7bit text whatever the entity said (Postfix).
  if (kind_ == Kind::kMultipart) encoding_ = Encoding::k7bit;
  for (Boundary& b : pending_) {
    b.depth = ++depth_;
    stack_.push_back(std::move(b));
  }
  pending_.clear();
  // Postfix looks for an attached message's headers only after a proper
  // separator; a part whose header section ran into its body has a plain body.
  if (!message_ || !empty_separator) return;
  if (depth_ >= options_.nesting_limit) {
    limit_exceeded_ = true;
    if (options_.report_nesting) report(MimeError::kNesting, "message/rfc822");
    return;
  }
  start_section(MimeSection::kNested, false, depth_ + 1);
}

void MimeScanner::body(std::string_view line, MimeStep& step) {
  step.body_line = true;
  if (options_.report_8bit_in_7bit_body && encoding_ == Encoding::k7bit && !problem_ &&
      std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
    report(MimeError::k8bitIn7bitBody, line);
  if (stack_.empty() || line.size() <= 2 || line[0] != '-' || line[1] != '-') {
    step.encode = eight_bit_domain();
    return;
  }
  std::string_view rest = line.substr(2);
  // Innermost first; a match further out closes the multiparts inside it.
  for (std::size_t i = stack_.size(); i-- > 0;) {
    if (!rest.starts_with(stack_[i].text)) continue;
    stack_.resize(i + 1);
    const Boundary& b = stack_.back();
    if (rest.substr(b.text.size()).starts_with("--")) {
      // The closing delimiter: the epilogue is plain text of the entity that
      // held the multipart (an outer boundary may still follow).
      depth_ = b.depth - 1;
      message_ = false;
      kind_ = Kind::kOther;
      encoding_ = Encoding::k7bit;  // the epilogue, as Postfix sees it
      stack_.pop_back();
    } else {
      start_section(MimeSection::kMultipart, b.digest, b.depth);
    }
    return;
  }
  step.encode = eight_bit_domain();
}

// The primary header section is over (the caller consumed it): its
// Content-Type headers decide what the body is.
void MimeScanner::start_body() {
  started_ = true;
  depth_ = 0;
  end_section(true);
}

MimeStep MimeScanner::feed(std::string_view line) {
  if (!started_) start_body();
  MimeStep step;
  if (!parser_) {
    body(line, step);
    return step;
  }
  HeaderStep hs = parser_->feed(line);
  step.section = section_;
  if (hs.header) {
    if (hs.header->kind == HeaderKind::kContentType) content_type(hs.header->value);
    if (hs.header->kind == HeaderKind::kContentTransferEncoding) transfer_encoding(hs.header->value);
    if (options_.report_8bit_in_header && hs.header->has_8bit) report(MimeError::k8bitInHeader, hs.header->text());
    step.drop_header = hs.header->kind == HeaderKind::kContentTransferEncoding && eight_bit_domain();
    step.header = std::move(hs.header);
  }
  if (hs.end_of_headers) {
    // Decided before end_section() moves on to what follows the section.
    if (eight_bit_domain()) step.add_encoding = downgrade_encoding();
    end_section(!hs.missing_separator);
    // The line that ended the section without being empty is body text of
    // the entity, and may already be a boundary (a part with no headers).
    if (hs.body_line) body(line, step);
  }
  return step;
}

std::optional<MimeStep> MimeScanner::finish() {
  if (!started_) start_body();
  stack_.clear();
  if (!parser_) return std::nullopt;
  std::optional<Header> h = parser_->finish();
  MimeStep step;
  step.section = section_;
  if (h) {
    // Applied for the conversion's sake only (the entity has no body).
    if (h->kind == HeaderKind::kContentType) content_type(h->value);
    if (h->kind == HeaderKind::kContentTransferEncoding) transfer_encoding(h->value);
    if (options_.report_8bit_in_header && h->has_8bit) report(MimeError::k8bitInHeader, h->text());
    step.drop_header = h->kind == HeaderKind::kContentTransferEncoding && eight_bit_domain();
    step.header = std::move(h);
  }
  // The section ends here, as a section does (Postfix writes the converted
  // encoding even for an entity without a body).
  if (eight_bit_domain()) step.add_encoding = downgrade_encoding();
  // Nothing follows, so a last Content-Type has nothing left to describe.
  parser_.reset();
  pending_.clear();
  if (!step.header && step.add_encoding.empty()) return std::nullopt;
  return step;
}

}  // namespace postern::mail
