// showq - the queue listing service (Postfix's showq(8)), master.cf
// "showq unix n - n - - showq".
//
// postqueue -p / -j (and so mailq and sendmail -bp) connect to
// public/$showq_service_name, send a showq_request, and read one
// showq_entry per queued message followed by showq_end
// (ipc/proto/showq.h). The socket is public and postqueue is set-gid, so
// this is how users who cannot read the queue directories see the queue;
// the service therefore tells only what mailq shows (IDs, sizes, times,
// sender, pending recipients, delay reasons), never content.
//
// One client per process (server::Model::Single): the listing reads queue
// files with blocking I/O, and the master runs as many showq processes as
// there are clients (maxproc). Memory stays bounded whatever the queue
// size: each message is read, sent and forgotten (listing.h).
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// ipc_timeout (plus the skeleton's).
// Logs: "warning: showq: malformed request from local: ..." for a bad
// request, "warning: showq: listing ended early: ..." when the queue cannot
// be read or the client stops reading; one debug line per listing.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <memory>

#include "ipc/async.h"
#include "ipc/async_stream.h"
#include "ipc/frame.h"
#include "ipc/proto/showq.h"
#include "listing.h"
#include "log/log.h"
#include "server/skeleton.h"

using namespace postern;

namespace {

struct Settings {
  showq::ListOptions list;
  std::chrono::seconds timeout{3600};
};

constexpr std::size_t kBatchBytes = 64 * 1024;

// Writes `data` (whole frames) within `timeout` and clears it.
asio::awaitable<Status> write_bytes(server::Socket& sock, std::string& data, std::chrono::seconds timeout) {
  ipc::detail::Watchdog<server::Socket> dog(sock, timeout);
  error_code ec;
  std::size_t n =
      co_await asio::async_write(sock, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (dog.fired()) co_return make_error("timeout writing to the client after {} of {} bytes", n, data.size());
    co_return make_error("write to the client: {}", ec.message());
  }
  data.clear();
  co_return Status{};
}

asio::awaitable<void> serve(server::Context& ctx, const Settings& s, server::Socket sock) {
  auto req = co_await ipc::read_message<ipc::proto::ShowqRequest>(sock, {}, std::chrono::seconds(60));
  if (!req) {
    log::warning("{}: malformed request from {}: {}", ctx.service(), server::peer_text(sock), req.error().message);
    co_await ipc::refuse(sock, req.error().message);
    co_return;
  }
  // Each entry is read, encoded, queued and forgotten before the next file
  // is opened; the queued frames go out whenever they reach kBatchBytes, so
  // memory stays bounded by the batch (plus one entry), not by the queue,
  // and a large queue costs one write per batch rather than per message. A
  // failed write (client gone, deadline) ends the walk.
  ipc::proto::ShowqEnd end;
  std::string batch;
  for (auto q : showq::kListedQueues) {
    queue::QueueScanner scanner(s.list.queue_root, q, s.list.hash);
    for (;;) {
      auto next = scanner.next();
      if (!next) {
        if (next.error().sys_errno != ENOENT)
          log::warning("{}: listing ended early: {}", ctx.service(), next.error().message);
        break;
      }
      if (!*next) break;
      auto entry = showq::describe(s.list, q, **next);
      if (!entry) {
        ++end.skipped;  // being written, vanished (moved by qmgr) or damaged
        continue;
      }
      auto payload = ipc::encode(*entry);
      auto frame = payload ? ipc::make_frame(*payload) : Result<std::string>(payload.take_error());
      if (!frame) {
        log::warning("{}: {}: cannot encode listing entry: {}", ctx.service(), entry->queue_id,
                     frame.error().message);
        ++end.skipped;
        continue;
      }
      batch += *frame;
      ++end.messages;
      end.size += entry->message_size;
      if (batch.size() < kBatchBytes) continue;
      if (auto st = co_await write_bytes(sock, batch, s.timeout); !st) {
        log::warning("{}: listing ended early: {}", ctx.service(), st.error().message);
        co_return;
      }
    }
  }
  if (!batch.empty()) {
    if (auto st = co_await write_bytes(sock, batch, s.timeout); !st) {
      log::warning("{}: listing ended early: {}", ctx.service(), st.error().message);
      co_return;
    }
  }
  Status write_status;
  write_status = co_await ipc::write_message(sock, end, {}, s.timeout);
  if (!write_status) log::warning("{}: listing ended early: {}", ctx.service(), write_status.error().message);
  log::debug("listed {} messages, {} bytes, {} skipped", end.messages, end.size, end.skipped);
}

}  // namespace

int main(int argc, char** argv) {
  auto settings = std::make_shared<Settings>();
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "showq";
  d.model = server::Model::Single;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    const auto& cfg = ctx.cfg();
    settings->list.queue_root = cfg.str("queue_directory");
    std::string names;
    for (const auto& n : cfg.list("hash_queue_names")) names += n + ",";
    auto hash = queue::HashConfig::from_params(names, cfg.integer("hash_queue_depth"));
    if (!hash) return hash.take_error();
    settings->list.hash = *hash;
    settings->timeout = cfg.time("ipc_timeout");
    if (::stat(settings->list.queue_root.c_str(), &queue_dir) != 0)
      return sys_error("queue_directory {}", settings->list.queue_root.string());
    return {};
  };
  d.post_drop = [&](server::Context&) -> Status {
    // After a chroot to queue_directory, the queue is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino)
      settings->list.queue_root = "/";
    return {};
  };
  d.serve = [&](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    co_await serve(ctx, *settings, std::move(sock));
  };
  return server::run(argc, argv, std::move(d));
}
