// Tests for tcp: and socketmap: tables against in-process servers on
// 127.0.0.1 and a UNIX-domain socket.
#include "maps/net_tables.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "base/netstring.h"
#include "base/unique_fd.h"
#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;

// A server that takes one connection at a time and hands it to `serve`,
// which returns when it is done with it (the server then closes it).
class Server {
 public:
  using Handler = std::function<void(int fd)>;
  // `unix_path` empty: TCP on 127.0.0.1, an ephemeral port.
  explicit Server(Handler serve, std::string unix_path = "") : serve_(std::move(serve)) {
    if (unix_path.empty()) {
      listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
      socklen_t len = sizeof sin;
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&sin), &len);
      address_ = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
    } else {
      listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un sun{};
      sun.sun_family = AF_UNIX;
      std::memcpy(sun.sun_path, unix_path.data(), unix_path.size());
      EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
      address_ = unix_path;
    }
    EXPECT_EQ(::listen(listener_.get(), 8), 0);
    thread_ = std::thread([this] {
      for (;;) {
        int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0 || stopping_) {
          if (fd >= 0) ::close(fd);
          return;
        }
        ++accepts_;
        UniqueFd conn(fd);
        serve_(fd);
      }
    });
  }
  ~Server() {
    stopping_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  const std::string& address() const { return address_; }
  int accepts() const { return accepts_; }

 private:
  Handler serve_;
  UniqueFd listener_;
  std::string address_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepts_{0};
};

// Reads one newline-terminated line (without it); empty at end of file.
std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

// Reads one netstring's payload (or "" at end of file).
std::string read_netstring(int fd) {
  std::string buf;
  char c;
  while (::read(fd, &c, 1) == 1) {
    buf += c;
    auto ns = parse_netstring(buf, 100000);
    if (!ns) return "<bad>";
    if (ns->used) return std::string(ns->payload);
  }
  return "";
}

void write_all(int fd, std::string_view s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

OpenOptions fast() {
  OpenOptions o = quiet();
  o.server_timeout = std::chrono::milliseconds(300);
  return o;
}

std::unique_ptr<Table> open(const std::string& spec, OpenOptions o = fast()) {
  auto t = open_table(spec, o);
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? std::move(*t) : nullptr;
}

// A tcp_table(5) server: "get KEY" -> the reply `answer(decoded key)`,
// for every request on a connection until the client closes it.
Server::Handler tcp_server(std::function<std::string(const std::string&)> answer, std::vector<std::string>* seen) {
  return [answer = std::move(answer), seen](int fd) {
    for (;;) {
      std::string line = read_line(fd);
      if (line.empty()) return;
      if (seen) seen->push_back(line);
      auto key = net::tcp_decode(line.substr(4));
      write_all(fd, answer(key ? *key : "<undecodable>"));
    }
  };
}

TEST(TcpTable, EncodesKeysAndDecodesValues) {
  std::vector<std::string> seen;
  Server srv(tcp_server(
      [](const std::string& key) -> std::string {
        if (key == "a b%c@x.test") return "200 value%20with%2fspace%25\n";
        if (key == "empty") return "200 \n";
        if (key == "crlf") return "200 ok\r\n";
        return "500 no such key\n";
      },
      &seen));
  auto t = open("tcp:" + srv.address());
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->fixed());
  EXPECT_EQ(get(*t, "a b%c@x.test"), "value with/space%");
  EXPECT_EQ(get(*t, "empty"), "");
  EXPECT_EQ(get(*t, "crlf"), "ok");
  EXPECT_EQ(get(*t, "Missing"), "<none>");
  // Keys as given (no folding without fold_mul), encoded on the wire.
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], "get a%20b%25c@x.test");
  EXPECT_EQ(seen[3], "get Missing");
  // One connection for all four lookups.
  EXPECT_EQ(srv.accepts(), 1);
}

TEST(TcpTable, FoldMulLowercasesKeys) {
  std::vector<std::string> seen;
  Server srv(tcp_server([](const std::string&) { return std::string("500 x\n"); }, &seen));
  OpenOptions o = fast();
  o.fold_mul = true;
  auto t = open("tcp:" + srv.address(), o);
  EXPECT_EQ(get(*t, "User@Example.COM"), "<none>");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "get user@example.com");
}

