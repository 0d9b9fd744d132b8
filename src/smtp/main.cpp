// smtp, lmtp - the SMTP/LMTP client delivery agent (Postfix's smtp(8) and
// lmtp(8)): delivers queued mail to other mail servers.
//
// master.cf: "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
// "lmtp unix - - n - - lmtp". The same code builds both programs; the lmtp
// one speaks LMTP (LHLO, one reply per recipient after DATA) and reads the
// lmtp_* parameters where Postfix has them.
//
// One process runs up to client_limit deliveries at once as Asio coroutines
// (server::Model::Multi) and keeps idle sessions for reuse (client.h). The
// DNS resolver is created before the privilege drop (it reads resolv.conf).
//
// Parameters and log lines: see smtp/client.h and docs/man/smtp.md.
#include <memory>

#include "client.h"
#include "log/log.h"
#include "server/skeleton.h"
#include "submit/cleanup_client.h"

using namespace postern;

#ifndef POSTERN_LMTP
#define POSTERN_LMTP 0
#endif

int main(int argc, char** argv) {
  constexpr bool kLmtp = POSTERN_LMTP != 0;
  // The agent holds the resolver and cached sessions, which must not outlive
  // the skeleton's io_context; the process exits right after run() returns,
  // so it is deliberately never destroyed.
  smtp_client::Agent* agent = nullptr;
  server::Daemon d;
  d.name = kLmtp ? "lmtp" : "smtp";
  d.model = server::Model::Multi;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    auto s = smtp_client::Settings::from_config(ctx.cfg(), kLmtp);
    if (!s) return s.take_error();
    auto a = smtp_client::Agent::create(ctx.io(), std::move(*s));
    if (!a) return a.take_error();
    agent = a->release();
    return {};
  };
  d.post_drop = [&](server::Context&) -> Status {
    // Without chroot the queue stays where it is; with chroot
    // (master.cf column 5) queue_directory becomes "/".
    std::error_code ec;
    auto& root = agent->settings().queue_root;
    if (!std::filesystem::exists(root / "active", ec) && std::filesystem::exists("/active", ec)) {
      root = "/";
      agent->settings().cleanup_socket = submit::cleanup_socket_path(root, agent->settings().cleanup_service);
    }
    return {};
  };
  d.serve = [&](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    co_await agent->serve(ctx, std::move(sock));
  };
  return server::run(argc, argv, std::move(d));
}
