// config.h - main.cf: parse, expand, validate, and typed access.
//
// Syntax (Postfix's): `name = value`; a line starting with white space
// continues the previous one; `#` starts a comment line; `$name`, `${name}`,
// `${name?text}` (text if name is non-empty) and `${name:text}` (text if
// name is empty) expand lazily and recursively, with loop detection.
//
// Every registered parameter is expanded and validated when the file is
// loaded, so the typed getters below cannot fail on a loaded Config; asking a
// typed getter for an unregistered name is a programming error (panic).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::config {

class Config {
 public:
  // Reads `config_dir`/main.cf. Errors name the file and line.
  static Result<Config> load(const std::filesystem::path& config_dir);
  // Parses main.cf text (tests, postconf). `filename` is used in messages.
  static Result<Config> from_text(std::string_view text, std::string_view filename = "main.cf",
                                  const std::filesystem::path& config_dir = {});

  // A `-o name=value` override from master.cf or the command line. Takes
  // precedence over main.cf; validated like a main.cf line.
  Status set_override(std::string_view name, std::string_view value);

  const std::filesystem::path& config_dir() const { return config_dir_; }
  // Warnings found while loading (unknown parameter names), "file:line: text".
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Expanded value of any parameter: set in main.cf/overrides, else the
  // registered default, else nullopt.
  std::optional<std::string> get(std::string_view name) const;
  // Raw (unexpanded) value as written, or the default if not set.
  std::optional<std::string> raw(std::string_view name) const;
  // True when main.cf or an override sets `name`.
  bool is_set(std::string_view name) const;
  // Names set explicitly in main.cf (and overrides), sorted (postconf -n).
  std::vector<std::string> explicit_names() const;

  std::string str(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::chrono::seconds time(std::string_view name) const;
  std::int64_t size(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;

 private:
  std::filesystem::path config_dir_;
  std::map<std::string, std::string, std::less<>> values_;     // from main.cf
  std::map<std::string, std::string, std::less<>> overrides_;  // -o
  std::vector<std::string> warnings_;
  friend class ConfigParser;
};

// Expand $name references in `value` using `lookup` (recursive, with loop
// detection). Exposed for master.cf -o values and tests.
Result<std::string> expand(const Config& cfg, std::string_view value);

}  // namespace postern::config