TEST(TcpTable, ServerErrorsAreLookupErrors) {
  Server srv(tcp_server(
      [](const std::string& key) -> std::string {
        if (key == "later") return "400 database down\n";
        if (key == "odd") return "250 what\n";
        if (key == "junk") return "hello\n";
        if (key == "badhex") return "200 a%zz\n";
        if (key == "two") return "200 a\n200 b\n";
        if (key == "long") return "200 " + std::string(5000, 'x') + "\n";
        return "200 fine\n";
      },
      nullptr));
  auto t = open("tcp:" + srv.address());
  EXPECT_EQ(get(*t, "later"), "<error: server says try again later: \"400 database down\">");
  EXPECT_NE(get(*t, "odd").find("unexpected reply \"250 what\""), std::string::npos);
  EXPECT_NE(get(*t, "junk").find("unexpected reply"), std::string::npos);
  EXPECT_NE(get(*t, "badhex").find("malformed %XX"), std::string::npos);
  EXPECT_NE(get(*t, "two").find("more than one reply line"), std::string::npos);
  EXPECT_NE(get(*t, "long").find("reply longer than 4096 bytes"), std::string::npos);
  // After each error the connection was dropped; the table still works.
  EXPECT_EQ(get(*t, "ok"), "fine");
}

TEST(TcpTable, SilentServerTimesOut) {
  Server srv([](int fd) {
    read_line(fd);
    read_line(fd);  // until the client gives up and closes
  });
  auto t = open("tcp:" + srv.address());
  auto start = std::chrono::steady_clock::now();
  std::string r = get(*t, "key");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(r.find("read: timeout"), std::string::npos) << r;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(TcpTable, ReconnectsWhenTheServerClosedAKeptConnection) {
  // One reply per connection, then the server hangs up (as an idle
  // timeout would): every lookup after the first finds its kept
  // connection closed and asks again on a new one.
  Server srv([](int fd) {
    std::string line = read_line(fd);
    if (!line.empty()) write_all(fd, "200 v-" + line.substr(4) + "\n");
  });
  auto t = open("tcp:" + srv.address());
  EXPECT_EQ(get(*t, "one"), "v-one");
  EXPECT_EQ(get(*t, "two"), "v-two");
  EXPECT_EQ(get(*t, "three"), "v-three");
  EXPECT_EQ(srv.accepts(), 3);
}

TEST(TcpTable, ServerThatHangsUpWithoutAnswerIsAnError) {
  Server srv([](int fd) { read_line(fd); });
  auto t = open("tcp:" + srv.address());
  std::string r = get(*t, "key");
  EXPECT_NE(r.find("connection closed by server"), std::string::npos) << r;
  // A fresh connection that fails is not retried.
  EXPECT_EQ(srv.accepts(), 1);
}

TEST(TcpTable, UnreachableServerIsAnError) {
  int port;
  {
    Server srv([](int) {});
    port = std::stoi(srv.address().substr(srv.address().rfind(':') + 1));
  }
  auto t = open("tcp:127.0.0.1:" + std::to_string(port));
  std::string r = get(*t, "key");
  EXPECT_NE(r.find("connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused"), std::string::npos) << r;
}

TEST(TcpTable, OpenChecksTheName) {
  for (const char* bad : {"tcp:nohost", "tcp::25", "tcp:host:", "tcp:[::1]25", "tcp:a b:25"}) {
    auto t = open_table(bad, fast());
    EXPECT_FALSE(t) << bad;
  }
  EXPECT_TRUE(open_table("tcp:[::1]:25", fast()));
  EXPECT_TRUE(open_table("tcp:localhost:smtp", fast()));
  OpenOptions w = fast();
  w.access = Access::Update;
  auto t = open_table("tcp:127.0.0.1:25", w);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "tcp:127.0.0.1:25 map requires O_RDONLY access mode");
}

Server::Handler socketmap_server(std::vector<std::string>* seen) {
  return [seen](int fd) {
    for (;;) {
      std::string req = read_netstring(fd);
      if (req.empty()) return;
      if (seen) seen->push_back(req);
      std::string key = req.substr(req.find(' ') + 1);
      std::string reply;
      if (key == "found@x.test") reply = netstring("OK some value");
      else if (key == "temp") reply = netstring("TEMP backend down");
      else if (key == "perm") reply = netstring("PERM no such map");
      else if (key == "timeout") reply = netstring("TIMEOUT slow");
      else if (key == "odd") reply = netstring("MAYBE");
      else if (key == "huge") reply = "100001:";
      else if (key == "framing") reply = "5:OK ab;";
      else reply = netstring("NOTFOUND ");
      write_all(fd, reply);
      if (key == "huge" || key == "framing") return;
    }
  };
}

