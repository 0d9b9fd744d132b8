// smtpd - the SMTP server (Postfix's smtpd(8)): receives mail from the
// network and hands it to the cleanup service.
//
// One process serves up to client_limit sessions at once as Asio coroutines
// (server::Model::Multi); the master bounds the processes (maxproc) and
// retires them (max_use, max_idle). Lookup tables named by mynetworks,
// mydestination, relay_domains, local_recipient_maps, ... are opened before
// the privilege drop and chroot, like Postfix, and so are the TLS keys
// and certificates. See docs/man/smtpd.md.
//
// Parameters: see smtpd/session.h (Settings) and smtpd/policy.h.
// Logs: see smtpd/session.h.
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "base/strings.h"
#include "log/log.h"
#include "server/skeleton.h"
#include "smtpd/session.h"
#include "submit/cleanup_client.h"

using namespace postern;

int main(int argc, char** argv) {
  auto shared = std::make_unique<smtpd::Shared>();
  struct stat queue_dir {};
  server::Daemon d;
  d.name = "smtpd";
  d.model = server::Model::Multi;
  d.client_limit = 100;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = smtpd::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    auto p = smtpd::Policy::from_config(ctx.cfg());
    if (!p) return p.take_error();
    auto footer = smtpd::ReplyFooter::from_config(ctx.cfg());
    if (!footer) return footer.take_error();
    auto ex = smtpd::NetworkList::parse("smtpd_forbid_bare_newline_exclusions", s->bare_newline_exclusions);
    if (!ex) return ex.take_error();
    std::string qd = ctx.cfg().str("queue_directory");
    if (::stat(qd.c_str(), &queue_dir) != 0) return sys_error("queue_directory {}", qd);
    shared->queue_dir.reset(::open(qd.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    shared->settings = std::move(*s);
    shared->settings.cleanup_socket = submit::cleanup_socket_path(qd, ctx.cfg().str("cleanup_service_name"));
    shared->settings.rewrite_socket =
        std::filesystem::path(qd) / "private" / ctx.cfg().str("rewrite_service_name");
    shared->settings.anvil_socket = std::filesystem::path(qd) / "private" / ctx.cfg().str("anvil_service_name");
    shared->policy = std::move(*p);
    shared->footer = std::make_unique<smtpd::ReplyFooter>(std::move(*footer));
    if (std::string filter = ctx.cfg().str("smtpd_command_filter"); !str::trim(filter).empty()) {
      auto ml = maps::MapList::open("smtpd_command_filter", filter);
      if (!ml) return ml.take_error();
      shared->command_filter = std::make_unique<maps::MapList>(std::move(*ml));
    }
    shared->bare_newline_exclusions = std::make_unique<smtpd::NetworkList>(std::move(*ex));
    if (std::string xf = ctx.cfg().str("smtpd_authorized_xforward_hosts"); !str::trim(xf).empty()) {
      auto nl = smtpd::NetworkList::parse("smtpd_authorized_xforward_hosts", xf);
      if (!nl) return nl.take_error();
      shared->xforward_hosts = std::make_unique<smtpd::NetworkList>(std::move(*nl));
    }
    if (std::string xc = ctx.cfg().str("smtpd_authorized_xclient_hosts"); !str::trim(xc).empty()) {
      auto nl = smtpd::NetworkList::parse("smtpd_authorized_xclient_hosts", xc);
      if (!nl) return nl.take_error();
      shared->xclient_hosts = std::make_unique<smtpd::NetworkList>(std::move(*nl));
    }
    if (shared->settings.sasl.enabled) {
      auto ep = smtpd::SaslEndpoint::parse(shared->settings.sasl.path, qd);
      if (!ep) return ep.take_error();
      shared->sasl_endpoint = std::move(*ep);
      if (!str::trim(shared->settings.sasl.exceptions).empty()) {
        auto nl = smtpd::NetworkList::parse("smtpd_sasl_exceptions_networks", shared->settings.sasl.exceptions);
        if (!nl) return nl.take_error();
        shared->sasl_exceptions = std::make_unique<smtpd::NetworkList>(std::move(*nl));
      }
    }
    // Key files are commonly readable by root only.
    return smtpd::load_tls(*shared);
  };
  d.post_drop = [&](server::Context& ctx) -> Status {
    // After chroot the queue directory is "/".
    struct stat now {};
    if (::stat("/", &now) == 0 && now.st_dev == queue_dir.st_dev && now.st_ino == queue_dir.st_ino)
    {
      shared->settings.cleanup_socket = submit::cleanup_socket_path("/", ctx.cfg().str("cleanup_service_name"));
      shared->settings.rewrite_socket = std::filesystem::path("/private") / ctx.cfg().str("rewrite_service_name");
      shared->settings.anvil_socket = std::filesystem::path("/private") / ctx.cfg().str("anvil_service_name");
      if (shared->sasl_endpoint) {
        auto ep = smtpd::SaslEndpoint::parse(shared->settings.sasl.path, "/");
        if (ep) shared->sasl_endpoint = std::move(*ep);
      }
    }
    // One trivial-rewrite client, one DNS resolver and one anvil client per process.
    smtpd::start_clients(ctx.io(), *shared);
    return {};
  };
  d.serve = [&](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    co_await smtpd::serve_session(ctx, *shared, std::move(sock));
  };
  return server::run(argc, argv, std::move(d));
}
