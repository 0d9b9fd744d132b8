// async.h - internal protocol over Asio Unix-domain sockets (coroutines).
//
// For daemons built on the server skeleton (which hands out
// asio::generic::stream_protocol sockets) and their async clients:
//
//   auto req = co_await ipc::read_message<proto::RewriteRequest>(sock, {}, 10s);
//   if (!req) {
//     log::warning("{}: malformed request from {}: {}", service, peer, req.error().message);
//     co_await ipc::refuse(sock, req.error().message);
//     co_return;  // and close
//   }
//   proto::ResolveReply reply = ...;
//   co_await ipc::write_message(sock, reply, {}, 10s);
//
// Every operation has its own deadline; on expiry the socket's pending
// operation is cancelled and an Error ("timeout ...") is returned. After any
// error the socket may be mid-frame: close it. Frame I/O is compiled once in
// async.cpp for local:: and generic::stream_protocol sockets; other stream
// types can use the templates in async_stream.h.
//
// GCC 12 pitfall (Debian's compiler): a braced aggregate temporary inside a
// co_await expression is destroyed twice (heap corruption), e.g.
//   co_await ipc::write_message(sock, proto::StatusReply{2, "bad"}, {}, 1s);  // crashes
// Name the message first:
//   proto::StatusReply reply{2, "bad"};
//   co_await ipc::write_message(sock, reply, {}, 1s);
// ({} for FrameLimits is harmless: nothing to destroy.)
//
// Needs Asio's coroutine support (BOOST_ASIO_HAS_CO_AWAIT): always there
// with g++; Boost 1.74 does not detect it for clang with libstdc++, so clang
// builds that do not define it (the fuzz configuration) get no async
// helpers, and the rest of the library still builds.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cerrno>
#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "base/strings.h"
#include "ipc/frame.h"
#include "ipc/proto/status.h"
#include "ipc/schema.h"

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace postern::ipc {

using LocalSocket = asio::local::stream_protocol::socket;
using GenericSocket = asio::generic::stream_protocol::socket;
using AsyncDuration = std::chrono::steady_clock::duration;

asio::awaitable<Result<Frame>> read_frame(LocalSocket& s, FrameLimits limits, AsyncDuration timeout);
asio::awaitable<Result<Frame>> read_frame(GenericSocket& s, FrameLimits limits, AsyncDuration timeout);
asio::awaitable<Status> write_frame(LocalSocket& s, std::string payload, FrameLimits limits,
                                    AsyncDuration timeout);
asio::awaitable<Status> write_frame(GenericSocket& s, std::string payload, FrameLimits limits,
                                    AsyncDuration timeout);
// Several frames in one write (each payload checked as write_frame does).
asio::awaitable<Status> write_frames(LocalSocket& s, std::vector<std::string> payloads, FrameLimits limits,
                                     AsyncDuration timeout);

// Reads one frame and decodes it as T. When T is not StatusReply, a
// non-zero "status" reply becomes an Error with the service's reason.
template <Schema T, class Socket>
asio::awaitable<Result<T>> read_message(Socket& s, FrameLimits limits, AsyncDuration timeout) {
  auto frame = co_await read_frame(s, limits, timeout);
  if (!frame) co_return frame.take_error();
  if constexpr (!std::is_same_v<T, proto::StatusReply>) {
    if (auto refusal = proto::refusal(frame->payload)) co_return *refusal;
  }
  co_return decode<T>(frame->payload);
}

// `msg` is taken by value: the coroutine starts only when awaited.
template <Schema T, class Socket>
asio::awaitable<Status> write_message(Socket& s, T msg, FrameLimits limits, AsyncDuration timeout) {
  auto payload = encode(msg);
  if (!payload) co_return payload.take_error();
  co_return co_await write_frame(s, std::move(*payload), limits, timeout);
}

// One request, one reply; `timeout` bounds each direction.
template <Schema Reply, Schema Request, class Socket>
asio::awaitable<Result<Reply>> call(Socket& s, Request request, FrameLimits limits, AsyncDuration timeout) {
  auto payload = encode(request);
  if (!payload) co_return payload.take_error();
  if (auto st = co_await write_frame(s, std::move(*payload), limits, timeout); !st) co_return st.take_error();
  co_return co_await read_message<Reply>(s, limits, timeout);
}

// A server's answer to a request it rejects (docs/ipc.md, section 4): a
// status reply with kStatusFail and `reason` (made printable, cut to the
// field's 1024 bytes), written within `timeout`. Best effort: the caller
// closes the connection afterwards whatever happens.
template <class Socket>
asio::awaitable<Status> refuse(Socket& s, std::string_view reason,
                               AsyncDuration timeout = std::chrono::seconds(1)) {
  proto::StatusReply reply{proto::kStatusFail, str::printable(reason, 1024)};
  co_return co_await write_message(s, std::move(reply), {}, timeout);
}

// A kept connection that failed before any reply: the server closed it as
// the request went out (it retired or stopped), or died with it. Such a
// request was never read, so a client may send it again on a new
// connection.
inline bool closed_before_reply(const Error& e) {
  return e.sys_errno == EPIPE || e.sys_errno == ECONNRESET ||
         e.message.find("connection closed by peer") != std::string::npos;
}

}  // namespace postern::ipc

#endif  // BOOST_ASIO_HAS_CO_AWAIT
