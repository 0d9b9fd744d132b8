// quoted_printable.cpp - see quoted_printable.h.
#include "mail/quoted_printable.h"

namespace postern::mail {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void encode_byte(std::string& out, unsigned char c) {
  out += '=';
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

}  // namespace

void QuotedPrintableEncoder::put(std::string_view data, bool line_end, const LineOut& out) {
  for (char ch : data) {
    // Soft break once the line is past the critical length, before the next
    // character (which may add three more).
    if (line_.size() > 72) {
      line_ += '=';
      out(line_);
      line_.clear();
    }
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 32 && c != '\t') || c == '=' || c > 126) encode_byte(line_, c);
    else line_ += ch;
  }
  pending_ = !line_end;
  if (!line_end) return;
  if (!line_.empty() && (line_.back() == ' ' || line_.back() == '\t')) {
    const auto c = static_cast<unsigned char>(line_.back());
    line_.pop_back();
    encode_byte(line_, c);
  }
  out(line_);
  line_.clear();
}

}  // namespace postern::mail
