// postcat.h - print a queue file the way Postfix's postcat does.
//
// Split from main.cpp so that the output format can be unit tested.
// Reads no parameters; the caller finds the file (see find_queue_file).
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"
#include "queue/queue_id.h"
#include "queue/reader.h"

namespace postern::postcat {

enum Flags : unsigned {
  kPrintEnvelope = 1u << 0,     // -e
  kPrintHeader = 1u << 1,       // -h
  kPrintBody = 1u << 2,         // -b
  kPrintOffset = 1u << 3,       // -o
  kPrintDecimalType = 1u << 4,  // -d
  kPrintAll = kPrintEnvelope | kPrintHeader | kPrintBody,
};

// Writes the records of `reader` (already opened and validated) to `out`,
// naming the file `name` in the *** markers. Errors: reading failed
// midway (the file changed), or writing to `out` failed.
Status print_queue_file(const queue::QueueFileReader& reader, std::string_view name, unsigned flags,
                        std::FILE* out);

// True when `line` starts like an RFC 5322 header field: a name of printable
// characters other than ':' followed by optional white space and ':'.
bool looks_like_header(std::string_view line);

// Searches the queues Postfix's postcat -q searches (maildrop, incoming,
// active, deferred, hold, saved), twice, since a message may move between
// queues while we look. Returns the path relative to `queue_root`.
Result<std::filesystem::path> find_queue_file(const std::filesystem::path& queue_root,
                                              const queue::QueueId& id);

}  // namespace postern::postcat
