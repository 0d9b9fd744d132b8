// reply_parser.cpp - see reply_parser.h.
#include "smtp/reply_parser.h"

#include <algorithm>

#include "smtp/chars.h"

namespace postern::smtp {

namespace {

// "d.ddd.ddd" at the start of `text`, followed by SP or the end, with class
// digit `klass`. Returns its length, or 0.
std::size_t enhanced_prefix(std::string_view text, int klass) {
  if (klass != 2 && klass != 4 && klass != 5) return 0;  // RFC 3463 has no class 3
  if (text.size() < 5 || text[0] != char('0' + klass) || text[1] != '.') return 0;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < text.size() && chars::is_digit(text[i]) && digits < 4) {
      ++i;
      ++digits;
    }
    if (digits < 1 || digits > 3) return 0;
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') return 0;
      ++i;
    }
  }
  if (i < text.size() && text[i] != ' ') return 0;
  return i;
}

}  // namespace

ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {
  limits_.max_line = std::max<std::size_t>(limits_.max_line, 3);
  limits_.max_lines = std::max<std::size_t>(limits_.max_lines, 1);
  limits_.max_queued = std::max<std::size_t>(limits_.max_queued, 1);
}

void ReplyParser::reset() {
  queue_.clear();
  line_.clear();
  line_truncated_ = false;
  line_raw_ = 0;
  last_cr_ = false;
  reply_bytes_ = 0;
  in_reply_ = false;
  current_ = ParsedReply{};
  failed_ = false;
  filter_failed_ = false;
  error_ = Error{};
}

Status ReplyParser::fail(std::string why) {
  failed_ = true;
  error_ = Error{std::move(why), 0};
  line_.clear();
  return error_;
}

std::optional<ParsedReply> ReplyParser::next() {
  if (queue_.empty()) return std::nullopt;
  ParsedReply r = std::move(queue_.front());
  queue_.pop_front();
  return r;
}

Status ReplyParser::take_line() {
  if (filter_) {
    auto replaced = filter_(line_);
    if (!replaced) {
      filter_failed_ = true;
      return fail(replaced.error().message);
    }
    if (*replaced) line_ = (*replaced)->substr(0, limits_.max_line);
  }
  if (observer_) observer_(line_);
  std::string_view line = line_;
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
      !chars::is_digit(line[2]))
    return fail("malformed SMTP reply: bad reply code");
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  bool last;
  if (line.size() == 3 || line[3] == ' ') last = true;
  else if (line[3] == '-') last = false;
  else return fail("malformed SMTP reply: no space or hyphen after the reply code");

  if (!in_reply_) {
    current_ = ParsedReply{};
    current_.reply.code = code;
    in_reply_ = true;
  } else if (code != current_.reply.code) {
    return fail("malformed SMTP reply: reply code changes in a multi-line reply");
  }
  if (current_.reply.lines.size() >= limits_.max_lines)
    return fail("SMTP reply has too many lines");

  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  if (std::size_t n = enhanced_prefix(text, code / 100)) {
    if (current_.reply.enhanced.empty()) current_.reply.enhanced = std::string(text.substr(0, n));
    text.remove_prefix(n);
    if (!text.empty()) text.remove_prefix(1);  // the space after the enhanced code
  }
  current_.reply.lines.emplace_back(text);
  if (line_truncated_) current_.truncated = true;
  line_.clear();
  line_truncated_ = false;

  if (last) {
    if (queue_.size() >= limits_.max_queued) return fail("too many unread SMTP replies");
    queue_.push_back(std::move(current_));
    current_ = ParsedReply{};
    in_reply_ = false;
    reply_bytes_ = 0;
  }
  return {};
}

Status ReplyParser::feed(std::string_view bytes) {
  if (failed_) return error_;
  while (!bytes.empty()) {
    std::size_t nl = bytes.find('\n');
    std::string_view part = bytes.substr(0, nl);  // without the LF
    std::size_t used = nl == std::string_view::npos ? bytes.size() : nl + 1;
    reply_bytes_ += used;
    if (reply_bytes_ > limits_.max_reply_bytes) return fail("SMTP reply is too long");
    // Keep the first max_line + 1 bytes (room for a CR before the LF); drop the rest.
    const std::size_t cap = limits_.max_line + 1;
    if (line_.size() < cap) line_.append(part.substr(0, cap - line_.size()));
    line_raw_ += part.size();
    if (!part.empty()) last_cr_ = part.back() == '\r';
    bytes.remove_prefix(used);
    if (nl == std::string_view::npos) break;
    const std::size_t content = line_raw_ - (last_cr_ ? 1 : 0);
    if (line_.size() > content) line_.resize(content);  // the CR of CRLF
    if (line_.size() > limits_.max_line) line_.resize(limits_.max_line);
    line_truncated_ = content > limits_.max_line;
    line_raw_ = 0;
    last_cr_ = false;
    if (auto st = take_line(); !st) return st;
  }
  return {};
}

}  // namespace postern::smtp
