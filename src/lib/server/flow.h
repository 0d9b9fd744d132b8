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
// A process the master did not give the pipe (tests, tools) sees flow
// control as off: take_token() says yes, put and trim do nothing.
//
// Reads no parameters (callers pass in_flow_delay and the token target).
// Logs nothing.
#pragma once

#include <cstddef>
#include <optional>

namespace postern::server {

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
