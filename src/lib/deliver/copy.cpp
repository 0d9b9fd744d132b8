// copy.cpp - the message formatter shared by the mailbox, Maildir and command writers.
//
// Reads no parameters and logs nothing.
#include "deliver/copy.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "mail/address.h"

namespace postern::deliver {

namespace {

// Output is handed out in chunks of about this size: large enough to keep
// the number of write() calls low, small enough to bound memory.
constexpr std::size_t kChunkBytes = 64 * 1024;

}  // namespace

ContentReader string_content(std::string text) {
  auto owned = std::make_shared<std::string>(std::move(text));
  auto pos = std::make_shared<std::size_t>(0);
  return [owned, pos](LinePiece& piece) -> Result<bool> {
    const std::string& s = *owned;
    if (*pos >= s.size()) return false;
    std::size_t nl = s.find('\n', *pos);
    std::size_t end = nl == std::string::npos ? s.size() : nl;
    std::size_t stop = end;
    if (nl != std::string::npos && stop > *pos && s[stop - 1] == '\r') --stop;
    piece.data = std::string_view(s).substr(*pos, stop - *pos);
    piece.complete = true;
    *pos = nl == std::string::npos ? s.size() : nl + 1;
    return true;
  };
}

CopyOptions CopyOptions::mbox() {
  CopyOptions o;
  o.from_line = true;
  o.return_path = true;
  o.original_recipient = true;
  o.delivered_to = true;
  o.quote_from = true;
  o.blank_line = true;
  return o;
}

CopyOptions CopyOptions::maildir() {
  CopyOptions o;
  o.return_path = true;
  o.original_recipient = true;
  o.delivered_to = true;
  return o;
}

CopyOptions CopyOptions::command() {
  CopyOptions o;
  o.from_line = true;
  o.return_path = true;
  o.original_recipient = true;
  o.delivered_to = true;
  return o;
}

std::string from_line_date(std::time_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm {};
  if (localtime_r(&t, &tm) == nullptr) {
    t = 0;
    gmtime_r(&t, &tm);
  }
  int wday = tm.tm_wday >= 0 && tm.tm_wday < 7 ? tm.tm_wday : 0;
  int mon = tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0;
  // asctime(): "%.3s %.3s%3d %.2d:%.2d:%.2d %d" - the day is space padded.
  return fmt::format("{} {}{:3d} {:02d}:{:02d}:{:02d} {}", kDays[wday], kMonths[mon], tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, 1900 + static_cast<long>(tm.tm_year));
}

std::string external_address(std::string_view internal) {
  std::string clean(internal);
  for (char& c : clean)
    if (c == '\r' || c == '\n' || c == '\0') c = '?';
  return mail::Address::from_internal(clean).to_external();
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

MessageFormatter::MessageFormatter(Envelope envelope, CopyOptions options, ContentReader& content)
    : envelope_(std::move(envelope)), options_(std::move(options)), content_(content) {}

void MessageFormatter::emit_headers(std::string& out) {
  const std::string& eol = options_.eol;
  if (options_.from_line || options_.return_path) {
    std::string sender = external_address(envelope_.sender);
    if (options_.from_line) {
      std::time_t now = options_.now ? *options_.now : std::time(nullptr);
      out += "From ";
      out += envelope_.sender.empty() ? std::string("MAILER-DAEMON") : sender;
      out += "  ";
      out += from_line_date(now);
      out += eol;
    }
    if (options_.return_path) {
      out += "Return-Path: <";
      out += sender;
      out += '>';
      out += eol;
    }
  }
  // Postfix writes no X-Original-To: when original recipient processing was
  // off (the record is empty).
  if (options_.original_recipient && !envelope_.original_recipient.empty()) {
    out += "X-Original-To: ";
    out += external_address(envelope_.original_recipient);
    out += eol;
  }
  if (options_.delivered_to) {
    out += "Delivered-To: ";
    out += external_address(envelope_.delivered_to);
    out += eol;
  }
}

void MessageFormatter::emit_line_start(std::string& out, std::string_view head) {
  // Only the beginning of a line is inspected, never a continuation piece:
  // the same rule as mail_copy().
  if (options_.quote_from && head.substr(0, 5) == "From ") out += '>';
  if (options_.dot_stuff && !head.empty() && head[0] == '.') out += '.';
  out.append(head);
}

void MessageFormatter::take_segment(std::string& out, std::string_view data, bool complete,
                                    std::size_t need) {
  if (at_line_start_ && need > 0) {
    // Hold back a short partial line start ("Fro" continued by "m ...")
    // until the quoting decision can be made.
    head_.append(data);
    if (!complete && head_.size() < need) {
      in_line_ = true;
      return;
    }
    emit_line_start(out, head_);
    head_.clear();
  } else if (at_line_start_) {
    emit_line_start(out, data);
  } else {
    out.append(data);
  }
  if (complete) {
    out += options_.eol;
    at_line_start_ = true;
    in_line_ = false;
  } else {
    at_line_start_ = false;
    in_line_ = true;
  }
}

Result<bool> MessageFormatter::next(std::string& out) {
  out.clear();
  if (finished_) return false;
  if (!started_) {
    started_ = true;
    emit_headers(out);
  }
  // How many bytes of a line must be seen before quoting can be decided.
  const std::size_t need = options_.quote_from ? 5 : options_.dot_stuff ? 1 : 0;
  LinePiece piece;
  while (out.size() < kChunkBytes) {
    auto more = content_(piece);
    if (!more) return more.take_error();
    if (!*more) {
      if (!head_.empty()) {
        emit_line_start(out, head_);
        head_.clear();
        in_line_ = true;
      }
      // A message that ends in a partial line still gets its terminator, so
      // that the next From_ line starts a line of its own.
      if (in_line_) out += options_.eol;
      if (options_.blank_line) out += options_.eol;
      finished_ = true;
      break;
    }
    // A piece never contains a line break in a well-formed queue file. A
    // forged one might, to smuggle an unquoted From_ line into the mailbox:
    // treat an embedded LF as the end of a line, with the usual quoting.
    std::string_view data = piece.data;
    for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos;) {
      take_segment(out, data.substr(0, nl), true, need);
      data.remove_prefix(nl + 1);
    }
    take_segment(out, data, piece.complete, need);
  }
  bytes_ += out.size();
  if (out.empty()) return false;
  return true;
}

Outcome read_error_outcome(const Error& error) {
  int err = error.sys_errno;
  std::string text = "error reading message: " + error.message;
  // A corrupt queue file is the queue manager's business (it moves the file
  // aside); the recipient is deferred, never bounced, for it.
  if (err == EAGAIN || err == ESTALE || err == EBADMSG || err == 0)
    return Outcome::deferred("4.3.0", text, err);
  return Outcome::bounced("5.3.0", text, err);
}

std::optional<Outcome> copy_to_fd(MessageFormatter& formatter, int fd, std::uint64_t start_size,
                                  std::uint64_t size_limit) {
  std::string chunk;
  std::uint64_t written = 0;
  for (;;) {
    auto more = formatter.next(chunk);
    if (!more) return read_error_outcome(more.error());
    if (!*more) return std::nullopt;
    if (size_limit != 0 && (start_size + written + chunk.size() > size_limit || start_size > size_limit)) {
      return Outcome::from_errno(EFBIG, "5.3.0",
                                 fmt::format("error writing message: {}", std::strerror(EFBIG)));
    }
    if (!write_all(fd, chunk)) {
      int err = errno;
      return Outcome::from_errno(err, "5.3.0", fmt::format("error writing message: {}", std::strerror(err)));
    }
    written += chunk.size();
  }
}

}  // namespace postern::deliver
