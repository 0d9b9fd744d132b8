// dnsmasq_test.cpp - the resolver against a real DNS server: Debian's
// dnsmasq, started by the test on 127.0.0.1 with a free port and a handful of
// records given on its command line, stopped when the test ends (and killed by
// the kernel if the test process dies first: PR_SET_PDEATHSIG).
//
// dnsmasq is a test dependency (scripts/install-deps.sh --test). When it is
// missing every test here FAILS, naming the package: a DNS test that silently
// passes without a DNS server would prove nothing. ctest label: dns.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "dns/name.h"
#include "dns/resolver.h"
#include "dns/test_dns.h"

using namespace postern;
using namespace postern::dns;
namespace t = postern::dns::testing;
using namespace std::chrono_literals;

namespace {

// POSTERN_DNSMASQ names the binary explicitly (and lets one check that the
// tests fail without it); otherwise PATH and the sbin directories are searched.
std::string find_dnsmasq() {
  if (const char* e = std::getenv("POSTERN_DNSMASQ")) return ::access(e, X_OK) == 0 ? std::string(e) : std::string();
  std::vector<std::string> dirs;
  if (const char* p = std::getenv("PATH")) {
    std::stringstream ss(p);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  for (const char* d : {"/usr/sbin", "/sbin", "/usr/local/sbin"}) dirs.emplace_back(d);
  for (const auto& d : dirs) {
    std::string f = d + "/dnsmasq";
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  return {};
}

// A port that is free for both UDP and TCP on 127.0.0.1 right now.
std::uint16_t free_port() {
  asio::io_context io;
  for (int i = 0; i < 50; ++i) {
    asio::ip::udp::socket u(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto port = u.local_endpoint().port();
    asio::ip::tcp::acceptor a(io);
    error_code ec;
    a.open(asio::ip::tcp::v4(), ec);
    a.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (!ec) return port;
  }
  return 0;
}

// One blocking query, to see whether the server is up yet.
bool answers(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto q = t::response(0x1234, "mx1.test", 1, 0, {});
  q[2] = 0x01;  // a query, not a response: RD only
  q[3] = 0x00;
  bool ok = false;
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) > 0) {
    unsigned char buf[512];
    ok = ::recv(fd, buf, sizeof buf, 0) >= 12 && buf[0] == 0x12 && buf[1] == 0x34;
  }
  ::close(fd);
  return ok;
}

class Dnsmasq {
 public:
  // Empty on success, else why not.
  std::string start(const std::vector<std::string>& records) {
    binary_ = find_dnsmasq();
    if (binary_.empty())
      return "dnsmasq not found (POSTERN_DNSMASQ, PATH, /usr/sbin): install the Debian package dnsmasq "
             "(scripts/install-deps.sh --test does)";
    char tmpl[] = "/tmp/postern-dnsmasq-log-XXXXXX";
    int lfd = ::mkstemp(tmpl);
    if (lfd < 0) return "cannot create a log file";
    ::close(lfd);
    log_ = tmpl;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (port_ == 0) return "no free port on 127.0.0.1";
      std::vector<std::string> args{binary_,
                                    "--port=" + std::to_string(port_),
                                    "--listen-address=127.0.0.1",
                                    "--bind-interfaces",
                                    "--no-resolv",
                                    "--no-hosts",
                                    "--conf-file=/dev/null",
                                    "--keep-in-foreground",
                                    "--pid-file=",
                                    "--log-facility=-",
                                    "--log-queries"};
      // Run as root stays root: dnsmasq's switch to its own user would clear
      // the parent-death signal set in spawn() (credential changes do).
      if (::geteuid() == 0) {
        args.emplace_back("--user=root");
        args.emplace_back("--group=root");
      }
      args.insert(args.end(), records.begin(), records.end());
      pid_ = spawn(args);
      if (pid_ < 0) return "fork failed";
      for (int i = 0; i < 100; ++i) {  // up to ~10 s (each probe waits 100 ms)
        int st;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          break;  // died (port taken after all?): try another port
        }
        if (answers(port_)) return {};
      }
      stop();
    }
    return "dnsmasq did not start; its output:\n" + log_text();
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  ~Dnsmasq() {
    stop();
    if (!log_.empty()) ::unlink(log_.c_str());
  }

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log_text() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t spawn(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    // Child: die with the test process, whatever way it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int fd = ::open(log_.c_str(), O_WRONLY | O_APPEND);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }

  std::string binary_, log_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A UDP socket that receives and never answers.
struct SilentServer {
  asio::io_context io;
  asio::ip::udp::socket s{io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::uint16_t port() { return s.local_endpoint().port(); }
};

class DnsmasqTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    silent_ = new SilentServer;
    server_ = new Dnsmasq;
    error_ = server_->start({
        "--local=/test/",
        "--mx-host=mx.test,mx1.test,10",
        "--mx-host=mx.test,mx2.test,10",
        "--mx-host=mx.test,backup.test,20",
        "--host-record=mx1.test,192.0.2.1",
        "--host-record=mx2.test,192.0.2.2",
        "--host-record=backup.test,192.0.2.3,2001:db8::3",
        "--host-record=nomx.test,192.0.2.5",
        "--mx-host=nullmx.test,.,0",
        "--host-record=v6.test,2001:db8::6",
        "--mx-host=v6mx.test,v6.test,10",
        "--ptr-record=9.2.0.192.in-addr.arpa,forged.test",
        "--mx-host=dangling.test,nowhere.test,10",
        "--server=/slow.test/127.0.0.1#" + std::to_string(silent_->port()),
    });
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete silent_;
    silent_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "dnsmasq log:\n" << server_->log_text();
  }

  Resolver make(std::chrono::milliseconds timeout = 1000ms, int tries = 2) {
    ResolverOptions o;
    o.servers = server_->address();
    o.timeout = timeout;
    o.tries = tries;
    auto r = Resolver::create(io, o);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }

  asio::io_context io;
  static inline Dnsmasq* server_ = nullptr;
  static inline SilentServer* silent_ = nullptr;
  static inline std::string error_;
};

std::vector<std::string> hosts(const MxResult& r) {
  std::vector<std::string> out;
  for (auto& m : r.records) out.push_back(m.host);
  return out;
}

}  // namespace

TEST_F(DnsmasqTest, MxOrderedByPreferenceRandomAmongEquals) {
  auto res = make();
  std::set<std::vector<std::string>> orders;
  for (int i = 0; i < 40; ++i) {
    auto r = t::run(io, res.lookup_mx("mx.test"));
    ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.records[0].preference, 10);
    EXPECT_EQ(r.records[1].preference, 10);
    EXPECT_EQ(r.records[2], (MxRecord{20, "backup.test"}));
    orders.insert(hosts(r));
  }
  // Both orders of the two preference-10 hosts show up (chance of a false
  // failure: 2^-39).
  EXPECT_EQ(orders, (std::set<std::vector<std::string>>{{"mx1.test", "mx2.test", "backup.test"},
                                                        {"mx2.test", "mx1.test", "backup.test"}}));
}