TEST(SocketmapTable, InetAndUnix) {
  TempDir dir;
  std::vector<std::string> seen_inet, seen_unix;
  Server inet(socketmap_server(&seen_inet));
  Server unix_srv(socketmap_server(&seen_unix), dir.path("sock"));
  auto a = open("socketmap:inet:" + inet.address() + ":virtual");
  auto b = open("socketmap:unix:" + dir.path("sock") + ":aliases");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->fixed());
  EXPECT_EQ(get(*a, "found@x.test"), "some value");
  EXPECT_EQ(get(*a, "other@x.test"), "<none>");
  EXPECT_EQ(get(*b, "found@x.test"), "some value");
  ASSERT_EQ(seen_inet.size(), 2u);
  EXPECT_EQ(seen_inet[0], "virtual found@x.test");
  ASSERT_EQ(seen_unix.size(), 1u);
  EXPECT_EQ(seen_unix[0], "aliases found@x.test");
  EXPECT_EQ(inet.accepts(), 1);
}

TEST(SocketmapTable, ErrorReplies) {
  Server srv(socketmap_server(nullptr));
  auto t = open("socketmap:inet:" + srv.address() + ":m");
  EXPECT_NE(get(*t, "temp").find("server says TEMP: \"backend down\""), std::string::npos);
  EXPECT_NE(get(*t, "perm").find("server says PERM: \"no such map\""), std::string::npos);
  EXPECT_NE(get(*t, "timeout").find("server says TIMEOUT"), std::string::npos);
  EXPECT_NE(get(*t, "odd").find("unexpected reply \"MAYBE\""), std::string::npos);
  EXPECT_NE(get(*t, "huge").find("netstring length 100001 over 100000 bytes"), std::string::npos);
  EXPECT_NE(get(*t, "framing").find("no ','"), std::string::npos);
  EXPECT_EQ(get(*t, "ok"), "<none>");
}

TEST(SocketmapTable, OpenChecksTheName) {
  for (const char* bad : {"socketmap:inet:host:25", "socketmap:inet:host:25:", "socketmap:tcp:h:1:m",
                          "socketmap:unix::m", "socketmap:m"}) {
    EXPECT_FALSE(open_table(bad, fast())) << bad;
  }
  EXPECT_TRUE(open_table("socketmap:unix:/run/x.sock:name", fast()));
  EXPECT_TRUE(open_table("socketmap:inet:[::1]:8000:name", fast()));
}

TEST(NetProtocol, Encoding) {
  EXPECT_EQ(net::tcp_encode("plain@x"), "plain@x");
  EXPECT_EQ(net::tcp_encode(std::string("a b\t%\x7f\xc3\xa9", 8)), "a%20b%09%25%7F%C3%A9");
  EXPECT_EQ(*net::tcp_decode("a%20b%2f%2F"), "a b//");
  EXPECT_FALSE(net::tcp_decode("%"));
  EXPECT_FALSE(net::tcp_decode("%4"));
  EXPECT_FALSE(net::tcp_decode("%4g"));
}

TEST(NetProtocol, Replies) {
  EXPECT_EQ(net::parse_tcp_reply("200 x")->value(), "x");
  EXPECT_EQ(net::parse_tcp_reply("200")->value(), "");
  EXPECT_FALSE(net::parse_tcp_reply("500 gone")->has_value());
  EXPECT_FALSE(net::parse_tcp_reply("400 later"));
  EXPECT_FALSE(net::parse_tcp_reply("2000 x"));
  EXPECT_FALSE(net::parse_tcp_reply("20"));
  EXPECT_EQ(net::parse_socketmap_reply("OK a b")->value(), "a b");
  EXPECT_EQ(net::parse_socketmap_reply("OK")->value(), "");
  EXPECT_FALSE(net::parse_socketmap_reply("NOTFOUND ")->has_value());
  EXPECT_FALSE(net::parse_socketmap_reply("NOTFOUND")->has_value());
  EXPECT_FALSE(net::parse_socketmap_reply("ok x"));
}

}  // namespace
}  // namespace postern::maps
