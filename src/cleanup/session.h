// session.h - one client connection of the cleanup service.
//
// Speaks the protocol of submit/cleanup_proto.h: reads cleanup_open,
// creates the queue file and answers cleanup_opened with the queue ID,
// then takes cleanup_envelope, cleanup_recipient and cleanup_content in
// that order until cleanup_end, and answers cleanup_result - with status 0
// only after the Committer made the file durable. After a result that
// answered cleanup_end (keep_open), the client may send the next
// cleanup_open on the same connection; the wait for it is bounded by
// max_idle and ends when the process stops. Each message after the first
// counts as one more use towards max_use.
//
// Every frame is checked against its declaration (ipc/schema.h) and the
// protocol order before anything is done with it. A malformed or
// out-of-order message is answered with cleanup_result 451 4.3.0
// "internal protocol error" at once and the connection is closed; the
// queue file is removed. Problems with the message itself (size, hops,
// lookups) are remembered, the rest of the input is read and discarded,
// and the verdict is the reply to cleanup_end. A client that goes away
// before cleanup_end aborts the message: the file is removed.
//
// Timeouts. Postfix bounds the whole exchange only by ipc_timeout (3600 s),
// which lets a local user (public/cleanup is open to all) hold connections
// and half-sent frames for an hour each. Here:
//   - cleanup_open must arrive within frame_timeout (60 s) of the connect (every
//     client sends it at once), so a silent connection costs little;
//   - between frames a client may be idle for ipc_timeout, as in Postfix:
//     smtpd streams the message while its SMTP client sends it, and each
//     of that client's reads may legitimately take smtpd_timeout;
//   - a frame, once its first byte has arrived, must be complete within
//     frame_timeout (clients write each frame in one go, so a frame that
//     stalls half-way is a stuck or hostile peer).
// The shorter of frame_timeout and ipc_timeout applies where both could.
//
// A message whose virtual alias expansion owes NOTIFY=SUCCESS notices has
// them appended to the trace log before the commit; when that fails the
// message is refused (451 4.3.0, "trace logfile update error"), and when
// the commit fails after it the trace log is removed, so that no notice
// is sent for a message that was not accepted.
//
// Parameters: ipc_timeout (through CleanupSettings), max_idle.
// Logs: "warning: cleanup: malformed request from PEER: ERROR",
// "warning: ID: queue file create: ..." and the Message log lines.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "aio/asio.h"
#include "cleanup/address_map.h"
#include "cleanup/checks.h"
#include "cleanup/committer.h"
#include "cleanup/rewriter.h"
#include "cleanup/settings.h"
#include "ipc/proto/bounce.h"
#include "server/skeleton.h"

namespace postern::cleanup {

struct Service {
  const CleanupSettings& settings;
  AddressMapper& mapper;
  // The rewriter a session uses (an adapter over the process-wide
  // trivial-rewrite client; tests substitute fakes).
  std::function<std::unique_ptr<Rewriter>()> make_rewriter;
  Committer& committer;
  std::filesystem::path queue_root;  // queue_directory, or "/" after chroot
  // The daemon's context (max_use, max_idle, stopping); null in tests,
  // where a kept connection waits up to ipc_timeout for its next message.
  server::Context* ctx = nullptr;
  std::size_t sessions = 0;          // messages in progress (from cleanup_open to the result)
  // header_checks and friends (checks.h); null: none configured.
  ContentChecks* checks = nullptr;
  std::size_t writing = 0;           // of them, those with a queue file not yet committed
  // Appends to the trace log (private/$trace_service_name): the virtual
  // alias "expanded" notices (Message::expanded_notices()), written before
  // the commit, as Postfix's cleanup writes them, so that qmgr sends them
  // with the message's other success notices. Null: messages that need
  // one are refused with a temporary error (tests that do not set it).
  std::function<asio::awaitable<Status>(ipc::proto::BounceRequest)> trace = nullptr;
};

asio::awaitable<void> serve_session(Service& svc, asio::generic::stream_protocol::socket sock, std::string peer);

}  // namespace postern::cleanup
