// sendmail.h - the Sendmail-compatible command line, and turning stdin into a submission.
//
// parse_args() reads Postfix's sendmail(1) options into typed Options;
// read_message() turns the message on stdin into stream records for
// postdrop (drop_stream.h). Both are pure enough to unit-test; main.cpp
// runs postdrop, postqueue, newaliases and the -bs dialogue.
//
// Reads no parameters itself (main.cpp passes sendmail_fix_line_endings),
// logs nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "drop_stream.h"

namespace postern::sendmail {

enum class Mode { Deliver, Smtp, ListQueue, FlushQueue, FlushSite, FlushId, Newaliases, Ignore };

struct Options {
  Mode mode = Mode::Deliver;
  bool extract = false;                // -t
  bool ignore_dots = false;            // -i, -oi
  std::optional<std::string> sender;   // -f / -r, internal form ("" = null sender)
  std::optional<std::string> full_name;  // -F
  std::optional<std::string> config;   // -C: a directory, or a main.cf file
  unsigned notify = 0;                 // -N (queue::DsnNotify bits)
  std::optional<std::string> ret;      // -R: "FULL" or "HDRS"
  std::optional<std::string> envid;    // -V
  std::optional<std::string> body;     // -B: "7bit" or "8bit" (queue file encoding)
  std::string flush_site;              // -qR site
  std::string flush_id;                // -qI queue ID
  std::optional<std::string> alias_database;  // -oA: instead of alias_database for -bi
  std::vector<std::string> warnings;   // option values ignored with a warning, as Postfix does
  int verbose = 0;                     // -v
  std::vector<std::string> recipients; // arguments, split at commas, internal form
};

// A usage error carries the text to print; the caller exits EX_USAGE.
// `program` is the basename of argv[0]: "mailq" means -bp, "newaliases" -bi.
Result<Options> parse_args(const std::vector<std::string>& args, std::string_view program);

// Internal form of one command-line address ("<a@b>", "\"x y\"@z" -> "x y@z").
Result<std::string> parse_address(std::string_view text);
// Command-line recipient argument: a comma-separated address list.
Result<std::vector<std::string>> parse_recipient_arg(std::string_view text);

// Full name when -F is absent: $NAME, else the GECOS field up to the first
// comma with "&" replaced by the capitalized login name (as Postfix does).
std::optional<std::string> default_full_name(const char* name_env, std::string_view gecos, std::string_view login);

enum class LineEndings { Always, Strict, Never };  // sendmail_fix_line_endings
LineEndings parse_line_endings(std::string_view v);

struct ReadOptions {
  bool ignore_dots = false;
  LineEndings endings = LineEndings::Always;
  // sendmail -t: called once, where the message's header ends, with whether
  // it names a recipient (To:, Cc:, Bcc:, or the Resent- ones when there
  // are any, as Postfix's sendmail reads them). An error stops the read
  // before anything more is written.
  std::function<Status(bool has_recipients)> headers_done;
};

// Finds the recipients in a message header, line by line (sendmail -t's
// check; cleanup extracts them, with the same Resent- rule). Logical
// headers are bounded by kMaxHeaderBytes: a longer recipient header is not
// looked into and counts as naming someone, as does one that does not
// parse, so that the check refuses only what cleanup would refuse.
class HeaderRecipientScan {
 public:
  static constexpr std::size_t kMaxHeaderBytes = 102400;  // header_size_limit's default
  // One complete header line; false when it ends the header section (an
  // empty line, or a line that is neither a header nor a continuation).
  bool line(std::string_view text);
  // Whether the finished header names a recipient.
  bool found();

 private:
  void finish_header();
  std::string current_;  // the logical header being read, unfolded
  bool overlong_ = false;
  bool plain_ = false, resent_ = false, resent_seen_ = false;
};

// Reads the message through `in` (0 = end of input) and writes the content
// records (M, lines, E) to `enc`. Stops at a lone "." line unless
// ignore_dots. Skips a leading mbox "From " line. Lines of any length are
// split into pieces.
using ByteReader = postdrop::ByteReader;
Status read_message(const ByteReader& in, const ReadOptions& o, postdrop::StreamEncoder& enc);

// The envelope part of the stream from Options.
Status write_envelope(const Options& o, const std::string& sender, const std::optional<std::string>& full_name,
                      postdrop::StreamEncoder& enc);

}  // namespace postern::sendmail
