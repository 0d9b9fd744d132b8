// build.h - creating and updating database tables from source text.
//
// The work behind postmap(1), postalias(1) and newaliases(1):
//   build_map()        postmap [type:]file     new file.db from "key value" lines
//   update_map()       postmap -i              add lines read from a stream
//   build_aliases()    postalias [type:]file   new file.db from aliases(5) text
//   update_aliases()   postalias -i
//   rebuild_alias_database(alias_database)     newaliases / sendmail -bi
// Rebuilds are atomic (temporary file, then rename). When run as root on a
// source file owned by someone else, the database is written with that
// owner's effective uid/gid (as Postfix does, so a hostile source owner
// cannot trick root into writing elsewhere), and it gets the source file's
// group/other read permissions (never write), unless disabled.
//
// postalias appends Postfix's signature entries: "@" -> "@" (sendmail's "the
// database is complete" mark) and, without trailing nulls and without case
// folding, YP_LAST_MODIFIED (10-digit time) and YP_MASTER_NAME (myhostname),
// which Debian's Postfix (built with NIS support) writes too.
//
// Logs: source warnings ("file, line N: ..."), duplicate entries.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/table.h"

namespace postern::maps {

struct BuildOptions {
  std::string default_type = "hash";          // default_database_type, for names without "type:"
  bool fold = true;                           // postmap -f clears
  NullMode nulls = NullMode::Auto;            // -N: With, -n: Without
  Duplicates duplicates = Duplicates::Warn;   // -r: Replace, -w: Ignore
  bool as_source_owner = true;                // -o clears
  bool inherit_permissions = true;            // -p clears
  std::size_t cache_size = 16 * 1024 * 1024;  // berkeley_db_create_buffer_size
  std::size_t lmdb_map_size = 16 * 1024 * 1024;  // lmdb_map_size
  bool log_warnings = true;
  // postalias only.
  std::string myhostname;   // YP_MASTER_NAME; empty: gethostname()
  bool nis_entries = true;  // write YP_LAST_MODIFIED / YP_MASTER_NAME
};

struct BuildReport {
  std::string db_path;                // the file written ("/etc/aliases.db")
  std::size_t stored = 0;             // entries stored
  std::size_t skipped = 0;            // bad lines and duplicates kept out
  std::vector<std::string> warnings;  // in the order found
};

// `spec` is "[type:]file"; the type must be buildable (hash, btree, lmdb, cdb).
Result<BuildReport> build_map(std::string_view spec, const BuildOptions& opts = {});
Result<BuildReport> update_map(std::string_view spec, std::istream& in, std::string_view in_name,
                               const BuildOptions& opts = {});
Result<BuildReport> build_aliases(std::string_view spec, const BuildOptions& opts = {});
Result<BuildReport> update_aliases(std::string_view spec, std::istream& in, std::string_view in_name,
                                   const BuildOptions& opts = {});

// newaliases: rebuilds every table named in `alias_database` (a list of
// [type:]file, e.g. "hash:/etc/aliases, hash:/etc/mail/extra"). Stops at
// the first failure.
Status rebuild_alias_database(std::string_view alias_database, const BuildOptions& opts = {});

// "[type:]file" with the default type filled in.
std::pair<std::string, std::string> split_with_default(std::string_view spec, std::string_view default_type);

}  // namespace postern::maps
