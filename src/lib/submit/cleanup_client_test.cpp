// cleanup_client_test.cpp - the cleanup protocol declarations and both
// clients against a scripted fake service (the real one is tested in
// src/cleanup/session_test.cpp).
#include "submit/cleanup_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "ipc/client.h"
#include "ipc/unix_socket.h"

namespace postern::submit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(CleanupProto, ReceiveOverrides) {
  auto o = parse_receive_overrides("no_unknown_recipient_checks, NO_HEADER_BODY_CHECKS\tno_milters");
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->no_unknown_recipient_checks);
  EXPECT_EQ(o->cleanup_flags, cleanup_flag::kNoHeaderBodyChecks | cleanup_flag::kAutoBcc);
  o = parse_receive_overrides("no_address_mappings");
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->no_unknown_recipient_checks);
  EXPECT_EQ(o->cleanup_flags, cleanup_flag::kNoAddressMappings);
  EXPECT_EQ(parse_receive_overrides("")->cleanup_flags, cleanup_flag::kAutoBcc);
  auto bad = parse_receive_overrides("no_address_mappings, no_such");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown value \"no_such\""), std::string::npos);
}

TEST(CleanupProto, Smtputf8AutodetectClasses) {
  auto flags = [](const std::string& text, std::string_view source) -> std::int64_t {
    auto c = config::Config::from_text(text);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    if (!c) return -1;
    auto r = smtputf8_autodetect(*c, source);
    return r ? *r : -1;
  };
  // Postfix's default: sendmail submissions and address probes.
  EXPECT_EQ(flags("", "sendmail"), cleanup_flag::kAutoUtf8);
  EXPECT_EQ(flags("", "smtpd"), 0);
  EXPECT_EQ(flags("smtputf8_autodetect_classes = all\n", "forward"), cleanup_flag::kAutoUtf8);
  EXPECT_EQ(flags("smtputf8_autodetect_classes = smtpd, qmqpd\n", "qmqpd"), cleanup_flag::kAutoUtf8);
  EXPECT_EQ(flags("smtputf8_autodetect_classes = smtpd, qmqpd\n", "sendmail"), 0);
  EXPECT_EQ(flags("smtputf8_enable = no\n", "sendmail"), 0);
  EXPECT_EQ(flags("smtputf8_autodetect_classes = smtpd, pigeon\n", "smtpd"), -1);
  auto c = config::Config::from_text("smtputf8_autodetect_classes = pigeon\n");
  ASSERT_TRUE(c);
  auto r = receiving_settings(*c, "smtpd");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown mail source class \"pigeon\""), std::string::npos);
  auto d = config::Config::from_text("");
  ASSERT_TRUE(d);
  EXPECT_EQ(receiving_settings(*d, "sendmail")->cleanup_flags, cleanup_flag::kAutoBcc | cleanup_flag::kAutoUtf8);
}

TEST(CleanupProto, ContentFilterFieldsAreChecked) {
  CleanupEnvelope e;
  e.sender = "a@example.com";
  e.content_filter = "smtp-amavis:[127.0.0.1]:10024";
  EXPECT_TRUE(encode_checked(e));
  e.content_filter = "../x:y";
  EXPECT_FALSE(encode_checked(e));
  CleanupEnd end;
  end.content_filter = "scan:";
  auto wire = encode_checked(end);
  ASSERT_TRUE(wire);
  auto back = ipc::decode<CleanupEnd>(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->content_filter, "scan:");
  end.content_filter = "a b:c";
  EXPECT_FALSE(encode_checked(end));
}

TEST(CleanupProto, RoundTripsAndRejections) {
  CleanupEnvelope e;
  e.sender = "joe@example.com";
  e.full_name = "Joe";
  e.body = "8BITMIME";
  e.smtputf8 = true;
  e.arrival_time = 1700000000;
  auto p = ipc::encode(e);
  ASSERT_TRUE(p);
  auto d = ipc::decode<CleanupEnvelope>(*p);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, e);

  e.body = "BINARYMIME";
  EXPECT_FALSE(encode_checked(e));
  EXPECT_FALSE(ipc::decode<CleanupEnvelope>(*ipc::encode(e)));  // the server's check
  e.body.reset();
  e.sender = "a\nb@example.com";
  EXPECT_FALSE(ipc::encode(e));

  CleanupEnd end;
  auto pe = ipc::encode(end);
  ASSERT_TRUE(pe);
  EXPECT_TRUE(ipc::decode<CleanupEnd>(*pe));
  end.flags = end_flag::kHold | end_flag::kDiscard;
  pe = ipc::encode(end);
  ASSERT_TRUE(pe);
  auto de = ipc::decode<CleanupEnd>(*pe);
  ASSERT_TRUE(de);
  EXPECT_EQ(de->flags, end_flag::kHold | end_flag::kDiscard);
  end.flags = 4;  // no such flag
  EXPECT_FALSE(ipc::encode(end));

  CleanupOpen o;
  o.flags = cleanup_flag::kExtractRecipients | cleanup_flag::kLocalSubmission;
  EXPECT_TRUE(ipc::encode(o));
  o.flags = 1 << 10;
  EXPECT_FALSE(ipc::encode(o));

  CleanupRecipient r;
  r.address = "";
  EXPECT_FALSE(encode_checked(r));
  EXPECT_FALSE(ipc::decode<CleanupRecipient>(*ipc::encode(r)));
  r.address = "bob@example.com";
  r.notify = notify::kNever | notify::kFailure;
  EXPECT_FALSE(encode_checked(r));
  r.notify = notify::kSuccess | notify::kFailure;
  EXPECT_TRUE(encode_checked(r));
  r.notify = 16;
  EXPECT_FALSE(ipc::encode(r));

  CleanupContent c;
  c.data = std::string(kMaxContentChunk, 'x');
  EXPECT_TRUE(ipc::encode(c));
  c.data += 'x';
  EXPECT_FALSE(ipc::encode(c));

  CleanupResult res;
  res.status = 250;
  EXPECT_FALSE(encode_checked(res));
  EXPECT_FALSE(ipc::decode<CleanupResult>(*ipc::encode(res)));
  res.status = 451;
  EXPECT_TRUE(encode_checked(res));
  res.status = 600;
  EXPECT_FALSE(ipc::encode(res));
}

