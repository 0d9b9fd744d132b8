// content_checks.h - Postfix's header_checks(5) tables: the four lists and
// their actions, shared by cleanup (header_checks, mime_header_checks,
// nested_header_checks, body_checks) and the smtp and lmtp clients
// (smtp_header_checks, smtp_mime_header_checks, smtp_nested_header_checks,
// smtp_body_checks).
//
// Each class is a list of lookup tables (usually regexp: or pcre:) that is
// asked with one logical header ("Subject: text", folding kept as "\n") or
// one body line; the first table with an answer decides, and the answer is
// an action (parse_check_action()). Which actions a user supports is the
// user's business: cleanup takes them all, the clients only those that
// change no delivery (see their manuals).
//
// Reads no parameters (the caller passes the lists), logs nothing.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "maps/map_list.h"

namespace postern::maps {

enum class CheckClass { kHeader, kMimeHeader, kNestedHeader, kBody };

struct CheckAction {
  enum class Kind {
    kNone, kReject, kDiscard, kHold, kIgnore, kReplace, kPrepend, kWarn, kInfo, kFilter, kRedirect, kBcc, kStrip,
    kPass, kUnknown
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
  // One list per class, in CheckClass order: the parameter's name (for
  // messages) and its value.
  struct List {
    std::string_view name;
    std::string_view value;
  };
  // Opens the tables the lists name; null when every list is empty.
  // Called before the privilege drop, like the other tables.
  static Result<std::unique_ptr<ContentChecks>> open(const std::array<List, 4>& lists);

  bool has(CheckClass c) const { return !list(c).empty(); }
  // Whether the MIME structure of bodies is needed (MIME part headers,
  // attached messages, or body lines are inspected).
  bool needs_body() const { return has(CheckClass::kMimeHeader) || has(CheckClass::kNestedHeader) || has(CheckClass::kBody); }
  // The parameter a class comes from ("header_checks", "smtp_body_checks").
  const std::string& name(CheckClass c) const { return names_[static_cast<std::size_t>(c)]; }

  // The first answer for `text`, or none. A lookup error (a PCRE limit) is
  // an error: the caller defers the message.
  Result<std::optional<std::string>> lookup(CheckClass c, std::string_view text);

 private:
  const maps::MapList& list(CheckClass c) const { return lists_[static_cast<std::size_t>(c)]; }
  std::array<maps::MapList, 4> lists_;
  std::array<std::string, 4> names_;
};

}  // namespace postern::maps
