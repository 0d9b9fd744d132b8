// table.h - Postfix-compatible lookup tables opened by "type:name".
//
// A Table answers lookup(key) with a value, "not found", or an error (the
// table could not answer: I/O, lock or open failure), so that callers can
// defer mail instead of treating a broken table as an empty one. Types:
//
//   hash:/p, btree:/p   Berkeley DB file /p.db, Postfix's on-disk conventions
//   lmdb:/p             LMDB file /p.lmdb (lmdb_table.cpp)
//   cdb:/p              constant database /p.cdb, built whole (cdb_table.cpp)
//   texthash:/p         the postmap(1) source file /p, read into memory
//   inline:{k=v, ...}   keys and values in the name itself
//   static:value        every key maps to value (static:{ text with space })
//   regexp:/p, pcre:/p  regexp_table(5) / pcre_table(5) pattern files
//   cidr:/p             cidr_table(5) network blocks
//   unix:passwd.byname  getpwnam(3), unix:group.byname getgrnam(3)
//   proxy:type:name     through proxymap in a chrooted daemon, else opened directly
//                       (proxy_table.cpp, config/proxy_settings.h)
//   tcp:host:port, socketmap:inet:host:port:name, socketmap:unix:path:name
//                       client/server tables (maps/net_tables.h)
//   pipemap:{t:n, ...}, unionmap:{t:n, ...}  tables of tables (composite_tables.cpp)
//   sqlite:/file.cf     SQLite queries, sqlite_table(5) (sql_common.h, sqlite_table.cpp)
//   mysql:/file.cf, pgsql:/file.cf  MySQL and PostgreSQL servers (mysql_table.cpp,
//                       pgsql_table.cpp)
//
// Key case: like Postfix's DICT_FLAG_FOLD_FIX, fixed-string tables (hash,
// btree, texthash, inline, unix) lowercase keys when they are written and
// looked up; pattern tables (regexp, pcre, cidr) see the key as given and do
// their own case handling (the `i` flag), unless fold_mul is set.
//
// A Table is not thread-safe: use one per thread (daemons are single-threaded).
//
// Source-file problems (bad lines, bad patterns) are warnings, never fatal:
// the line is skipped, the warning is kept in warnings() as "file, line N:
// text" and, unless log_warnings is false, logged with log::warning.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace postern::maps {

// Trailing-null convention of Berkeley DB keys and values (Postfix's
// DICT_FLAG_TRY1NULL / DICT_FLAG_TRY0NULL). Auto: lookups try "key\0" then
// "key" and stick with whichever form matched first; writes use the
// platform default, which on Linux is "with null" (what Postfix's postmap
// writes without -n or -N).
enum class NullMode { Auto, With, Without };

// What update() does when the key already exists (postmap -r / -w).
enum class Duplicates {
  Warn,     // keep the old value, warn "duplicate entry" (the default)
  Ignore,   // keep the old value silently (postmap -w)
  Replace,  // store the new value (postmap -r)
  Error,    // keep the old value, update() returns an error
};

enum class Access {
  ReadOnly,  // lookups only
  Update,    // change a database in place (postmap -i / -d); created when missing
  Rebuild,   // write a new database; commit() atomically replaces the old one
};

struct OpenOptions {
  Access access = Access::ReadOnly;
  bool create = true;     // Access::Update: create a missing database
  bool fold_fix = true;   // lowercase keys of fixed-string tables
  bool fold_mul = false;  // also lowercase keys given to pattern tables
  NullMode nulls = NullMode::Auto;
  Duplicates duplicates = Duplicates::Warn;
  // Take flock(2) locks around every database access (shared for reads,
  // exclusive for writes), the protocol Postfix's daemons and postmap use.
  bool lock = true;
  bool log_warnings = true;
  // Berkeley DB memory pool size: berkeley_db_read_buffer_size for readers,
  // berkeley_db_create_buffer_size for Rebuild.
  std::size_t db_cache_size = 128 * 1024;
  // lmdb: the initial memory map of a table being written (lmdb_map_size);
  // it doubles when an update fills it. Readers map the file's size.
  std::size_t lmdb_map_size = 16 * 1024 * 1024;
  // Rebuild: permissions of the new file (default 0644 minus the umask).
  std::optional<mode_t> create_mode;
  // tcp: and socketmap: tables: the whole of one lookup (connect, request,
  // reply). Postfix's fixed 100 seconds; the tests shorten it.
  std::chrono::milliseconds server_timeout{100000};
  // Postfix's "paranoid" tables (DICT_FLAG_PARANOID: virtual(8)'s three,
  // alias_maps, mailbox_command_maps), whose result names a file, a uid or a
  // command, which a sender must not be able to choose and an unprivileged
  // process must not be able to forge:
  // - regexp and pcre: a rule whose result uses $1, $2... is skipped with a
  //   warning (DICT_FLAG_NO_REGSUB);
  // - proxy:TYPE:NAME opens TYPE:NAME directly, not through proxymap, whose
  //   answers any mail_owner process could fake (DICT_FLAG_NO_PROXY);
  // - tcp: and socketmap:, whose answers nothing authenticates, are refused
  //   (DICT_FLAG_NO_UNAUTH).
  // It applies to the tables inside unionmap: and pipemap: too.
  bool paranoid = false;
  // DICT_FLAG_NO_REGSUB alone: regexp and pcre rules whose result uses $1,
  // $2... are skipped with a warning. trivial-rewrite's transport and
  // sender-dependent tables, whose result is a next hop that the sender or
  // recipient must not be able to choose (Postfix's transport(5)).
  bool no_regsub = false;
};

