// attr_expand.h - $name expansion of a template from a set of named attributes.
//
// The daemons fill templates that the administrator writes with values of
// the moment: local(8)'s forward_path and luser_relay ($home, $extension),
// smtpd's default_rbl_reply and rbl_reply_maps ($rbl_domain, $client, ...).
// The syntax is Postfix's mac_expand() subset for attribute templates:
//
//   $name  ${name}  $(name)   the attribute's value
//   ${name?text}              text (itself expanded) when the value is not empty
//   ${name:text}              text (itself expanded) when the value is empty
//   $$                        a literal '$'
//
// A name the caller does not know is an error (a typo in a template is
// reported, not silently empty). `undefined` says an attribute whose value
// was used was empty (local(8) skips such forward_path entries).
//
// The output is bounded (kMaxAttrExpansion); nesting follows the braces.
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace postern {

inline constexpr std::size_t kMaxAttrExpansion = 64 * 1024;

struct AttrExpansion {
  std::string text;
  bool undefined = false;
};

// `find` returns the attribute's value, or null for a name it does not know.
using AttrLookup = std::function<const std::string*(std::string_view name)>;

Result<AttrExpansion> expand_attributes(std::string_view templ, const AttrLookup& find);

// The same with a fixed table of names and values: {{"home", &home}, ...}.
using AttrTable = std::initializer_list<std::pair<std::string_view, const std::string*>>;
Result<AttrExpansion> expand_attributes(std::string_view templ, AttrTable attrs);

}  // namespace postern
