// cleanup_client.cpp - the two cleanup clients (see cleanup_client.h).
//
// Both follow the same rules: every message is encoded before anything is
// written (a bad value fails the submission without sending half a
// message); before each write the client looks for a verdict the service
// may have sent early, and after a failed write it reads one if the
// service left one behind; after the first failure nothing more is sent.
//
// Reads no parameters, logs nothing.
#include "submit/cleanup_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

#include "ipc/async.h"
#include "ipc/async_stream.h"
#include "ipc/frame.h"
#include "ipc/proto/status.h"
#include "ipc/unix_socket.h"

namespace postern::submit {

std::filesystem::path cleanup_socket_path(const std::filesystem::path& queue_directory, std::string_view service) {
  return queue_directory / "public" / std::string(service);
}

namespace {

// Short wait for a verdict that should already be in the socket buffer.
constexpr std::chrono::seconds kEarlyVerdictWait{2};

// Frames from cleanup are small; content never flows this way.
ipc::FrameLimits reply_limits() { return ipc::FrameLimits{.max_payload = 16 * 1024}; }
// Our own frames: the largest content chunk plus the attribute overhead.
ipc::FrameLimits request_limits() { return ipc::FrameLimits{.max_payload = kMaxContentChunk + 1024}; }

std::string describe(const CleanupResult& r) {
  return fmt::format("cleanup: {} {} {}", r.status, r.dsn, r.reason);
}

// A reply payload, which may be the expected message, an early
// cleanup_result, or a generic status refusal.
template <class Expected>
struct Reply {
  std::optional<Expected> expected;
  std::optional<CleanupResult> verdict;
};

template <class Expected>
Result<Reply<Expected>> decode_reply(std::string_view payload) {
  Reply<Expected> out;
  auto type = ipc::peek_type(payload);
  if (!type) return make_error("cleanup: malformed reply: {}", type.error().message);
  if constexpr (!std::is_same_v<Expected, CleanupResult>) {
    if (*type == Expected::kType) {
      auto m = ipc::decode<Expected>(payload);
      if (!m) return make_error("cleanup: malformed reply: {}", m.error().message);
      out.expected = std::move(*m);
      return out;
    }
  }
  if (*type == CleanupResult::kType) {
    auto m = ipc::decode<CleanupResult>(payload);
    if (!m) return make_error("cleanup: malformed reply: {}", m.error().message);
    out.verdict = std::move(*m);
    return out;
  }
  if (auto refusal = ipc::proto::refusal(payload)) return make_error("cleanup: {}", refusal->message);
  return make_error("cleanup: unexpected reply \"{}\"", str::printable(*type, 64));
}

}  // namespace

// ---------------------------------------------------------------------------
// Asio client

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

using LocalSocket = asio::local::stream_protocol::socket;

struct CleanupConnections::Impl {
  Impl(asio::io_context& io, std::chrono::milliseconds idle, std::size_t max_kept)
      : idle(idle), max_kept(max_kept), timer(io) {}

  struct Kept {
    LocalSocket sock;
    std::string path;
    std::chrono::steady_clock::time_point since;
  };
  std::chrono::milliseconds idle;
  std::size_t max_kept;
  std::vector<Kept> kept;  // oldest first
  asio::steady_timer timer;
  bool timer_armed = false;
  std::uint64_t connects = 0;

  // The most recently kept connection to `path`, if any.
  std::optional<LocalSocket> take(const std::string& path) {
    prune();
    for (std::size_t i = kept.size(); i-- > 0;) {
      if (kept[i].path != path) continue;
      LocalSocket s = std::move(kept[i].sock);
      kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(i));
      return s;
    }
    return std::nullopt;
  }

  void give(LocalSocket s, const std::string& path) {
    if (max_kept == 0 || idle.count() <= 0) return;  // closes `s`
    if (kept.size() >= max_kept) kept.erase(kept.begin());
    kept.push_back(Kept{std::move(s), path, std::chrono::steady_clock::now()});
    arm();
  }

  void prune() {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(kept, [&](const Kept& k) { return now - k.since >= idle; });
  }

