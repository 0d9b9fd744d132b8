// instance.h - what `postern init`, `check` and `set-permissions` do to a
// configuration directory and its queue.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "config/master_cf.h"

namespace postern::tool {

extern const char* const kSampleMasterCf;
extern const char* const kSampleMainCf;

// Where daemons and commands are: the build tree when this program runs
// from it, else the compiled-in installation paths.
std::string default_daemon_directory();
std::string default_command_directory();

// Writes DIR/main.cf and DIR/master.cf for a self-contained instance
// unless they exist. `smtp_port` is the SMTP listener on 127.0.0.1.
Status init_instance(const std::filesystem::path& dir, int smtp_port);

// Creates mail_owner and setgid_group when missing (root only), builds the
// queue tree with the modes and owners of queue/layout.h, and fixes the
// setgid commands. Prints what it changed.
Status set_permissions(const config::Config& cfg);

// Problems found in the configuration and queue tree, one line each.
std::vector<std::string> check_instance(const config::Config& cfg);

// Whether the -o overrides of master.cf service `s` are values its daemons
// will accept (config::apply_service_overrides() on a copy of `cfg`); the
// error names the master.cf line. A bad one would otherwise only stop that
// service's daemons, each start logged and throttled by the master.
Status check_service_overrides(const config::Config& cfg, const config::MasterService& s);

// Runs a program (execvp: found in PATH, never through a shell) and waits:
// its exit status, or an Error when it could not be started or was killed.
Result<int> run_program(const std::vector<std::string>& args);

}  // namespace postern::tool
