// read_file.h - a file's content in memory, within a size bound.
//
// Every file a daemon reads whole (main.cf, /etc/hosts, domain-list files,
// bounce logs) is read through here: straight into a string sized from
// fstat() (growing in steps of up to 64 KiB if the file grows meanwhile), so
// a 50-byte /etc/hosts costs 50 bytes and not the bound (a pre-sized buffer
// of the bound is zero-filled and faulted in by every process start). Regular files only; a FIFO or device named by a
// parameter is refused rather than read forever.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/result.h"

namespace postern {

// What to do with a file longer than the bound.
enum class TooLarge {
  Refuse,    // an error: "PATH: file is larger than N bytes"
  KeepHead,  // the first max_size bytes
};

// Errors read "open PATH: reason", "PATH: not a regular file",
// "read PATH: reason". `extra_open_flags` adds to O_RDONLY|O_CLOEXEC|
// O_NOCTTY (e.g. O_NOFOLLOW for files in a queue directory).
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size,
                              TooLarge too_large = TooLarge::Refuse, int extra_open_flags = 0);

}  // namespace postern
