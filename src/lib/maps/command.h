// command.h - the engine behind the postmap(1) and postalias(1) commands.
//
//   postmap   [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
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
// Postfix's -b, -h, -m, -F and -U are refused with an explicit message.
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