// A scripted service on a Unix socket: accepts one connection and runs
// `script` on it (blocking ipc::Client).
class FakeService {
 public:
  explicit FakeService(std::function<void(ipc::Client&)> script) {
    std::string tmpl = (fs::temp_directory_path() / "cleanup-client.XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    path_ = dir_ / "cleanup";
    asio::local::stream_protocol::endpoint ep(path_.string());
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    thread_ = std::thread([this, script] {
      error_code ec;
      auto s = acceptor_.accept(ec);
      if (ec) return;
      auto c = ipc::Client::adopt(UniqueFd(s.release()), "client", ipc::FrameLimits{.max_payload = 1 << 20});
      if (c) script(*c);
    });
  }
  ~FakeService() {
    thread_.join();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  asio::io_context io_;
  asio::local::stream_protocol::acceptor acceptor_{io_};
  fs::path dir_, path_;
  std::thread thread_;
};

void send_opened(ipc::Client& c, const std::string& id) {
  CleanupOpened o;
  o.queue_id = id;
  ASSERT_TRUE(c.send(o, 5s));
}

void send_result(ipc::Client& c, int status, const std::string& dsn, const std::string& reason) {
  CleanupResult r;
  r.status = status;
  r.dsn = dsn;
  r.reason = reason;
  r.queue_id = "ABC";
  ASSERT_TRUE(c.send(r, 5s));
}

TEST(BlockingCleanupClient, NormalExchangeChunksContent) {
  std::size_t content_bytes = 0, frames = 0;
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "ABC");
    ASSERT_TRUE(c.receive<CleanupEnvelope>(5s));
    ASSERT_TRUE(c.receive<CleanupRecipient>(5s));
    for (;;) {
      auto f = c.read_frame(ipc::Clock::now() + 5s);
      ASSERT_TRUE(f);
      if (*ipc::peek_type(f->payload) == CleanupEnd::kType) break;
      auto m = ipc::decode<CleanupContent>(f->payload);
      ASSERT_TRUE(m);
      content_bytes += m->data.size();
      ++frames;
    }
    send_result(c, 0, "2.0.0", "queued as ABC");
  });
  auto c = BlockingCleanupClient::open(svc.path(), 0, "test", 5s);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->queue_id(), "ABC");
  CleanupEnvelope e;
  e.sender = "a@example.com";
  ASSERT_TRUE(c->envelope(e));
  CleanupRecipient r;
  r.address = "b@example.com";
  ASSERT_TRUE(c->recipient(r));
  std::string big(kMaxContentChunk * 2 + 10, 'z');
  ASSERT_TRUE(c->content(big.substr(0, 5)));
  ASSERT_TRUE(c->content(big.substr(5)));
  auto f = c->finish();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_TRUE(f->ok());
  EXPECT_EQ(content_bytes, big.size());
  EXPECT_EQ(frames, 3u);
  EXPECT_FALSE(c->finish());  // only once
}

TEST(BlockingCleanupClient, RefusalAtOpen) {
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_result(c, 451, "4.3.0", "queue file write error");
  });
  auto c = BlockingCleanupClient::open(svc.path(), 0, "test", 5s);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("451 4.3.0 queue file write error"), std::string::npos) << c.error().message;
}

TEST(BlockingCleanupClient, EarlyVerdictIsReportedByFinish) {
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "ABC");
    ASSERT_TRUE(c.receive<CleanupEnvelope>(5s));
    send_result(c, 554, "5.7.1", "go away");
    // and close
  });
  auto c = BlockingCleanupClient::open(svc.path(), 0, "test", 5s);
  ASSERT_TRUE(c);
  CleanupEnvelope e;
  e.sender = "a@example.com";
  ASSERT_TRUE(c->envelope(e));
  CleanupRecipient r;
  r.address = "b@example.com";
  Status st;
  for (int i = 0; i < 100 && st; ++i) {
    std::this_thread::sleep_for(10ms);
    st = c->recipient(r);
  }
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("554 5.7.1 go away"), std::string::npos) << st.error().message;
  EXPECT_FALSE(c->content("more\n"));  // nothing is sent after a failure
  auto f = c->finish();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, 554);
  EXPECT_EQ(f->reason, "go away");
}

