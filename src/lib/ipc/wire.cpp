// wire.cpp - encode and parse one internal protocol message (see wire.h).
//
// Parsing walks the payload with a bounds-checked cursor; every length is
// checked against the bytes that remain before anything is allocated, so a
// hostile length field costs nothing. Reads no parameters, logs nothing.
#include "ipc/wire.h"

#include <algorithm>
#include <limits>

#include "base/strings.h"

namespace postern::ipc {

std::string_view type_name(AttrType t) {
  switch (t) {
    case AttrType::String: return "string";
    case AttrType::Int: return "integer";
    case AttrType::List: return "list";
  }
  return "unknown";
}

Result<std::int64_t> parse_wire_int(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
  bool canonical = !digits.empty() && digits.size() <= 19 &&
                   std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                   (digits[0] != '0' || text == "0");
  if (!canonical) return make_error("bad integer \"{}\"", str::printable(text, 40));
  auto v = str::parse_int(text);
  if (!v) return make_error("integer out of range \"{}\"", str::printable(text, 40));
  return *v;
}

AttrType value_type(const Value& v) {
  switch (v.index()) {
    case 0: return AttrType::String;
    case 1: return AttrType::Int;
    default: return AttrType::List;
  }
}

const Attribute* Message::find(std::string_view name) const {
  for (const auto& a : attributes)
    if (a.name == name) return &a;
  return nullptr;
}

// ---------------------------------------------------------------- encoding

namespace {

void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

}  // namespace

Writer::Writer(std::string_view type) {
  if (!valid_name(type)) error_ = fmt::format("bad message type name \"{}\"", str::printable(type, 40));
  put_u8(out_, kWireVersion);
  put_u8(out_, static_cast<std::uint8_t>(std::min<std::size_t>(type.size(), 255)));
  out_.append(type.substr(0, 255));
  put_u16(out_, 0);  // attribute count, patched by finish()
}

void Writer::begin_attribute(std::string_view name, AttrType type, std::size_t value_len) {
  if (!error_.empty()) return;
  if (!valid_name(name)) {
    error_ = fmt::format("bad attribute name \"{}\"", str::printable(name, 40));
    return;
  }
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    error_ = fmt::format("duplicate attribute \"{}\"", name);
    return;
  }
  if (value_len > std::numeric_limits<std::uint32_t>::max()) {
    error_ = fmt::format("attribute \"{}\" too long", name);
    return;
  }
  if (count_ == std::numeric_limits<std::uint16_t>::max()) {
    error_ = "too many attributes";
    return;
  }
  names_.emplace_back(name);
  ++count_;
  put_u8(out_, static_cast<std::uint8_t>(name.size()));
  out_.append(name);
  put_u8(out_, static_cast<std::uint8_t>(type));
  put_u32(out_, static_cast<std::uint32_t>(value_len));
}

void Writer::add_string(std::string_view name, std::string_view value) {
  begin_attribute(name, AttrType::String, value.size());
  if (error_.empty()) out_.append(value);
}

void Writer::add_int(std::string_view name, std::int64_t value) {
  std::string text = fmt::format("{}", value);
  begin_attribute(name, AttrType::Int, text.size());
  if (error_.empty()) out_.append(text);
}

void Writer::add_list(std::string_view name, const std::vector<std::string>& items) {
  std::size_t len = 0;
  for (const auto& item : items) {
    if (item.size() > std::numeric_limits<std::uint32_t>::max()) {
      if (error_.empty()) error_ = fmt::format("attribute \"{}\": list item too long", name);
      return;
    }
    len += 4 + item.size();
  }
  begin_attribute(name, AttrType::List, len);
  if (!error_.empty()) return;
  for (const auto& item : items) {
    put_u32(out_, static_cast<std::uint32_t>(item.size()));
    out_.append(item);
  }
}

void Writer::add(std::string_view name, const Value& value) {
  switch (value.index()) {
    case 0: add_string(name, std::get<0>(value)); break;
    case 1: add_int(name, std::get<1>(value)); break;
    default: add_list(name, std::get<2>(value)); break;
  }
}

Result<std::string> Writer::finish() && {
  if (!error_.empty()) return Error{error_, 0};
  // The count sits right after version, type length and type.
  std::size_t pos = 2 + static_cast<std::uint8_t>(out_[1]);
  out_[pos] = static_cast<char>(count_ >> 8);
  out_[pos + 1] = static_cast<char>(count_ & 0xff);
  return std::move(out_);
}

