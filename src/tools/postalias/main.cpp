// postalias - create, update and query Postfix-compatible alias databases.
//
// Usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
// The input format is aliases(5); see docs/man/postalias.md. The work is
// done by tool::table_command_main() (src/tools/postmap/table_main.h), which reads main.cf (default_database_type, myhostname,
// syslog_name, syslog_facility, berkeley_db_create_buffer_size,
// berkeley_db_read_buffer_size) from -c config_dir, $MAIL_CONFIG or the
// compiled-in directory. Diagnostics go to stderr and syslog as
// "postalias: warning: ..." / "postalias: fatal: ..." (exit status 1).
#include "table_main.h"

int main(int argc, char** argv) {
  return postern::tool::table_command_main(postern::maps::Program::Postalias, "postalias", argc, argv);
}
