// file_io.h - bounded reads and atomic replacement of configuration files.
//
// Configuration files are read whole with a size cap, and rewritten by
// writing a temporary file in the same directory, fsyncing it and renaming it
// over the original, so that a crash leaves either the old or the new file,
// never a mix. Nothing here logs; errors come back as Result.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/read_file.h"
#include "base/result.h"

namespace postern::config {

inline constexpr std::size_t kMaxConfigFileSize = 16 * 1024 * 1024;

// Reads the whole file; an error if it is larger than `max_size` bytes.
// Errors read "open /etc/postern/main.cf: No such file or directory".
inline Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size = kMaxConfigFileSize) {
  return postern::read_file(path, max_size);
}

// Replaces `path` with `content` atomically: temporary file in the same
// directory, same permissions (and owner, when allowed) as the file it
// replaces (0644 for a new file), fsync, rename, fsync of the directory.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

}  // namespace postern::config
