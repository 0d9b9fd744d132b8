// async.cpp - frame I/O on Asio Unix-domain sockets (see async.h).
//
// Instantiates the templates of async_stream.h once for the two socket types
// Postern uses, so daemons do not compile Asio's composed operations again.
// Reads no parameters, logs nothing.
#include "ipc/async.h"

#include "ipc/async_stream.h"

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace postern::ipc {

namespace detail {

Error frame_io_error(const char* op, const error_code& ec, bool timed_out, std::size_t got,
                     std::size_t wanted, bool in_payload) {
  if (timed_out) return make_error("{}: timeout ({} of {} bytes)", op, got, wanted);
  if (ec == asio::error::eof) {
    if (!in_payload && got == 0) return make_error("{}: connection closed by peer", op);
    return make_error("{}: truncated frame ({} of {} bytes)", op, got, wanted);
  }
  return Error{fmt::format("{}: {}", op, ec.message()), ec.category() == boost::system::system_category()
                                                            ? ec.value()
                                                            : 0};
}

}  // namespace detail

asio::awaitable<Result<Frame>> read_frame(LocalSocket& s, FrameLimits limits, AsyncDuration timeout) {
  return async_read_frame(s, limits, timeout);
}

asio::awaitable<Result<Frame>> read_frame(GenericSocket& s, FrameLimits limits, AsyncDuration timeout) {
  return async_read_frame(s, limits, timeout);
}

asio::awaitable<Status> write_frame(LocalSocket& s, std::string payload, FrameLimits limits,
                                    AsyncDuration timeout) {
  return async_write_frame(s, std::move(payload), limits, timeout);
}

asio::awaitable<Status> write_frame(GenericSocket& s, std::string payload, FrameLimits limits,
                                    AsyncDuration timeout) {
  return async_write_frame(s, std::move(payload), limits, timeout);
}

asio::awaitable<Status> write_frames(LocalSocket& s, std::vector<std::string> payloads, FrameLimits limits,
                                     AsyncDuration timeout) {
  return async_write_frames(s, std::move(payloads), limits, timeout);
}

}  // namespace postern::ipc

#endif  // BOOST_ASIO_HAS_CO_AWAIT
