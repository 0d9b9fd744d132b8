// command.h - the engine behind the postmap(1) and postalias(1) commands.
//
//   postmap   [-Nbfhimnoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
//   postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
//
// Modes (Postfix's semantics and output):
//   build      (default) rebuild each file.db from file; -i: add stdin to it
//   -q key     print the first value found in the listed tables; exit 0 when
//              found, 1 when not; "-q -" reads keys from stdin and prints
//              "key<TAB>value" (postalias: "key:<TAB>value") per key found
//   -d key     delete key from every listed table; exit 0 when one had it;
//              "-d -" reads keys from stdin
//   -s         print every entry of the first table, "key<TAB>value"
//              (postalias: "key:<TAB>value")
// Flags: -N/-n write (and look up) keys with/without a trailing null byte,
// -f no case folding, -r replace and -w ignore duplicates (default: warn),
// -o keep root privileges, -p do not copy the source file's permissions,
// -u accepted (Postern does no UTF-8 specific processing), -v verbose.
// postmap's message query modes, for testing header_checks and body_checks
// tables, with "-q -" only: the input is a message; -h makes each logical
// header a key (a folded one with its embedded newlines), -b each body line;
// without -m the headers are the message's own and everything after them
// is body (-h alone stops at the first non-header line; the empty line
// that ends a header section is a body key, as in Postfix), with -m the MIME
// structure is followed as cleanup does (part and attached-message headers
// are headers, not body). header_size_limit, mime_nesting_limit and
// mime_boundary_length_limit apply. Postfix's -F and -U are refused with an
// explicit message.
//
// Errors end the command with "postmap: fatal: ..." on stderr (and the log)
// and exit status 1, as in Postfix. Reads MAIL_CONFIG and MAIL_VERBOSE.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace postern::maps {

enum class Program { Postmap, Postalias };

// The main.cf parameters these commands use.
struct CommandSettings {
  std::string default_database_type = "hash";
  std::string myhostname;                                // postalias YP_MASTER_NAME
  std::size_t db_create_buffer_size = 16 * 1024 * 1024;  // berkeley_db_create_buffer_size
  std::size_t db_read_buffer_size = 128 * 1024;          // berkeley_db_read_buffer_size
  std::size_t lmdb_map_size = 16 * 1024 * 1024;          // lmdb_map_size
  std::size_t header_size_limit = 102400;                // -h/-b: header_size_limit
  std::size_t mime_nesting_limit = 100;                  // -m: mime_nesting_limit
  std::size_t mime_boundary_length_limit = 2048;         // -m: mime_boundary_length_limit
};

// Reads main.cf from the -c directory (nullopt: $MAIL_CONFIG or the default).
using SettingsLoader = std::function<Result<CommandSettings>(const std::optional<std::string>& config_dir)>;

struct CommandIo {
  std::istream& in;   // -i entries, "-q -" and "-d -" keys
  std::ostream& out;  // query and -s output
};

// Runs the command with `args` (without the program name); returns the exit
// status. Diagnostics go through log:: (initialise it first).
int run_table_command(Program program, const std::vector<std::string>& args, CommandIo io,
                      const SettingsLoader& load_settings);

}  // namespace postern::maps