Result<std::string> encode_message(const Message& m) {
  Writer w(m.type);
  for (const auto& a : m.attributes) w.add(a.name, a.value);
  return std::move(w).finish();
}

// ----------------------------------------------------------------- parsing

namespace {

// A cursor over untrusted bytes: every take checks what remains.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t offset() const { return pos_; }

  bool u8(std::uint8_t& v) {
    if (remaining() < 1) return false;
    v = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<std::uint16_t>((byte(0) << 8) | byte(1));
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (remaining() < 4) return false;
    v = (std::uint32_t{byte(0)} << 24) | (std::uint32_t{byte(1)} << 16) | (std::uint32_t{byte(2)} << 8) |
        std::uint32_t{byte(3)};
    pos_ += 4;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (remaining() < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::uint8_t byte(std::size_t i) const { return static_cast<std::uint8_t>(data_[pos_ + i]); }
  std::string_view data_;
  std::size_t pos_ = 0;
};

Result<std::string_view> read_name(Reader& r, std::string_view what) {
  std::uint8_t len = 0;
  std::string_view name;
  if (!r.u8(len) || !r.bytes(len, name)) return make_error("truncated {} name", what);
  if (!valid_name(name)) return make_error("bad {} name \"{}\"", what, str::printable(name, 40));
  return name;
}

Result<std::vector<std::string>> parse_list(std::string_view value, std::string_view attr,
                                            const ParseLimits& limits) {
  std::vector<std::string> items;
  Reader r(value);
  while (r.remaining() > 0) {
    if (items.size() >= limits.max_list_items)
      return make_error("attribute \"{}\": more than {} list items", attr, limits.max_list_items);
    std::uint32_t len = 0;
    std::string_view item;
    if (!r.u32(len) || !r.bytes(len, item)) return make_error("attribute \"{}\": truncated list item", attr);
    items.emplace_back(item);
  }
  return items;
}

}  // namespace

Result<std::string_view> peek_type(std::string_view payload) {
  Reader r(payload);
  std::uint8_t version = 0;
  if (!r.u8(version)) return make_error("empty message");
  if (version != kWireVersion) return make_error("unsupported protocol version {}", version);
  return read_name(r, "message type");
}

Result<Message> parse_message(std::string_view payload, const ParseLimits& limits) {
  auto type = peek_type(payload);
  if (!type) return type.take_error();
  Message m;
  m.type = std::string(*type);
  Reader r(payload.substr(2 + type->size()));

  std::uint16_t count = 0;
  if (!r.u16(count)) return make_error("message \"{}\": truncated attribute count", m.type);
  if (count > limits.max_attributes)
    return make_error("message \"{}\": {} attributes, limit is {}", m.type, count, limits.max_attributes);
  m.attributes.reserve(count);

  for (std::uint16_t i = 0; i < count; ++i) {
    auto name = read_name(r, "attribute");
    if (!name) return make_error("message \"{}\": {}", m.type, name.error().message);
    if (m.find(*name)) return make_error("message \"{}\": duplicate attribute \"{}\"", m.type, *name);
    std::uint8_t tag = 0;
    std::uint32_t len = 0;
    std::string_view value;
    if (!r.u8(tag) || !r.u32(len) || !r.bytes(len, value))
      return make_error("message \"{}\": attribute \"{}\" truncated", m.type, *name);
    Attribute a{std::string(*name), std::string()};
    switch (static_cast<AttrType>(tag)) {
      case AttrType::String:
        a.value = std::string(value);
        break;
      case AttrType::Int: {
        auto v = parse_wire_int(value);
        if (!v) return make_error("message \"{}\": attribute \"{}\": {}", m.type, *name, v.error().message);
        a.value = *v;
        break;
      }
      case AttrType::List: {
        auto items = parse_list(value, *name, limits);
        if (!items) return make_error("message \"{}\": {}", m.type, items.error().message);
        a.value = std::move(*items);
        break;
      }
      default:
        return make_error("message \"{}\": attribute \"{}\" has unknown type 0x{:02x}", m.type, *name, tag);
    }
    m.attributes.push_back(std::move(a));
  }
  if (r.remaining() != 0)
    return make_error("message \"{}\": {} trailing bytes after last attribute", m.type, r.remaining());
  return m;
}

}  // namespace postern::ipc
