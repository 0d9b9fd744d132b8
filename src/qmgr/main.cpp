// qmgr - the queue manager (master.cf "qmgr unix n - n 300 1 qmgr").
//
// A resident trigger server (long_lived: never retires on max_use or
// max_idle). Wake-ups on public/qmgr ("W"/"I" incoming, "D" deferred, "A"
// ignore retry times, "F" forget dead destinations) and its own
// queue_run_delay timer drive the QueueManager (qmgr.h describes the whole
// life of a message, the parameters and the log lines).
#include <sys/stat.h>

#include <memory>

#include "ipc/trigger.h"
#include "log/log.h"
#include "qmgr.h"
#include "server/skeleton.h"

using namespace postern;

int main(int argc, char** argv) {
  std::unique_ptr<qmgr::QueueManager> manager;
  qmgr::Settings settings;
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "qmgr";
  d.model = server::Model::Trigger;
  d.long_lived = true;
  d.watchdog_parameter = "qmgr_daemon_timeout";
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = qmgr::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    if (::stat(s->queue_root.c_str(), &queue_dir) != 0) return sys_error("queue_directory {}", s->queue_root.string());
    settings = std::move(*s);
    return {};
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    // After a chroot to queue_directory, the queue is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino)
      settings.queue_root = "/";
    manager = std::make_unique<qmgr::QueueManager>(ctx.io(), std::move(settings));
    manager->start();
    return {};
  };
  d.trigger = [&](server::Context& ctx, std::string bytes) -> asio::awaitable<void> {
    auto req = ipc::parse_trigger(bytes, ctx.service());
    if (manager && req.any()) manager->trigger(req);
    co_return;
  };
  int rc = server::run(argc, argv, std::move(d));
  // The manager's timers and sockets belong to the skeleton's io_context,
  // which is gone once run() returns: destroying them now would touch freed
  // memory. The process is exiting; let it reclaim them.
  (void)manager.release();
  return rc;
}
