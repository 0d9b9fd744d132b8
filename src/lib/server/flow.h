// flow.h - in_flow_delay: slow down mail intake when qmgr falls behind.
//
// Postfix's token scheme. The master creates one pipe for its lifetime and
// hands its read end to cleanup and qmgr, its write end to qmgr only (as
// descriptors kFlowReadFd and kFlowWriteFd, status.h). qmgr keeps about
// default_process_limit tokens (bytes) in the pipe: one more for each
// message it takes from incoming/ while the incoming queue has a backlog,
// a refill to the full count whenever it has taken all of incoming/. Each
// new message in cleanup takes one token; when there is none, cleanup waits
// in_flow_delay before it answers, and then goes on anyway. So intake is
// never blocked, only slowed, and only while qmgr lags (or is not running)
// - the delay reaches an SMTP client at its first accepted RCPT TO, when
// smtpd opens the message in cleanup.
//
// The server skeleton calls attach_flow_pipe() first thing, before the
// daemon opens anything, so descriptors 5 and 6 are then exactly what the
// master passed (or closed). Until then, and in a process with no pipe there
// (tests, tools, a daemon the master gave none), flow control is off:
// take_token() says yes, replenish() does nothing.
//
// Reads no parameters (callers pass in_flow_delay and the token target).
// Logs nothing.
#pragma once

#include <cstddef>
#include <optional>

namespace postern::server {

// Looks at descriptors kFlowReadFd and kFlowWriteFd once: a pipe there is
// the master's flow pipe. server::run() calls it; tests may too.
void attach_flow_pipe();

// A token taken, or no flow pipe here: the caller may go on at once.
bool take_token();

// Tokens in the pipe now; nullopt without a flow pipe.
std::optional<std::size_t> token_count();

// qmgr: brings the pipe towards `target` tokens: adds `fed` (one per
// message taken from incoming/) or, with `drained` (incoming/ is empty of
// ready mail), fills it up to `target`; above `target`, takes the excess
// back. Never blocks.
void replenish(std::size_t target, std::size_t fed, bool drained);

}  // namespace postern::server
