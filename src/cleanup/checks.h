// checks.h - content inspection in cleanup: header_checks,
// mime_header_checks, nested_header_checks and body_checks (Postfix's
// header_checks(5)).
//
// Each class is a list of lookup tables (usually regexp: or pcre:) that is
// asked with one logical header ("Subject: text", folding kept as "\n") or
// one body line; the first table with an answer decides, and the answer is
// an action:
//
//   REJECT [text]    the message is refused: "550 5.7.1 text" (default text
//                    "message content rejected"; a text that starts with a
//                    4.x.x or 5.x.x code sets the enhanced code, and 4.x.x
//                    makes the reply 451)
//   DISCARD [text]   accepted, then dropped
//   HOLD [text]      the message goes to the hold queue
//   IGNORE           this header or body line is deleted
//   REPLACE text     replaced by text (a header for a header)
//   PREPEND text     text is inserted before it (a header for a header)
//   WARN [text], INFO [text]   logged only
//   FILTER transport:destination   the message goes to that content filter
//                    instead of its recipients' transports (the last FILTER
//                    wins, and wins over content_filter and smtpd's FILTER;
//                    an argument without ":" is logged and ignored)
//   REDIRECT user@domain   the message goes to that address instead of its
//                    recipients (qmgr; the last REDIRECT wins, over FILTER too)
//   BCC user@domain  one more recipient, with NOTIFY=NEVER
//   DUNNO, OK        nothing (the next header or line is inspected)
//
// A REDIRECT or BCC address without "user@domain" is logged and ignored.
// Other words are logged as unknown and ignored, as Postfix does.
//
// Which class applies (Postfix): primary headers that are MIME headers
// (Content-*, MIME-Version) and the headers of MIME parts go to
// mime_header_checks; other primary headers to header_checks; headers of
// attached messages (message/rfc822) to nested_header_checks; every other
// line of the body, MIME boundaries included, to body_checks, for the first
// body_checks_size_limit bytes of each part. With
// disable_mime_input_processing = yes there is no MIME structure: every
// primary header goes to header_checks and the rest is body. Mail that
// cleanup makes itself (bounces) is not inspected.
//
// Parameters: header_checks, mime_header_checks, nested_header_checks,
// body_checks (through CleanupSettings). Logs: see Message (the action
// lines, in Postfix's cleanup shape).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "maps/map_list.h"

namespace postern::cleanup {

struct CleanupSettings;

enum class CheckClass { kHeader, kMimeHeader, kNestedHeader, kBody };

struct CheckAction {
  enum class Kind {
    kNone, kReject, kDiscard, kHold, kIgnore, kReplace, kPrepend, kWarn, kInfo, kFilter, kRedirect, kBcc, kUnknown
  };
  Kind kind = Kind::kNone;
  std::string word;  // the action as written, upper case ("REJECT")
  std::string text;  // the optional text, replacement or prepended line
};

// One table answer, parsed. REPLACE, PREPEND, FILTER, REDIRECT and BCC without text are kUnknown
// (logged as a table mistake, nothing done).
CheckAction parse_check_action(std::string_view value);

class ContentChecks {
 public:
  // Opens the tables the settings name; null when every list is empty.
  // Called before the privilege drop, like the other tables.
  static Result<std::unique_ptr<ContentChecks>> open(const CleanupSettings& s);

  bool has(CheckClass c) const { return !list(c).empty(); }
  // Whether the MIME structure of bodies is needed (MIME part headers,
  // attached messages, or body lines are inspected).
  bool needs_body() const { return has(CheckClass::kMimeHeader) || has(CheckClass::kNestedHeader) || has(CheckClass::kBody); }

  // The first answer for `text`, or none. A lookup error (a PCRE limit) is
  // an error: the caller defers the message.
  Result<std::optional<std::string>> lookup(CheckClass c, std::string_view text);

 private:
  const maps::MapList& list(CheckClass c) const;
  maps::MapList& list(CheckClass c);
  maps::MapList header_, mime_, nested_, body_;
};

}  // namespace postern::cleanup
