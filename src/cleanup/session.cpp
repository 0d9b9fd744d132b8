// session.cpp - the cleanup protocol loop for one connection (see session.h).
#include "cleanup/session.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "base/strings.h"
#include "cleanup/message.h"
#include "ipc/async.h"
#include "ipc/frame_buffer.h"
#include "log/log.h"
#include "queue/layout.h"
#include "queue/queue_file.h"
#include "server/flow.h"
#include "server/requests.h"
#include "submit/cleanup_proto.h"

namespace postern::cleanup {

namespace {

asio::awaitable<Status> append_expanded(Service& svc, const Message& msg) {
  if (!svc.trace) co_return make_error("no trace service");
  std::vector<ipc::proto::BounceEntry> entries;
  for (const auto& n : msg.expanded_notices())
    if (auto enc = queue::encode_recipient(n))  // cannot fail: the address was stored already
      entries.push_back({std::move(*enc), "2.0.0", "alias expanded", "none"});
  // Named, not a temporary: GCC 12 mishandles temporaries across co_await.
  auto requests = ipc::proto::append_requests(msg.queue_id(), "expanded", std::move(entries));
  for (auto& req : requests)
    if (auto st = co_await svc.trace(std::move(req)); !st) co_return st;
  co_return Status{};
}

void remove_trace_log(const Service& svc, const std::string& queue_id) {
  auto id = queue::QueueId::parse(queue_id);
  if (!id) return;
  const auto path = queue::queue_path(svc.queue_root, queue::QueueName::Trace, *id, svc.settings.hash);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    log::warning("{}: remove trace log {}: {}", queue_id, path.string(), std::strerror(errno));
}

using Socket = asio::generic::stream_protocol::socket;

// Requests carry at most one content chunk plus attribute overhead.
ipc::FrameLimits request_limits() { return ipc::FrameLimits{.max_payload = submit::kMaxContentChunk + 4096}; }

// True when the result went out.
asio::awaitable<bool> reply(Socket& sock, const MappingError* err, const std::string& queue_id,
                            std::chrono::seconds timeout, bool keep_open = false) {
  submit::CleanupResult r;
  if (err) {
    r.status = err->status;
    r.dsn = err->dsn;
    r.reason = str::printable(err->reason, 1024);
  } else {
    r.status = 0;
    r.dsn = "2.0.0";
    r.reason = "queued as " + queue_id;
  }
  r.queue_id = queue_id;
  if (keep_open) r.keep_open = true;
  // Best effort: a client that went away learns nothing either way.
  auto st = co_await ipc::write_message(sock, std::move(r), {}, timeout);
  co_return bool(st);
}

enum class Phase { Envelope, Recipients, Content };

// GCC 12 destroys temporaries passed to coroutines inside a co_await
// expression twice (see ipc/async.h): every argument below is a named
// object or a trivially destructible view.
asio::awaitable<void> refuse(Socket& sock, const Message& msg, const std::string& peer, std::string_view why) {
  log::warning("cleanup: {}: malformed request from {}: {}", msg.queue_id(), peer, why);
  MappingError e = protocol_error();
  co_await reply(sock, &e, msg.queue_id(), std::chrono::seconds(1));
}

// Bytes asked for per read: a small message's frames all fit in one.
constexpr std::size_t kReadChunk = 64 * 1024;

// Waits until `sock` has input (or EOF), for at most `limit`. False on
// timeout or error. The timer cancels the wait; its handler touches
// nothing once cancelled itself (the session may be gone).
asio::awaitable<bool> wait_readable(Socket& sock, std::chrono::steady_clock::duration limit) {
  asio::steady_timer timer(sock.get_executor());
  bool expired = false;
  timer.expires_after(limit);
  timer.async_wait([&sock, &expired](error_code ec) {
    if (ec) return;
    expired = true;
    error_code ignored;
    sock.cancel(ignored);
  });
  error_code ec;
  co_await sock.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  timer.cancel();
  co_return !ec && !expired;
}

// Counts a session, or a message being written, while it lasts.
struct Count {
  std::size_t& n;
  explicit Count(std::size_t& c) : n(c) { ++n; }
  ~Count() { --n; }
  Count(const Count&) = delete;
  Count& operator=(const Count&) = delete;
};

// One message on the connection, from its cleanup_open (already read) to
// the cleanup_result. True when the connection may carry another message:
// the result answered cleanup_end, nothing was sent after that, and the
// process is not stopping (the result then says keep_open).
asio::awaitable<bool> serve_message(Service& svc, Socket& sock, const std::string& peer,
                                    const submit::CleanupOpen& open) {
  Count counted(svc.sessions);
  const auto timeout = svc.settings.ipc_timeout;
  // in_flow_delay (server/flow.h): without a token qmgr is behind (or not
  // running); the client waits a little, then the message goes on.
  if (svc.settings.in_flow_delay.count() > 0 && !server::take_token()) {
    asio::steady_timer pause(sock.get_executor(), svc.settings.in_flow_delay);
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const auto frame_timeout = std::min<std::chrono::seconds>(timeout, svc.settings.frame_timeout);
  std::unique_ptr<Rewriter> rewriter = svc.make_rewriter();
  Message::Deps deps{svc.settings, svc.mapper, *rewriter, svc.checks};
  auto created = Message::create(deps, open.flags, open.origin, svc.queue_root);
  if (!created) {
    log::warning("queue file create: {}", created.error().message);
    MappingError e = write_error();
    const std::string no_id;
    co_await reply(sock, &e, no_id, timeout);
    co_return false;
  }
  std::unique_ptr<Message> msg = std::move(*created);
  // Until its commit is over (or the session ends without one).
  std::optional<Count> writing(std::in_place, svc.writing);
  svc.committer.presync(*msg->writer(), svc.writing == 1);
  {
    submit::CleanupOpened opened;
    opened.queue_id = msg->queue_id();
    if (auto st = co_await ipc::write_message(sock, std::move(opened), {}, timeout); !st) co_return false;
  }

  Phase phase = Phase::Envelope;
  std::int64_t end_flags = 0;  // cleanup_end's submit::end_flag bits
  std::optional<std::string> end_filter;  // cleanup_end's content filter
  std::optional<std::string> end_redirect;  // and redirect

  // Frames come out of bulk reads (ipc/frame_buffer.h): smtpd sends a
  // small message's envelope, recipients, content and end in one write,
  // and reading them frame by frame cost two reads, a wait and a timer
  // each. A disconnect, timeout or bad frame header before cleanup_end
  // abandons the message (Message's writer removes the file).
  ipc::FrameBuffer in(request_limits());
  std::optional<std::chrono::steady_clock::time_point> frame_began;
  error_code nb;
  sock.non_blocking(true, nb);  // read_some() below must not block the loop
  if (nb) {
    log::warning("{}: client {}: {}", msg->queue_id(), peer, nb.message());
    co_return false;
  }
  for (;;) {
    auto next = in.next();
    if (!next) {
      log::debug("{}: aborted by client {}: {}", msg->queue_id(), peer, next.error().message);
      co_return false;
    }
    if (!*next) {
      error_code ec;
      std::size_t n = sock.read_some(asio::buffer(in.prepare(kReadChunk), kReadChunk), ec);
      if (!ec) {
        in.commit(n);
        continue;
      }
      if (ec != asio::error::would_block && ec != asio::error::try_again) {
        log::debug("{}: aborted by client {}: {}", msg->queue_id(), peer,
                   ec == asio::error::eof ? std::string("end of file") : ec.message());
        co_return false;
      }
      // Between frames the client may idle for up to ipc_timeout (smtpd
      // waits on its SMTP client, whose every read may take smtpd_timeout);
      // a frame, once begun, must be complete within frame_timeout.
      std::chrono::steady_clock::duration limit = timeout;
      if (in.partial()) {
        auto now = std::chrono::steady_clock::now();
        if (!frame_began) frame_began = now;
        limit = frame_timeout - (now - *frame_began);
      }
      if (limit <= std::chrono::steady_clock::duration::zero() || !co_await wait_readable(sock, limit)) {
        if (in.partial())
          log::debug("{}: aborted: client {} left a frame unfinished for {}s", msg->queue_id(), peer,
                     frame_timeout.count());
        else
          log::debug("{}: aborted: client {} sent nothing for {}s", msg->queue_id(), peer, timeout.count());
        co_return false;
      }
      continue;
    }
    frame_began.reset();
    ipc::Frame frame = std::move(**next);
    auto type = ipc::peek_type(frame.payload);
    if (!type) {
      co_await refuse(sock, *msg, peer, type.error().message);
      co_return false;
    }
    if (*type == submit::CleanupEnvelope::kType) {
      auto m = ipc::decode<submit::CleanupEnvelope>(frame.payload);
      if (!m) { co_await refuse(sock, *msg, peer, m.error().message); co_return false; }
      if (phase != Phase::Envelope) { co_await refuse(sock, *msg, peer, "envelope out of order"); co_return false; }
      phase = Phase::Recipients;
      co_await msg->envelope(std::move(*m));
    } else if (*type == submit::CleanupRecipient::kType) {
      auto m = ipc::decode<submit::CleanupRecipient>(frame.payload);
      if (!m) { co_await refuse(sock, *msg, peer, m.error().message); co_return false; }
      if (phase != Phase::Recipients) { co_await refuse(sock, *msg, peer, "recipient out of order"); co_return false; }
      co_await msg->recipient(std::move(*m));
    } else if (*type == submit::CleanupContent::kType) {
      auto m = ipc::decode<submit::CleanupContent>(frame.payload);
      if (!m) { co_await refuse(sock, *msg, peer, m.error().message); co_return false; }
      if (phase == Phase::Envelope) { co_await refuse(sock, *msg, peer, "content before envelope"); co_return false; }
      phase = Phase::Content;
      co_await msg->content(m->data);
    } else if (*type == submit::CleanupEnd::kType) {
      auto m = ipc::decode<submit::CleanupEnd>(frame.payload);
      if (!m) { co_await refuse(sock, *msg, peer, m.error().message); co_return false; }
      if (phase == Phase::Envelope) { co_await refuse(sock, *msg, peer, "end before envelope"); co_return false; }
      end_flags = m->flags.value_or(0);
      end_filter = std::move(m->content_filter);
      end_redirect = std::move(m->redirect);
      break;
    } else {
      std::string why = fmt::format("unexpected message \"{}\"", str::printable(*type, 64));
      co_await refuse(sock, *msg, peer, why);
      co_return false;
    }
    // A protocol-level failure inside Message (bad attribute) ends the
    // conversation like a malformed frame; content verdicts wait for the end.
    if (msg->error() && msg->error()->protocol) {
      co_await reply(sock, &*msg->error(), msg->queue_id(), std::chrono::seconds(1));
      co_return false;
    }
  }

  auto verdict = co_await msg->finish(end_flags, std::move(end_filter), std::move(end_redirect));
  if (!verdict && ((end_flags & submit::end_flag::kDiscard) || msg->discarded())) {
    // Postfix's CLEANUP_FLAG_DISCARD (smtpd's DISCARD action, or a header or
    // body check's, logged where it matched): the client is told "queued"
    // and the file is gone.
    msg->writer()->abandon();
  } else if (!verdict) {
    const bool traced = !msg->expanded_notices().empty();
    if (traced) {
      if (auto st = co_await append_expanded(svc, *msg); !st) {
        log::warning("{}: trace logfile update error: {}", msg->queue_id(), st.error().message);
        verdict = write_error();
        msg->writer()->abandon();  // gone before the client hears "try again"
      }
    }
    if (!verdict) {
      std::shared_ptr<queue::QueueFileWriter> writer = msg->writer();
      const bool alone = svc.sessions == 1;
      auto st = co_await svc.committer.commit(writer, alone);
      if (!st) verdict = write_error();
    }
    if (verdict && traced) remove_trace_log(svc, msg->queue_id());
  }
  writing.reset();
  // A client sends nothing after cleanup_end until it has the result:
  // bytes already there mean a confused or hostile one, which gets no
  // second message.
  const bool keep = !in.partial() && !(svc.ctx && svc.ctx->stopping());
  co_return co_await reply(sock, verdict ? &*verdict : nullptr, msg->queue_id(), timeout, keep) && keep;
}

}  // namespace

asio::awaitable<void> serve_session(Service& svc, Socket sock, std::string peer) {
  const auto timeout = svc.settings.ipc_timeout;
  // A frame, once begun, is written in one go by every client: it must be
  // complete within frame_timeout. So must the first one (cleanup_open),
  // sent as soon as a client connects. See session.h.
  const auto frame_timeout = std::min<std::chrono::seconds>(timeout, svc.settings.frame_timeout);
  const std::chrono::seconds idle_limit = svc.ctx ? svc.ctx->cfg().time("max_idle") : timeout;
  for (bool first = true;; first = false) {
    if (!first) {
      // The client keeps the connection for its next message (smtpd) or
      // closes it. The wait is bounded by max_idle and ends when the
      // process stops, so that a kept connection never holds a retiring
      // process (server/requests.h).
      std::optional<server::IdleWait> idle;
      if (svc.ctx) idle.emplace(*svc.ctx, sock);
      if (!co_await wait_readable(sock, idle_limit)) co_return;
    }
    auto open = co_await ipc::read_message<submit::CleanupOpen>(sock, request_limits(), frame_timeout);
    if (!open) {
      // A client that connects and closes (a probe), or closes a kept
      // connection, is not worth a warning.
      if (open.error().message.find("connection closed by peer") == std::string::npos)
        log::warning("cleanup: malformed request from {}: {}", peer, open.error().message);
      MappingError e = protocol_error();
      const std::string no_id;
      co_await reply(sock, &e, no_id, std::chrono::seconds(1));
      co_return;
    }
    // The connection was counted as one use when it was accepted; every
    // later message on it counts as one more, so max_use still bounds the
    // messages of one process (server/skeleton.h).
    if (!first && svc.ctx) svc.ctx->count_use();
    if (!co_await serve_message(svc, sock, peer, *open)) co_return;
  }
}

}  // namespace postern::cleanup
