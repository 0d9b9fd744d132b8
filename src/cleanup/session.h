// session.h - one client connection of the cleanup service.
//
// Speaks the protocol of submit/cleanup_proto.h: reads cleanup_open,
// creates the queue file and answers cleanup_opened with the queue ID,
// then takes cleanup_envelope, cleanup_recipient and cleanup_content in
// that order until cleanup_end, and answers cleanup_result - with status 0
// only after the Committer made the file durable.
//
// Every frame is checked against its declaration (ipc/schema.h) and the
// protocol order before anything is done with it. A malformed or
// out-of-order message is answered with cleanup_result 451 4.3.0
// "internal protocol error" at once and the connection is closed; the
// queue file is removed. Problems with the message itself (size, hops,
// lookups) are remembered, the rest of the input is read and discarded,
// and the verdict is the reply to cleanup_end. A client that goes away or
// falls silent for ipc_timeout before cleanup_end aborts the message: the
// file is removed.
//
// Parameters: ipc_timeout (through CleanupSettings).
// Logs: "warning: cleanup: malformed request from PEER: ERROR",
// "warning: ID: queue file create: ..." and the Message log lines.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "aio/asio.h"
#include "cleanup/address_map.h"
#include "cleanup/committer.h"
#include "cleanup/rewriter.h"
#include "cleanup/settings.h"

namespace postern::cleanup {

struct Service {
  const CleanupSettings& settings;
  AddressMapper& mapper;
  // The rewriter a session uses (an adapter over the process-wide
  // trivial-rewrite client; tests substitute fakes).
  std::function<std::unique_ptr<Rewriter>()> make_rewriter;
  Committer& committer;
  std::filesystem::path queue_root;  // queue_directory, or "/" after chroot
};

asio::awaitable<void> serve_session(Service& svc, asio::generic::stream_protocol::socket sock, std::string peer);

}  // namespace postern::cleanup
