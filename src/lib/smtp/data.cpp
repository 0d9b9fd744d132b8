// data.cpp - see data.h.
#include "smtp/data.h"

#include <algorithm>
#include <cstring>

#include "smtp/chars.h"

namespace postern::smtp {

namespace {

// Index of the first CR or LF in bytes[from, end), or bytes.size(). memchr
// instead of a byte loop: content lines average tens of bytes, and a
// per-byte comparison was the largest single cost of receiving a message.
std::size_t line_end(std::string_view bytes, std::size_t from) {
  const char* base = bytes.data();
  std::size_t n = bytes.size();
  const void* cr = std::memchr(base + from, '\r', n - from);
  std::size_t stop = cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - base) : n;
  const void* lf = std::memchr(base + from, '\n', stop - from);
  return lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - base) : stop;
}

}  // namespace

std::optional<BareNewline> parse_bare_newline(std::string_view value) {
  value = chars::trim_blanks(value);
  if (chars::iequals(value, "normalize") || chars::iequals(value, "yes")) return BareNewline::Normalize;
  if (chars::iequals(value, "reject")) return BareNewline::Reject;
  if (chars::iequals(value, "no")) return BareNewline::No;
  return std::nullopt;
}

Reply bare_newline_reply(int code, std::string_view myhostname) {
  std::string text = "Error: bare <LF> received";
  if (!myhostname.empty()) text = std::string(myhostname) + " " + text;
  return Reply(code, "5.5.2", std::move(text));
}

// ---------------------------------------------------------------- DataDecoder

DataDecoder::DataDecoder(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 1)) {}

void DataDecoder::reset() {
  buf_.clear();
  pending_cr_ = false;
  at_line_start_ = true;
  leading_dot_ = false;
  continued_ = false;
  prev_crlf_ = true;
  done_ = false;
  message_bytes_ = wire_bytes_ = lines_ = bare_lf_ = bare_cr_ = 0;
}

// Add content to the current line, emitting max_line-sized pieces as the
// buffer fills. A piece is only flushed when more content follows, so a
// line of exactly max_line bytes is one piece with continued = false.
void DataDecoder::append(std::string_view s, const LineSink& sink) {
  if (s.empty()) return;
  at_line_start_ = false;
  while (!s.empty()) {
    if (buf_.size() == max_line_) {
      sink(buf_, true);
      message_bytes_ += buf_.size();
      buf_.clear();
      continued_ = true;
    }
    std::size_t take = std::min(s.size(), max_line_ - buf_.size());
    buf_.append(s.data(), take);
    s.remove_prefix(take);
  }
}

void DataDecoder::end_line(bool crlf, const LineSink& sink) {
  // The only end of data: CRLF "." CRLF (the dot line is empty after the
  // dot was taken off, and both the previous and this line end in CRLF).
  if (crlf && prev_crlf_ && leading_dot_ && buf_.empty() && !continued_) {
    done_ = true;
    return;
  }
  sink(buf_, false);
  message_bytes_ += buf_.size() + 2;
  ++lines_;
  buf_.clear();
  continued_ = false;
  leading_dot_ = false;
  at_line_start_ = true;
  prev_crlf_ = crlf;
}

std::size_t DataDecoder::feed(std::string_view bytes, const LineSink& sink) {
  if (done_) return 0;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n && !done_) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        end_line(true, sink);
        continue;
      }
      ++bare_cr_;  // a CR not followed by LF is content
      append("\r", sink);
    }
    char c = bytes[i];
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      ++bare_lf_;
      ++i;
      end_line(false, sink);
      continue;
    }
    if (at_line_start_ && c == '.') {  // dot-unstuffing (RFC 5321 4.5.2)
      at_line_start_ = false;
      leading_dot_ = true;
      ++i;
      continue;
    }
    std::size_t j = line_end(bytes, i);
    append(bytes.substr(i, j - i), sink);
    i = j;
  }
  wire_bytes_ += i;
  return i;
}

// --------------------------------------------------------------- LineSplitter

