// schema.h - declare a message once; get its encoder and strict decoder.
//
// A message is a plain struct with a type name and a field table:
//
//   struct StatusReply {
//     static constexpr std::string_view kType = "status";
//     std::int64_t status = 0;
//     std::string reason;
//     static constexpr auto fields() {
//       return std::tuple{ipc::field("status", &StatusReply::status),
//                         ipc::field("reason", &StatusReply::reason, {.max_len = 1024, .single_line = true})};
//     }
//   };
//
//   Result<std::string> payload = ipc::encode(reply);
//   Result<StatusReply> reply = ipc::decode<StatusReply>(payload);
//
// Member types and their wire types:
//   std::string               string; bytes, may hold NUL unless single_line
//   std::vector<std::string>  list of strings
//   integral types, bool      integer (bool is 0 or 1; range of the C++ type)
//   enum E                    string, spelled by a table the enum's header
//                             provides: ipc_enum_names(E) -> span<const EnumName<E>>
//   std::optional<any above>  the attribute may be absent; otherwise required
//
// Decoding rejects, with an Error that names message and attribute: a wrong
// message type, an unknown attribute, a duplicate, a missing required one, a
// wrong wire type, a string or list item longer than max_len, a list longer
// than max_items, NUL/CR/LF in a single_line string, an integer outside
// [min, max] or the member's type, an enum spelling not in the table, plus
// everything parse_message() rejects (truncation, trailing bytes, bad
// integers, ...). A struct may add `Status check() const` for rules that
// span attributes; decode() calls it last.
//
// encode() applies the same rules, so a sender learns about a bad value
// (say an address with a newline) without a round trip.
//
// Field names are checked at compile time (syntax and uniqueness).
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/result.h"
#include "ipc/wire.h"

namespace postern::ipc {

inline constexpr std::size_t kDefaultMaxValue = 4096;
inline constexpr std::size_t kDefaultMaxItems = 1000;

// Per-field constraints; use designated initializers: {.max_len = 64}.
struct Rules {
  std::size_t max_len = kDefaultMaxValue;   // bytes: a string, an enum spelling, each list item
  bool single_line = false;                 // reject NUL, CR and LF (strings and list items)
  std::size_t max_items = kDefaultMaxItems;  // lists
  std::int64_t min = std::numeric_limits<std::int64_t>::min();  // integers
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
};

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

template <class Msg, class Member>
struct Field {
  std::string_view name;
  Member Msg::*member;
  Rules rules;
};

template <class Msg, class Member>
constexpr Field<Msg, Member> field(std::string_view name, Member Msg::*member, Rules rules = {}) {
  return Field<Msg, Member>{name, member, rules};
}

namespace detail {

template <class T>
struct Optional : std::false_type {
  using type = T;
};
template <class T>
struct Optional<std::optional<T>> : std::true_type {
  using type = T;
};

template <class E>
concept WireEnum = std::is_enum_v<E> && requires(E e) {
  { ipc_enum_names(e) } -> std::convertible_to<std::span<const EnumName<E>>>;
};

template <class V>
concept WireInt = std::integral<V> && (std::is_same_v<V, bool> || std::is_signed_v<V> ||
                                       sizeof(V) < sizeof(std::int64_t));

template <class V>
concept WireValue = std::same_as<V, std::string> || std::same_as<V, std::vector<std::string>> ||
                    WireEnum<V> || WireInt<V>;

template <class V>
constexpr AttrType wire_type() {
  if constexpr (std::same_as<V, std::vector<std::string>>)
    return AttrType::List;
  else if constexpr (WireInt<V>)
    return AttrType::Int;
  else
    return AttrType::String;
}

// Non-template checks, in schema.cpp.
Status check_text(std::string_view msg, std::string_view attr, std::string_view v, const Rules& r);
Status check_list(std::string_view msg, std::string_view attr, const std::vector<std::string>& v,
                  const Rules& r);
Status check_int(std::string_view msg, std::string_view attr, std::int64_t v, const Rules& r,
                 std::int64_t type_min, std::int64_t type_max);
Error wrong_type(std::string_view msg, std::string_view attr, AttrType want, AttrType got);
Error bad_enum(std::string_view msg, std::string_view attr, std::string_view spelling);
Error attribute_error(std::string_view msg, std::string_view attr, std::string_view what);

template <class V>
constexpr std::int64_t type_min() {
  return std::is_same_v<V, bool> ? 0 : static_cast<std::int64_t>(std::numeric_limits<V>::min());
}
template <class V>
constexpr std::int64_t type_max() {
  return std::is_same_v<V, bool> ? 1 : static_cast<std::int64_t>(std::numeric_limits<V>::max());
}

template <class V>
Status put_value(Writer& w, std::string_view msg, std::string_view attr, const V& v, const Rules& r) {
  if constexpr (std::same_as<V, std::string>) {
    if (auto st = check_text(msg, attr, v, r); !st) return st;
    w.add_string(attr, v);
  } else if constexpr (std::same_as<V, std::vector<std::string>>) {
    if (auto st = check_list(msg, attr, v, r); !st) return st;
    w.add_list(attr, v);
  } else if constexpr (WireEnum<V>) {
    for (const auto& e : ipc_enum_names(v))
      if (e.value == v) {
        w.add_string(attr, e.name);
        return {};
      }
    return attribute_error(msg, attr, "enum value has no wire spelling");
  } else {
    static_assert(WireInt<V>);
    auto i = static_cast<std::int64_t>(v);
    if (auto st = check_int(msg, attr, i, r, type_min<V>(), type_max<V>()); !st) return st;
    w.add_int(attr, i);
  }
  return {};
}

template <class V>
Status get_value(Value&& in, std::string_view msg, std::string_view attr, const Rules& r, V& out) {
  constexpr AttrType want = wire_type<V>();
  if (value_type(in) != want) return wrong_type(msg, attr, want, value_type(in));
  if constexpr (std::same_as<V, std::string>) {
    if (auto st = check_text(msg, attr, std::get<std::string>(in), r); !st) return st;
    out = std::move(std::get<std::string>(in));
  } else if constexpr (std::same_as<V, std::vector<std::string>>) {
    if (auto st = check_list(msg, attr, std::get<std::vector<std::string>>(in), r); !st) return st;
    out = std::move(std::get<std::vector<std::string>>(in));
  } else if constexpr (WireEnum<V>) {
    const std::string& s = std::get<std::string>(in);
    if (auto st = check_text(msg, attr, s, r); !st) return st;
    for (const auto& e : ipc_enum_names(V{}))
      if (e.name == s) {
        out = e.value;
        return {};
      }
    return bad_enum(msg, attr, s);
  } else {
    std::int64_t i = std::get<std::int64_t>(in);
    if (auto st = check_int(msg, attr, i, r, type_min<V>(), type_max<V>()); !st) return st;
    out = static_cast<V>(i);
  }
  return {};
}

template <class T>
using FieldTuple = decltype(T::fields());

template <class T>
inline constexpr std::size_t field_count = std::tuple_size_v<FieldTuple<T>>;

// Calls f(index, field) for every field of T, in declaration order.
template <class T, class F>
constexpr void for_each_field(F&& f) {
  const auto fields = T::fields();
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}, std::get<I>(fields)), ...);
  }(std::make_index_sequence<field_count<T>>{});
}

