// line_reader.cpp - see line_reader.h.
#include "smtp/line_reader.h"

#include <algorithm>

namespace postern::smtp {

LineReader::LineReader(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 1)) {}

void LineReader::clear() {
  buf_.clear();
  pos_ = 0;
  skipping_ = false;
  long_.clear();
  skipped_cr_ = false;
}

std::size_t LineReader::buffered() const { return (buf_.size() - pos_) + long_.size(); }

std::string LineReader::take_buffered() {
  std::string out = long_ + buf_.substr(pos_);
  clear();
  return out;
}

void LineReader::feed(std::string_view bytes) {
  // Compact before growing so the buffer holds only unconsumed input.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<InputLine> LineReader::next() {
  while (true) {
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    std::size_t nl = rest.find('\n');
    if (skipping_) {
      // Drop input up to the LF that ends the over-long line.
      std::string_view dropped = rest.substr(0, nl);
      if (!dropped.empty()) skipped_cr_ = dropped.back() == '\r';
      if (nl == std::string_view::npos) {
        buf_.clear();
        pos_ = 0;
        return std::nullopt;
      }
      pos_ += nl + 1;
      InputLine line;
      line.text = std::move(long_);
      line.ending = skipped_cr_ ? LineEnding::CrLf : LineEnding::BareLf;
      line.truncated = true;
      long_.clear();
      skipping_ = false;
      skipped_cr_ = false;
      return line;
    }
    if (nl == std::string_view::npos) {
      // No line end yet. Past max_line (+1 for a CR that may precede the
      // LF) the line is over-long: keep its start, drop the rest from now on.
      if (rest.size() > max_line_ + 1) {
        long_.assign(rest.substr(0, max_line_));
        skipped_cr_ = rest.back() == '\r';
        skipping_ = true;
        buf_.clear();
        pos_ = 0;
      }
      return std::nullopt;
    }
    std::string_view text = rest.substr(0, nl);
    InputLine line;
    if (!text.empty() && text.back() == '\r') {
      text.remove_suffix(1);
      line.ending = LineEnding::CrLf;
    } else {
      line.ending = LineEnding::BareLf;
    }
    if (text.size() > max_line_) {
      text = text.substr(0, max_line_);
      line.truncated = true;
    }
    line.text = std::string(text);
    pos_ += nl + 1;
    return line;
  }
}

}  // namespace postern::smtp
