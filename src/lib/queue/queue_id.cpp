// queue_id.cpp - parse, validate and build queue IDs (see queue_id.h).
//
// Reads no parameters and logs nothing; errors are returned to the caller.
#include "queue/queue_id.h"

#include <array>

namespace postern::queue {
namespace {

// Postfix's "safe" alphabet: digits, then consonants upper and lower case.
// Base 51 uses the first 51 characters, so 'z' never occurs in an inode part
// and can separate it from the time part.
constexpr std::string_view kSafe = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
static_assert(kSafe.size() == 52);
constexpr char kInodeSeparator = 'z';
constexpr std::size_t kSecMinLen = 6, kSecMaxLen = 8, kUsecLen = 4;
constexpr std::size_t kInodeMaxLen51 = 12, kInodeMaxLenHex = 16;
constexpr std::uint32_t kMaxUsec = 999999;

constexpr std::array<int, 256> make_safe_index() {
  std::array<int, 256> t{};
  for (auto& v : t) v = -1;
  for (std::size_t i = 0; i < kSafe.size(); ++i)
    t[static_cast<unsigned char>(kSafe[i])] = static_cast<int>(i);
  return t;
}
constexpr auto kSafeIndex = make_safe_index();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is not canonical for short IDs
}

// Digits of `s` in `base` (safe alphabet), with overflow detection.
std::optional<std::uint64_t> decode_safe(std::string_view s, unsigned base) {
  std::uint64_t v = 0;
  for (char c : s) {
    int d = kSafeIndex[static_cast<unsigned char>(c)];
    if (d < 0 || static_cast<unsigned>(d) >= base) return std::nullopt;
    if (v > (UINT64_MAX - static_cast<unsigned>(d)) / base) return std::nullopt;
    v = v * base + static_cast<unsigned>(d);
  }
  return v;
}

std::string encode_safe(std::uint64_t v, unsigned base, std::size_t pad) {
  std::string out;
  do {
    out.insert(out.begin(), kSafe[v % base]);
    v /= base;
  } while (v != 0);
  while (out.size() < pad) out.insert(out.begin(), '0');
  return out;
}

std::optional<std::uint64_t> decode_hex(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) {
    int d = hex_value(c);
    if (d < 0) return std::nullopt;
    if (v > (UINT64_MAX >> 4)) return std::nullopt;
    v = (v << 4) | static_cast<unsigned>(d);
  }
  return v;
}

Error bad(std::string_view text, std::string_view why) {
  // The text may be anything a user typed: keep the message printable.
  std::string shown;
  for (char c : text.substr(0, 64)) shown += (c > 0x20 && c < 0x7f) ? c : '?';
  return make_error("bad queue ID \"{}\": {}", shown, why);
}

}  // namespace

Result<QueueId> QueueId::parse(std::string_view text) {
  if (text.empty()) return bad(text, "empty");
  if (text.size() > kMaxLength) return bad(text, "too long");
  QueueId id;
  auto sep = text.rfind(kInodeSeparator);
  if (sep == std::string_view::npos) {
    // Short: 5 hex digits of microseconds, then the inode in hex.
    if (text.size() <= QueueId::kHashPartLength) return bad(text, "too short");
    for (char c : text)
      if (hex_value(c) < 0) return bad(text, "bad character (short IDs are upper-case hexadecimal)");
    auto usec = decode_hex(text.substr(0, kHashPartLength));
    auto inode_text = text.substr(kHashPartLength);
    if (inode_text.size() > kInodeMaxLenHex) return bad(text, "inode number out of range");
    auto inode = decode_hex(inode_text);
    if (!usec || *usec > kMaxUsec) return bad(text, "microseconds out of range");
    if (!inode || *inode == 0 || inode_text[0] == '0') return bad(text, "bad inode number");
    id.format_ = IdFormat::Short;
    id.usec_ = static_cast<std::uint32_t>(*usec);
    id.inode_ = *inode;
  } else {
    auto time_part = text.substr(0, sep);
    auto inode_text = text.substr(sep + 1);
    if (time_part.size() < kSecMinLen + kUsecLen || time_part.size() > kSecMaxLen + kUsecLen)
      return bad(text, "bad time part length");
    if (inode_text.empty() || inode_text.size() > kInodeMaxLen51) return bad(text, "bad inode part length");
    auto sec_text = time_part.substr(0, time_part.size() - kUsecLen);
    auto sec = decode_safe(sec_text, 52);
    auto usec = decode_safe(time_part.substr(sec_text.size()), 52);
    auto inode = decode_safe(inode_text, 51);
    if (!sec || !usec || !inode) return bad(text, "bad character");
    // Canonical form: padding only up to the minimum width.
    if (sec_text.size() > kSecMinLen && sec_text[0] == '0') return bad(text, "non-canonical seconds");
    if (*sec > static_cast<std::uint64_t>(INT64_MAX)) return bad(text, "seconds out of range");
    if (*usec > kMaxUsec) return bad(text, "microseconds out of range");
    if (*inode == 0 || inode_text[0] == '0') return bad(text, "bad inode number");
    id.format_ = IdFormat::Long;
    id.sec_ = static_cast<std::int64_t>(*sec);
    id.usec_ = static_cast<std::uint32_t>(*usec);
    id.inode_ = *inode;
  }
  id.text_ = std::string(text);
  return id;
}

Result<QueueId> QueueId::make(IdFormat format, std::int64_t sec, std::uint32_t usec, std::uint64_t inode) {
  if (usec > kMaxUsec) return make_error("queue ID: microseconds out of range: {}", usec);
  if (inode == 0) return make_error("queue ID: inode number 0");
  QueueId id;
  id.format_ = format;
  id.usec_ = usec;
  id.inode_ = inode;
  if (format == IdFormat::Short) {
    id.text_ = fmt::format("{:05X}{:X}", usec, inode);
  } else {
    if (sec < 0) return make_error("queue ID: negative time {}", sec);
    std::string s = encode_safe(static_cast<std::uint64_t>(sec), 52, kSecMinLen);
    if (s.size() > kSecMaxLen) return make_error("queue ID: time out of range: {}", sec);
    id.sec_ = sec;
    id.text_ = s + encode_safe(usec, 52, kUsecLen) + kInodeSeparator + encode_safe(inode, 51, 0);
  }
  return id;
}

std::optional<std::int64_t> QueueId::seconds() const {
  if (format_ != IdFormat::Long) return std::nullopt;
  return sec_;
}

std::string QueueId::hash_part() const { return fmt::format("{:05X}", usec_); }

}  // namespace postern::queue
