// config.h - main.cf: parse, expand, validate, and typed access.
//
// Syntax (Postfix's): `name = value`; a line starting with white space
// continues the previous one; `#` starts a comment line; `$name`, `${name}`,
// `${name?text}` (text if name is non-empty) and `${name:text}` (text if
// name is empty) expand lazily and recursively, with loop detection. The
// Postfix 3 forms `${name?{text}}`, `${name:{text}}`, `${name?{a}:{b}}` and
// `${{a} == {b} ? {x} : {y}}` (also !=, <, <=, >, >= on numbers) work too;
// `$$` is a literal `$`.
//
// Every registered parameter is expanded and validated when the file is
// loaded, so the typed getters below cannot fail on a loaded Config; asking a
// typed getter for an unregistered name is a programming error (panic).
// Unknown names are kept (get() returns them) and produce a warning unless
// another value refers to them as $name (a user-defined parameter).
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

class Expander;  // config.cpp

class Config {
 public:
  // Reads `config_dir`/main.cf. Errors name the file and line.
  static Result<Config> load(const std::filesystem::path& config_dir);
  // load() without the validation, for a daemon start that applies its
  // master.cf overrides at once: set_overrides(), which validates
  // everything, must follow before any getter is used. Validating main.cf
  // on its own first cost every daemon start about 0.7 million
  // instructions, and daemons restart every max_use clients.
  static Result<Config> load_unvalidated(const std::filesystem::path& config_dir);
  // Parses main.cf text (tests, postconf). `filename` is used in messages.
  // A non-empty `config_dir` becomes the effective config_directory unless
  // main.cf sets it.
  static Result<Config> from_text(std::string_view text, std::string_view filename = "main.cf",
                                  const std::filesystem::path& config_dir = {});

  // A `-o name=value` override from master.cf or the command line. Takes
  // precedence over main.cf; validated like a main.cf line (and everything
  // that refers to it is revalidated). On error nothing changes. `origin`
  // prefixes error messages, e.g. "master.cf, line 12".
  Status set_override(std::string_view name, std::string_view value, std::string_view origin = "-o");

  // Several overrides at once, validated once (each set_override() call
  // revalidates every parameter, which dominated daemon start-up). Each
  // entry is checked like set_override(); the final state must validate.
  // On error nothing changes; callers wanting the exact per-entry message
  // can then replay the list with set_override().
  struct Override {
    std::string name;
    std::string value;
    std::string origin = "-o";
  };
  Status set_overrides(const std::vector<Override>& list);
  // The same without the validation: for postconf, which shows what is
  // written even when a value is invalid (that is when an administrator
  // needs it most), as Postfix's does. Only the syntax checks apply. The
  // typed getters must not be used on such a Config.
  Status set_overrides_unvalidated(const std::vector<Override>& list);

  const std::filesystem::path& config_dir() const { return config_dir_; }
  // The file name used in messages ("/etc/postern/main.cf").
  const std::string& filename() const { return filename_; }
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
  // Line of main.cf that sets `name` (the last one), or 0.
  int line_of(std::string_view name) const;

  std::string str(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::chrono::seconds time(std::string_view name) const;
  std::int64_t size(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;

  // A mailbox limit (local's mailbox_size_limit, virtual's
  // virtual_mailbox_limit) below message_size_limit is Postfix's start-up
  // error: every message near the size limit would bounce. 0 means no limit
  // on either side.
  Status check_mailbox_limit(std::string_view name) const;

 private:
  Status validate_all();
  static Result<Config> parse(std::string_view text, std::string_view filename,
                              const std::filesystem::path& config_dir);
  // The syntax checks of set_override(), without validation.
  static Status check_override(std::string_view name, std::string_view value, std::string_view where);
  Status check_one(Expander& ex, const std::string& name, const std::string& where,
                   const std::vector<std::string>& classes);
  // The raw text behind `name` (override, main.cf, effective default), with
  // computed defaults taken from computed_.
  std::optional<std::string> source(std::string_view name) const;

  std::filesystem::path config_dir_;
  bool validated_ = false;  // validate_all() has passed (load_unvalidated() leaves it false)
  std::string filename_ = "main.cf";
  std::map<std::string, std::string, std::less<>> values_;     // from main.cf
  std::map<std::string, int, std::less<>> lines_;              // main.cf line of each value
  std::map<std::string, std::string, std::less<>> overrides_;  // -o
  std::map<std::string, std::string, std::less<>> override_origin_;
  std::map<std::string, std::string, std::less<>> computed_;   // computed defaults, fixed at load
  std::vector<std::string> warnings_;
  friend class ConfigParser;
  friend class Expander;
};

// Expand $name references in `value` using `lookup` (recursive, with loop
// detection). Exposed for master.cf -o values and tests.
Result<std::string> expand(const Config& cfg, std::string_view value);

// Parameter names that `value` refers to as $name, ${name...} or $(name...),
// in order of appearance (duplicates kept out). Used to tell user-defined
// parameters from typos.
std::vector<std::string> macro_names(std::string_view value);

// True if `name` may be used as a main.cf parameter name: letters, digits,
// "_", "-" and "." (the last two for per-transport names such as
// "smtp-amavis_destination_concurrency_limit"), at most 256 bytes.
bool valid_param_name(std::string_view name);

}  // namespace postern::config
