// internal.h - per-type table constructors behind open_table() (not a public API).
#pragma once

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "maps/table.h"

namespace postern::maps::detail {

Result<std::unique_ptr<Table>> open_db(std::string_view type, std::string_view name, const OpenOptions& o);
// Files of the indexed types (hash, btree, lmdb, cdb), db_files.cpp.
// "dir/name" -> {"dir", "name"} ("." for a bare name, "/" at the root).
std::pair<std::string, std::string> split_dir(const std::string& path);
// A fresh name next to `path` for a rebuild that is renamed into place.
std::string unique_temp_name(const std::string& path);
// fsync() of the directory holding `path`, after a rename into it.
void sync_parent_dir(const std::string& path);
// Record bytes as a C string: up to the first NUL (keys and values are C
// strings in Postfix, whichever null convention the file uses).
std::string c_string(const void* data, std::size_t size);
// "database X is older than source file Y" when the source changed after
// the last build (and not within the last 100 s), else nothing.
std::optional<std::string> stale_source_warning(const std::string& db_path, const std::string& source);

// The trailing-null convention of an indexed file, as Postfix keeps it
// (DICT_FLAG_TRY0NULL/TRY1NULL): lookups try "key\0", then "key", and stick
// with the form that matched first, so files written either way (or by
// other programs) are found.
struct NullConvention {
  bool with = true;     // still try keys with a trailing null
  bool without = true;  // still try keys without
  void reset(NullMode mode) {
    with = mode != NullMode::Without;
    without = mode != NullMode::With;
  }
  bool tries(bool with_null) const { return with_null ? with : without; }
  void matched(bool with_null) { (with_null ? without : with) = false; }
  // A writer that is still undecided takes the Linux convention, with null.
  bool writes_null() {
    if (with && without) without = false;
    return with;
  }
};

// lmdb:/p lives in /p.lmdb, cdb:/p in /p.cdb (lmdb_table.cpp, cdb_table.cpp).
Result<std::unique_ptr<Table>> open_lmdb(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_cdb(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_texthash(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_inline(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_static(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_regexp(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_pcre(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_cidr(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_unix(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_tcp(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_socketmap(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_sqlite(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_pgsql(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_mysql(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_pipemap(std::string_view name, const OpenOptions& o);
Result<std::unique_ptr<Table>> open_unionmap(std::string_view name, const OpenOptions& o);
// proxy:type:name, in the process or through proxymap (proxy_table.cpp).
Result<std::unique_ptr<Table>> open_proxy(std::string_view name, const OpenOptions& o);

// One server of a mysql: table's `hosts`: unix:/socket, inet:host[:port] or
// host[:port] (port 0: the library's default).
struct MysqlHost {
  std::string socket, host;
  unsigned port = 0;
  static Result<MysqlHost> parse(std::string_view text);
  std::string text() const;
};

// Identity of a file at one moment, to notice edits and replacements
// (Postfix's dict_changed_name(): new mtime, or the open file was unlinked).
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  struct timespec mtime {};
  static FileStamp of(const struct stat& st);
  // True when `path` now names a different file or a modified one.
  bool differs_from_path(const std::string& path) const;
  // The same, or the file open as `fd` (when >= 0) was removed: an indexed
  // table replaced by a rebuild.
  bool replaced(int fd, const std::string& path) const;
};

// Refuses write access for read-only table types, with Postfix's wording.
Status require_read_only(std::string_view type, std::string_view name, const OpenOptions& o);

}  // namespace postern::maps::detail
