// map_list.h - a list of tables searched in order, like main.cf's *_maps parameters.
//
//   alias_maps = hash:/etc/aliases, proxy:unix:passwd.byname
//
// Elements are separated by commas or white space; "{...}" groups stay
// whole, so inline:{ a=b, c=d } is one element. lookup() returns the first
// table's answer; a table error stops the search and is returned (the caller
// defers), as Postfix's maps_find() does. An empty value is a configuration
// error ("... should return NO RESULT in case of NOT FOUND"), and an empty
// key is never found.
//
// Logs: warnings for table errors and empty results, naming the title
// (usually the parameter name, e.g. "alias_maps").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/table.h"

namespace postern::maps {

class MapList {
 public:
  MapList() = default;
  MapList(std::string title, std::vector<std::unique_ptr<Table>> tables)
      : title_(std::move(title)), tables_(std::move(tables)) {}
  MapList(MapList&&) = default;
  MapList& operator=(MapList&&) = default;

  // Opens every table of `list`. Fails on the first table that cannot be
  // opened, naming the title.
  static Result<MapList> open(std::string_view title, std::string_view list, const OpenOptions& opts = {});

  // fixed_only: skip pattern tables (regexp, pcre, cidr); the address search
  // uses it for partial keys, which patterns must not match.
  Result<std::optional<std::string>> lookup(std::string_view key, bool fixed_only = false);

  bool empty() const { return tables_.empty(); }
  std::size_t size() const { return tables_.size(); }
  Table& at(std::size_t i) { return *tables_.at(i); }
  const std::string& title() const { return title_; }
  // True when any table's file changed since it was opened.
  bool changed() const;

 private:
  std::string title_;
  std::vector<std::unique_ptr<Table>> tables_;
};

}  // namespace postern::maps
