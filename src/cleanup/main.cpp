// cleanup - canonicalize and enqueue messages (Postfix's cleanup(8)).
//
// Serves the submission protocol (submit/cleanup_proto.h) on public/cleanup
// for smtpd, pickup, qmqpd and bounce: many clients per process. See
// docs/man/cleanup.md. Tables are opened before the privilege drop (and
// chroot), like Postfix. master.cf argument commit=single turns group
// commit off (for measurements).
//
// Parameters: see settings.h. Logs: see message.h, session.h, committer.h.
#include <sys/stat.h>

#include <memory>

#include "aio/io_scope.h"
#include "cleanup/session.h"
#include "ipc/status_call.h"
#include "log/log.h"
#include "rewrite/client.h"
#include "server/skeleton.h"

using namespace postern;

namespace {

struct State {
  std::optional<cleanup::CleanupSettings> settings;
  std::optional<cleanup::AddressMapper> mapper;
  std::unique_ptr<cleanup::ContentChecks> checks;
  std::unique_ptr<cleanup::Committer> committer;
  cleanup::RewriteFallback fallback;
  std::unique_ptr<rewrite::AsyncClient> rewriter;
  std::unique_ptr<cleanup::Service> service;
  struct stat queue_dir {};
};

}  // namespace

int main(int argc, char** argv) {
  auto state = std::make_unique<State>();
  server::Daemon d;
  d.name = "cleanup";
  d.model = server::Model::Multi;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = cleanup::CleanupSettings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    auto m = cleanup::open_mapper(*s);
    if (!m) return m.take_error();
    auto checks = cleanup::open_checks(*s);
    if (!checks) return checks.take_error();
    state->checks = std::move(*checks);
    if (::stat(s->queue_directory.c_str(), &state->queue_dir) != 0)
      return sys_error("queue_directory {}", s->queue_directory.string());
    state->settings = std::move(*s);
    state->mapper.emplace(std::move(*m));
    return {};
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    const auto& s = *state->settings;
    // After chroot, queue_directory is "/".
    std::filesystem::path root = s.queue_directory;
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == state->queue_dir.st_dev && now.st_ino == state->queue_dir.st_ino)
      root = "/";
    cleanup::Committer::Options co;
    co.qmgr_trigger = root / "public" / s.queue_service_name;
    for (const auto& a : ctx.args())
      if (a == "commit=single") co.mode = cleanup::Committer::Mode::Single;
    state->committer = std::make_unique<cleanup::Committer>(ctx.io(), co);
    // One trivial-rewrite client per process: its answer cache and
    // connections serve every session. Its sockets belong to the skeleton's
    // io_context, so it goes when that does (io_scope.h).
    state->fallback = {root / "private" / s.rewrite_service_name, s.myorigin, s.append_at_myorigin};
    rewrite::Options ro;
    ro.timeout = s.ipc_timeout;
    ro.idle = ctx.cfg().time("ipc_idle");
    state->rewriter = std::make_unique<rewrite::AsyncClient>(ctx.io(), state->fallback.socket, ro);
    aio::at_io_shutdown(ctx.io(), [st = state.get()] { st->rewriter.reset(); });
    state->service.reset(new cleanup::Service{
        s, *state->mapper,
        [st = state.get()]() -> std::unique_ptr<cleanup::Rewriter> {
          return std::make_unique<cleanup::ServiceRewriter>(*st->rewriter, st->fallback);
        },
        *state->committer, root, &ctx});
    state->service->checks = state->checks.get();
    state->service->trace = [&ctx, socket = root / "private" / s.trace_service_name, service = s.trace_service_name,
                             timeout = std::chrono::duration_cast<ipc::AsyncDuration>(s.ipc_timeout)](
                                ipc::proto::BounceRequest req) -> asio::awaitable<Status> {
      co_return co_await ipc::status_call(ctx.io(), socket, service, std::move(req), timeout);
    };
    return {};
  };
  d.serve = [&](server::Context&, server::Socket sock) -> asio::awaitable<void> {
    std::string peer = server::peer_text(sock);
    co_await cleanup::serve_session(*state->service, std::move(sock), std::move(peer));
  };
  int rc = server::run(argc, argv, std::move(d));
  // The committer's pool may still be finishing an fsync: wait for it.
  if (state->committer) state->committer->join();
  return rc;
}