template <class Member>
using MemberValue = typename Optional<Member>::type;

template <class T>
constexpr bool valid_schema() {
  if (!valid_name(T::kType)) return false;
  bool ok = true;
  std::array<std::string_view, field_count<T>> names{};
  for_each_field<T>([&](auto i, const auto& f) {
    if (!valid_name(f.name)) ok = false;
    for (std::size_t j = 0; j < i; ++j)
      if (names[j] == f.name) ok = false;
    names[i] = f.name;
  });
  return ok;
}

}  // namespace detail

// A message struct usable with encode()/decode().
template <class T>
concept Schema = std::default_initializable<T> && requires {
  { T::kType } -> std::convertible_to<std::string_view>;
  T::fields();
};

template <Schema T>
Result<std::string> encode(const T& msg) {
  static_assert(detail::valid_schema<T>(), "bad message type or attribute name, or duplicate attribute");
  Writer w(T::kType);
  Status st;
  detail::for_each_field<T>([&](auto, const auto& f) {
    if (!st) return;
    const auto& member = msg.*(f.member);
    using M = std::remove_cvref_t<decltype(member)>;
    static_assert(detail::WireValue<detail::MemberValue<M>>, "unsupported member type in schema");
    if constexpr (detail::Optional<M>::value) {
      if (member) st = detail::put_value(w, T::kType, f.name, *member, f.rules);
    } else {
      st = detail::put_value(w, T::kType, f.name, member, f.rules);
    }
  });
  if (!st) return st.take_error();
  return std::move(w).finish();
}

template <Schema T>
Result<T> decode(Message&& m) {
  static_assert(detail::valid_schema<T>(), "bad message type or attribute name, or duplicate attribute");
  if (m.type != T::kType)
    return make_error("expected message \"{}\", got \"{}\"", T::kType, m.type);
  T out{};
  std::array<bool, detail::field_count<T>> seen{};
  for (auto& a : m.attributes) {
    bool matched = false;
    Status st;
    detail::for_each_field<T>([&](auto i, const auto& f) {
      if (matched || f.name != a.name) return;
      matched = true;
      if (seen[i]) {
        st = detail::attribute_error(T::kType, f.name, "duplicate attribute");
        return;
      }
      seen[i] = true;
      auto& member = out.*(f.member);
      using M = std::remove_cvref_t<decltype(member)>;
      if constexpr (detail::Optional<M>::value) {
        typename M::value_type v{};
        st = detail::get_value(std::move(a.value), T::kType, f.name, f.rules, v);
        if (st) member = std::move(v);
      } else {
        st = detail::get_value(std::move(a.value), T::kType, f.name, f.rules, member);
      }
    });
    if (!matched) return detail::attribute_error(T::kType, a.name, "unexpected attribute");
    if (!st) return st.take_error();
  }
  Status missing;
  detail::for_each_field<T>([&](auto i, const auto& f) {
    using M = std::remove_cvref_t<decltype(out.*(f.member))>;
    if (missing && !seen[i] && !detail::Optional<M>::value)
      missing = detail::attribute_error(T::kType, f.name, "missing required attribute");
  });
  if (!missing) return missing.take_error();
  if constexpr (requires(const T& t) {
                  { t.check() } -> std::same_as<Status>;
                }) {
    if (auto st = out.check(); !st) return make_error("message \"{}\": {}", T::kType, st.error().message);
  }
  return out;
}

// Parses and decodes one payload. At most one attribute per field is
// accepted before any value is examined.
template <Schema T>
Result<T> decode(std::string_view payload) {
  auto m = parse_message(payload, ParseLimits{.max_attributes = detail::field_count<T>});
  if (!m) return m.take_error();
  return decode<T>(std::move(*m));
}

}  // namespace postern::ipc
