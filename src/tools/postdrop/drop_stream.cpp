// drop_stream.cpp - encode and (defensively) decode the sendmail -> postdrop
// record stream. See drop_stream.h for the format and the threat model.
#include "drop_stream.h"

#include <algorithm>
#include <array>
#include <cerrno>

namespace postern::postdrop {

namespace {

constexpr char kSender = 'S', kAttr = 'A', kRcpt = 'R', kContent = 'M', kLine = 'N', kPartial = 'L',
               kEnd = 'E';

Error bad(std::string_view what) { return make_error("malformed input from sendmail: {}", what); }

// Exactly `len` bytes, or an error (short input is a truncated record).
Status read_exact(const ByteReader& in, char* buf, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    auto n = in(buf + got, len - got);
    if (!n) return n.take_error();
    if (*n == 0) return bad("truncated record");
    got += *n;
  }
  return {};
}

}  // namespace

std::optional<unsigned> parse_extract_notify(std::string_view text) {
  if (text.empty() || text.size() > 2) return std::nullopt;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  // NEVER alone, or a non-empty set of SUCCESS, FAILURE, DELAY.
  if (v == 0 || v > (queue::kNotifyNever | queue::kNotifySuccess | queue::kNotifyFailure | queue::kNotifyDelay))
    return std::nullopt;
  if ((v & queue::kNotifyNever) && v != queue::kNotifyNever) return std::nullopt;
  return v;
}

namespace {
// Every attribute a drop stream may carry, each at most once.
constexpr std::array<std::string_view, 7> kDropAttributeNames = {
    kAttrFullName,      kAttrExtractRecipients, kAttrSubmitProtocol, kAttrExtractNotify,
    queue::attr::kDsnEnvid, queue::attr::kDsnRet, queue::attr::kEncoding};
}  // namespace

bool is_drop_attribute(std::string_view name) {
  return std::find(kDropAttributeNames.begin(), kDropAttributeNames.end(), name) != kDropAttributeNames.end();
}

Status StreamEncoder::record(char type, std::string_view payload) {
  if (payload.size() > 0xffffffffu) return make_error("record too long");
  std::uint32_t n = static_cast<std::uint32_t>(payload.size());
  char hdr[5] = {type, static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                 static_cast<char>(n)};
  if (auto st = sink_(std::string_view(hdr, 5)); !st) return st;
  if (payload.empty()) return {};
  return sink_(payload);
}

Status StreamEncoder::sender(std::string_view s) {
  if (s.size() > queue::kMaxAddressLength || !queue::valid_envelope_text(s))
    return make_error("bad sender address");
  return record(kSender, s);
}

Status StreamEncoder::attribute(std::string_view name, std::string_view value) {
  auto a = queue::encode_attribute(name, value);
  if (!a) return a.take_error();
  return record(kAttr, *a);
}

Status StreamEncoder::recipient(const queue::RecipientFields& r) {
  auto p = queue::encode_recipient(r);
  if (!p) return p.take_error();
  return record(kRcpt, *p);
}

Status StreamEncoder::begin_content() { return record(kContent, {}); }

Status StreamEncoder::partial(std::string_view piece) {
  while (piece.size() > queue::kMaxContentRecord) {
    if (auto st = record(kPartial, piece.substr(0, queue::kMaxContentRecord)); !st) return st;
    piece.remove_prefix(queue::kMaxContentRecord);
  }
  if (piece.empty()) return {};
  return record(kPartial, piece);
}

Status StreamEncoder::line(std::string_view line) {
  while (line.size() > queue::kMaxContentRecord) {
    if (auto st = record(kPartial, line.substr(0, queue::kMaxContentRecord)); !st) return st;
    line.remove_prefix(queue::kMaxContentRecord);
  }
  return record(kLine, line);
}

Status StreamEncoder::end() { return record(kEnd, {}); }

