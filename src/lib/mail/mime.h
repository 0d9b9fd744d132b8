// mime.h - follow a message body's MIME structure, line by line.
//
// MimeScanner is fed the body of a message (everything after the primary
// header section and its separator) one line at a time and says, for each
// line, what cleanup's content filters must look at, the way Postfix's
// mime_state does for header_checks, mime_header_checks,
// nested_header_checks and body_checks:
//
//  - the primary Content-Type (given up front) decides the top entity:
//    multipart/* with a boundary parameter makes the body a multipart,
//    message/rfc822 or message/global makes it start with the header section
//    of an attached message, anything else makes it plain body text;
//  - in a multipart body, a line "--BOUNDARY..." starts a part and
//    "--BOUNDARY--..." closes the multipart. As in Postfix the match is by
//    prefix (anything may follow the boundary), the innermost multipart is
//    tried first, and a line that matches an outer boundary closes every
//    multipart inside it. The boundary lines, the preamble, the epilogue and
//    the part bodies are body lines;
//  - a part starts with a header section (section kMultipart), an attached
//    message with one (section kNested). Header sections are assembled by a
//    fresh HeaderParser each, so folding, header_size_limit truncation and a
//    section that ends without an empty line behave as for the primary
//    headers. Header lines and the empty line that ends a section are not
//    body lines; a line that ends a section without being empty is the
//    first body line (and may itself be a boundary);
//  - a part's or an attached message's own Content-Type decides its body in
//    turn: multipart/* nests, message/rfc822|global attaches another message
//    (only after a proper empty-line separator, as in Postfix). Parts of a
//    multipart/digest default to message/rfc822, all others to text/plain;
//  - like Postfix, every boundary parameter of every multipart Content-Type
//    header in a section is pushed (duplicates are illegal and could hide a
//    part from a scanner that honours only one of them).
//
// Hostile input is bounded: each multipart level and each attached message is
// one level of depth; a level deeper than mime_nesting_limit is not entered
// (its body is then plain body text), and a boundary longer than
// mime_boundary_length_limit is cut to that length and still matched by
// prefix, as Postfix does (so a long boundary cannot hide part headers from
// mime_header_checks). Either sets limit_exceeded(), so that the caller can
// log or reject ("MIME nesting exceeds safety limit"). State is a stack of at
// most nesting_limit boundaries plus one pending header; there is no
// recursion on input depth, and each line costs at most one comparison per
// enclosing boundary.
//
// Postfix's strict MIME checks, each when its MimeOptions flag asks:
// 8-bit bytes in a part's or attached message's header
// (strict_7bit_headers; the primary headers are the caller's), 8-bit bytes
// in body text whose Content-Transfer-Encoding is, or defaults to, 7bit
// (strict_8bitmime_body), a multipart/* or message/* entity whose encoding
// is quoted-printable or base64 rather than 7bit, 8bit or binary (and
// message/partial or external-body anything but 7bit)
// (strict_mime_encoding_domain), and structure deeper than
// mime_nesting_limit. The first one met is problem(), with the text that
// showed it; the scan goes on as before.
//
// Parameters (passed in by the caller): header_size_limit,
// mime_nesting_limit, mime_boundary_length_limit, and the strict checks.
// Logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/header.h"

namespace postern::mail {

struct MimeOptions {
  std::size_t header_size_limit = 102400;    // header_size_limit, per logical header
  std::size_t nesting_limit = 100;           // mime_nesting_limit
  std::size_t boundary_length_limit = 2048;  // mime_boundary_length_limit
  bool report_8bit_in_header = false;        // strict_7bit_headers (parts and attached messages)
  bool report_8bit_in_7bit_body = false;     // strict_8bitmime_body
  bool report_encoding_domain = false;       // strict_mime_encoding_domain
  bool report_nesting = false;               // deeper than mime_nesting_limit
};

// The errors Postfix's MIME processor reports (its order of severity).
enum class MimeError : std::uint8_t { kNesting, k8bitInHeader, k8bitIn7bitBody, kEncodingDomain };
// Postfix's words for it ("improper use of 8-bit data in message header").
std::string_view mime_error_text(MimeError e);
struct MimeProblem {
  MimeError error = MimeError::kNesting;
  std::string text;  // what showed it: the header, the line, the encoding (at most 100 bytes)
};

// Which header section a header came from.
enum class MimeSection : std::uint8_t {
  kMultipart,  // the header section of a part of a multipart entity
  kNested,     // the header section of an attached message (message/rfc822,
               // message/global, and parts of multipart/digest by default)
};

// What one body line turned out to be. Both fields may be set: a line that
// ends a header section without being empty completes the section's last
// header and is itself a body line.
struct MimeStep {
  // A logical header of a part or attached message, now complete (the
  // previous one, like HeaderParser::feed).
  std::optional<Header> header;
  // Where `header` came from.
  MimeSection section = MimeSection::kMultipart;
  // This line is body content for body_checks: plain body text, preamble,
  // epilogue, part bodies and boundary lines; never a header line or the
  // empty line that ends a section.
  bool body_line = false;

