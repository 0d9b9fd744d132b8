// wire.h - the encoding of one internal protocol message (docs/ipc.md).
//
// A message is a type name and a sequence of named, typed attributes:
//
//   payload := version:u8(=1) type_len:u8 type count:u16be attribute*count
//   attribute := name_len:u8 name tag:u8 value_len:u32be value
//   tag 'S' string (any bytes), 'I' integer (canonical decimal text, int64),
//   tag 'L' list of strings (value := (item_len:u32be item)*)
//
// All multi-byte integers are big-endian; nothing is a host struct. Names
// (message types and attributes) are 1-32 bytes of [a-z0-9_].
//
// This layer checks structure only: version, name syntax, tags, lengths,
// integer syntax, duplicate attributes, trailing bytes and the generic
// limits below. Which attributes a message must or may carry is the job of
// the schema layer (schema.h). Nothing here logs; every problem with peer
// bytes comes back as an Error so the caller can reject the peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace postern::ipc {

inline constexpr std::uint8_t kWireVersion = 1;
inline constexpr std::size_t kMaxNameLength = 32;

enum class AttrType : char { String = 'S', Int = 'I', List = 'L' };

// "string", "integer", "list" for error messages and docs.
std::string_view type_name(AttrType t);

// [a-z0-9_], 1..kMaxNameLength bytes. constexpr so that schemas are
// checked at compile time (schema.h).
constexpr bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// Canonical decimal: "0" or -?[1-9][0-9]*, within int64. The one spelling
// per value keeps encodings unique (decode(encode(x)) == x and back).
Result<std::int64_t> parse_wire_int(std::string_view text);

using Value = std::variant<std::string, std::int64_t, std::vector<std::string>>;

// The tag of a value held in `v`.
AttrType value_type(const Value& v);

struct Attribute {
  std::string name;
  Value value;
  bool operator==(const Attribute&) const = default;
};

struct Message {
  std::string type;
  std::vector<Attribute> attributes;
  bool operator==(const Message&) const = default;

  // The attribute named `name`, or nullptr.
  const Attribute* find(std::string_view name) const;
};

// Generic bounds that hold before any schema is consulted. The frame
// limit (frame.h) bounds the total; these bound the fan-out.
struct ParseLimits {
  std::size_t max_attributes = 256;
  std::size_t max_list_items = 10000;
};

// Parses a payload (the bytes inside one frame).
Result<Message> parse_message(std::string_view payload, const ParseLimits& limits = {});

// Only the type name of a payload, for servers that accept several message
// types on one socket and dispatch before decoding.
Result<std::string_view> peek_type(std::string_view payload);

// Builds a payload attribute by attribute. Names are checked here so that a
// bug in a sender shows up at the sender; callers that build from schemas
// never trip these checks.
class Writer {
 public:
  explicit Writer(std::string_view type);

  void add_string(std::string_view name, std::string_view value);
  void add_int(std::string_view name, std::int64_t value);
  void add_list(std::string_view name, const std::vector<std::string>& items);
  void add(std::string_view name, const Value& value);

  // The payload, or an error naming the first bad name/size.
  Result<std::string> finish() &&;

 private:
  void begin_attribute(std::string_view name, AttrType type, std::size_t value_len);

  std::string out_;
  std::size_t count_ = 0;
  std::vector<std::string> names_;  // duplicate detection; messages are small
  std::string error_;
};

// Encodes a generic message (tests, tools, and the schema layer's twin).
Result<std::string> encode_message(const Message& m);

}  // namespace postern::ipc
