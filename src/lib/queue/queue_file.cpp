// queue_file.cpp - encoding and validation of individual queue file records.
//
// See queue_file.h and docs/queue-file.md. Every decode function treats its
// input as untrusted and returns an error naming what is wrong; callers add
// the file name and offset. Reads no parameters, logs nothing.
#include "queue/queue_file.h"

#include <cerrno>

#include "base/strings.h"

namespace postern::queue {
namespace {

std::optional<std::uint64_t> parse_digits(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return str::parse_uint(s);
}

// A right-aligned, space-padded decimal field of exactly `width` bytes.
std::optional<std::uint64_t> parse_fixed(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return parse_digits(s.substr(i), kSizeFieldWidth);
}

bool valid_attr_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxAttrNameLength) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool printable_ascii(std::string_view s) {
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

// Checks values of the attributes whose meaning we rely on.
Status check_attr_value(std::string_view name, std::string_view v) {
  if (v.size() > kMaxAttrValueLength) return make_error("attribute {} value too long", name);
  if (!valid_envelope_text(v)) return make_error("attribute {} value has NUL, CR or LF", name);
  auto one_of = [&](std::initializer_list<std::string_view> ok) -> Status {
    for (auto o : ok)
      if (v == o) return {};
    return make_error("attribute {} has bad value \"{}\"", name, str::printable(v, 64));
  };
  if (name == attr::kEncoding) return one_of({"7bit", "8bit", "binary"});
  if (name == attr::kSmtputf8 || name == attr::kUtf8Headers) return one_of({"yes", "no"});
  if (name == attr::kDsnRet) return one_of({"FULL", "HDRS"});
  if (name == attr::kRewriteContext) return one_of({"local", "remote"});
  if (name == attr::kDsnEnvid) {
    // RFC 3461: at most 100 characters of xtext (printable ASCII).
    if (v.size() > 100 || !printable_ascii(v)) return make_error("attribute {} is not valid xtext", name);
  }
  if (name == attr::kClientPort && !v.empty()) {
    auto p = parse_digits(v, 5);
    if (!p || *p > 65535) return make_error("attribute {} is not a port number", name);
  }
  return {};
}

}  // namespace

std::string_view to_string(Segment s) {
  switch (s) {
    case Segment::Envelope: return "envelope";
    case Segment::Content: return "content";
    case Segment::Extracted: return "extracted";
    case Segment::End: return "end";
  }
  return "?";
}

std::optional<std::string_view> record_type_name(char type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::Size: return "size";
    case RecordType::Warning: return "warning time";
    case RecordType::Time: return "arrival time";
    case RecordType::Sender: return "sender";
    case RecordType::Attribute: return "attribute";
    case RecordType::Recipient: return "recipient";
    case RecordType::Done: return "done recipient";
    case RecordType::Content: return "content start";
    case RecordType::Line: return "line";
    case RecordType::Partial: return "partial line";
    case RecordType::Extracted: return "extracted start";
    case RecordType::End: return "end";
  }
  return std::nullopt;
}

Result<std::string> SizeRecord::encode() const {
  for (auto v : {content_size, content_offset, recipient_count, extracted_offset, version})
    if (v > static_cast<std::uint64_t>(kMaxFixedValue))
      return make_error("size record value {} out of range", v);
  return fmt::format("{:>15} {:>15} {:>15} {:>15} {:>15}", content_size, content_offset, recipient_count,
                     extracted_offset, version);
}

Result<SizeRecord> SizeRecord::decode(std::string_view p) {
  if (p.size() != kSizePayloadLength) return make_error("size record has length {}", p.size());
  std::uint64_t v[kSizeFields];
  for (std::size_t i = 0; i < kSizeFields; ++i) {
    std::size_t at = i * (kSizeFieldWidth + 1);
    if (i > 0 && p[at - 1] != ' ') return make_error("size record field {} not separated", i + 1);
    auto f = parse_fixed(p.substr(at, kSizeFieldWidth));
    if (!f) return make_error("size record field {} is not a number", i + 1);
    v[i] = *f;
  }
  SizeRecord r{v[0], v[1], v[2], v[3], v[4]};
  if (r.version != kFormatVersion) return make_error("unsupported format version {}", r.version);
  return r;
}

