// qmqpd - the QMQP server (Postfix's qmqpd(8)): receives one message per
// connection from authorized clients (qmqpd_authorized_clients, empty by
// default: nobody) and hands it to the cleanup service.
//
// master.cf: "628 inet n - n - - qmqpd" (QMQP's port), or "qmqp unix n - n
// - - qmqpd" for local reinjection. One process serves many clients as Asio
// coroutines; the master bounds the processes (maxproc) and retires them
// (max_use, max_idle). The client list and its tables are opened before the
// privilege drop and chroot, like Postfix. See docs/man/qmqpd.md.
//
// Parameters and logs: see qmqpd/session.h.
#include <sys/stat.h>

#include <memory>

#include "log/log.h"
#include "qmqpd/session.h"
#include "server/skeleton.h"
#include "submit/cleanup_client.h"

using namespace postern;

int main(int argc, char** argv) {
  auto shared = std::make_unique<qmqpd::Shared>();
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "qmqpd";
  d.model = server::Model::Multi;
  d.client_limit = 100;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = qmqpd::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    auto list = qmqpd::open_authorized_clients(ctx.cfg());
    if (!list) return list.take_error();
    std::string qd = ctx.cfg().str("queue_directory");
    if (::stat(qd.c_str(), &queue_dir) != 0) return sys_error("queue_directory {}", qd);
    shared->settings = std::move(*s);
    shared->settings.cleanup_socket = submit::cleanup_socket_path(qd, ctx.cfg().str("cleanup_service_name"));
    shared->authorized = std::move(*list);
    shared->hosts = std::make_unique<dns::HostsFile>(dns::HostsFile::load());
    return {};
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    // After chroot the queue directory is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino)
      shared->settings.cleanup_socket = submit::cleanup_socket_path("/", ctx.cfg().str("cleanup_service_name"));
    dns::ResolverOptions o;
    o.servers = shared->settings.dns_resolver_address;
    o.timeout = qmqpd::kNameTryTimeout;
    o.tries = 2;
    if (auto r = dns::Resolver::create(ctx.io(), o))
      shared->dns = std::make_unique<dns::Resolver>(std::move(*r));
    else
      log::warning("DNS resolver: {}: client names will be \"unknown\"", r.error().message);
    return {};
  };
  d.serve = [&](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    co_await qmqpd::serve_session(ctx, *shared, std::move(sock));
  };
  return server::run(argc, argv, std::move(d));
}
