// table_main.cpp - see table_main.h.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "base/strings.h"
#include "config/config.h"
#include "log/log.h"
#include "maps/command.h"
#include "postern/paths.h"
#include "table_main.h"

namespace postern::tool {
namespace {

const char* g_name = "postmap";

Result<maps::CommandSettings> load_settings(const std::optional<std::string>& dir) {
  auto cfg = config::Config::load(dir ? *dir : paths::kConfigDir);
  if (!cfg) return cfg.take_error();
  log::Settings ls;
  ls.syslog_name = cfg->str("syslog_name");
  ls.facility = cfg->str("syslog_facility");
  ls.mirror_stderr = true;
  log::init(g_name, ls);
  maps::CommandSettings s;
  s.default_database_type = cfg->str("default_database_type");
  s.myhostname = cfg->str("myhostname");
  if (auto v = cfg->get("berkeley_db_create_buffer_size"))
    if (auto n = str::parse_uint(*v)) s.db_create_buffer_size = *n;
  if (auto v = cfg->get("berkeley_db_read_buffer_size"))
    if (auto n = str::parse_uint(*v)) s.db_read_buffer_size = *n;
  s.lmdb_map_size = static_cast<std::size_t>(cfg->integer("lmdb_map_size"));
  s.header_size_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg->size("header_size_limit")));
  s.mime_nesting_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg->integer("mime_nesting_limit")));
  s.mime_boundary_length_limit =
      static_cast<std::size_t>(std::max<std::int64_t>(1, cfg->integer("mime_boundary_length_limit")));
  return s;
}

}  // namespace

int table_command_main(maps::Program program, const char* name, int argc, char** argv) {
  g_name = name;
  log::Settings ls;
  ls.mirror_stderr = true;
  log::init(name, ls);
  std::vector<std::string> args(argv + 1, argv + argc);
  int rc = maps::run_table_command(program, args, {std::cin, std::cout}, load_settings);
  log::flush();
  return rc;
}

}  // namespace postern::tool
