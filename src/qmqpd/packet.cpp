// packet.cpp - the QMQP request; see packet.h.
#include "qmqpd/packet.h"

#include <algorithm>
#include <limits>

#include "base/netstring.h"
#include "mail/received.h"

namespace postern::qmqpd {

namespace {

constexpr std::string_view kFormatError = "netstring format error";
constexpr std::string_view kSizeError = "netstring length exceeds storage limit";
// Held bytes already taken are dropped once they are this many and more
// than half of the buffer.
constexpr std::size_t kCompactAt = 64 * 1024;

// Whether a length prefix that failed to parse under its bound is too long
// (and not malformed): it parses, or is incomplete, without the bound.
bool too_long(std::string_view view) {
  return static_cast<bool>(parse_netstring_length(view, std::numeric_limits<std::size_t>::max() / 10));
}

}  // namespace

void PacketReader::feed(std::string_view bytes) {
  if (pos_ >= kCompactAt && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::string_view PacketReader::where() const {
  switch (state_) {
    case State::kHeader: return "receiving QMQP packet header";
    case State::kMessage: return "receiving message content";
    case State::kSender: return "receiving sender address";
    case State::kFailed: return failed_where_;
    default: return "receiving recipient address";
  }
}

Result<PacketReader::Part> PacketReader::fail(std::string_view reason) {
  // where() keeps naming the part that failed.
  Error e = make_error("{}", reason);
  failed_where_ = where();
  state_ = State::kFailed;
  return e;
}

Status PacketReader::consume(std::size_t n) {
  pos_ += n;
  consumed_ += n;
  if (consumed_ > packet_length_) return make_error("{}", kFormatError);
  return {};
}

Result<bool> PacketReader::take_netstring(std::size_t max, std::string& out) {
  std::string_view view = std::string_view(buf_).substr(pos_);
  if (!parse_netstring_length(view, max)) return make_error("{}", too_long(view) ? kSizeError : kFormatError);
  auto ns = parse_netstring(view, max);
  if (!ns) return make_error("{}", kFormatError);
  if (ns->used == 0) return false;
  out.assign(ns->payload);
  if (auto st = consume(ns->used); !st) return st.take_error();
  return true;
}

Result<PacketReader::Part> PacketReader::next() {
  switch (state_) {
    case State::kFailed:
      return make_error("{}", kFormatError);
    case State::kEnd:
      return Part::kEnd;
    case State::kHeader: {
      std::string_view view = std::string_view(buf_).substr(pos_);
      auto len = parse_netstring_length(view, limits_.packet);
      if (!len) return fail(too_long(view) ? kSizeError : kFormatError);
      if (len->used == 0) return Part::kNeedMore;
      pos_ += len->used;
      packet_length_ = len->length;
      state_ = State::kMessage;
      return next();
    }
    case State::kMessage: {
      std::string_view view = std::string_view(buf_).substr(pos_);
      if (!parse_netstring_length(view, limits_.message)) return fail(too_long(view) ? kSizeError : kFormatError);
      auto ns = parse_netstring(view, limits_.message);
      if (!ns) return fail(kFormatError);
      if (ns->used == 0) return Part::kNeedMore;
      const std::size_t start = pos_ + static_cast<std::size_t>(ns->payload.data() - view.data());
      const std::size_t length = ns->payload.size();
      if (auto st = consume(ns->used); !st) return fail(kFormatError);
      // The buffer becomes the message instead of giving a copy of it: the
      // message may be most of message_size_limit, and two of it per client
      // is one too many. What followed it (less than one read) stays.
      std::string rest = buf_.substr(pos_);
      message_ = std::move(buf_);
      message_.resize(start + length);
      message_.erase(0, start);
      buf_ = std::move(rest);
      pos_ = 0;
      state_ = State::kSender;
      return Part::kMessage;
    }
    case State::kSender: {
      auto got = take_netstring(limits_.address, address_);
      if (!got) return fail(got.error().message);
      if (!*got) return Part::kNeedMore;
      state_ = State::kRecipients;
      return Part::kSender;
    }
    case State::kRecipients: {
      if (pos_ == buf_.size()) return Part::kNeedMore;
      if (buf_[pos_] == ',') {
        // The outer netstring ends here, and must end exactly here.
        if (consumed_ != packet_length_) return fail(kFormatError);
        ++pos_;
        state_ = State::kEnd;
        return Part::kEnd;
      }
      auto got = take_netstring(limits_.address, address_);
      if (!got) return fail(got.error().message);
      if (!*got) return Part::kNeedMore;
      return Part::kRecipient;
    }
  }
  return fail(kFormatError);
}

std::string reply(char status, std::string_view text) {
  std::string payload(1, status);
  payload += text;
  return netstring(payload);
}

bool asks_for_verp(std::string_view sender) {
  constexpr std::string_view kSuffix = "-@[]";
  if (sender.size() <= kSuffix.size() || sender.substr(sender.size() - kSuffix.size()) != kSuffix) return false;
  std::string_view rest = sender.substr(0, sender.size() - kSuffix.size());
  auto at = rest.find('@');
  // Postfix's test: before the first '@' a prefix and the delimiter
  // character (so at least two characters), after it an origin.
  return at != std::string_view::npos && at > 1 && at + 1 < rest.size();
}

std::optional<MailboxLine> mailbox_line_at(std::string_view message, std::size_t pos) {
  if (pos >= message.size()) return std::nullopt;
  std::size_t nl = message.find('\n', pos);
  std::size_t end = nl == std::string_view::npos ? message.size() : nl;
  std::string_view line = message.substr(pos, end - pos);
  if (!mail::is_mailbox_line(line)) return std::nullopt;
  return MailboxLine{line, nl == std::string_view::npos ? message.size() : nl + 1};
}

bool needs_blank_line(std::string_view rest) { return mail::continues_header(rest); }

}  // namespace postern::qmqpd