  // Closes kept connections once they have idled for `idle`.
  void arm() {
    if (timer_armed || kept.empty()) return;
    timer_armed = true;
    timer.expires_at(kept.front().since + idle);
    timer.async_wait([this](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;  // the pool is going away
      timer_armed = false;
      prune();
      arm();
    });
  }
};

CleanupConnections::CleanupConnections(asio::io_context& io, std::chrono::milliseconds idle, std::size_t max_kept)
    : impl_(std::make_unique<Impl>(io, idle, max_kept)) {}
CleanupConnections::~CleanupConnections() = default;
std::size_t CleanupConnections::kept() const { return impl_->kept.size(); }
std::uint64_t CleanupConnections::connects() const { return impl_->connects; }

struct CleanupClient::Impl {
  explicit Impl(asio::io_context& io) : sock(io) {}
  LocalSocket sock;
  CleanupConnections* pool = nullptr;  // gets the connection back after finish()
  std::string path;
  std::chrono::seconds timeout{300};
  std::string queue_id;
  std::string buffer;  // content not yet sent, < kMaxContentChunk bytes
  std::optional<CleanupResult> early;
  std::optional<Error> failed;
  bool finished = false;

  Error fail(Error e) {
    error_code ignore;
    sock.close(ignore);
    if (!failed) failed = e;
    return e;
  }

  // Reads a verdict the service sent before we asked for one.
  asio::awaitable<void> collect_early(std::chrono::steady_clock::duration wait) {
    auto frame = co_await ipc::read_frame(sock, reply_limits(), wait);
    if (!frame) co_return;
    auto reply = decode_reply<CleanupResult>(frame->payload);
    if (reply && reply->verdict && !reply->verdict->ok()) early = std::move(*reply->verdict);
  }

  // Envelope frames wait here until content (or the end) goes out, so that
  // the service wakes once per message rather than once per frame; a long
  // envelope is sent as soon as it passes kHeldLimit.
  std::vector<std::string> held;
  std::size_t held_bytes = 0;
  static constexpr std::size_t kHeldLimit = 64 * 1024;

  // Every frame goes through here: held (send_now false, below kHeldLimit)
  // or written at once together with whatever was held.
  asio::awaitable<Status> hold(Result<std::string> payload, bool send_now = false) {
    if (failed) co_return early ? make_error("{}", describe(*early)) : *failed;
    if (finished) co_return fail(make_error("cleanup: message already finished"));
    if (!payload) co_return fail(make_error("cleanup: {}", payload.error().message));
    if (payload->empty() || payload->size() > request_limits().effective_max())
      co_return fail(make_error("cleanup: frame of {} bytes out of bounds", payload->size()));
    held_bytes += payload->size();
    held.push_back(std::move(*payload));
    if (send_now || held_bytes >= kHeldLimit) co_return co_await write_held();
    // A verdict that came with or right after cleanup_opened (the service
    // could not start the queue file) is found at the first frame, so that
    // smtpd answers MAIL FROM with it. Later ones show at the next write
    // (write_held() looks first) or at finish(): asking the kernel
    // (FIONREAD) for every held frame cost smtpd a system call for each
    // envelope frame of every message, for frames nobody had seen.
    if (looked_early) co_return Status{};
    looked_early = true;
    co_return co_await check_early();
  }
  bool looked_early = false;

  asio::awaitable<Status> send(Result<std::string> payload) { co_return co_await hold(std::move(payload), true); }

  // A verdict the service already sent (it gave up on this message) ends
  // the submission now, as a write would.
  asio::awaitable<Status> check_early() {
    error_code ec;
    if (sock.available(ec) > 0 && !ec) {
      co_await collect_early(kEarlyVerdictWait);
      co_return fail(early ? make_error("{}", describe(*early))
                           : make_error("cleanup: unexpected data from the service"));
    }
    co_return Status{};
  }

  asio::awaitable<Status> write_held() {
    if (auto st = co_await check_early(); !st) co_return st;
    std::vector<std::string> frames = std::move(held);
    held.clear();
    held_bytes = 0;
    auto st = co_await ipc::write_frames(sock, std::move(frames), request_limits(), timeout);
    if (!st) {
      co_await collect_early(kEarlyVerdictWait);
      co_return fail(early ? make_error("{}", describe(*early))
                           : make_error("cleanup: write: {}", st.error().message));
    }
    co_return Status{};
  }

