// table_main.h - the shared main() of postmap and postalias: read main.cf
// (default_database_type, myhostname, syslog_name, syslog_facility, the
// Berkeley DB buffer sizes), then hand the arguments to
// maps::run_table_command(). Messages go to stderr as "NAME: fatal: ...".
#pragma once

#include "maps/command.h"

namespace postern::tool {

int table_command_main(maps::Program program, const char* name, int argc, char** argv);

}  // namespace postern::tool
