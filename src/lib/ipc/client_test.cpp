// client_test.cpp - the blocking client against well- and ill-behaved peers (client.h).
#include "ipc/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "ipc/test_bytes.h"

using namespace postern;
using namespace postern::ipc;
using namespace std::chrono_literals;
using proto::ResolveReply;
using proto::RewriteOp;
using proto::RewriteRequest;

namespace {

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

// A client and a server thread joined by a socketpair. The server body gets
// the raw descriptor, so it can misbehave at will.
class Pair {
 public:
  explicit Pair(std::function<void(int)> server, FrameLimits limits = {}) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_fd_.reset(sv[1]);
    auto c = Client::adopt(UniqueFd(sv[0]), "test-peer", limits);
    EXPECT_TRUE(c.ok());
    client_.emplace(std::move(*c));
    thread_ = std::thread([this, server = std::move(server)] {
      server(server_fd_.get());
      server_fd_.reset();
    });
  }
  ~Pair() {
    client_.reset();  // EOF for servers that wait for the client to go away
    thread_.join();
  }
  Client& client() { return *client_; }

 private:
  UniqueFd server_fd_;
  std::optional<Client> client_;
  std::thread thread_;
};

void write_raw(int fd, std::string_view bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// Reads until the peer closes (a server that never answers).
void drain(int fd) {
  char buf[4096];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

// Reads one whole request frame, so that closing afterwards is an orderly EOF.
void read_request(int fd) {
  auto srv = Client::adopt(UniqueFd(::dup(fd)), "test-client");
  ASSERT_TRUE(srv.ok());
  ASSERT_TRUE(srv->read_frame(Clock::now() + 2s).ok());
}

// A proper trivial-rewrite-like server on a blocking Client of its own.
void resolve_server(int fd, int calls) {
  UniqueFd dup(::dup(fd));
  auto srv = Client::adopt(std::move(dup), "test-client");
  ASSERT_TRUE(srv.ok());
  for (int i = 0; i < calls; ++i) {
    auto req = srv->receive<RewriteRequest>(2s);
    ASSERT_TRUE(req.ok()) << req.error().message;
    ResolveReply reply{proto::resolve_flag::kFinal, "smtp", "example.com", req->address};
    ASSERT_TRUE(srv->send(reply, 2s).ok());
  }
}

RewriteRequest resolve(std::string address) {
  return RewriteRequest{RewriteOp::Resolve, std::nullopt, std::nullopt, std::move(address)};
}

}  // namespace

TEST(Client, CallsInTurnOnOneConnection) {
  Pair p([](int fd) { resolve_server(fd, 3); });
  for (std::string rcpt : {std::string("a@example.com"), std::string(), std::string("odd\0byte", 8)}) {
    auto r = p.client().call<ResolveReply>(resolve(rcpt), 2s);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->recipient, rcpt);
    EXPECT_EQ(r->transport, "smtp");
  }
  EXPECT_TRUE(p.client().usable());
}

TEST(Client, StatusRefusalBecomesError) {
  Pair p([](int fd) {
    read_request(fd);
    write_raw(fd, *make_frame(*encode(proto::StatusReply{proto::kStatusFail, "malformed request"})));
  });
  auto r = p.client().call<ResolveReply>(resolve("x"), 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "test-peer: service refused request: status 2: malformed request"))
      << r.error().message;
  EXPECT_FALSE(p.client().usable());
}

TEST(Client, GarbagePayloadIsRejected) {
  // The peer speaks first: the client reads whatever is there.
  Pair q([](int fd) { write_raw(fd, *make_frame("\x01garbage that is not a message")); });
  auto r = q.client().receive<ResolveReply>(2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "test-peer: malformed message")) << r.error().message;
  EXPECT_FALSE(q.client().usable());
  // Later calls fail at once without touching the socket.
  auto again = q.client().call<ResolveReply>(resolve("x"), 2s);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(contains(again.error().message, "unusable"));
}

TEST(Client, WrongReplyTypeIsRejected) {
  Pair p([](int fd) { write_raw(fd, *make_frame(*encode(proto::RewriteReply{0, "a"}))); });
  auto r = p.client().receive<ResolveReply>(2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "expected message \"resolve_reply\", got \"rewrite_reply\""));
}

TEST(Client, TruncatedFrame) {
  Pair p([](int fd) { write_raw(fd, wire_bytes::u32(100) + std::string(10, 'x')); });
  auto r = p.client().read_frame(Clock::now() + 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "truncated frame (10 of 100 bytes)")) << r.error().message;
}

