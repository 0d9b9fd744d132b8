// virtual - the virtual mailbox delivery agent (Postfix virtual(8));
// master.cf "virtual unix - n n - - virtual".
//
// A privileged single-client server like local: it keeps root as its real
// and saved uid (unpriv = n, working as mail_owner) so that each delivery can become the mailbox owner from
// virtual_uid_maps/virtual_gid_maps, and serves delivery requests on
// private/virtual, one at a time, several on one connection when qmgr
// keeps it (ipc/proto/deliver.h). The tables are opened in pre_drop, before
// anything else; the process retires after a request when one of them
// changed. The file work runs in privilege-dropped workers (agent.h).
//
// Parameters: see agent.h, plus ipc_timeout and the skeleton's
// (server/mailbox_agent.h).
// Logs: one status line per recipient (agent.h); warnings for malformed
// requests and configuration errors.
#include "agent.h"
#include "server/mailbox_agent.h"

int main(int argc, char** argv) {
  return postern::server::run_mailbox_agent<postern::virt::Agent, postern::virt::Settings>(argc, argv, "virtual");
}