  // For the smtp client's 8-bit to 7-bit conversion (Postfix's
  // MIME_OPT_DOWNGRADE), which rewrites exactly what these name:
  //  - `header` is a Content-Transfer-Encoding header that leaves its entity
  //    8bit or binary: it is left out (the conversion writes its own);
  bool drop_header = false;
  //  - a header section ended with this line and its entity is 8bit or
  //    binary: "Content-Transfer-Encoding: <add_encoding>" goes out before
  //    this line ("7bit" for multipart/* and message/*, whose parts are
  //    converted one by one; "quoted-printable" for anything else);
  std::string_view add_encoding;
  //  - this body line belongs to an 8bit or binary leaf entity (a boundary
  //    line never does): it goes out quoted-printable.
  bool encode = false;
};

class MimeScanner {
 public:
  explicit MimeScanner(MimeOptions o = {});

  // The primary header section's Content-Type value (Header::value:
  // everything after the colon, folding kept). Call before the first
  // feed(), once per Content-Type header of the primary section (normally
  // one; with several, the last decides the type and every multipart
  // boundary counts, as in Postfix). Without a call, or for a type that is
  // neither multipart/* with a boundary nor message/rfc822|global, the whole
  // body is plain body lines. Ignored after the first feed().
  void primary_content_type(std::string_view value);
  // Likewise for a Content-Transfer-Encoding header of the primary section
  // (the strict checks need it; the last one counts).
  void primary_transfer_encoding(std::string_view value);

  // One body line of the message (after the primary header section and its
  // separator), without its line terminator ("\n"; a trailing "\r" is data).
  MimeStep feed(std::string_view line);

  // End of input: the last pending header of a part or attached-message
  // header section, if any. Later feed() calls see plain body text.
  std::optional<MimeStep> finish();

  // True once a structure deeper than nesting_limit (then treated as plain
  // body text), or a boundary longer than boundary_length_limit (cut to
  // it), was met.
  bool limit_exceeded() const { return limit_exceeded_; }

  // The first error a MimeOptions report_* flag asked for, if any.
  const std::optional<MimeProblem>& problem() const { return problem_; }

  // The entity whose header section is being read (before the first feed():
  // the message itself, as the primary_*() calls describe it) is in the
  // 8bit or binary domain.
  bool eight_bit_domain() const { return encoding_ == Encoding::k8bit || encoding_ == Encoding::kBinary; }
  // The Content-Transfer-Encoding an 8-bit entity of the current kind gets
  // when it is converted: "7bit" for multipart/* and message/*,
  // "quoted-printable" for a leaf.
  // The current entity is multipart/* or message/* (before the first
  // feed(): the message, as its Content-Type said).
  bool primary_composite() const { return kind_ != Kind::kOther; }
  std::string_view downgrade_encoding() const {
    return kind_ == Kind::kOther ? "quoted-printable" : "7bit";
  }

 private:
  // One enclosing multipart entity.
  struct Boundary {
    std::string text;       // at most boundary_length_limit bytes, never empty
    bool digest = false;    // multipart/digest: parts default to message/rfc822
    std::size_t depth = 0;  // of the multipart entity; 1 = directly inside the message
  };

  // Content-Transfer-Encoding values; an unknown one leaves the current.
  enum class Encoding : std::uint8_t { k7bit, k8bit, kBinary, kQuotedPrintable, kBase64 };
  // What the strict checks need of a Content-Type.
  enum class Kind : std::uint8_t { kOther, kMultipart, kMessage, kOpaqueMessage };

  void start_body();
  void start_section(MimeSection section, bool message, std::size_t depth);
  void content_type(std::string_view value);
  void transfer_encoding(std::string_view value);
  void report(MimeError e, std::string_view text);
  void end_section(bool empty_separator);
  void body(std::string_view line, MimeStep& step);

  MimeOptions options_;
  std::optional<HeaderParser> parser_;  // set while inside a part/attached-message header section
  MimeSection section_ = MimeSection::kMultipart;
  bool message_ = false;           // the current entity is message/rfc822 or message/global
  std::size_t depth_ = 0;          // of the current entity: 0 = the message itself
  std::vector<Boundary> pending_;  // boundaries named in the current section, not yet in effect
  std::vector<Boundary> stack_;    // enclosing multiparts, innermost last
  bool started_ = false;           // the first feed() (or finish()) happened
  bool limit_exceeded_ = false;
  Kind kind_ = Kind::kOther;             // of the current entity
  Encoding encoding_ = Encoding::k7bit;  // of the current entity's header section, then its body
  std::optional<MimeProblem> problem_;
};

// The lower-cased type and subtype and the (first, unquoted) boundary
// parameter of a Content-Type value; type is empty when the value does not
// start with a type token. A missing "/subtype" leaves subtype empty.
struct ContentType {
  std::string type, subtype, boundary;
};
ContentType parse_content_type(std::string_view value);

}  // namespace postern::mail
