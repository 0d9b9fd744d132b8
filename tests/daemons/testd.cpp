// testd - a test service for the master's integration tests (not installed).
//
// Built on the same server skeleton as every real daemon. Its behaviour is
// chosen by master.cf arguments of the form name=value:
//   model=single|multi|trigger   serving model (default single)
//   lifetime=long                long-lived, as qmgr (ignores max_use, max_idle)
//   startup=fail                 exit 1 before serving (throttling test)
//   log=PATH                     append one line per event to PATH
//   clients=N                    client limit of the multi model (default 3)
// Stream protocol, one command per line:
//   PID        -> "<pid>\n"
//   SLEEP n    -> sleeps n*100 ms, then "OK\n"
//   WATCHED n  -> the same as one request the watchdog watches (daemon_timeout)
//   BLOCK n    -> blocks the event loop for n*100 ms, then "OK\n"
//   EXIT n     -> exits with status n (a crash while busy)
//   anything   -> echoed back
// Trigger model: each wake-up appends "trigger <pid> <bytes>" to the log.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "log/log.h"
#include "server/skeleton.h"

using namespace postern;

namespace {

std::string arg_value(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=')
      return std::string(a.substr(name.size() + 1));
  }
  return {};
}

void append_log(const std::string& path, const std::string& line) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  std::string buf;
  char chunk[512];
  for (;;) {
    error_code ec;
    std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    buf.append(chunk, n);
    if (buf.size() > 4096) co_return;
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string reply;
      if (line == "PID") {
        reply = std::to_string(::getpid()) + "\n";
      } else if (line.rfind("SLEEP ", 0) == 0) {
        asio::steady_timer t(ctx.io(), std::chrono::milliseconds(100 * std::stoi(line.substr(6))));
        co_await t.async_wait(asio::use_awaitable);
        reply = "OK\n";
      } else if (line.rfind("WATCHED ", 0) == 0) {
        server::Context::WatchedRequest watched(ctx);
        asio::steady_timer t(ctx.io(), std::chrono::milliseconds(100 * std::stoi(line.substr(8))));
        co_await t.async_wait(asio::use_awaitable);
        reply = "OK\n";
      } else if (line.rfind("BLOCK ", 0) == 0) {
        ::usleep(static_cast<useconds_t>(100'000 * std::stoi(line.substr(6))));
        reply = "OK\n";
      } else if (line.rfind("EXIT ", 0) == 0) {
        ::_exit(std::stoi(line.substr(5)));
      } else {
        reply = line + "\n";
      }
      co_await asio::async_write(sock, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = arg_value(argc, argv, "model");
  std::string log_path = arg_value(argc, argv, "log");
  bool fail = arg_value(argc, argv, "startup") == "fail";
  server::Daemon d;
  d.name = "testd";
  d.model = model == "multi" ? server::Model::Multi : model == "trigger" ? server::Model::Trigger : server::Model::Single;
  std::string clients = arg_value(argc, argv, "clients");
  d.client_limit = clients.empty() ? 3 : static_cast<std::size_t>(std::stoul(clients));
  d.long_lived = arg_value(argc, argv, "lifetime") == "long";
  d.post_drop = [&](server::Context&) -> Status {
    append_log(log_path, "start " + std::to_string(::getpid()) + " uid " + std::to_string(::getuid()));
    if (fail) return make_error("startup failure requested by the test");
    return {};
  };
  d.serve = serve;
  d.trigger = [&](server::Context&, std::string bytes) -> asio::awaitable<void> {
    append_log(log_path, "trigger " + std::to_string(::getpid()) + " " + bytes);
    co_return;
  };
  return server::run(argc, argv, std::move(d));
}