TEST(BlockingCleanupClient, ServiceVanishingIsAnErrorWithoutVerdict) {
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "ABC");
  });
  auto c = BlockingCleanupClient::open(svc.path(), 0, "test", 5s);
  ASSERT_TRUE(c);
  auto f = c->finish();  // envelope never sent: the service has gone anyway
  EXPECT_FALSE(f);
}

TEST(CleanupClient, AsyncEarlyVerdictAndEncodeErrors) {
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "XYZ");
    send_result(c, 452, "4.3.1", "insufficient system storage");
  });
  asio::io_context io;
  std::optional<Result<CleanupResult>> fin;
  bool envelope_ok = true;
  std::string id;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto c = co_await CleanupClient::open(io, svc.path(), 0, "test", 5s);
        EXPECT_TRUE(c);
        if (!c) co_return;
        id = c->queue_id();
        asio::steady_timer t(io, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        CleanupEnvelope e;
        e.sender = "a@example.com";
        envelope_ok = static_cast<bool>(co_await c->envelope(e));
        fin = co_await c->finish();
      },
      asio::detached);
  io.run();
  EXPECT_EQ(id, "XYZ");
  EXPECT_FALSE(envelope_ok);
  ASSERT_TRUE(fin && *fin);
  EXPECT_EQ((*fin)->status, 452);
}

TEST(CleanupClient, AsyncEnvelopeWaitsForTheContentAndGoesInOneWrite) {
  // The client sends the envelope, then waits before the content: the
  // service must see nothing until the content, then every frame at once.
  std::size_t first_bytes = 0, all_bytes = 0;
  std::vector<std::string> types;
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "XYZ");
    pollfd p{c.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    ::usleep(50 * 1000);  // anything written separately later would not be here yet
    int n = 0;
    ASSERT_EQ(::ioctl(c.fd(), FIONREAD, &n), 0);
    first_bytes = static_cast<std::size_t>(n);
    for (;;) {
      auto f = c.read_frame(ipc::Clock::now() + 5s);
      if (!f) break;
      all_bytes += ipc::kFrameHeaderSize + f->payload.size();
      types.emplace_back(*ipc::peek_type(f->payload));
      if (types.back() == CleanupEnd::kType) break;
    }
    send_result(c, 0, "2.0.0", "queued as ABC");
  });
  asio::io_context io;
  std::optional<Result<CleanupResult>> fin;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto c = co_await CleanupClient::open(io, svc.path(), 0, "test", 5s);
        EXPECT_TRUE(c);
        if (!c) co_return;
        CleanupEnvelope e;
        e.sender = "a@example.com";
        EXPECT_TRUE(co_await c->envelope(e));
        CleanupRecipient r;
        r.address = "b@example.com";
        EXPECT_TRUE(co_await c->recipient(r));
        asio::steady_timer t(io, 200ms);
        co_await t.async_wait(asio::use_awaitable);
        EXPECT_TRUE(co_await c->content("Subject: x\n\nbody\n"));
        fin = co_await c->finish();
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(fin && *fin) << (fin ? fin->error().message : "");
  EXPECT_EQ((*fin)->status, 0);
  EXPECT_EQ(types, (std::vector<std::string>{std::string(CleanupEnvelope::kType), std::string(CleanupRecipient::kType),
                                             std::string(CleanupContent::kType), std::string(CleanupEnd::kType)}));
  EXPECT_EQ(first_bytes, all_bytes);
}

TEST(CleanupClient, BadValueFailsTheSubmissionBeforeSending) {
  bool saw_end = false;
  FakeService svc([&](ipc::Client& c) {
    ASSERT_TRUE(c.receive<CleanupOpen>(5s));
    send_opened(c, "XYZ");
    auto f = c.read_frame(ipc::Clock::now() + 5s);
    saw_end = f && *ipc::peek_type(f->payload) == CleanupEnd::kType;
  });
  asio::io_context io;
  bool rcpt_ok = true, finish_ok = true;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto c = co_await CleanupClient::open(io, svc.path(), 0, "test", 5s);
        if (!c) co_return;
        CleanupRecipient r;  // empty address: refused by the declaration
        rcpt_ok = static_cast<bool>(co_await c->recipient(r));
        auto f = co_await c->finish();
        finish_ok = static_cast<bool>(f);
      },
      asio::detached);
  io.run();
  EXPECT_FALSE(rcpt_ok);
  EXPECT_FALSE(finish_ok);
  EXPECT_FALSE(saw_end);
}

}  // namespace
}  // namespace postern::submit
