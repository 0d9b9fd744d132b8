// config_dir.h - may this caller choose this configuration directory?
//
// A set-gid command (postdrop, postqueue) must not let its user point it at
// a main.cf of their own: that file names the queue directory and more, and
// the command acts with the set-gid group's rights there. The rule is
// Postfix's: when the process runs with raised privileges (effective and
// real ids differ) and the real user is not root, the directory must be the
// built-in default, one listed in the default main.cf's
// alternate_config_directories, or a directory that root owns and nobody
// else may write (with its main.cf likewise). Otherwise the choice is free.
//
// Reads the default main.cf (alternate_config_directories); logs nothing.
#pragma once

#include <filesystem>

#include "base/result.h"

namespace postern::config {

// The directory to load when `dir` may be used; an Error with the reason
// otherwise. In a privileged run that is the path that was checked, with
// every symbolic link resolved: loading `dir` as given would let the user
// swap a link between the check and the load.
Result<std::filesystem::path> check_config_dir_choice(const std::filesystem::path& dir);

}  // namespace postern::config
