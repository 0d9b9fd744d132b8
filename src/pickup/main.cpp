// pickup - local submission: maildrop files to cleanup (master.cf "pickup unix n - n 60 1 pickup").
//
// A trigger server: the master wakes it every `wakeup` seconds and postdrop
// after each submission ("W" on public/pickup). Each wake-up scans maildrop
// once (pickup.h describes the checks and the log lines).
//
// Parameters: queue_directory, cleanup_service_name, hash_queue_names,
// hash_queue_depth, ipc_timeout (plus the skeleton's).
#include <sys/stat.h>

#include <memory>

#include "log/log.h"
#include "pickup.h"
#include "server/skeleton.h"

using namespace postern;

int main(int argc, char** argv) {
  auto settings = std::make_shared<pickup::Settings>();
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "pickup";
  d.model = server::Model::Trigger;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = pickup::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    if (::stat(s->queue_root.c_str(), &queue_dir) != 0) return sys_error("queue_directory {}", s->queue_root.string());
    *settings = std::move(*s);
    return {};
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    // After a chroot to queue_directory, the queue is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino &&
        settings->queue_root != "/") {
      settings->queue_root = "/";
      settings->cleanup_socket = std::filesystem::path("/public") / ctx.cfg().str("cleanup_service_name");
    }
    return {};
  };
  d.trigger = [&](server::Context& ctx, std::string) -> asio::awaitable<void> {
    // Every request letter means the same to pickup: look at maildrop now.
    auto st = co_await pickup::scan_maildrop(ctx.io(), *settings);
    log::debug("maildrop scan: {} submitted, {} skipped, {} refused", st.submitted, st.skipped, st.refused);
  };
  return server::run(argc, argv, std::move(d));
}
