// status_call.cpp - see status_call.h.
#include "ipc/status_call.h"

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

namespace postern::ipc {

Status connect_local(LocalSocket& sock, const std::filesystem::path& path) {
  boost::system::error_code ec;
  sock.open(asio::local::stream_protocol(), ec);
  if (!ec) sock.non_blocking(true, ec);
  if (!ec) sock.connect(asio::local::stream_protocol::endpoint(path.string()), ec);
  if (ec) return Error{"connect to " + path.string() + ": " + ec.message(), ec.value()};
  return {};
}

asio::awaitable<Status> status_call(asio::io_context& io, const std::filesystem::path& socket,
                                    std::string_view service, proto::BounceRequest request, AsyncDuration timeout) {
  std::string name(service);  // copied before the first suspension
  LocalSocket sock(io);
  if (auto st = connect_local(sock, socket); !st) co_return st.take_error();
  auto reply = co_await call<proto::StatusReply>(sock, std::move(request), {}, timeout);
  if (!reply) co_return reply.take_error();
  if (reply->status != proto::kStatusOk)
    co_return make_error("{} service: status {}: {}", name, reply->status, reply->reason);
  co_return Status{};
}

}  // namespace postern::ipc

#endif
