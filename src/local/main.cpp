// local - the local delivery agent (Postfix local(8)); master.cf "local unix - n n - - local".
//
// A privileged single-client server: it keeps root as its real and saved uid
// (unpriv = n, working as mail_owner) so that each delivery can become the
// recipient, and serves delivery requests on
// private/local, one at a time, several on one connection when qmgr keeps
// it: read the request, deliver every recipient, answer one dsn/text/relay
// per recipient (ipc/proto/deliver.h). The
// deliveries themselves are blocking and run in privilege-dropped workers
// (agent.h explains the design); one request at a time per process, like
// Postfix's local. Alias tables are opened before anything else and the
// process retires after a request when one of them changed.
//
// Parameters: see agent.h, plus ipc_timeout and the skeleton's
// (server/mailbox_agent.h).
// Logs: one status line per destination (agent.h); warnings for malformed
// requests.
#include "agent.h"
#include "server/mailbox_agent.h"

int main(int argc, char** argv) {
  return postern::server::run_mailbox_agent<postern::local::Agent, postern::local::Settings>(argc, argv, "local");
}
