// registry.h - the one table of every main.cf parameter Postern knows.
//
// Each entry has a name, a type, a default (raw text, may reference other
// parameters as $name), bounds and a one-line description. Defaults,
// validation, `postconf -d` and docs/parameters.md all come from this table;
// nothing scrapes source files.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>

namespace postern::config {

enum class Type {
  String,  // free text
  Bool,    // yes | no
  Int,     // decimal integer within [min, max]
  Time,    // integer with optional unit s|m|h|d|w (default unit `unit`), in seconds
  Size,    // bytes, plain decimal within [min, max]
  List,    // comma/whitespace separated list
};

struct ParamDef {
  std::string_view name;
  Type type;
  std::string_view default_value;
  std::string_view doc;
  std::int64_t min = 0;
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  char unit = 's';  // Time only: unit of a bare number
};

// All registered parameters, sorted by name.
std::span<const ParamDef> registry();

// The definition for `name`, or nullptr. Per-transport names such as
// "smtp_destination_concurrency_limit" resolve to their template, whose
// default is "$default_destination_concurrency_limit".
const ParamDef* find_param(std::string_view name);

}  // namespace postern::config
