// cleanup_client.h - submit one message to the cleanup service.
//
// Two clients with the same shape: CleanupClient for daemons on the Asio
// event loop (smtpd, qmqpd, pickup, bounce), BlockingCleanupClient for
// commands (postsuper -r). The protocol is in cleanup_proto.h.
//
//   auto c = co_await CleanupClient::open(io, queue_dir / "public/cleanup",
//                                         submit::cleanup_flag::kLocalSubmission, "local", 300s);
//   if (!c) ...;                               // cleanup unreachable: 451 4.3.0
//   log::info("{}: uid=...", c->queue_id());
//   co_await c->envelope(env);  co_await c->recipient(rcpt);  ...
//   co_await c->content("Subject: hi\n\nbody\n");            // any number of times
//   auto r = co_await c->finish();
//   if (!r)            -> no verdict (service died, timeout): 451 4.3.0
//   else if (r->ok())  -> queued as r->queue_id, durable
//   else               -> reply r->status r->dsn r->reason
//
// Errors: envelope()/recipient()/content() return an Error when the message
// could not be sent or when the service has already given its verdict (it
// may send a cleanup_result early and close). Either way, call finish()
// next: it returns that early verdict as a CleanupResult if there was one,
// and an Error otherwise. Nothing is sent after a failure.
//
// envelope() and recipient() hold their frames and content() buffers and
// sends full kMaxContentChunk frames (so an early verdict shows up at the
// first envelope or recipient call when it came right after the open, else
// at the next frame actually sent, or at finish());
// finish() sends the rest, cleanup_end, and waits for the verdict (which
// comes only after the queue file is durable). `timeout` bounds every
// single read or write. Messages are checked against their declaration
// (encode_checked()) before anything is sent: a bad value (a newline in
// the sender, an empty recipient) fails the submission before that message
// goes out.
//
// GCC 12 (Debian's compiler) destroys temporaries inside a co_await
// expression twice (ipc/async.h): pass named CleanupEnvelope and
// CleanupRecipient objects, never braced temporaries.
//
// Destroying a client before finish() closes the connection, which makes
// cleanup remove the incomplete queue file.
//
// CleanupClient needs Asio's coroutine support (BOOST_ASIO_HAS_CO_AWAIT),
// which Boost 1.74 does not detect for clang with libstdc++ (the fuzz
// configuration); there only BlockingCleanupClient is available.
//
// Reads no parameters (callers pass the socket path and ipc_timeout), logs
// nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "base/result.h"
#include "submit/cleanup_proto.h"

namespace postern::submit {

// queue_directory/public/<service> (service: cleanup_service_name).
std::filesystem::path cleanup_socket_path(const std::filesystem::path& queue_directory,
                                          std::string_view service = kCleanupService);

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// Connections to one cleanup socket kept between messages, for a daemon
// that submits many (smtpd). Why: a connection per message cost smtpd a
// socket, a connect and a close, and cleanup an accept, a close and two
// epoll changes, per message. A CleanupClient opened with a
// CleanupConnections takes a kept connection when there is one (the most
// recently used: cleanup processes retire by use count, so the newest is
// the least likely to be gone) and gives it back after a result that says
// keep_open. A kept connection that turns out closed when cleanup_open
// goes out on it (cleanup retired, stopped, or died meanwhile: nothing of
// the message was read) is dropped and the open is made again, on the next
// kept connection or a new one. Kept connections idle longer than `idle`
// (ipc_idle, as in Postfix) are closed, so that cleanup processes can
// retire by max_idle; at most `max_kept` are kept.
//
// Lives on one io_context and must go before it (smtpd: Shared).
class CleanupConnections {
 public:
  CleanupConnections(asio::io_context& io, std::chrono::milliseconds idle, std::size_t max_kept = 16);
  ~CleanupConnections();
  CleanupConnections(const CleanupConnections&) = delete;
  CleanupConnections& operator=(const CleanupConnections&) = delete;

  std::size_t kept() const;
  // Connections made (not taken from the kept ones) since construction.
  std::uint64_t connects() const;

 private:
  friend class CleanupClient;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class CleanupClient {
 public:
  // `origin` is a view (copied before the first suspension), so callers
  // never hand a temporary std::string to a coroutine: GCC 12 destroys
  // such temporaries twice (see ipc/async.h). With `kept`, the connection
  // may be a kept one and goes back there after finish() (see above).
  static asio::awaitable<Result<CleanupClient>> open(asio::io_context& io, const std::filesystem::path& socket,
                                                     std::int64_t flags, std::string_view origin,
                                                     std::chrono::seconds timeout,
                                                     CleanupConnections* kept = nullptr);

  CleanupClient(CleanupClient&&) noexcept;
  CleanupClient& operator=(CleanupClient&&) noexcept;
  ~CleanupClient();

  const std::string& queue_id() const;

  asio::awaitable<Status> envelope(const CleanupEnvelope& env);
  asio::awaitable<Status> recipient(const CleanupRecipient& rcpt);
  asio::awaitable<Status> content(std::string_view data);
  // `end_flags`: end_flag:: bits for cleanup_end (0: none sent);
  // `content_filter`, `redirect`: cleanup_end's (empty: none sent). The
  // views are copied before the first suspension.
  asio::awaitable<Result<CleanupResult>> finish(std::int64_t end_flags = 0, std::string_view content_filter = {},
                                                std::string_view redirect = {});

  // The verdict the service sent before cleanup_end, if any.
  const std::optional<CleanupResult>& early_result() const;

  // False when the service has closed the connection or sent something
  // unasked (it only ever does so to give up on the message): a client
  // opened ahead of use checks this before it sends the envelope.
  bool usable() const;

 private:
  struct Impl;
  explicit CleanupClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

#endif  // BOOST_ASIO_HAS_CO_AWAIT

class BlockingCleanupClient {
 public:
  static Result<BlockingCleanupClient> open(const std::filesystem::path& socket, std::int64_t flags,
                                            std::string_view origin, std::chrono::seconds timeout);

  BlockingCleanupClient(BlockingCleanupClient&&) noexcept;
  BlockingCleanupClient& operator=(BlockingCleanupClient&&) noexcept;
  ~BlockingCleanupClient();

  const std::string& queue_id() const;

  Status envelope(const CleanupEnvelope& env);
  Status recipient(const CleanupRecipient& rcpt);
  Status content(std::string_view data);
  Result<CleanupResult> finish();

  const std::optional<CleanupResult>& early_result() const;

 private:
  struct Impl;
  explicit BlockingCleanupClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::submit