Result<std::string> encode_warning(std::int64_t when) {
  // Never wider than the field: it is patched in place.
  if (when < 0 || when > kMaxFixedValue) return make_error("warning time {} out of range", when);
  return fmt::format("{:>15}", when);
}

Result<std::int64_t> decode_warning(std::string_view p) {
  if (p.size() != kWarningPayloadLength) return make_error("warning time record has length {}", p.size());
  auto v = parse_fixed(p);
  if (!v || *v > static_cast<std::uint64_t>(INT64_MAX)) return make_error("warning time is not a number");
  return static_cast<std::int64_t>(*v);
}

Result<unsigned> parse_notify(std::string_view text) {
  unsigned bits = 0;
  for (const auto& w : str::split(text, ",")) {
    unsigned b = 0;
    if (str::iequals(w, "NEVER"))
      b = kNotifyNever;
    else if (str::iequals(w, "SUCCESS"))
      b = kNotifySuccess;
    else if (str::iequals(w, "FAILURE"))
      b = kNotifyFailure;
    else if (str::iequals(w, "DELAY"))
      b = kNotifyDelay;
    else
      return make_error("bad NOTIFY keyword \"{}\"", str::printable(w, 32));
    if (bits & b) return make_error("duplicate NOTIFY keyword {}", w);
    bits |= b;
  }
  if (bits == 0) return make_error("empty NOTIFY list");
  if ((bits & kNotifyNever) && bits != kNotifyNever) return make_error("NOTIFY=NEVER combined with others");
  return bits;
}

std::string notify_to_string(unsigned bits) {
  std::string out;
  auto add = [&](unsigned b, std::string_view n) {
    if (!(bits & b)) return;
    if (!out.empty()) out += ',';
    out += n;
  };
  add(kNotifyNever, "NEVER");
  add(kNotifySuccess, "SUCCESS");
  add(kNotifyFailure, "FAILURE");
  add(kNotifyDelay, "DELAY");
  return out;
}

bool valid_envelope_text(std::string_view s) {
  for (char c : s)
    if (c == '\0' || c == '\r' || c == '\n') return false;
  return true;
}

namespace {
Status check_recipient(const RecipientFields& r) {
  if (r.address.empty()) return make_error("empty recipient address");
  if (r.address.size() > kMaxAddressLength || r.orig_rcpt.size() > kMaxAddressLength)
    return make_error("recipient address too long");
  if (r.orcpt.size() > kMaxOrcptLength) return make_error("ORCPT too long");
  if (!valid_envelope_text(r.address) || !valid_envelope_text(r.orig_rcpt) || !valid_envelope_text(r.orcpt))
    return make_error("recipient field has NUL, CR or LF");
  if (!r.orcpt.empty()) {
    auto semi = r.orcpt.find(';');
    if (semi == 0 || semi == std::string::npos) return make_error("ORCPT lacks \"addr-type;\"");
  }
  if (r.notify > 15 || ((r.notify & kNotifyNever) && r.notify != kNotifyNever))
    return make_error("bad NOTIFY bits {}", r.notify);
  return {};
}
}  // namespace

Result<std::string> encode_recipient(const RecipientFields& r) {
  if (auto st = check_recipient(r); !st) return st.take_error();
  std::string out;
  auto field = [&](char tag, std::string_view v) {
    out += tag;
    out += std::to_string(v.size());
    out += ':';
    out += v;
  };
  field('a', r.address);
  if (!r.orig_rcpt.empty()) field('p', r.orig_rcpt);
  if (!r.orcpt.empty()) field('o', r.orcpt);
  if (r.notify != kNotifyNone) field('n', std::to_string(r.notify));
  return out;
}

