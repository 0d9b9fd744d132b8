// client.cpp - blocking request/response client (see client.h).
//
// Reads no parameters, logs nothing: errors are returned with the peer's
// name so the caller can log them in its own context.
#include "ipc/client.h"

#include <sys/socket.h>

#include <algorithm>

namespace postern::ipc {

namespace {

// "<peer>: <error>", keeping errno for callers that look at it.
Error with_peer(const std::string& peer, Error e) {
  e.message = fmt::format("{}: {}", peer, e.message);
  return e;
}

}  // namespace

Result<Client> Client::connect(const std::string& path, Duration timeout, FrameLimits limits) {
  auto fd = connect_unix(path, SOCK_STREAM, Clock::now() + timeout);
  if (!fd) return fd.take_error();
  return Client(std::move(*fd), path, limits);
}

Result<Client> Client::adopt(UniqueFd fd, std::string peer, FrameLimits limits) {
  if (!fd) return make_error("{}: no descriptor", peer);
  if (auto st = make_nonblocking(fd.get()); !st) return st.take_error();
  return Client(std::move(fd), std::move(peer), limits);
}

Status Client::write_frame(std::string_view payload, Clock::time_point deadline) {
  if (!usable()) return make_error("{}: connection unusable after an earlier error", peer_);
  auto frame = make_frame(payload, limits_);
  if (!frame) return make_error("{}: {}", peer_, frame.error().message);
  if (auto st = write_all(fd_.get(), *frame, deadline); !st) {
    usable_ = false;
    return with_peer(peer_, st.take_error());
  }
  return {};
}

Result<Frame> Client::read_frame(Clock::time_point deadline) {
  if (!usable()) return make_error("{}: connection unusable after an earlier error", peer_);
  char header[kFrameHeaderSize];
  std::size_t got = 0;
  if (auto st = read_exact(fd_.get(), header, sizeof(header), deadline, got); !st) {
    usable_ = false;
    if (got > 0) return make_error("{}: truncated frame header: {}", peer_, st.error().message);
    return with_peer(peer_, st.take_error());
  }
  auto size = parse_frame_header(std::string_view(header, sizeof(header)), limits_);
  if (!size) return protocol_error(size.take_error());
  // Grown as bytes arrive, as in async_read_frame() (async_stream.h).
  Frame f;
  std::size_t have = 0;
  f.payload.resize(std::min(*size, kFrameReadStep));
  for (;;) {
    if (auto st = read_exact(fd_.get(), f.payload.data() + have, f.payload.size() - have, deadline, got); !st) {
      usable_ = false;
      return make_error("{}: truncated frame ({} of {} bytes): {}", peer_, have + got, *size, st.error().message);
    }
    have = f.payload.size();
    if (have == *size) return f;
    f.payload.resize(std::min(*size, 2 * have));
  }
}

Error Client::protocol_error(Error e) {
  usable_ = false;
  return make_error("{}: malformed message: {}", peer_, e.message);
}

}  // namespace postern::ipc