TEST_F(DnsmasqTest, NoMxFallsBackToAddress) {
  auto res = make();
  EXPECT_EQ(t::run(io, res.lookup_mx("nomx.test")).outcome, Outcome::NoData);
  auto r = t::run(io, res.resolve_nexthop("nomx.test"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_FALSE(r.used_mx);
  ASSERT_EQ(r.destinations.size(), 1u);
  EXPECT_EQ(r.destinations[0].address.to_string(), "192.0.2.5");
  EXPECT_EQ(r.destinations[0].port, 25);
  EXPECT_EQ(r.destinations[0].host, "nomx.test");
}

TEST_F(DnsmasqTest, NxDomainIsNotFound) {
  auto res = make();
  auto mx = t::run(io, res.lookup_mx("nonexistent.test"));
  EXPECT_EQ(mx.outcome, Outcome::NotFound);
  EXPECT_EQ(mx.detail, "Name service error for name=nonexistent.test type=MX: Host not found");
  EXPECT_EQ(t::run(io, res.lookup_addresses("nonexistent.test")).outcome, Outcome::NotFound);
  EXPECT_EQ(t::run(io, res.resolve_nexthop("nonexistent.test")).outcome, Outcome::NotFound);
  // An MX host that does not exist: permanent too.
  EXPECT_EQ(t::run(io, res.resolve_nexthop("dangling.test")).outcome, Outcome::NotFound);
}

TEST_F(DnsmasqTest, NullMx) {
  auto res = make();
  auto r = t::run(io, res.lookup_mx("nullmx.test"));
  EXPECT_EQ(r.outcome, Outcome::NullMx);
  EXPECT_EQ(r.detail, "Domain nullmx.test does not accept mail (nullMX)");
  EXPECT_EQ(t::run(io, res.resolve_nexthop("nullmx.test")).outcome, Outcome::NullMx);
}

TEST_F(DnsmasqTest, Ipv6Addresses) {
  auto res = make();
  auto r = t::run(io, res.lookup_addresses("v6.test"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].to_string(), "2001:db8::6");
  EXPECT_EQ(t::run(io, res.lookup_addresses("v6.test", Families::Ipv4)).outcome, Outcome::NoData);

  r = t::run(io, res.lookup_addresses("backup.test"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  std::set<std::string> got;
  for (auto& a : r.records) got.insert(a.to_string());
  EXPECT_EQ(got, (std::set<std::string>{"192.0.2.3", "2001:db8::3"}));

  auto nh = t::run(io, res.resolve_nexthop("v6mx.test"));
  ASSERT_EQ(nh.outcome, Outcome::Ok) << nh.detail;
  ASSERT_EQ(nh.destinations.size(), 1u);
  EXPECT_EQ(nh.destinations[0].address.to_string(), "2001:db8::6");
  EXPECT_EQ(nh.destinations[0].host, "v6.test");
  NexthopOptions v4;
  v4.families = Families::Ipv4;
  EXPECT_EQ(t::run(io, res.resolve_nexthop("v6mx.test", v4)).outcome, Outcome::NotFound);
}

TEST_F(DnsmasqTest, BracketedHostAndPort) {
  auto res = make();
  auto r = t::run(io, res.resolve_nexthop("[mx1.test]:2525"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_FALSE(r.used_mx);
  ASSERT_EQ(r.destinations.size(), 1u);
  EXPECT_EQ(r.destinations[0].address.to_string(), "192.0.2.1");
  EXPECT_EQ(r.destinations[0].port, 2525);
  EXPECT_EQ(r.destinations[0].host, "mx1.test");

  // [mx.test] means the host mx.test itself, which has no address.
  EXPECT_NE(t::run(io, res.resolve_nexthop("[mx.test]")).outcome, Outcome::Ok);

  // host:port still does the MX lookup, with the port on every MX address.
  NexthopOptions o;
  o.mx_address_limit = 3;
  r = t::run(io, res.resolve_nexthop("mx.test:2525", o));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_TRUE(r.used_mx);
  ASSERT_EQ(r.destinations.size(), 3u);
  std::set<std::string> best{r.destinations[0].address.to_string(), r.destinations[1].address.to_string()};
  EXPECT_EQ(best, (std::set<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(r.destinations[2].host, "backup.test");
  for (auto& d : r.destinations) EXPECT_EQ(d.port, 2525);

  // The limit cuts the list: two addresses, both from the best preference.
  o.mx_address_limit = 2;
  r = t::run(io, res.resolve_nexthop("mx.test", o));
  ASSERT_EQ(r.destinations.size(), 2u);
  EXPECT_EQ(r.destinations[0].preference, 10);
  EXPECT_EQ(r.destinations[1].preference, 10);
}

TEST_F(DnsmasqTest, ReverseAndForwardConfirm) {
  auto res = make();
  auto p = t::run(io, res.lookup_ptr(*parse_ip("192.0.2.1")));
  ASSERT_EQ(p.outcome, Outcome::Ok) << p.detail;
  EXPECT_EQ(p.records, std::vector<std::string>{"mx1.test"});

  auto c = t::run(io, res.lookup_client_name(*parse_ip("192.0.2.1")));
  EXPECT_EQ(c.name, "mx1.test");
  EXPECT_EQ(c.name_status, Outcome::Ok);

  c = t::run(io, res.lookup_client_name(*parse_ip("192.0.2.9")));
  EXPECT_EQ(c.reverse_name, "forged.test");
  EXPECT_EQ(c.reverse_status, Outcome::Ok);
  EXPECT_EQ(c.name, "unknown");
  EXPECT_EQ(c.name_status, Outcome::NotFound);

  c = t::run(io, res.lookup_client_name(*parse_ip("2001:db8::3")));
  EXPECT_EQ(c.name, "backup.test");
}

TEST_F(DnsmasqTest, RefusedIsTempFail) {
  // dnsmasq refuses names outside its local domains when it has no upstream.
  auto res = make();
  auto r = t::run(io, res.lookup_mx("example.org"));
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  EXPECT_EQ(t::run(io, res.resolve_nexthop("example.org")).outcome, Outcome::TempFail);
}

TEST_F(DnsmasqTest, UnansweredUpstreamTimesOutAsTempFail) {
  // dnsmasq forwards slow.test to a server that never answers.
  auto res = make(250ms, 2);
  auto start = std::chrono::steady_clock::now();
  auto r = t::run(io, res.resolve_nexthop("slow.test"));
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(DnsmasqTest, NoServerAnsweringIsTempFailWithinTimeout) {
  ResolverOptions o;
  o.servers = "127.0.0.1:" + std::to_string(silent_->port());
  o.timeout = 250ms;
  o.tries = 2;
  auto res = Resolver::create(io, o);
  ASSERT_TRUE(res.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = t::run(io, res->lookup_mx("mx.test"));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  EXPECT_GE(took, 240ms);
  EXPECT_LT(took, 3s);
}
