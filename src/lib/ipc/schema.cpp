// schema.cpp - the non-template checks behind schema.h.
//
// Kept out of the header so every message type shares one copy of the
// error wording. Reads no parameters, logs nothing: errors go back to the
// caller, which decides whether to log and drop the peer.
#include "ipc/schema.h"

#include "base/strings.h"

namespace postern::ipc::detail {

Error attribute_error(std::string_view msg, std::string_view attr, std::string_view what) {
  return make_error("message \"{}\": attribute \"{}\": {}", msg, attr, what);
}

Status check_text(std::string_view msg, std::string_view attr, std::string_view v, const Rules& r) {
  if (v.size() > r.max_len)
    return attribute_error(msg, attr, fmt::format("{} bytes, limit is {}", v.size(), r.max_len));
  if (r.single_line && v.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
    return attribute_error(msg, attr, "NUL, CR or LF in a single-line value");
  return {};
}

Status check_list(std::string_view msg, std::string_view attr, const std::vector<std::string>& v,
                  const Rules& r) {
  if (v.size() > r.max_items)
    return attribute_error(msg, attr, fmt::format("{} items, limit is {}", v.size(), r.max_items));
  for (const auto& item : v)
    if (auto st = check_text(msg, attr, item, r); !st) return st;
  return {};
}

Status check_int(std::string_view msg, std::string_view attr, std::int64_t v, const Rules& r,
                 std::int64_t type_min, std::int64_t type_max) {
  std::int64_t lo = std::max(r.min, type_min);
  std::int64_t hi = std::min(r.max, type_max);
  if (v < lo || v > hi) return attribute_error(msg, attr, fmt::format("{} not in [{}, {}]", v, lo, hi));
  return {};
}

Error wrong_type(std::string_view msg, std::string_view attr, AttrType want, AttrType got) {
  return attribute_error(msg, attr, fmt::format("expected {}, got {}", type_name(want), type_name(got)));
}

Error bad_enum(std::string_view msg, std::string_view attr, std::string_view spelling) {
  return attribute_error(msg, attr, fmt::format("unknown value \"{}\"", str::printable(spelling, 64)));
}

}  // namespace postern::ipc::detail
