// template.h - bounce_template_file: the administrator's texts for delivery
// status notifications, in Postfix's bounce(5) format.
//
//   # comment
//   failure_template = <<EOF
//   Charset: us-ascii
//   From: MAILER-DAEMON (Mail Delivery System)
//   Subject: Undelivered Mail Returned to Sender
//   Postmaster-Subject: Postmaster Copy: Undelivered Mail
//
//   This is the mail system at host $myhostname.
//   ...
//   EOF
//
// - Templates: failure_template, delay_template, success_template and
//   verify_template (accepted; Postern sends no verification reports); any
//   may be left out and keeps the built-in text.
// - Each runs from "name = <<WORD" to a line that is WORD alone; inside,
//   nothing is special (backslashes, leading white space). Outside, empty
//   lines, white-space lines and '#' lines are skipped; anything else is
//   an error naming the line (the file cannot be read past it).
// - A template opens with optional headers (Charset:, From:, Subject:,
//   Postmaster-Subject:, any case, one line each, ASCII, not expanded) up
//   to an empty line; the rest is the message text.
// - As in Postfix's bounce(8), a problem inside one template costs that
//   template only: an unknown template name, an unknown or non-ASCII
//   header, a bad Charset:, non-ASCII text under us-ascii, or a missing end
//   line give a warning ("... -- ignoring this template", in
//   Templates::warnings for the caller to log) and the built-in text
//   stays. A template given twice: the later one counts.
// - The text is expanded by the caller's function (bounce: main.cf
//   $parameters plus delay_warning_time_<unit> and
//   maximal_queue_lifetime_<unit>) when the file is loaded. Text with
//   non-ASCII bytes needs a Charset: other than us-ascii.
// The text replaces the built-in explanation of a notice for the sender
// (dsn.h); the per-recipient report, the delivery-status part and the
// returned message follow it unchanged. Postmaster copies keep their
// built-in text, as in Postfix, and only take Postmaster-Subject:.
//
// Reads no parameters itself, logs nothing. Bounded: kMaxTemplateFile.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::bounce {

inline constexpr std::size_t kMaxTemplateFile = 1024 * 1024;

struct Template {
  std::string charset = "us-ascii";
  std::string from;                // empty: the built-in From:
  std::string subject;             // empty: the built-in Subject:
  std::string postmaster_subject;  // empty: the built-in one
  std::string text;                // expanded; ends in "\n" unless empty
};

struct Templates {
  std::optional<Template> failure, delay, success, verify;
  std::vector<std::string> warnings;  // templates ignored, and why
};

// Parses `file` (its content; `name` for errors: "NAME, line N: ...") and
// expands each template's text with `expand`.
using TemplateExpander = std::function<Result<std::string>(std::string_view text)>;
Result<Templates> parse_templates(std::string_view file, std::string_view name, const TemplateExpander& expand);

}  // namespace postern::bounce
