// spawn - run an external command per connection (Postfix's spawn(8)):
// master.cf "policy unix - n n - 0 spawn user=nobody argv=/usr/bin/policyd-spf".
//
// A privileged single-client server, Postfix's inetd: for each connection
// on its service's socket it starts the command of its argv= attribute with
// the connection as standard input, output and error, as the user= user
// (deliver::start_command(): new session, that uid and gid only, a clean
// environment with export_environment, working directory /), and waits for
// it to exit. The command never runs as root or as mail_owner (its uid or
// gid), and at most <service>_time_limit (default $command_time_limit):
// then its process group is killed. spawn itself never reads or writes the
// connection, so no client data reaches it.
//
// Without root (a personal instance) the command runs as the invoking
// user, which user= must then name.
//
// Parameters: <service>_time_limit, command_time_limit, export_environment,
// mail_owner, and the skeleton's (max_use, max_idle, ...).
// Logs: a fatal error for bad attributes; warnings for a command that could
// not start, exited with a status other than 0, was killed by a signal or
// ran past its time limit.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>

#include "attributes.h"
#include "deliver/command.h"
#include "config/registry.h"
#include "log/log.h"
#include "security/privileges.h"
#include "server/skeleton.h"

using namespace postern;

namespace {

struct Service {
  spawn::Attributes attr;
  deliver::CommandOptions options;
  std::string program;  // argv[0], for log lines
};

std::optional<Service> g_service;

Status configure(server::Context& ctx) {
  auto attr = spawn::parse_attributes(ctx.args());
  if (!attr) return make_error("service {}: {}", ctx.service(), attr.error().message);
  auto creds = spawn::command_credentials(*attr, ctx.cfg().str("mail_owner"), ctx.cfg().str("setgid_group"),
                                           ctx.service());
  if (!creds) return creds.take_error();
  Service s;
  s.program = attr->argv[0];
  s.options.run_as = std::move(*creds);
  s.options.export_environment = ctx.cfg().list("export_environment");
  s.options.working_directory = "/";
  // <service>_time_limit exists for a service named like a transport
  // ([a-z0-9-]); an inet service ("127.0.0.1:10030") has command_time_limit.
  const std::string limit_name = ctx.service() + "_time_limit";
  s.options.time_limit = ctx.cfg().time(config::find_param(limit_name) ? limit_name : "command_time_limit");
  s.attr = std::move(*attr);
  g_service = std::move(s);
  return {};
}

// Reaps the command when the connection's coroutine ends early (the
// process stopping): it must not outlive its time limit unwatched.
struct Reaper {
  pid_t pid = -1;
  ~Reaper() {
    if (pid <= 0) return;
    deliver::kill_command(pid);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
};

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  Service& s = *g_service;
  const int fd = sock.native_handle();
  auto started = deliver::start_command(s.attr.argv, s.options, fd, fd, fd);
  if (!started) {
    log::warning("{}", started.failure().text);
    co_return;  // the client sees the connection close
  }
  sock.close();  // the command has the connection now
  Reaper reaper{started->pid};
  const pid_t pid = started->pid;

  // Shared with the time limit's handler, which may already be queued when
  // the command exits and so run after this coroutine has ended: it must
  // not touch the frame, nor signal a pid that was reaped (and could be
  // someone else's by then).
  struct Watch {
    bool timed_out = false;
    bool reaped = false;
  };
  auto watch = std::make_shared<Watch>();
  asio::steady_timer limit(ctx.io(), s.options.time_limit);
  limit.async_wait([watch, pid](const boost::system::error_code& ec) {
    if (ec || watch->reaped) return;
    watch->timed_out = true;
    deliver::kill_command(pid);
  });
  int status = 0;
  pid_t r = 0;  // the pid once reaped
  if (started->pidfd) {
    // Readable once the command has exited.
    asio::posix::stream_descriptor exited(ctx.io(), started->pidfd.release());
    boost::system::error_code ec;
    co_await exited.async_wait(asio::posix::descriptor_base::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // Not an exit: the blocking wait below must not wait for the time limit.
      log::warning("command {}: process id {}: cannot watch for its exit: {}", s.program, static_cast<long>(pid),
                   ec.message());
      deliver::kill_command(pid);
    }
  } else {
    // No pidfd_open() (Linux before 5.3): look every 50 ms.
    asio::steady_timer tick(ctx.io());
    while ((r = ::waitpid(pid, &status, WNOHANG)) == 0 || (r < 0 && errno == EINTR)) {
      tick.expires_after(std::chrono::milliseconds(50));
      co_await tick.async_wait(asio::use_awaitable);
    }
  }
  limit.cancel();
  watch->reaped = true;  // from here on no signal: the wait below reaps it
  if (r == 0) {
    do r = ::waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
  }
  reaper.pid = -1;
  if (r < 0) {
    log::warning("command {}: cannot wait for process id {}: {}", s.program, static_cast<long>(pid),
                 std::strerror(errno));
    co_return;
  }
  if (auto failed = deliver::start_failure(started.value(), s.options)) {
    log::warning("{}", failed->text);
    co_return;
  }
  if (watch->timed_out)
    log::warning("command {}: process id {}: command time limit exceeded", s.program, static_cast<long>(pid));
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    log::warning("command {} exit status {}", s.program, WEXITSTATUS(status));
  if (WIFSIGNALED(status)) log::warning("command {} killed by signal {}", s.program, WTERMSIG(status));
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "spawn";
  d.model = server::Model::Single;
  d.privileged = true;
  d.pre_drop = configure;
  // Work as mail_owner between commands, keeping root only to start and
  // stop them (Postfix's drop_privileges() hook in pipe and spawn).
  d.post_drop = [](server::Context& ctx) -> Status {
    return security::work_as_mail_owner(ctx.cfg().str("mail_owner"));
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
