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
#include "generic.h"
#include "maps/content_checks.h"

namespace postern::smtp_client {

class OutputChecks {
 public:
  // One piece of output: `continued` means the line goes on in the next one.
  using Emit = std::function<void(std::string_view piece, bool continued)>;

  // `checks`, `generic`: either may be null (not both, or nothing is done).
  OutputChecks(maps::ContentChecks* checks, GenericMaps* generic, std::string queue_id, mail::MimeOptions mime);

  // One content piece as the queue file holds it (`continued`: the line
  // goes on in the next piece).
  Status take(std::string_view piece, bool continued, const Emit& emit);
  // End of the content.
  Status finish(const Emit& emit);

 private:
  Status whole_line(std::string_view line, bool cut, const Emit& emit);
  Status body_line(std::string_view line, bool cut, const Emit& emit);
  // A complete header of class `c`: out as it is, replaced, or not at all;
  // `primary`: of the message's own header section (generic maps).
  Status header(const mail::Header& h, maps::CheckClass c, bool primary, const Emit& emit);
  bool has(maps::CheckClass c) const { return checks_ && checks_->has(c); }
  // The action for `text` of class `c` ("header" or "body" in log lines):
  // nullopt keeps it, "" drops it, anything else replaces it; `prepend`
  // gets a PREPEND's line.
  Result<std::optional<std::string>> act(maps::CheckClass c, const std::string& text, std::string& prepend);
  maps::CheckClass part_class(const mail::Header& h, mail::MimeSection s) const;

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
};

}  // namespace postern::smtp_client