// Past the first read step (kFrameReadStep): whole, or cut off with the
// bytes that did arrive counted.
TEST(Client, FrameLargerThanOneReadStep) {
  const std::string payload = wire_bytes::pattern(3 * kFrameReadStep + 123);
  Pair p([&](int fd) { write_raw(fd, *make_frame(payload, {})); });
  auto r = p.client().read_frame(Clock::now() + 2s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->payload, payload);
}

TEST(Client, TruncatedPastTheFirstReadStep) {
  Pair p([](int fd) { write_raw(fd, wire_bytes::u32(200000) + wire_bytes::pattern(100000)); });
  auto r = p.client().read_frame(Clock::now() + 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "truncated frame (100000 of 200000 bytes)")) << r.error().message;
}

TEST(Client, TruncatedHeader) {
  Pair p([](int fd) { write_raw(fd, std::string("\0\0", 2)); });
  auto r = p.client().read_frame(Clock::now() + 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "truncated frame header")) << r.error().message;
}

TEST(Client, OversizedLengthPrefix) {
  // The peer announces 1 MiB + 1 and then would send it; the client must
  // refuse after the 4-byte header, without reading or allocating the rest.
  Pair p([](int fd) {
    write_raw(fd, wire_bytes::u32((1 << 20) + 1));
    drain(fd);
  });
  auto r = p.client().read_frame(Clock::now() + 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "exceeds the 1048576 byte limit")) << r.error().message;
  EXPECT_FALSE(p.client().usable());
}

TEST(Client, PerConnectionLimit) {
  Pair p([](int fd) { write_raw(fd, *make_frame(std::string(64, 'x'), {.max_payload = 64})); },
         FrameLimits{.max_payload = 63});
  EXPECT_FALSE(p.client().read_frame(Clock::now() + 2s).ok());
  Pair q([](int fd) { write_raw(fd, *make_frame(std::string(64, 'x'), {.max_payload = 64})); },
         FrameLimits{.max_payload = 64});
  auto r = q.client().read_frame(Clock::now() + 2s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload.size(), 64u);
}

TEST(Client, SilentPeerHitsDeadline) {
  Pair p([](int fd) { drain(fd); });
  auto start = Clock::now();
  auto r = p.client().call<ResolveReply>(resolve("x"), 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "timeout")) << r.error().message;
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_LT(Clock::now() - start, 5s);  // bounded, not hung
  EXPECT_FALSE(p.client().usable());
}

TEST(Client, PeerClosesWithoutAnswer) {
  Pair p([](int fd) { read_request(fd); });
  auto r = p.client().call<ResolveReply>(resolve("x"), 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "connection closed by peer")) << r.error().message;
}

TEST(Client, EncodeErrorLeavesConnectionUsable) {
  Pair p([](int fd) { resolve_server(fd, 1); });
  auto bad = p.client().call<ResolveReply>(resolve(std::string(proto::kMaxAddressLength + 1, 'a')), 2s);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error().message, "limit is 4096"));
  EXPECT_TRUE(p.client().usable());
  EXPECT_TRUE(p.client().call<ResolveReply>(resolve("ok"), 2s).ok());
}

TEST(Client, ServerSideRejectsGarbageRequest) {
  std::string seen;
  {
    Pair p([&seen](int fd) {
      auto srv = Client::adopt(UniqueFd(::dup(fd)), "client");
      auto req = srv->receive<RewriteRequest>(2s);
      seen = req.ok() ? "accepted" : req.error().message;
    });
    // A request missing its address.
    std::string payload = wire_bytes::head("trivial_rewrite_request", 1) + wire_bytes::attr("request", 'S', "resolve");
    ASSERT_TRUE(p.client().write_frame(payload, Clock::now() + 2s).ok());
  }
  EXPECT_TRUE(contains(seen, "\"address\": missing required attribute")) << seen;
}

// ------------------------------------------------------------ real sockets

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ipc_test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

UniqueFd listen_on(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  EXPECT_EQ(::listen(fd.get(), 8), 0);
  return fd;
}

}  // namespace

TEST(Client, ConnectByPath) {
  TempDir dir;
  std::string path = dir.path + "/rewrite";
  UniqueFd lfd = listen_on(path);
  std::thread server([&] {
    UniqueFd conn(::accept(lfd.get(), nullptr, nullptr));
    resolve_server(conn.get(), 1);
  });
  auto c = Client::connect(path, 2s);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->peer(), path);
  auto r = c->call<ResolveReply>(resolve("u@example.net"), 2s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->recipient, "u@example.net");
  server.join();
}

TEST(Client, ConnectFailures) {
  TempDir dir;
  auto missing = Client::connect(dir.path + "/nothing", 200ms);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_FALSE(Client::connect(std::string(200, 'x'), 200ms).ok());
  EXPECT_FALSE(Client::connect("", 200ms).ok());
  EXPECT_FALSE(Client::adopt(UniqueFd(), "nobody").ok());
}
