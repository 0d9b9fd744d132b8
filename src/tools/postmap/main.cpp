// postmap - create, update and query Postfix-compatible lookup tables.
//
// Usage: postmap [-Nbfhimnoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file ...
// See docs/man/postmap.md. The work is done by tool::table_command_main()
// (table_main.h), which reads main.cf (default_database_type, myhostname,
// syslog_name, syslog_facility, berkeley_db_create_buffer_size,
// berkeley_db_read_buffer_size) from -c config_dir, $MAIL_CONFIG or the
// compiled-in directory. Diagnostics go to stderr and syslog as
// "postmap: warning: ..." / "postmap: fatal: ..." (exit status 1).
#include "table_main.h"

int main(int argc, char** argv) {
  return postern::tool::table_command_main(postern::maps::Program::Postmap, "postmap", argc, argv);
}
