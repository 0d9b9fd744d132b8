// map_list.cpp - see map_list.h. Postfix's maps_find() semantics.
#include "maps/map_list.h"

#include "base/strings.h"
#include "log/log.h"
#include "maps/source.h"

namespace postern::maps {

Result<MapList> MapList::open(std::string_view title, std::string_view list, const OpenOptions& opts) {
  std::vector<std::unique_ptr<Table>> tables;
  for (const auto& spec : split_braced(list)) {
    auto t = open_table(spec, opts);
    if (!t) return make_error("{}: {}", title, t.error().message);
    tables.push_back(std::move(*t));
  }
  return MapList(std::string(title), std::move(tables));
}

Result<std::optional<std::string>> MapList::lookup(std::string_view key, bool fixed_only) {
  if (key.empty()) return std::optional<std::string>();
  for (auto& t : tables_) {
    if (fixed_only && !t->fixed()) continue;
    auto r = t->lookup(key);
    if (!r) {
      log::warning("{} lookup error for \"{}\": {}", t->spec(), str::printable(key), r.error().message);
      return make_error("{}: {} lookup error for \"{}\": {}", title_, t->spec(), str::printable(key),
                        r.error().message);
    }
    if (!r->has_value()) continue;
    if ((*r)->empty()) {
      log::warning("{} lookup of {} returns an empty string result", title_, str::printable(key));
      log::warning("{} should return NO RESULT in case of NOT FOUND", title_);
      return make_error("{} lookup of {} returns an empty string result", title_, str::printable(key));
    }
    return r;
  }
  return std::optional<std::string>();
}

bool MapList::changed() const {
  for (const auto& t : tables_)
    if (t->changed()) return true;
  return false;
}

}  // namespace postern::maps
