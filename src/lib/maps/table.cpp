// table.cpp - the Table base class and open_table(), the "type:name" dispatcher.
//
// Error texts follow Postfix's dict_open() so that admins recognise them:
// "unsupported dictionary type: foo", "open dictionary: expecting
// "type:name" form instead of "foo"". Logs source-file warnings when the
// table was opened with log_warnings.
#include "maps/table.h"

#include <algorithm>
#include <array>

#include "base/strings.h"
#include "log/log.h"
#include "maps/internal.h"

namespace postern::maps {

void Table::warn(std::string text) {
  if (opts_.log_warnings) log::warning("{}", text);
  warnings_.push_back(std::move(text));
}

std::string Table::fixed_key(std::string_view key) const {
  if (auto nul = key.find('\0'); nul != std::string_view::npos) key = key.substr(0, nul);
  return opts_.fold_fix ? str::lower(key) : std::string(key);
}

std::string Table::pattern_key(std::string_view key) const {
  if (auto nul = key.find('\0'); nul != std::string_view::npos) key = key.substr(0, nul);
  return opts_.fold_mul ? str::lower(key) : std::string(key);
}

Result<bool> Table::update(std::string_view, std::string_view) {
  return make_error("table {}: update is not supported for this table type", spec());
}

Result<bool> Table::remove(std::string_view) {
  return make_error("table {}: delete is not supported for this table type", spec());
}

Status Table::for_each(const std::function<bool(std::string_view, std::string_view)>&) {
  return make_error("table {}: sequential access is not supported for this table type", spec());
}

Status Table::commit() { return {}; }

Result<std::pair<std::string, std::string>> split_spec(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size())
    return make_error("open dictionary: expecting \"type:name\" form instead of \"{}\"", spec);
  return std::pair{std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

namespace {

using Opener = Result<std::unique_ptr<Table>> (*)(std::string_view, const OpenOptions&);

struct TypeEntry {
  std::string_view type;
  Opener open;
};

Result<std::unique_ptr<Table>> open_hash(std::string_view n, const OpenOptions& o) {
  return detail::open_db("hash", n, o);
}
Result<std::unique_ptr<Table>> open_btree(std::string_view n, const OpenOptions& o) {
  return detail::open_db("btree", n, o);
}
// Sorted by type name.
constexpr std::array<TypeEntry, 19> kTypes{{
    {"btree", open_btree},
    {"cdb", detail::open_cdb},
    {"cidr", detail::open_cidr},
    {"hash", open_hash},
    {"inline", detail::open_inline},
    {"lmdb", detail::open_lmdb},
    {"mysql", detail::open_mysql},
    {"pcre", detail::open_pcre},
    {"pgsql", detail::open_pgsql},
    {"pipemap", detail::open_pipemap},
    {"proxy", detail::open_proxy},
    {"regexp", detail::open_regexp},
    {"socketmap", detail::open_socketmap},
    {"sqlite", detail::open_sqlite},
    {"static", detail::open_static},
    {"tcp", detail::open_tcp},
    {"texthash", detail::open_texthash},
    {"unionmap", detail::open_unionmap},
    {"unix", detail::open_unix},
}};

const TypeEntry* find_type(std::string_view type) {
  for (const auto& e : kTypes)
    if (e.type == type) return &e;
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<Table>> open_table(std::string_view type, std::string_view name,
                                          const OpenOptions& opts) {
  const TypeEntry* e = find_type(type);
  if (!e) return make_error("unsupported dictionary type: {}", type);
  if (name.empty())
    return make_error("open dictionary: expecting \"type:name\" form instead of \"{}:\"", type);
  return e->open(name, opts);
}

Result<std::unique_ptr<Table>> open_table(std::string_view spec, const OpenOptions& opts) {
  auto parts = split_spec(spec);
  if (!parts) return parts.take_error();
  return open_table(parts->first, parts->second, opts);
}

const std::vector<std::string_view>& supported_types() {
  static const std::vector<std::string_view> types = [] {
    std::vector<std::string_view> v;
    for (const auto& e : kTypes) v.push_back(e.type);
    return v;
  }();
  return types;
}

bool is_supported_type(std::string_view type) { return find_type(type) != nullptr; }

bool is_buildable_type(std::string_view type) {
  return type == "hash" || type == "btree" || type == "lmdb" || type == "cdb";
}

namespace detail {

FileStamp FileStamp::of(const struct stat& st) {
  FileStamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mtime = st.st_mtim;
  return s;
}

bool FileStamp::differs_from_path(const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return true;
  return st.st_dev != dev || st.st_ino != ino || st.st_mtim.tv_sec != mtime.tv_sec ||
         st.st_mtim.tv_nsec != mtime.tv_nsec;
}

bool FileStamp::replaced(int fd, const std::string& path) const {
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_nlink == 0) return true;
  return differs_from_path(path);
}

Status require_read_only(std::string_view type, std::string_view name, const OpenOptions& o) {
  if (o.access != Access::ReadOnly) return make_error("{}:{} map requires O_RDONLY access mode", type, name);
  return {};
}

}  // namespace detail
}  // namespace postern::maps
