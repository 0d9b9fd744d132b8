// postalias - create, update and query Postfix-compatible alias databases.
//
// Usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
// The input format is aliases(5); see docs/man/postalias.md. The work is
// done by maps::run_table_command(); this file only reads main.cf (default_database_type, myhostname,
// syslog_name, syslog_facility, berkeley_db_create_buffer_size,
// berkeley_db_read_buffer_size) from -c config_dir, $MAIL_CONFIG or the
// compiled-in directory. Diagnostics go to stderr and syslog as
// "postalias: warning: ..." / "postalias: fatal: ..." (exit status 1).
#include <iostream>
#include <string>
#include <vector>

#include "base/strings.h"
#include "config/config.h"
#include "log/log.h"
#include "maps/command.h"
#include "postern/paths.h"

using namespace postern;

namespace {

Result<maps::CommandSettings> load_settings(const std::optional<std::string>& dir) {
  auto cfg = config::Config::load(dir ? *dir : paths::kConfigDir);
  if (!cfg) return cfg.take_error();
  log::Settings ls;
  ls.syslog_name = cfg->str("syslog_name");
  ls.facility = cfg->str("syslog_facility");
  ls.mirror_stderr = true;
  log::init("postalias", ls);
  maps::CommandSettings s;
  s.default_database_type = cfg->str("default_database_type");
  s.myhostname = cfg->str("myhostname");
  if (auto v = cfg->get("berkeley_db_create_buffer_size"))
    if (auto n = str::parse_uint(*v)) s.db_create_buffer_size = *n;
  if (auto v = cfg->get("berkeley_db_read_buffer_size"))
    if (auto n = str::parse_uint(*v)) s.db_read_buffer_size = *n;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  log::Settings ls;
  ls.mirror_stderr = true;
  log::init("postalias", ls);
  std::vector<std::string> args(argv + 1, argv + argc);
  int rc = maps::run_table_command(maps::Program::Postalias, args, {std::cin, std::cout}, load_settings);
  log::flush();
  return rc;
}