Result<DropSummary> decode_drop_stream(const ByteReader& in, queue::QueueFileWriter& writer) {
  enum class State { Sender, Envelope, Content, Done } state = State::Sender;
  DropSummary sum;
  std::string payload;
  std::array<bool, kDropAttributeNames.size()> seen_attr{};
  while (state != State::Done) {
    char hdr[5];
    if (auto st = read_exact(in, hdr, 5); !st) {
      if (state == State::Sender) return bad("no sender record");
      return st.error();
    }
    char type = hdr[0];
    std::uint32_t len = (std::uint32_t(std::uint8_t(hdr[1])) << 24) | (std::uint32_t(std::uint8_t(hdr[2])) << 16) |
                        (std::uint32_t(std::uint8_t(hdr[3])) << 8) | std::uint32_t(std::uint8_t(hdr[4]));
    // The length is checked before a single payload byte is read.
    std::size_t limit = 0;
    switch (type) {
      case kSender: limit = queue::kMaxAddressLength; break;
      case kAttr: case kRcpt: limit = queue::kMaxEnvelopeRecord; break;
      case kLine: case kPartial: limit = queue::kMaxContentRecord; break;
      case kContent: case kEnd: limit = 0; break;
      default: return bad(fmt::format("unknown record type 0x{:02x}", std::uint8_t(type)));
    }
    if (len > limit) return bad(fmt::format("record '{}' longer than {} bytes", type, limit));
    payload.resize(len);
    if (len > 0) {
      if (auto st = read_exact(in, payload.data(), len); !st) return st.error();
    }
    switch (state) {
      case State::Sender: {
        if (type != kSender) return bad("the first record is not the sender");
        if (!queue::valid_envelope_text(payload)) return bad("sender contains control characters");
        if (auto st = writer.begin(queue::EnvelopeStart{.sender = payload}); !st) return st.error();
        sum.sender = payload;
        state = State::Envelope;
        break;
      }
      case State::Envelope: {
        if (type == kAttr) {
          auto a = queue::decode_attribute(payload);
          if (!a) return bad(a.error().message);
          if (!is_drop_attribute(a->name)) return bad(fmt::format("attribute {} is not allowed", a->name));
          for (std::size_t i = 0; i < kDropAttributeNames.size(); ++i) {
            if (kDropAttributeNames[i] != a->name) continue;
            if (seen_attr[i]) return bad(fmt::format("attribute {} repeated", a->name));
            seen_attr[i] = true;
          }
          if (a->name == kAttrExtractRecipients) {
            if (a->value != "yes") return bad("extract_recipients must be yes");
            sum.extract = true;
          }
          if (a->name == kAttrExtractNotify && !parse_extract_notify(a->value))
            return bad("extract_notify must be NOTIFY bits");
          if (a->name == kAttrSubmitProtocol && a->value != "sendmail" && a->value != "esmtp")
            return bad("submit_protocol must be sendmail or esmtp");
          if (a->name == queue::attr::kEncoding && a->value != "7bit" && a->value != "8bit")
            return bad("encoding must be 7bit or 8bit");
          if (auto st = writer.add_attribute(a->name, a->value); !st) return st.error();
        } else if (type == kRcpt) {
          auto r = queue::decode_recipient(payload);
          if (!r) return bad(r.error().message);
          if (!r->orig_rcpt.empty()) return bad("recipient carries an original-recipient field");
          if (++sum.recipients > kMaxDropRecipients) return bad("too many recipients");
          if (auto st = writer.add_recipient(*r); !st) return st.error();
        } else if (type == kContent) {
          if (sum.recipients == 0 && !sum.extract) return bad("no recipients and no -t");
          state = State::Content;
        } else {
          return bad(fmt::format("record '{}' not allowed in the envelope", type));
        }
        break;
      }
      case State::Content: {
        if (type == kLine) {
          ++sum.lines;
          if (auto st = writer.add_line(payload); !st) return st.error();
        } else if (type == kPartial) {
          if (auto st = writer.add_partial(payload); !st) return st.error();
        } else if (type == kEnd) {
          state = State::Done;
        } else {
          return bad(fmt::format("record '{}' not allowed in the content", type));
        }
        break;
      }
      case State::Done: break;
    }
  }
  char extra;
  auto n = in(&extra, 1);
  if (!n) return n.take_error();
  if (*n != 0) return bad("data after the end record");
  return sum;
}

}  // namespace postern::postdrop