// Largest logical line accepted from a table source file; longer lines are
// skipped with a warning so that a corrupt file cannot exhaust memory.
inline constexpr std::size_t kMaxLineLength = 1 << 20;

class Table {
 public:
  virtual ~Table() = default;
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }
  std::string spec() const { return type_ + ":" + name_; }

  // Fixed-string keys (true) or patterns (false). Address searches try the
  // partial keys user@domain (extension stripped), user and @domain only on
  // fixed tables, as Postfix does (DICT_FLAG_FIXED).
  virtual bool fixed() const = 0;

  // The value for `key`; nullopt when not found.
  virtual Result<std::optional<std::string>> lookup(std::string_view key) = 0;

  // Store key -> value. Returns true when stored, false when an existing
  // entry was kept (Duplicates::Warn or Ignore). Tables that cannot be
  // written return an error.
  virtual Result<bool> update(std::string_view key, std::string_view value);
  // Remove key; true when it existed.
  virtual Result<bool> remove(std::string_view key);
  // Visit every entry in table order until `fn` returns false (postmap -s).
  virtual Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn);
  // Access::Rebuild: flush, fsync and atomically rename the new database into
  // place. Without a successful commit() the partial file is removed.
  virtual Status commit();
  // True when the file behind the table was modified or replaced since it was
  // opened; long-running processes then finish their work and restart.
  virtual bool changed() const { return false; }
  // The file that holds this table's data when the table is one indexed
  // file ("/etc/aliases.db" for hash:/etc/aliases); empty otherwise.
  virtual std::string file_path() const { return {}; }

  // Postalias switches conventions for its trailing NIS entries (written
  // without null, keys not folded), as Postfix's postalias does.
  void set_nulls(NullMode m) {
    opts_.nulls = m;
    on_nulls_changed();
  }
  void set_fold_fix(bool on) { opts_.fold_fix = on; }
  void set_duplicates(Duplicates d) { opts_.duplicates = d; }
  const OpenOptions& options() const { return opts_; }

  // "file, line N: text" for every problem found in the source.
  const std::vector<std::string>& warnings() const { return warnings_; }

 protected:
  Table(std::string type, std::string name, OpenOptions opts)
      : type_(std::move(type)), name_(std::move(name)), opts_(std::move(opts)) {}
  // Records (and optionally logs) one warning.
  void warn(std::string text);
  // Key as a fixed-string table stores it: lowercased when fold_fix is set,
  // cut at the first NUL byte (Postfix keys are C strings).
  std::string fixed_key(std::string_view key) const;
  // Key as a pattern table sees it.
  std::string pattern_key(std::string_view key) const;
  virtual void on_nulls_changed() {}

 private:
  std::string type_;
  std::string name_;
  OpenOptions opts_;
  std::vector<std::string> warnings_;
};

// Splits "type:name". Errors for a missing colon or an empty part, with
// Postfix's wording.
Result<std::pair<std::string, std::string>> split_spec(std::string_view spec);

// Opens a table. Unknown types fail with "unsupported dictionary type: foo".
Result<std::unique_ptr<Table>> open_table(std::string_view spec, const OpenOptions& opts = {});
Result<std::unique_ptr<Table>> open_table(std::string_view type, std::string_view name,
                                          const OpenOptions& opts = {});

// Table types Postern supports (postconf -m), sorted.
const std::vector<std::string_view>& supported_types();
bool is_supported_type(std::string_view type);
// Types postmap/postalias can create from a source file.
bool is_buildable_type(std::string_view type);

}  // namespace postern::maps