Result<RecipientFields> decode_recipient(std::string_view p) {
  RecipientFields r;
  static constexpr std::string_view kOrder = "apon";
  std::size_t next_tag = 0;  // index into kOrder: tags must come in order, once each
  while (!p.empty()) {
    char tag = p[0];
    auto pos = kOrder.find(tag);
    if (pos == std::string_view::npos)
      return make_error("recipient field tag 0x{:02x} unknown", static_cast<unsigned char>(tag));
    if (pos < next_tag) return make_error("recipient field {} out of order or repeated", tag);
    next_tag = pos + 1;
    auto colon = p.find(':');
    if (colon == std::string_view::npos || colon > 6)
      return make_error("recipient field {} lacks length", tag);
    auto len_text = p.substr(1, colon - 1);
    if (len_text.size() > 1 && len_text[0] == '0') return make_error("recipient field {} bad length", tag);
    auto len = parse_digits(len_text, 5);
    if (!len) return make_error("recipient field {} bad length", tag);
    if (*len > p.size() - colon - 1) return make_error("recipient field {} overruns record", tag);
    std::string_view v = p.substr(colon + 1, *len);
    p.remove_prefix(colon + 1 + *len);
    switch (tag) {
      case 'a': r.address = std::string(v); break;
      case 'p':
        if (v.empty()) return make_error("empty original recipient field");
        r.orig_rcpt = std::string(v);
        break;
      case 'o':
        if (v.empty()) return make_error("empty ORCPT field");
        r.orcpt = std::string(v);
        break;
      case 'n': {
        auto n = parse_digits(v, 2);
        if (!n || *n == 0 || (v.size() > 1 && v[0] == '0')) return make_error("bad NOTIFY field");
        r.notify = static_cast<unsigned>(*n);
        break;
      }
    }
  }
  if (next_tag == 0) return make_error("recipient record lacks address");
  if (auto st = check_recipient(r); !st) return st.take_error();
  return r;
}

bool is_typed_attribute(std::string_view name) {
  return name == attr::kEncoding || name == attr::kSmtputf8 || name == attr::kUtf8Headers ||
         name == attr::kDsnRet || name == attr::kDsnEnvid;
}

Result<std::string> encode_attribute(std::string_view name, std::string_view value) {
  if (!valid_attr_name(name)) return make_error("bad attribute name \"{}\"", str::printable(name, 64));
  if (auto st = check_attr_value(name, value); !st) return st.take_error();
  std::string out(name);
  out += '=';
  out += value;
  return out;
}

Result<Attribute> decode_attribute(std::string_view p) {
  auto eq = p.find('=');
  if (eq == std::string_view::npos) return make_error("attribute lacks '='");
  auto name = p.substr(0, eq);
  auto value = p.substr(eq + 1);
  if (!valid_attr_name(name)) return make_error("bad attribute name \"{}\"", str::printable(name, 64));
  if (auto st = check_attr_value(name, value); !st) return st.take_error();
  return Attribute{std::string(name), std::string(value)};
}

std::optional<std::string_view> QueueMessage::attribute(std::string_view name) const {
  for (auto it = extracted_attributes.rbegin(); it != extracted_attributes.rend(); ++it)
    if (it->name == name) return std::string_view(it->value);
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it)
    if (it->name == name) return std::string_view(it->value);
  return std::nullopt;
}

std::size_t QueueMessage::pending_recipients() const {
  std::size_t n = 0;
  for (const auto& r : recipients) n += r.done ? 0 : 1;
  return n;
}

bool is_corrupt(const Error& e) { return e.sys_errno == EBADMSG; }
bool is_not_ready(const Error& e) { return e.sys_errno == EAGAIN; }

}  // namespace postern::queue
