// text_tables.h - tables compiled from text, openable from any stream.
//
// open_table("regexp:/file") and friends read the file and call these; tests
// and fuzzers call them directly with in-memory text. `name` is the table
// name used in warnings ("regexp map NAME, line N: ..."). Bad lines and bad
// patterns never fail the whole table: they are skipped with a warning.
#pragma once

#include <istream>
#include <memory>
#include <string>

#include "maps/table.h"

namespace postern::maps {

std::unique_ptr<Table> parse_texthash_table(std::string name, std::istream& in, const OpenOptions& o = {});
std::unique_ptr<Table> parse_regexp_table(std::string name, std::istream& in, const OpenOptions& o = {});
std::unique_ptr<Table> parse_pcre_table(std::string name, std::istream& in, const OpenOptions& o = {});
std::unique_ptr<Table> parse_cidr_table(std::string name, std::istream& in, const OpenOptions& o = {});

}  // namespace postern::maps
