// cleanup_bench - submission throughput with and without group commit.
//
//   cleanup_bench [-n messages] [-c concurrent_clients] [-s body_bytes] [-d scratch_dir]
//
// Runs the real cleanup session code (serve_session) on a Unix socket in a
// scratch queue, and M concurrent CleanupClient coroutines on a second
// thread that submit N messages in total; every message is durable
// (fsynced, ready-marked, directory fsynced) before its client counts it.
// It does this twice, with Committer::Mode::Single (one full commit per
// message) and Mode::Batch (group commit), and prints messages per second
// and the number of fsync batches. The scratch directory should be on the
// file system whose behaviour matters (the default is under /var/tmp, not
// a tmpfs /tmp). Not a test: numbers depend on the disk.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "cleanup/session.h"
#include "config/config.h"
#include "log/log.h"
#include "queue/layout.h"
#include "rewrite/client.h"
#include "submit/cleanup_client.h"

using namespace postern;
namespace fs = std::filesystem;

namespace {

struct Run {
  double seconds = 0;
  std::size_t ok = 0, failed = 0, batches = 0;
};

asio::awaitable<void> accept_loop(asio::local::stream_protocol::acceptor& acc, cleanup::Service& svc) {
  for (;;) {
    error_code ec;
    auto s = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    asio::generic::stream_protocol::socket g(acc.get_executor(), asio::generic::stream_protocol(AF_UNIX, 0),
                                             s.release());
    asio::co_spawn(acc.get_executor(), cleanup::serve_session(svc, std::move(g), "bench"), asio::detached);
  }
}

asio::awaitable<void> client(asio::io_context& io, fs::path sock, std::atomic<std::size_t>& next, std::size_t total,
                             const std::string& body, std::atomic<std::size_t>& ok,
                             std::atomic<std::size_t>& failed) {
  while (next.fetch_add(1) < total) {
    auto c = co_await submit::CleanupClient::open(io, sock, 0, "bench", std::chrono::seconds(60));
    if (!c) {
      ++failed;
      continue;
    }
    submit::CleanupEnvelope env;
    env.sender = "sender@example.com";
    submit::CleanupRecipient rcpt;
    rcpt.address = "rcpt@example.org";
    bool good = co_await c->envelope(env) && co_await c->recipient(rcpt);
    if (good) good = static_cast<bool>(co_await c->content(body));
    auto r = co_await c->finish();
    if (good && r && r->ok())
      ++ok;
    else
      ++failed;
  }
}

Run run_once(const fs::path& dir, cleanup::Committer::Mode mode, std::size_t total, std::size_t clients,
             const std::string& body) {
  fs::path qdir = dir / (mode == cleanup::Committer::Mode::Batch ? "batch" : "single");
  fs::remove_all(qdir);
  auto tree = queue::create_queue_tree(qdir, queue::HashConfig::defaults());
  if (!tree) {
    std::fprintf(stderr, "cleanup_bench: %s\n", tree.error().message.c_str());
    std::exit(1);
  }
  auto cfg = config::Config::from_text("queue_directory = " + qdir.string() +
                                       "\nmyhostname = bench.example.com\nmydomain = example.com\n");
  if (!cfg) {
    std::fprintf(stderr, "cleanup_bench: %s\n", cfg.error().message.c_str());
    std::exit(1);
  }
  auto settings = cleanup::CleanupSettings::from_config(*cfg);
  auto mapper = cleanup::open_mapper(*settings);
  if (!settings || !mapper) std::exit(1);

  asio::io_context server_io;
  cleanup::Committer::Options co;
  co.mode = mode;
  cleanup::Committer committer(server_io, co);
  // No trivial-rewrite socket: the built-in rewriting (append @$myorigin).
  cleanup::RewriteFallback fallback{qdir / "private" / "rewrite", "example.com", true};
  auto rw_client = std::make_unique<rewrite::AsyncClient>(server_io, fallback.socket);
  cleanup::Service svc{*settings, *mapper,
                       [&]() -> std::unique_ptr<cleanup::Rewriter> {
                         return std::make_unique<cleanup::ServiceRewriter>(*rw_client, fallback);
                       },
                       committer, qdir};
  fs::path sock = qdir / "public" / "cleanup";
  asio::local::stream_protocol::acceptor acc(server_io, asio::local::stream_protocol::endpoint(sock.string()));
  asio::co_spawn(server_io, accept_loop(acc, svc), asio::detached);
  std::thread server([&] { server_io.run(); });

  asio::io_context client_io;
  std::atomic<std::size_t> next{0}, ok{0}, failed{0};
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < clients; ++i)
    asio::co_spawn(client_io, client(client_io, sock, next, total, body, ok, failed), asio::detached);
  client_io.run();
  auto t1 = std::chrono::steady_clock::now();

  asio::post(server_io, [&] {
    error_code ec;
    acc.close(ec);
    server_io.stop();
  });
  server.join();
  committer.join();
  rw_client.reset();
  Run r;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.ok = ok;
  r.failed = failed;
  r.batches = committer.batches();
  fs::remove_all(qdir);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t total = 2000, clients = 20, size = 2000;
  fs::path dir = "/var/tmp";
  int opt;
  while ((opt = ::getopt(argc, argv, "n:c:s:d:")) != -1) {
    switch (opt) {
      case 'n': total = std::strtoul(optarg, nullptr, 10); break;
      case 'c': clients = std::strtoul(optarg, nullptr, 10); break;
      case 's': size = std::strtoul(optarg, nullptr, 10); break;
      case 'd': dir = optarg; break;
      default:
        std::fprintf(stderr, "usage: cleanup_bench [-n messages] [-c clients] [-s body_bytes] [-d dir]\n");
        return 2;
    }
  }
  dir /= "cleanup-bench." + std::to_string(::getpid());
  fs::create_directories(dir);
  std::string body = "Subject: bench\nFrom: sender@example.com\n\n";
  while (body.size() < size) body += "The quick brown fox jumps over the lazy dog, again and again.\n";

  std::printf("cleanup_bench: %zu messages, %zu concurrent clients, %zu byte messages, in %s\n", total, clients,
              body.size(), dir.c_str());
  for (auto mode : {cleanup::Committer::Mode::Single, cleanup::Committer::Mode::Batch}) {
    Run r = run_once(dir, mode, total, clients, body);
    std::printf("  %-6s commit: %8.1f msgs/s  (%zu ok, %zu failed, %zu fsync batches, %.2f s)\n",
                mode == cleanup::Committer::Mode::Batch ? "group" : "single", r.ok / r.seconds, r.ok, r.failed,
                r.batches, r.seconds);
  }
  fs::remove_all(dir);
  return 0;
}