LineSplitter::LineSplitter(std::size_t max_line, bool bare_lf_ends_line)
    : max_line_(std::max<std::size_t>(max_line, 1)), bare_lf_ends_line_(bare_lf_ends_line) {}

void LineSplitter::reset() {
  buf_.clear();
  pending_cr_ = false;
  continued_ = false;
  lines_ = bare_lf_ = bare_cr_ = 0;
}

void LineSplitter::append(std::string_view s, const LineSink& sink) {
  while (!s.empty()) {
    if (buf_.size() == max_line_) {
      sink(buf_, true);
      buf_.clear();
      continued_ = true;
    }
    std::size_t take = std::min(s.size(), max_line_ - buf_.size());
    buf_.append(s.data(), take);
    s.remove_prefix(take);
  }
}

void LineSplitter::end_line(const LineSink& sink) {
  sink(buf_, false);
  ++lines_;
  buf_.clear();
  continued_ = false;
}

void LineSplitter::feed(std::string_view bytes, const LineSink& sink) {
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        end_line(sink);
        continue;
      }
      ++bare_cr_;
      append("\r", sink);
    }
    char c = bytes[i];
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      ++bare_lf_;
      ++i;
      if (bare_lf_ends_line_) end_line(sink);
      else append("\n", sink);
      continue;
    }
    std::size_t j = line_end(bytes, i);
    append(bytes.substr(i, j - i), sink);
    i = j;
  }
}

void LineSplitter::finish(const LineSink& sink) {
  if (pending_cr_) {
    pending_cr_ = false;
    ++bare_cr_;
    append("\r", sink);
  }
  if (!buf_.empty() || continued_) end_line(sink);
}

// ---------------------------------------------------------------- BdatDecoder

BdatDecoder::BdatDecoder(std::size_t max_line, bool binary)
    : splitter_(max_line, /*bare_lf_ends_line=*/!binary), binary_(binary) {}

void BdatDecoder::reset() {
  splitter_.reset();
  chunk_open_ = last_ = done_ = false;
  remaining_ = message_bytes_ = 0;
}

Status BdatDecoder::begin_chunk(std::uint64_t size, bool last) {
  if (chunk_open_) return make_error("BDAT chunk announced before the previous one was read");
  if (done_ || last_) return make_error("BDAT chunk announced after the LAST chunk");
  chunk_open_ = true;
  remaining_ = size;
  last_ = last;
  return {};
}

std::size_t BdatDecoder::feed(std::string_view bytes, const LineSink& sink) {
  if (!chunk_open_) return 0;
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
  splitter_.feed(bytes.substr(0, take), sink);
  remaining_ -= take;
  message_bytes_ += take;
  if (remaining_ == 0) {
    chunk_open_ = false;
    if (last_) {
      splitter_.finish(sink);
      done_ = true;
    }
  }
  return take;
}

// ---------------------------------------------------------------- DataEncoder

void DataEncoder::end_line(std::string& out) {
  out += "\r\n";
  at_line_start_ = true;
  space_ = limit_;
}

void DataEncoder::put(std::string_view piece, bool continued, std::string& out) {
  auto copy = [&out](std::string_view part) {
    for (char c : part) out.push_back((c == '\r' || c == '\n') ? ' ' : c);
  };
  bool ended = false;  // the last break ended the line exactly at the limit
  while (!piece.empty()) {
    ended = false;
    if (at_line_start_ && piece[0] == '.') out.push_back('.');
    at_line_start_ = false;
    if (limit_ == 0 || piece.size() < space_) {
      copy(piece);
      if (limit_ > 0) space_ -= piece.size();
      break;
    }
    copy(piece.substr(0, space_));
    piece.remove_prefix(space_);
    end_line(out);
    ended = true;
    if (!piece.empty() || continued) {
      out.push_back(' ');
      at_line_start_ = false;
      --space_;
      ended = false;
    }
  }
  if (!continued && !ended) end_line(out);
}

void DataEncoder::finish(std::string& out) {
  if (!at_line_start_) out += "\r\n";
  out += ".\r\n";
  at_line_start_ = true;
  space_ = limit_;
}

}  // namespace postern::smtp
