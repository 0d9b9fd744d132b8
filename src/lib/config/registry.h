// registry.h - the one table of every main.cf parameter Postern knows.
//
// Each entry has a name, a type, a default (raw text, may reference other
// parameters as $name), bounds and a one-line description. Defaults,
// validation, `postconf -d` and docs/parameters.md all come from this table;
// nothing scrapes source files.
//
// A few defaults depend on the host (myhostname, mydomain, mynetworks): those
// entries carry a `compute` function instead of fixed text. Per-transport
// parameters ("smtp_destination_concurrency_limit") are not listed one by
// one: find_param() maps them to a template whose default refers to the
// global parameter ("$default_destination_concurrency_limit").
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::config {

enum class Type {
  String,  // free text
  Bool,    // yes | no
  Int,     // decimal integer within [min, max]
  Time,    // integer with optional unit s|m|h|d|w (default unit `unit`), in seconds
  Size,    // bytes, plain decimal within [min, max]
  List,    // comma/whitespace separated list
};

std::string_view to_string(Type t);

// What a computed default may ask about the rest of the configuration.
class ComputeEnv {
 public:
  virtual ~ComputeEnv() = default;
  // Expanded value of `name` when main.cf or an override sets it; nullopt
  // when it is not set or cannot be expanded (for example a reference loop).
  virtual std::optional<std::string> explicit_value(std::string_view name) const = 0;
  // Expanded effective value (set, or default); nullopt if unknown/unusable.
  virtual std::optional<std::string> value(std::string_view name) const = 0;
};
using ComputeFn = std::string (*)(const ComputeEnv&);

struct ParamDef {
  std::string_view name;
  Type type;
  std::string_view default_value;
  std::string_view doc;
  std::int64_t min = 0;
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  char unit = 's';  // Time only: unit of a bare number
  // Host-dependent default (myhostname, ...): default_value is unused.
  ComputeFn compute = nullptr;
  // What docs/parameters.md shows instead of the default when the default
  // depends on the host or on build options (compiled-in paths).
  std::string_view doc_default = {};
  // A per-transport template: name is "transport_<suffix>".
  bool per_transport = false;
  // Not $-expanded when main.cf is read: the daemon expands its own names
  // ($user, $home, $client, ...) at use time (forward_path, mailbox_command).
  bool raw = false;
};

// All registered parameters, sorted by name (templates not included).
std::span<const ParamDef> registry();

// The per-transport templates ("transport_destination_concurrency_limit",
// ...), sorted by name.
std::span<const ParamDef> transport_templates();

// The definition for `name`, or nullptr. Per-transport names such as
// "smtp_destination_concurrency_limit" resolve to their template, whose
// default is "$default_destination_concurrency_limit". The transport part
// must be a non-empty [a-z0-9-] name.
const ParamDef* find_param(std::string_view name);

// The raw default text: compute(env) for computed defaults (with a null env
// the computation sees no main.cf settings), else default_value.
std::string default_text(const ParamDef& def, const ComputeEnv* env = nullptr);

// Checks an already expanded value against the type and bounds of `def`.
// `name` is the name as used (for a template, the concrete name). Errors read
// like Postfix's: "bad numerical value for parameter NAME: VALUE".
Status check_value(const ParamDef& def, std::string_view name, std::string_view value);

// Typed parsing of expanded values (strict; nullopt on bad input).
std::optional<bool> parse_bool(std::string_view s);                         // yes|no, any case
std::optional<std::int64_t> parse_time(std::string_view s, char default_unit);  // seconds
// Postfix list syntax: separated by commas and/or white space, except
// inside braces: "{a b}" and "inline:{k=v, {k2=v w}}" are one element each,
// braces included (restriction lists use this for grouped arguments and
// inline tables). An unclosed brace extends its element to the end.
std::vector<std::string> split_list(std::string_view s);
// Removes one level of "{ ... }" around a list element and trims the inside;
// other text is returned trimmed.
std::string strip_braces(std::string_view s);

// docs/parameters.md, generated from the table (postconf --registry-markdown).
std::string registry_markdown();

}  // namespace postern::config
