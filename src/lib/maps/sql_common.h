// sql_common.h - what the SQL tables share (Postfix's db_common): the
// parameter file, the query and result_format templates with their %
// expansions, the domain filter and the expansion limit.
//
// A table is named by its parameter file (sqlite:/etc/postern/aliases.cf),
// "name = value" lines in main.cf syntax (comments, continuation lines that
// start with white space). Read once, when the table is opened.
//
// Templates, as sqlite_table(5) and mysql_table(5) describe them:
//   %%        a literal %
//   %s        the key (query) or the result value (result_format)
//   %u, %d    local part and domain of an address; %u is the whole string
//             when there is no '@'; %d without a domain, or %u with an empty
//             local part, suppresses the query (no result) or skips the value
//   %S %U %D  in the query the same as lower case; in result_format they
//             expand the key rather than the value
//   %1 .. %9  the key's domain labels from the right (%1 = com in
//             user@mail.example.com); too few labels suppress the query
// Query expansions are quoted by the database's own quoting function; any
// other character after % is refused when the table is opened.
//
// Reads no parameters of main.cf, logs nothing (errors are returned).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/match_list.h"
#include "maps/table.h"

namespace postern::maps::sql {

// A parsed parameter file.
class Params {
 public:
  // `type` and `path` name the table in messages ("sqlite:/etc/x.cf").
  static Result<Params> read(std::string_view type, const std::string& path);
  static Result<Params> parse(std::string_view type, const std::string& path, std::string_view text);
  // The value, or `fallback` when the file does not set it.
  std::string get(std::string_view name, std::string_view fallback = "") const;
  // A time in seconds, with an optional unit (s, m, h), as Postfix's
  // idle_interval and retry_interval.
  Result<std::chrono::seconds> seconds(std::string_view name, std::string_view fallback) const;
  // yes or no.
  Result<bool> boolean(std::string_view name, std::string_view fallback) const;
  bool has(std::string_view name) const { return values_.find(std::string(name)) != values_.end(); }
  const std::string& spec() const { return spec_; }

 private:
  std::map<std::string, std::string> values_;
  std::string spec_;
};

using Quote = std::function<std::string(std::string_view)>;

inline constexpr std::size_t kMaxResult = 1 << 20;

// The query with `key` expanded and quoted; nullopt: suppressed (the key
// lacks a part the template needs), which means "not found".
std::optional<std::string> expand_query(std::string_view tmpl, std::string_view key, const Quote& quote);

// result_format applied to one value; appended to `out` after a ',' when
// `out` is not empty. False when the value was skipped.
bool expand_result(std::string_view tmpl, std::string_view value, std::string_view key, std::string& out);

// The table-independent parameters: query (or the legacy select_field,
// table, where_field, additional_conditions), result_format, domain,
// expansion_limit.
struct Common {
  std::string query;
  std::string result_format = "%s";
  long expansion_limit = 0;
  std::optional<MatchList> domain;

  // `function_query`: the query of a legacy form the table type has of its
  // own (pgsql's select_function), used when `query` is not set.
  static Result<Common> from(const Params& p, const OpenOptions& o, std::string_view function_query = "");
  // The domain filter: with a domain list, only user@domain keys with a
  // non-empty user and a listed domain are looked up.
  Result<bool> eligible(std::string_view key);
  // Applies result_format to each value in turn, counting against
  // expansion_limit. An error when the limit is passed, or when the
  // joined result would grow past kMaxResult bytes (a database is as
  // hostile an input as any other: its answer is bounded).
  class Results {
   public:
    Results(const Common& c, std::string_view key) : c_(c), key_(key) {}
    Status add(std::string_view value);
    // nullopt when no value was kept.
    std::optional<std::string> take();

   private:
    const Common& c_;
    std::string key_;
    std::string out_;
    long count_ = 0;
  };
};

// The servers of a table with `hosts` (mysql, pgsql): tried in the order
// given (the caller shuffles them as Postfix does); one that fails is not
// tried again for retry_interval.
class Servers {
 public:
  using Clock = std::chrono::steady_clock;
  Servers(std::size_t count, std::chrono::seconds retry) : dead_until_(count), retry_(retry) {}
  // The servers that may be tried now, in order.
  std::vector<std::size_t> due(Clock::time_point now) const;
  void failed(std::size_t i, Clock::time_point now) { dead_until_[i] = now + retry_; }
  // The error when no server could be tried at all.
  Error none_due() const;

 private:
  std::vector<Clock::time_point> dead_until_;
  std::chrono::seconds retry_;
};

// Checks a template's % sequences (`result`: result_format).
Status check_template(std::string_view tmpl, bool result);

}  // namespace postern::maps::sql
