// bounce - the bounce, defer and trace services (Postfix bounce(8)).
//
// master.cf: "bounce unix - - n - 0 bounce", and the same for "defer" and
// "trace". One process serves many clients at once; each connection carries
// any number of bounce_request messages, one at a time, each answered with
// a status reply (ipc/proto/bounce.h). The service the master started this
// process for decides which status logs it keeps (service.h); notifications
// are composed by dsn.h and submitted through cleanup.
//
// Parameters: see service.h (plus the skeleton's). Logs: see service.h.
#include <sys/stat.h>

#include <chrono>
#include <memory>

#include "ipc/async.h"
#include "log/log.h"
#include "server/requests.h"
#include "server/skeleton.h"
#include "service.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

bounce::Settings g_settings;

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  const auto io_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  for (;;) {
    auto req = co_await server::next_request<proto::BounceRequest>(ctx, sock);
    if (!req) co_return;
    proto::StatusReply reply = co_await bounce::handle_request(ctx.io(), g_settings, *req);
    auto st = co_await ipc::write_message(sock, reply, {}, io_timeout);
    if (!st) {
      log::warning("{}: write reply to {}: {}", ctx.service(), server::peer_text(sock), st.error().message);
      co_return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "bounce";
  d.model = server::Model::Multi;
  d.client_limit = 100;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = bounce::Settings::from_config(ctx.cfg(), ctx.service());
    if (!s) return s.take_error();
    if (::stat(s->queue_root.c_str(), &queue_dir) != 0) return sys_error("queue_directory {}", s->queue_root.string());
    g_settings = std::move(*s);
    return {};
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    // After a chroot to queue_directory, the queue is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino &&
        g_settings.queue_root != "/") {
      g_settings.queue_root = "/";
      g_settings.cleanup_socket = std::filesystem::path("/public") / ctx.cfg().str("cleanup_service_name");
    }
    return {};
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
