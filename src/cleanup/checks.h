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

#include "base/result.h"
#include "maps/content_checks.h"

namespace postern::cleanup {

struct CleanupSettings;

// The tables and actions are shared with the smtp client (maps/content_checks.h).
using maps::CheckAction;
using maps::CheckClass;
using maps::ContentChecks;
using maps::parse_check_action;

// Opens header_checks, mime_header_checks, nested_header_checks and
// body_checks; null when every list is empty.
Result<std::unique_ptr<ContentChecks>> open_checks(const CleanupSettings& s);

}  // namespace postern::cleanup
