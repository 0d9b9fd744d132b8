// header.h - classify and assemble a message's primary header section, line by line.
//
// HeaderParser is fed the message one line at a time (without the line
// terminator) and says what each line is, the way Postfix's mime_state does
// for the primary headers:
//
//  - "Name: value" (or the obsolete "Name : value", normalised to "Name:")
//    starts a header; a following line that starts with a space or tab is a
//    continuation (folding) and is appended, with the "\n" kept;
//  - a logical header is complete when the next line is not a continuation,
//    so feed() hands back the *previous* header when a new line arrives, and
//    finish() hands back the last one at end of input;
//  - an empty line ends the header section (it is the separator; it is not
//    reported as a body line);
//  - any other line (not a header, not empty, e.g. a stray continuation line
//    first, or "From sender date") also ends the header section and is the
//    first body line. Postfix then inserts the missing empty line; the caller
//    sees missing_separator and should do the same;
//  - one logical header is at most header_size_limit bytes (name, colon,
//    value, embedded newlines). Text beyond that is dropped and the header is
//    marked truncated (Postfix: "message header size exceeds limit").
//
// Known header names (From, Sender, Reply-To, To, Cc, Bcc, Resent-*, Date,
// Message-ID, Received, Return-Path, Delivered-To, Content-Type,
// Content-Transfer-Encoding, MIME-Version, Subject, Errors-To, and the rest
// of Postfix's header_opts table) are recognised case-insensitively, with
// flags saying which carry sender or recipient addresses and which are
// extracted by "sendmail -t".
//
// Parameters (passed in by the caller): header_size_limit. Logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::mail {

enum class HeaderKind : std::uint8_t {
  kOther,
  kApparentlyTo,
  kBcc,
  kCc,
  kContentDescription,
  kContentDisposition,
  kContentId,
  kContentLength,
  kContentTransferEncoding,
  kContentType,
  kDate,
  kDeliveredTo,
  kDispositionNotificationTo,
  kErrorsTo,
  kFrom,
  kMailFollowupTo,
  kMessageId,
  kMimeVersion,
  kReceived,
  kReplyTo,
  kResentBcc,
  kResentCc,
  kResentDate,
  kResentFrom,
  kResentMessageId,
  kResentReplyTo,
  kResentSender,
  kResentTo,
  kReturnPath,
  kReturnReceiptTo,
  kSender,
  kSubject,
  kTo,
};

// Header flags (bit-wise OR), after Postfix's HDR_OPT_*.
namespace header_flag {
inline constexpr unsigned kSender = 1u << 0;     // holds sender addresses (sender canonical rewriting)
inline constexpr unsigned kRecipient = 1u << 1;  // holds recipient addresses (recipient canonical rewriting)
inline constexpr unsigned kExtract = 1u << 2;    // recipients for "sendmail -t"
inline constexpr unsigned kResent = 1u << 3;     // a Resent-* header
inline constexpr unsigned kMime = 1u << 4;       // a MIME header
}  // namespace header_flag

struct HeaderInfo {
  std::string_view name;  // preferred capitalisation
  HeaderKind kind;
  unsigned flags;
};

// Lookup by name, case-insensitive; trailing blanks in `name` are ignored.
// nullptr for names not in the table.
const HeaderInfo* find_header(std::string_view name);
HeaderKind classify_header(std::string_view name);
// Preferred spelling ("Message-ID"), or "" for kOther.
std::string_view header_name(HeaderKind kind);
unsigned header_flags(HeaderKind kind);
inline bool is_address_header(HeaderKind k) {
  return (header_flags(k) & (header_flag::kSender | header_flag::kRecipient)) != 0;
}

// Postfix's is_header(): when `line` starts with a header name (printable
// ASCII except ':'), optional spaces/tabs and a colon, the length of the name;
// otherwise 0.
std::size_t header_name_length(std::string_view line);

struct Header {
  std::string name;   // as written, without blanks before the colon
  std::string value;  // everything after the colon, continuation lines joined with "\n"
  HeaderKind kind = HeaderKind::kOther;
  bool truncated = false;  // longer than header_size_limit; the excess was dropped
  bool has_8bit = false;   // non-ASCII bytes anywhere in the header

  // "Name:value" with folding preserved, as written to the queue file.
  std::string text() const;
};

struct HeaderParserOptions {
  std::size_t header_size_limit = 102400;  // header_size_limit; minimum 1
};

// What one input line turned out to be. The fields describe, in this order:
// a header that the line completed, the end of the header section, and the
// line itself being a body line.
struct HeaderStep {
  std::optional<Header> header;    // the previous logical header, now complete
  bool end_of_headers = false;     // the header section ended at this line
  bool missing_separator = false;  // ...without an empty line (insert one when writing)
  bool body_line = false;          // this line is a body line: pass it on unchanged
};

class HeaderParser {
 public:
  explicit HeaderParser(HeaderParserOptions options = {});

  // One line without its terminator (no trailing "\n"; a trailing "\r" is
  // kept as data). After the header section ends every line is a body line.
  HeaderStep feed(std::string_view line);

  // End of input: the last pending header, if any. The header section is
  // then over (in_headers() becomes false).
  std::optional<Header> finish();

  bool in_headers() const { return in_headers_; }
  // Number of logical headers completed so far.
  std::size_t header_count() const { return count_; }

 private:
  std::optional<Header> take_pending();
  void append_text(std::string_view text);

  HeaderParserOptions options_;
  Header pending_;
  bool have_pending_ = false;
  std::size_t pending_size_ = 0;  // bytes of name + ':' + value
  bool in_headers_ = true;
  std::size_t count_ = 0;
};

}  // namespace postern::mail
