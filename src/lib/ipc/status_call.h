// status_call.h - one request to a Postern service on a Unix socket, and its
// status_reply (the bounce, defer and trace services; qmgr and pickup ask
// them).
//
//   proto::BounceRequest req{...};
//   Status st = co_await ipc::status_call(io, queue_dir / "private/bounce", "bounce", std::move(req), 10s);
//
// A connection per call: the services are Single servers that answer one
// request. Any answer but status 0 is an Error naming the service.
//
// connect_local() is the non-blocking connect that every such client (and
// qmgr's delivery agent pool) uses: a Unix socket connect either succeeds
// at once or fails (no EINPROGRESS), so it needs no wait.
//
// Needs Asio's coroutine support (async.h). Reads no parameters, logs nothing.
#pragma once

#include <filesystem>
#include <string_view>

#include "ipc/async.h"
#include "ipc/proto/bounce.h"
#include "ipc/proto/status.h"

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace postern::ipc {

Status connect_local(LocalSocket& sock, const std::filesystem::path& path);

asio::awaitable<Status> status_call(asio::io_context& io, const std::filesystem::path& socket,
                                    std::string_view service, proto::BounceRequest request, AsyncDuration timeout);

}  // namespace postern::ipc

#endif
