// client.h - blocking request/response client for internal services.
//
// For commands (postqueue, postsuper, sendmail) and simple daemons that do
// one thing at a time. Every operation is bounded by a deadline (poll()
// on a non-blocking socket), so a busy or silent service costs at most the
// timeout, never a hang:
//
//   auto c = ipc::Client::connect("private/rewrite", 10s);
//   if (!c) ...;
//   auto r = c->call<proto::ResolveReply>(proto::RewriteRequest{...}, 10s);
//
// A connection carries many calls in turn. After any I/O error, timeout or
// malformed reply the connection is marked unusable (the byte stream may be
// mid-frame, or the peer cannot be trusted) and later calls fail at once;
// reconnect to continue. A well-formed "status" reply with a non-zero
// status to a call that expected another reply type comes back as an
// Error carrying the service's reason (proto/status.h).
//
// adopt() wraps an existing connected descriptor (socketpair, an accepted
// connection in a simple server). The Client owns the descriptor.
// Reads no parameters, logs nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/result.h"
#include "base/unique_fd.h"
#include "ipc/frame.h"
#include "ipc/proto/status.h"
#include "ipc/schema.h"
#include "ipc/unix_socket.h"

namespace postern::ipc {

class Client {
 public:
  using Duration = std::chrono::milliseconds;

  static Result<Client> connect(const std::string& path, Duration timeout, FrameLimits limits = {});
  static Result<Client> adopt(UniqueFd fd, std::string peer = "peer", FrameLimits limits = {});

  Client(Client&&) = default;
  Client& operator=(Client&&) = default;

  // One frame each way.
  Status write_frame(std::string_view payload, Clock::time_point deadline);
  Result<Frame> read_frame(Clock::time_point deadline);

  template <Schema T>
  Status send(const T& msg, Duration timeout) {
    return send_at(msg, Clock::now() + timeout);
  }

  template <Schema T>
  Result<T> receive(Duration timeout) {
    return receive_at<T>(Clock::now() + timeout);
  }

  // Sends `request` and reads one reply of type Reply; `timeout` bounds the
  // whole exchange.
  template <Schema Reply, Schema Request>
  Result<Reply> call(const Request& request, Duration timeout) {
    auto deadline = Clock::now() + timeout;
    if (auto st = send_at(request, deadline); !st) return st.take_error();
    return receive_at<Reply>(deadline);
  }

  bool usable() const { return fd_.valid() && usable_; }
  int fd() const { return fd_.get(); }
  const std::string& peer() const { return peer_; }
  const FrameLimits& limits() const { return limits_; }

 private:
  Client(UniqueFd fd, std::string peer, FrameLimits limits)
      : fd_(std::move(fd)), peer_(std::move(peer)), limits_(limits) {}

  template <Schema T>
  Status send_at(const T& msg, Clock::time_point deadline) {
    auto payload = encode(msg);
    if (!payload) return make_error("{}: {}", peer_, payload.error().message);
    return write_frame(*payload, deadline);
  }

  template <Schema T>
  Result<T> receive_at(Clock::time_point deadline) {
    auto frame = read_frame(deadline);
    if (!frame) return frame.take_error();
    if constexpr (!std::is_same_v<T, proto::StatusReply>) {
      // The service closes after a refusal, so the connection is done too.
      if (auto refusal = proto::refusal(frame->payload)) {
        usable_ = false;
        return make_error("{}: {}", peer_, refusal->message);
      }
    }
    auto msg = decode<T>(frame->payload);
    if (!msg) return protocol_error(msg.take_error());
    return msg;
  }

  Error protocol_error(Error e);

  UniqueFd fd_;
  std::string peer_;
  FrameLimits limits_;
  bool usable_ = true;
};

}  // namespace postern::ipc
