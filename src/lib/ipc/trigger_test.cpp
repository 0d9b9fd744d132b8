// trigger_test.cpp - wake-up requests: parsing, and delivery to sockets and FIFOs (trigger.h).
#include "ipc/trigger.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/unique_fd.h"

using namespace postern;
using namespace postern::ipc;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ipc_trigger.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

UniqueFd bound_socket(const std::string& path, int type, int backlog) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
  }
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

TEST(Trigger, ParseLetters) {
  auto r = parse_trigger("FADI", "qmgr");
  EXPECT_TRUE(r.flush_dead && r.scan_all && r.scan_deferred && r.scan_incoming);
  EXPECT_FALSE(r.wakeup);
  EXPECT_EQ(r.ignored, 0u);
  EXPECT_TRUE(r.any());

  auto w = parse_trigger("W", "pickup");
  EXPECT_TRUE(w.wakeup);
  EXPECT_FALSE(w.scan_incoming || w.scan_deferred || w.scan_all || w.flush_dead);

  EXPECT_FALSE(parse_trigger("", "qmgr").any());
  EXPECT_EQ(parse_trigger("WWWW", "qmgr"), parse_trigger("W", "qmgr"));  // repeats are harmless
}

TEST(Trigger, UnknownBytesAreIgnored) {
  auto r = parse_trigger(std::string("xI\0w\n", 5), "qmgr");
  EXPECT_TRUE(r.scan_incoming);
  EXPECT_FALSE(r.wakeup);  // lower-case w is not W
  EXPECT_EQ(r.ignored, 4u);
  auto junk = parse_trigger(std::string(5000, 'z'), "qmgr");
  EXPECT_FALSE(junk.any());
  EXPECT_EQ(junk.ignored, kMaxTriggerBytes);  // only the first kMaxTriggerBytes are looked at
}

TEST(Trigger, BytesRoundTrip) {
  TriggerRequest all{true, true, true, true, true, 0};
  EXPECT_EQ(trigger_bytes(all), "FADIW");
  EXPECT_EQ(parse_trigger(trigger_bytes(all), "t"), all);
  TriggerRequest flush;
  flush.flush_dead = flush.scan_all = flush.scan_deferred = flush.scan_incoming = true;
  EXPECT_EQ(trigger_bytes(flush), "FADI");
  EXPECT_EQ(trigger_bytes(TriggerRequest{}), "");
}

TEST(Trigger, DeliversToStreamSocket) {
  TempDir dir;
  std::string path = dir.path + "/qmgr";
  UniqueFd lfd = bound_socket(path, SOCK_STREAM, 4);
  std::string got;
  std::thread server([&] {
    UniqueFd conn(::accept(lfd.get(), nullptr, nullptr));
    got = read_all(conn.get());  // the trigger closes after writing: EOF ends this
  });
  auto st = trigger(path, "FADI", 1s);
  server.join();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(got, "FADI");
}

TEST(Trigger, DeliversToDatagramSocket) {
  TempDir dir;
  std::string path = dir.path + "/pickup";
  UniqueFd sfd = bound_socket(path, SOCK_DGRAM, 0);
  auto st = trigger(path, "W", 1s);
  ASSERT_TRUE(st.ok()) << st.error().message;
  char buf[16];
  EXPECT_EQ(::recv(sfd.get(), buf, sizeof(buf), MSG_DONTWAIT), 1);
  EXPECT_EQ(buf[0], 'W');
}

TEST(Trigger, DeliversToFifo) {
  TempDir dir;
  std::string path = dir.path + "/pickup";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // Like the master: hold the FIFO open for reading.
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader.valid());
  ASSERT_TRUE(trigger(path, "W", 1s).ok());
  ASSERT_TRUE(trigger(path, "I", 1s).ok());
  char buf[16];
  ASSERT_EQ(::read(reader.get(), buf, sizeof(buf)), 2);
  EXPECT_EQ(std::string(buf, 2), "WI");
}

TEST(Trigger, FifoWithoutReaderFailsAtOnce) {
  TempDir dir;
  std::string path = dir.path + "/qmgr";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  auto st = trigger(path, "W", 5s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no process is reading"), std::string::npos) << st.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);  // did not wait for a reader
}

TEST(Trigger, FullFifoTimesOut) {
  TempDir dir;
  std::string path = dir.path + "/qmgr";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  UniqueFd filler(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  std::string block(4096, 'W');
  while (::write(filler.get(), block.data(), block.size()) > 0) {
  }
  auto st = trigger(path, "W", 100ms);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("timeout"), std::string::npos) << st.error().message;
}

TEST(Trigger, BusyListenerTimesOut) {
  TempDir dir;
  std::string path = dir.path + "/qmgr";
  UniqueFd lfd = bound_socket(path, SOCK_STREAM, 0);
  // Fill the backlog of a service that never accepts.
  std::vector<UniqueFd> queued;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  for (int i = 0; i < 64; ++i) {
    UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) break;
    queued.push_back(std::move(c));
  }
  ASSERT_LT(queued.size(), 64u) << "backlog never filled";
  auto start = std::chrono::steady_clock::now();
  auto st = trigger(path, "W", 150ms);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("timeout"), std::string::npos) << st.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Trigger, RejectsBadTargetsAndSizes) {
  TempDir dir;
  auto missing = trigger(dir.path + "/none", "W", 100ms);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().sys_errno, ENOENT);

  std::string file = dir.path + "/plain";
  std::ofstream(file) << "x";
  auto plain = trigger(file, "W", 100ms);
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().message.find("not a socket or FIFO"), std::string::npos);

  std::string path = dir.path + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_FALSE(trigger(path, "", 100ms).ok());
  EXPECT_FALSE(trigger(path, std::string(kMaxTriggerBytes + 1, 'W'), 100ms).ok());

  // A stale socket file with no listener.
  std::string stale = dir.path + "/stale";
  { UniqueFd s = bound_socket(stale, SOCK_STREAM, 1); }
  auto refused = trigger(stale, "W", 100ms);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().sys_errno, ECONNREFUSED) << refused.error().message;
}
