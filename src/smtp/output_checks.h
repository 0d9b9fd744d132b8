// output_checks.h - smtp_header_checks, smtp_mime_header_checks,
// smtp_nested_header_checks and smtp_body_checks (lmtp_* for lmtp): the
// message as it goes out, header by header and line by line.
//
// Postfix's restricted header_checks(5) for its SMTP client: actions that
// would change the delivery (REJECT, DISCARD, HOLD, FILTER, REDIRECT, BCC)
// do not exist here and are logged as "unsupported command in
// smtp_header_checks map: WORD", the line going out unchanged. The rest:
//
//   DUNNO, OK      the line goes out
//   IGNORE         it is left out (not logged)
//   STRIP [text]   it is left out, logged "strip"
//   REPLACE text   text goes out instead (for a header, a header), logged
//   PREPEND text   text goes out before it (for a header, a header), logged
//   WARN [text], INFO [text]   logged, the line goes out
//
// Which list: primary headers go to smtp_header_checks, MIME headers
// (Content-*, MIME-Version, anywhere) and other headers of MIME parts to
// smtp_mime_header_checks, headers of attached messages to
// smtp_nested_header_checks, every other body line (boundaries included) to
// smtp_body_checks, as Postfix's header_body_checks does. The MIME
// structure is followed (mail/mime.h) when any of the last three is set.
//
// Memory is bounded: a line is joined from its queue records up to
// header_size_limit bytes; a longer body line is judged by that much, and
// the action applies to the whole line. Log lines: "ID: warning: header
// Subject: x: text" (Postfix's smtp shape). A lookup error (a PCRE limit)
// fails take()/finish(): the delivery is deferred as a local data error.
//
// With smtp_generic_maps (generic.h) the addresses of the primary address
// headers are rewritten here too, after the checks, in headers that the
// checks let through unchanged.
//
// With `downgrade` (a server without 8BITMIME, a message not known to be
// 7bit, disable_mime_output_conversion = no) the 8-bit MIME entities go out
// 7-bit, as Postfix's MIME_OPT_DOWNGRADE does: an entity whose
// Content-Transfer-Encoding is 8bit or binary loses that header and gets
// "Content-Transfer-Encoding: quoted-printable" (a leaf, whose body lines
// are then encoded, mail/quoted_printable.h) or "7bit" (multipart/* and
// message/*, whose parts are converted in turn) at the end of its header
// section. Content without such a header is not touched: it claims to be
// 7bit. The checks see the headers and lines as stored; the conversion is
// applied to what they let out (Postfix's body checks see the encoded
// lines). A structure nested deeper than mime_nesting_limit cannot be
// converted: take() fails and mime_problem() says why (Postfix bounces
// such a message, 5.6.0).
//
// Reads no parameters (the caller passes the tables and limits).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/quoted_printable.h"
#include "generic.h"
#include "maps/content_checks.h"

namespace postern::smtp_client {

class OutputChecks {
 public:
  // One piece of output: `continued` means the line goes on in the next one.
  using Emit = std::function<void(std::string_view piece, bool continued)>;

  // `checks`, `generic`: either may be null (with both null and no
  // `downgrade`, nothing is done).
  OutputChecks(maps::ContentChecks* checks, GenericMaps* generic, std::string queue_id, mail::MimeOptions mime,
               bool downgrade = false);

  // One content piece as the queue file holds it (`continued`: the line
  // goes on in the next piece).
  Status take(std::string_view piece, bool continued, const Emit& emit);
  // End of the content.
  Status finish(const Emit& emit);

  // Why take() or finish() failed when it was not a table lookup: the
  // conversion met structure it cannot follow.
  const std::optional<mail::MimeProblem>& mime_problem() const { return mime_problem_; }

 private:
  Status whole_line(std::string_view line, bool cut, const Emit& emit);
  Status body_line(std::string_view line, bool cut, const Emit& emit);
  // A complete header of class `c`: out as it is, replaced, or not at all;
  // `primary`: of the message's own header section (generic maps).
  Status header(const mail::Header& h, maps::CheckClass c, bool primary, const Emit& emit);
  // A complete header of the message's own section.
  Status primary_header(const mail::Header& h, const Emit& emit);
  bool has(maps::CheckClass c) const { return checks_ && checks_->has(c); }
  // The action for `text` of class `c` ("header" or "body" in log lines):
  // nullopt keeps it, "" drops it, anything else replaces it; `prepend`
  // gets a PREPEND's line.
  Result<std::optional<std::string>> act(maps::CheckClass c, const std::string& text, std::string& prepend);
  maps::CheckClass part_class(const mail::Header& h, mail::MimeSection s) const;
  // Body text out, quoted-printable while encode_ is set.
  void body_out(std::string_view text, bool continued, const Emit& emit);
  // The converted entity's new Content-Transfer-Encoding header.
  static void add_encoding(std::string_view value, const Emit& emit);
  Status check_mime();

  maps::ContentChecks* checks_;
  GenericMaps* generic_;
  std::string queue_id_;
  std::size_t limit_;
  mail::HeaderParser primary_;
  bool in_headers_ = true;
  std::optional<mail::MimeScanner> mime_;  // body structure, when a body-side list is set
  std::string line_;   // the line being joined (at most limit_ bytes)
  bool cut_ = false;   // line_ is the head of a longer line; the rest streams after it
  enum class Rest { kPass, kDrop } rest_ = Rest::kPass;  // what happens to the rest of a cut line
  bool downgrade_ = false;
  bool encode_ = false;  // the body line going out is converted
  mail::QuotedPrintableEncoder qp_;
  std::optional<mail::MimeProblem> mime_problem_;
};

}  // namespace postern::smtp_client
