// async_stream.h - frame I/O on any Asio stream, with per-operation deadlines.
//
// The templates behind async.h. Include this only to frame a stream type
// that async.h does not already cover (it instantiates them for Unix-domain
// sockets); they pull Asio's composed operations into the includer.
//
// Deadlines follow the Beast examples: a steady_timer armed for each
// operation cancels the stream when it fires, turning a silent peer into an
// ordinary error. Cancelling hits every pending operation on the stream,
// which is what a request/response protocol wants: one operation at a
// time. The stream must be used from one thread (or strand).
// Reads no parameters, logs nothing.
#pragma once

#include <algorithm>
#include <array>
#include <vector>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "aio/asio.h"
#include "base/result.h"
#include "ipc/frame.h"

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace postern::ipc {

using AsyncDuration = std::chrono::steady_clock::duration;

namespace detail {

template <class Stream>
void cancel_stream(Stream& s) {
  error_code ignore;
  if constexpr (requires { s.cancel(ignore); })
    s.cancel(ignore);
  else
    s.lowest_layer().cancel(ignore);
}

// Cancels the stream's pending operations if it is still alive at the
// deadline. The timer handler may run after the Watchdog (and the coroutine
// frame holding it) is gone, so it only touches shared state, and the
// stream only while the Watchdog still exists.
template <class Stream>
class Watchdog {
 public:
  Watchdog(Stream& s, AsyncDuration timeout) : timer_(s.get_executor()), state_(std::make_shared<State>()) {
    timer_.expires_after(timeout);
    timer_.async_wait([state = state_, stream = &s](const error_code& ec) {
      if (ec || state->done) return;
      state->fired = true;
      cancel_stream(*stream);
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    state_->done = true;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    bool done = false;
    bool fired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// Wording shared by all stream types (async.cpp).
Error frame_io_error(const char* op, const error_code& ec, bool timed_out, std::size_t got,
                     std::size_t wanted, bool in_payload);

}  // namespace detail

template <class Stream>
asio::awaitable<Result<Frame>> async_read_frame(Stream& s, FrameLimits limits, AsyncDuration timeout) {
  detail::Watchdog<Stream> dog(s, timeout);
  std::array<char, kFrameHeaderSize> header{};
  error_code ec;
  std::size_t n =
      co_await asio::async_read(s, asio::buffer(header), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return detail::frame_io_error("read", ec, dog.fired(), n, header.size(), false);
  auto size = parse_frame_header(std::string_view(header.data(), header.size()), limits);
  if (!size) co_return size.take_error();
  // The buffer grows with the bytes that actually arrive, from
  // kFrameReadStep and doubling, not to the announced size at once: a peer
  // that announces a frame at the limit and then stalls holds no more
  // memory than it sent (times two), however many such connections a
  // server with a large client_limit has open.
  Frame f;
  std::size_t got = 0;
  f.payload.resize(std::min(*size, kFrameReadStep));
  for (;;) {
    n = co_await asio::async_read(s, asio::buffer(f.payload.data() + got, f.payload.size() - got),
                                  asio::redirect_error(asio::use_awaitable, ec));
    got += n;
    if (ec) co_return detail::frame_io_error("read", ec, dog.fired(), got, *size, true);
    if (got == *size) co_return f;
    f.payload.resize(std::min(*size, 2 * f.payload.size()));
  }
}

template <class Stream>
asio::awaitable<Status> async_write_frame(Stream& s, std::string payload, FrameLimits limits,
                                          AsyncDuration timeout) {
  if (payload.empty()) co_return make_error("refusing to send an empty frame");
  if (payload.size() > limits.effective_max())
    co_return make_error("message of {} bytes exceeds the {} byte frame limit", payload.size(),
                         limits.effective_max());
  auto header = frame_header(static_cast<std::uint32_t>(payload.size()));
  std::array<asio::const_buffer, 2> bufs{asio::buffer(header), asio::buffer(payload)};
  detail::Watchdog<Stream> dog(s, timeout);
  error_code ec;
  std::size_t n = co_await asio::async_write(s, bufs, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return detail::frame_io_error("write", ec, dog.fired(), n, header.size() + payload.size(), false);
  co_return Status{};
}

// Several frames in one gathered write: a peer that has them all wakes
// once instead of once per frame.
template <class Stream>
asio::awaitable<Status> async_write_frames(Stream& s, std::vector<std::string> payloads, FrameLimits limits,
                                           AsyncDuration timeout) {
  std::vector<std::array<char, kFrameHeaderSize>> headers;
  headers.reserve(payloads.size());
  std::size_t total = 0;
  for (const auto& p : payloads) {
    if (p.empty()) co_return make_error("refusing to send an empty frame");
    if (p.size() > limits.effective_max())
      co_return make_error("message of {} bytes exceeds the {} byte frame limit", p.size(), limits.effective_max());
    headers.push_back(frame_header(static_cast<std::uint32_t>(p.size())));
    total += kFrameHeaderSize + p.size();
  }
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(payloads.size() * 2);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    bufs.push_back(asio::buffer(headers[i]));
    bufs.push_back(asio::buffer(payloads[i]));
  }
  detail::Watchdog<Stream> dog(s, timeout);
  error_code ec;
  std::size_t n = co_await asio::async_write(s, bufs, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return detail::frame_io_error("write", ec, dog.fired(), n, total, false);
  co_return Status{};
}

}  // namespace postern::ipc

#endif  // BOOST_ASIO_HAS_CO_AWAIT