  // Sends the buffered content now, or (`keep`) only adds it to the held
  // frames, for finish() to send with the end frame.
  asio::awaitable<Status> flush_content(bool keep = false) {
    if (buffer.empty()) co_return Status{};
    CleanupContent chunk;
    chunk.data = std::move(buffer);
    buffer.clear();
    // Named first: GCC 12 destroys temporaries passed to a coroutine inside
    // a co_await expression twice (ipc/async.h).
    Result<std::string> payload = encode_checked(chunk);
    co_return co_await hold(std::move(payload), !keep);
  }
};

CleanupClient::CleanupClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CleanupClient::CleanupClient(CleanupClient&&) noexcept = default;
CleanupClient& CleanupClient::operator=(CleanupClient&&) noexcept = default;
CleanupClient::~CleanupClient() = default;

const std::string& CleanupClient::queue_id() const { return impl_->queue_id; }
const std::optional<CleanupResult>& CleanupClient::early_result() const { return impl_->early; }

bool CleanupClient::usable() const {
  if (impl_->failed || impl_->finished || !impl_->sock.is_open()) return false;
  pollfd p{impl_->sock.native_handle(), POLLIN | POLLRDHUP, 0};
  int n = ::poll(&p, 1, 0);
  return n == 0;
}

asio::awaitable<Result<CleanupClient>> CleanupClient::open(asio::io_context& io,
                                                           const std::filesystem::path& socket,
                                                           std::int64_t flags, std::string_view origin,
                                                           std::chrono::seconds timeout,
                                                           CleanupConnections* kept) {
  // Copy the caller's data before the first suspension.
  const std::string path = socket.string();
  CleanupOpen req;
  req.flags = flags;
  req.origin = std::string(origin);
  auto payload = encode_checked(req);
  if (!payload) co_return make_error("cleanup: {}", payload.error().message);
  // Kept connections tried before a new one: as many as the pool holds,
  // however many other sessions give back meanwhile.
  std::size_t tries = kept ? kept->impl_->max_kept : 0;
  for (;;) {
    auto impl = std::make_unique<Impl>(io);
    impl->timeout = timeout;
    impl->pool = kept;
    impl->path = path;
    std::optional<LocalSocket> reused;
    if (tries > 0) {
      --tries;
      reused = kept->impl_->take(path);
    }
    if (reused) {
      impl->sock = std::move(*reused);
    } else {
      if (kept) ++kept->impl_->connects;
      ipc::detail::Watchdog<LocalSocket> dog(impl->sock, timeout);
      error_code ec;
      impl->sock.open(asio::local::stream_protocol(), ec);
      if (!ec)
        co_await impl->sock.async_connect(asio::local::stream_protocol::endpoint(path),
                                          asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return make_error("cleanup: connect to {}: {}", path, dog.fired() ? std::string("timeout") : ec.message());
    }
    // A kept connection that cleanup closed meanwhile (it retired, stopped
    // or died) fails here without a reply: cleanup_open was never read, so
    // it goes out again on the next kept connection or a new one.
    std::string out = *payload;
    if (auto st = co_await ipc::write_frame(impl->sock, std::move(out), request_limits(), timeout); !st) {
      if (reused && ipc::closed_before_reply(st.error())) continue;
      co_return make_error("cleanup: {}", st.error().message);
    }
    auto frame = co_await ipc::read_frame(impl->sock, reply_limits(), timeout);
    if (!frame) {
      if (reused && ipc::closed_before_reply(frame.error())) continue;
      co_return make_error("cleanup: {}", frame.error().message);
    }
    auto reply = decode_reply<CleanupOpened>(frame->payload);
    if (!reply) co_return reply.take_error();
    if (reply->verdict) co_return make_error("{}", describe(*reply->verdict));
    impl->queue_id = std::move(reply->expected->queue_id);
    co_return CleanupClient(std::move(impl));
  }
}

asio::awaitable<Status> CleanupClient::envelope(const CleanupEnvelope& env) {
  Result<std::string> payload = encode_checked(env);
  co_return co_await impl_->hold(std::move(payload));
}

asio::awaitable<Status> CleanupClient::recipient(const CleanupRecipient& rcpt) {
  Result<std::string> payload = encode_checked(rcpt);
  co_return co_await impl_->hold(std::move(payload));
}

asio::awaitable<Status> CleanupClient::content(std::string_view data) {
  Impl& s = *impl_;
  if (s.failed) {
    Result<std::string> nothing = std::string();
    co_return co_await s.send(std::move(nothing));  // reports the failure
  }
  while (!data.empty()) {
    std::size_t take = std::min(data.size(), kMaxContentChunk - s.buffer.size());
    s.buffer.append(data.substr(0, take));
    data.remove_prefix(take);
    if (s.buffer.size() == kMaxContentChunk) {
      if (auto st = co_await s.flush_content(); !st) co_return st;
    }
  }
  co_return Status{};
}

asio::awaitable<Result<CleanupResult>> CleanupClient::finish(std::int64_t end_flags, std::string_view content_filter,
                                                             std::string_view redirect) {
  Impl& s = *impl_;
  if (s.finished) co_return make_error("cleanup: finish() called twice");
  CleanupEnd end;
  if (end_flags != 0) end.flags = end_flags;
  if (!content_filter.empty()) end.content_filter = std::string(content_filter);
  if (!redirect.empty()) end.redirect = std::string(redirect);
  if (!s.failed) {
    if (auto st = co_await s.flush_content(true); st) {
      Result<std::string> payload = encode_checked(end);
      (void)co_await s.send(std::move(payload));
    }
  }
  s.finished = true;
  if (s.failed) {
    if (s.early) co_return *s.early;
    co_return *s.failed;
  }
  auto frame = co_await ipc::read_frame(s.sock, reply_limits(), s.timeout);
  error_code ignore;
  if (!frame) {
    s.sock.close(ignore);
    co_return make_error("cleanup: {}", frame.error().message);
  }
  auto reply = decode_reply<CleanupResult>(frame->payload);
  // The answer to cleanup_end: a connection that cleanup keeps open goes
  // back to the pool for the next message.
  if (reply && s.pool && reply->verdict->keep_open.value_or(false))
    s.pool->impl_->give(std::move(s.sock), s.path);
  else
    s.sock.close(ignore);
  if (!reply) co_return reply.take_error();
  co_return std::move(*reply->verdict);
}

#endif  // BOOST_ASIO_HAS_CO_AWAIT

// ---------------------------------------------------------------------------
// Blocking client

struct BlockingCleanupClient::Impl {
  UniqueFd fd;
  std::chrono::seconds timeout{300};
  std::string queue_id;
  std::string buffer;
  std::optional<CleanupResult> early;
  std::optional<Error> failed;
  bool finished = false;

  ipc::Clock::time_point deadline() const { return ipc::Clock::now() + timeout; }

  Error fail(Error e) {
    fd.reset();
    if (!failed) failed = e;
    return e;
  }

  Result<std::string> read_payload(ipc::Clock::time_point when) {
    char header[ipc::kFrameHeaderSize];
    std::size_t got = 0;
    if (auto st = ipc::read_exact(fd.get(), header, sizeof(header), when, got); !st) {
      if (got == 0 && st.error().sys_errno == 0) return make_error("cleanup: connection closed by peer");
      return make_error("cleanup: read: {}", st.error().message);
    }
    auto size = ipc::parse_frame_header(std::string_view(header, sizeof(header)), reply_limits());
    if (!size) return make_error("cleanup: {}", size.error().message);
    std::string payload(*size, '\0');
    if (auto st = ipc::read_exact(fd.get(), payload.data(), payload.size(), when, got); !st)
      return make_error("cleanup: truncated reply ({} of {} bytes)", got, payload.size());
    return payload;
  }

  void collect_early() {
    auto payload = read_payload(ipc::Clock::now() + kEarlyVerdictWait);
    if (!payload) return;
    auto reply = decode_reply<CleanupResult>(*payload);
    if (reply && reply->verdict && !reply->verdict->ok()) early = std::move(*reply->verdict);
  }

  bool readable_now() const {
    pollfd p{fd.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
  }

  Status write_payload(std::string_view payload) {
    auto frame = ipc::make_frame(payload, request_limits());
    if (!frame) return make_error("cleanup: {}", frame.error().message);
    return ipc::write_all(fd.get(), *frame, deadline());
  }

  Status send(Result<std::string> payload) {
    if (failed) return early ? make_error("{}", describe(*early)) : *failed;
    if (finished) return fail(make_error("cleanup: message already finished"));
    if (!payload) return fail(make_error("cleanup: {}", payload.error().message));
    if (readable_now()) {
      collect_early();
      return fail(early ? make_error("{}", describe(*early))
                        : make_error("cleanup: connection closed by the service"));
    }
    if (auto st = write_payload(*payload); !st) {
      collect_early();
      return fail(early ? make_error("{}", describe(*early)) : make_error("cleanup: write: {}", st.error().message));
    }
    return {};
  }

  Status flush_content() {
    if (buffer.empty()) return {};
    CleanupContent chunk;
    chunk.data = std::move(buffer);
    buffer.clear();
    return send(encode_checked(chunk));
  }
};

BlockingCleanupClient::BlockingCleanupClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlockingCleanupClient::BlockingCleanupClient(BlockingCleanupClient&&) noexcept = default;
BlockingCleanupClient& BlockingCleanupClient::operator=(BlockingCleanupClient&&) noexcept = default;
BlockingCleanupClient::~BlockingCleanupClient() = default;

const std::string& BlockingCleanupClient::queue_id() const { return impl_->queue_id; }
const std::optional<CleanupResult>& BlockingCleanupClient::early_result() const { return impl_->early; }

Result<BlockingCleanupClient> BlockingCleanupClient::open(const std::filesystem::path& socket, std::int64_t flags,
                                                          std::string_view origin, std::chrono::seconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout;
  CleanupOpen req;
  req.flags = flags;
  req.origin = std::string(origin);
  auto payload = encode_checked(req);
  if (!payload) return make_error("cleanup: {}", payload.error().message);
  auto fd = ipc::connect_unix(socket.string(), SOCK_STREAM, impl->deadline());
  if (!fd) return make_error("cleanup: connect to {}: {}", socket.string(), fd.error().message);
  impl->fd = std::move(*fd);
  if (auto st = impl->write_payload(*payload); !st) return make_error("cleanup: write: {}", st.error().message);
  auto in = impl->read_payload(impl->deadline());
  if (!in) return in.take_error();
  auto reply = decode_reply<CleanupOpened>(*in);
  if (!reply) return reply.take_error();
  if (reply->verdict) return make_error("{}", describe(*reply->verdict));
  impl->queue_id = std::move(reply->expected->queue_id);
  return BlockingCleanupClient(std::move(impl));
}

Status BlockingCleanupClient::envelope(const CleanupEnvelope& env) { return impl_->send(encode_checked(env)); }

Status BlockingCleanupClient::recipient(const CleanupRecipient& rcpt) { return impl_->send(encode_checked(rcpt)); }

Status BlockingCleanupClient::content(std::string_view data) {
  Impl& s = *impl_;
  if (s.failed) return s.send(std::string());
  while (!data.empty()) {
    std::size_t take = std::min(data.size(), kMaxContentChunk - s.buffer.size());
    s.buffer.append(data.substr(0, take));
    data.remove_prefix(take);
    if (s.buffer.size() == kMaxContentChunk) {
      if (auto st = s.flush_content(); !st) return st;
    }
  }
  return {};
}

Result<CleanupResult> BlockingCleanupClient::finish() {
  Impl& s = *impl_;
  if (s.finished) return make_error("cleanup: finish() called twice");
  if (!s.failed) {
    if (auto st = s.flush_content(); st) (void)s.send(encode_checked(CleanupEnd{}));
  }
  s.finished = true;
  if (s.failed) {
    if (s.early) return *s.early;
    return *s.failed;
  }
  auto in = s.read_payload(s.deadline());
  s.fd.reset();
  if (!in) return in.take_error();
  auto reply = decode_reply<CleanupResult>(*in);
  if (!reply) return reply.take_error();
  return std::move(*reply->verdict);
}

}  // namespace postern::submit
