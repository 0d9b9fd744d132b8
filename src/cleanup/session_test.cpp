// session_test.cpp - the cleanup protocol end to end over a real Unix
// socket: both client libraries against serve_session, group commit with
// many concurrent clients, protocol violations answered early, and aborted
// submissions leaving no file.
#include "cleanup/session.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <thread>

#include "cleanup/cleanup_test_util.h"
#include "ipc/client.h"
#include "submit/cleanup_client.h"

namespace postern::cleanup {
namespace {

using namespace testing;
using namespace std::chrono_literals;

// A cleanup service on its own thread, like the daemon without the master.
class Server {
 public:
  Server(const Scratch& scratch, Committer::Mode mode, const std::string& extra = "",
         std::chrono::seconds frame_timeout = std::chrono::seconds(60))
      : settings_(with_frame_timeout(settings_for(scratch, extra), frame_timeout)), mapper_(open_mapper(settings_).value()), committer_(io_, {mode, 2, {}}),
        svc_{settings_, mapper_, [] { return std::make_unique<FakeRewriter>(); }, committer_, scratch.queue()},
        socket_(scratch.queue() / "public" / "cleanup"),
        acceptor_(io_, asio::local::stream_protocol::endpoint(socket_.string())) {
    // A recording trace service (the virtual alias "expanded" notices).
    svc_.trace = [this](ipc::proto::BounceRequest req) -> asio::awaitable<Status> {
      std::lock_guard<std::mutex> lock(trace_mu_);
      if (trace_fails_) co_return make_error("trace service down");
      traced_.push_back(std::move(req));
      co_return Status{};
    };
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    asio::post(io_, [this] {
      error_code ec;
      acceptor_.close(ec);
      io_.stop();
    });
    thread_.join();
    committer_.join();
  }
  const fs::path& socket() const { return socket_; }
  std::size_t batches() const { return committer_.batches(); }
  std::vector<ipc::proto::BounceRequest> traced() {
    std::lock_guard<std::mutex> lock(trace_mu_);
    return traced_;
  }
  void fail_trace(bool f) {
    std::lock_guard<std::mutex> lock(trace_mu_);
    trace_fails_ = f;
  }
  static CleanupSettings with_frame_timeout(CleanupSettings s, std::chrono::seconds t) {
    s.frame_timeout = t;
    return s;
  }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      error_code ec;
      auto s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::generic::stream_protocol::socket g(io_, asio::generic::stream_protocol(AF_UNIX, 0), s.release());
      asio::co_spawn(io_, serve_session(svc_, std::move(g), "test"), asio::detached);
    }
  }

  asio::io_context io_;
  CleanupSettings settings_;
  AddressMapper mapper_;
  Committer committer_;
  Service svc_;
  fs::path socket_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::mutex trace_mu_;
  std::vector<ipc::proto::BounceRequest> traced_;
  bool trace_fails_ = false;
  std::thread thread_;
};

submit::CleanupEnvelope envelope(std::string sender) {
  submit::CleanupEnvelope e;
  e.sender = std::move(sender);
  return e;
}

submit::CleanupRecipient recipient(std::string a) {
  submit::CleanupRecipient r;
  r.address = std::move(a);
  return r;
}

TEST(Session, AsyncClientRoundTrip) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  asio::io_context io;
  std::optional<submit::CleanupResult> result;
  std::string id;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto c = co_await submit::CleanupClient::open(io, server.socket(), submit::cleanup_flag::kLocalSubmission,
                                                      "local", 10s);
        EXPECT_TRUE(c) << (c ? "" : c.error().message);
        if (!c) co_return;
        id = c->queue_id();
        auto env = envelope("joe");
        EXPECT_TRUE(co_await c->envelope(env));
        auto r = recipient("bob@example.org");
        EXPECT_TRUE(co_await c->recipient(r));
        // More than one frame's worth, in uneven pieces.
        std::string body(submit::kMaxContentChunk + 1000, 'x');
        EXPECT_TRUE(co_await c->content("Subject: round trip\n\n"));
        EXPECT_TRUE(co_await c->content(body.substr(0, 100)));
        EXPECT_TRUE(co_await c->content(body.substr(100) + "\n"));
        auto f = co_await c->finish();
        EXPECT_TRUE(f) << (f ? "" : f.error().message);
        if (f) result = *f;
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 0) << result->reason;
  EXPECT_EQ(result->dsn, "2.0.0");
  EXPECT_EQ(result->queue_id, id);
  auto files = scratch.incoming();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string(), id);
  auto r = queue::QueueFileReader::open(files[0]);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->message().sender, "joe@example.com");
  std::string text = content_text(*r);
  EXPECT_EQ(r->message().size.content_size, text.size());
  EXPECT_NE(text.find(std::string(submit::kMaxContentChunk + 1000, 'x') + "\n"), std::string::npos);
  EXPECT_NE(text.find("Subject: round trip\nFrom: joe@example.com\nDate: "), std::string::npos) << text.substr(0, 200);
}

// Postfix's cleanup_out_recipient(): a NOTIFY=SUCCESS recipient that
// virtual_alias_maps expands gets one "expanded" trace entry, written
// before the commit; its members get NOTIFY without SUCCESS. When the entry
// cannot be written the message is refused.
TEST(Session, VirtualAliasExpansionOwesOneExpandedNotice) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Single,
                "virtual_alias_maps = inline:{ {list@example.org = a@example.org, b@example.org}, "
                "{one@example.org = other@example.org}, {self@example.org = self@example.org} }\n");
  auto submit = [&](const std::string& rcpt, std::int64_t notify) {
    auto c = submit::BlockingCleanupClient::open(server.socket(), 0, "smtpd", 10s);
    EXPECT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->envelope(envelope("joe@example.org")));
    auto r = recipient(rcpt);
    r.notify = notify;
    r.orcpt = "rfc822;" + rcpt;
    EXPECT_TRUE(c->recipient(r));
    EXPECT_TRUE(c->content("Subject: list\n\nbody\n"));
    auto f = c->finish();
    EXPECT_TRUE(f) << f.error().message;
    return std::make_pair(c->queue_id(), f ? *f : submit::CleanupResult{});
  };
  auto file_of = [&](const std::string& id) {
    for (const auto& p : scratch.incoming())
      if (p.filename() == id) return queue::QueueFileReader::open(p);
    return Result<queue::QueueFileReader>(make_error("no file {}", id));
  };

  auto [id, res] = submit("list@example.org", queue::kNotifySuccess | queue::kNotifyFailure);
  EXPECT_EQ(res.status, 0) << res.reason;
  auto traced = server.traced();
  ASSERT_EQ(traced.size(), 1u);
  EXPECT_EQ(traced[0].queue_id, id);
  EXPECT_EQ(traced[0].action, "expanded");
  ASSERT_EQ(traced[0].recipients.size(), 1u);
  auto alias = queue::decode_recipient(traced[0].recipients[0]);
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->address, "list@example.org");
  EXPECT_EQ(alias->notify, queue::kNotifySuccess | queue::kNotifyFailure);
  EXPECT_EQ(alias->orcpt, "rfc822;list@example.org");
  EXPECT_EQ(traced[0].text, std::vector<std::string>{"alias expanded"});
  auto r = file_of(id);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->message().recipients.size(), 2u);
  for (const auto& m : r->message().recipients) {
    EXPECT_EQ(m.fields.notify, queue::kNotifyFailure) << m.fields.address;
    EXPECT_EQ(m.fields.orcpt, "rfc822;list@example.org");  // passed on (RFC 3461 option b)
  }

  // A one-to-one alias is an expansion too; SUCCESS alone becomes NEVER.
  std::tie(id, res) = submit("one@example.org", queue::kNotifySuccess);
  EXPECT_EQ(res.status, 0);
  EXPECT_EQ(server.traced().size(), 2u);
  r = file_of(id);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->message().recipients.size(), 1u);
  EXPECT_EQ(r->message().recipients[0].fields.notify, queue::kNotifyNever);

  // Not expanded (an address that maps to itself, or no SUCCESS): nothing.
  std::tie(id, res) = submit("self@example.org", queue::kNotifySuccess);
  EXPECT_EQ(res.status, 0);
  std::tie(id, res) = submit("list@example.org", queue::kNotifyFailure);
  EXPECT_EQ(res.status, 0);
  EXPECT_EQ(server.traced().size(), 2u);

  // The trace service fails: the message is refused and leaves no file.
  server.fail_trace(true);
  const auto before = scratch.incoming().size();
  std::tie(id, res) = submit("list@example.org", queue::kNotifySuccess);
  EXPECT_NE(res.status, 0);
  EXPECT_EQ(res.dsn.substr(0, 2), "4.");
  EXPECT_EQ(scratch.incoming().size(), before);
}

TEST(Session, BlockingClientRoundTripAndEarlyVerdict) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Single, "hopcount_limit = 2\n");
  auto c = submit::BlockingCleanupClient::open(server.socket(), 0, "postsuper", 10s);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->queue_id().empty());
  ASSERT_TRUE(c->envelope(envelope("")));
  ASSERT_TRUE(c->recipient(recipient("bob@example.org")));
  ASSERT_TRUE(c->content("Subject: bounce\n\nbody\n"));
  auto f = c->finish();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->status, 0) << f->reason;
  auto files = scratch.incoming();
  ASSERT_EQ(files.size(), 1u);
  auto r = queue::QueueFileReader::open(files[0]);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message().sender, "");  // the null sender stays null

  // A content verdict comes after cleanup_end.
  auto h = submit::BlockingCleanupClient::open(server.socket(), 0, "test", 10s);
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->envelope(envelope("a@example.org")));
  ASSERT_TRUE(h->recipient(recipient("bob@example.org")));
  ASSERT_TRUE(h->content("Received: one\nReceived: two\n\nbody\n"));
  auto hf = h->finish();
  ASSERT_TRUE(hf);
  EXPECT_EQ(hf->status, 554);
  EXPECT_EQ(hf->dsn, "5.4.0");
  EXPECT_EQ(scratch.incoming().size(), 1u);

  // Out of order: the server answers at once and closes; the client sees
  // the verdict on its next call and finish() returns it.
  auto bad = submit::BlockingCleanupClient::open(server.socket(), 0, "test", 10s);
  ASSERT_TRUE(bad);
  (void)bad->recipient(recipient("bob@example.org"));  // before the envelope
  Status later = bad->envelope(envelope("a@example.org"));
  for (int i = 0; i < 50 && later; ++i) {
    std::this_thread::sleep_for(20ms);
    later = bad->recipient(recipient("carol@example.org"));
  }
  EXPECT_FALSE(later);
  auto bf = bad->finish();
  ASSERT_TRUE(bf) << bf.error().message;
  EXPECT_EQ(bf->status, 451);
  EXPECT_EQ(bf->reason, "internal protocol error");
  ASSERT_TRUE(bad->early_result());
  EXPECT_EQ(scratch.incoming().size(), 1u);
}

TEST(Session, DisconnectBeforeEndLeavesNoFile) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  {
    auto c = submit::BlockingCleanupClient::open(server.socket(), 0, "test", 10s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->envelope(envelope("a@example.org")));
    ASSERT_TRUE(c->recipient(recipient("bob@example.org")));
    ASSERT_TRUE(c->content(std::string(submit::kMaxContentChunk * 2, 'y')));
    // The file exists while the message is in progress...
    for (int i = 0; i < 100 && scratch.incoming().empty(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(scratch.incoming().size(), 1u);
  }  // ...and goes away with the connection.
  for (int i = 0; i < 200 && !scratch.incoming().empty(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(scratch.incoming().empty());
}

TEST(Session, SilentClientIsDroppedBeforeOpen) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch, "ipc_timeout = 30s\n", 1s);
  auto c = ipc::Client::connect(server.socket().string(), 5s);
  ASSERT_TRUE(c);
  auto start = std::chrono::steady_clock::now();
  auto frame = c->read_frame(ipc::Clock::now() + 10s);  // the 451 reply, then EOF
  ASSERT_TRUE(frame) << frame.error().message;
  auto res = ipc::decode<submit::CleanupResult>(frame->payload);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 451);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // frame_timeout, not ipc_timeout
}

TEST(Session, IdleBetweenFramesUpToIpcTimeoutButNotMidFrame) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch, "ipc_timeout = 30s\n", 1s);
  {
    // Idle longer than frame_timeout between frames: fine.
    auto c = submit::BlockingCleanupClient::open(server.socket(), 0, "test", 10s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->envelope(envelope("a@example.org")));
    std::this_thread::sleep_for(2500ms);
    ASSERT_TRUE(c->recipient(recipient("bob@example.org")));
    ASSERT_TRUE(c->content("Subject: slow\n\nbody\n"));
    auto r = c->finish();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 0) << r->reason;
  }
  ASSERT_EQ(scratch.incoming().size(), 1u);
  // A frame that stops half-way is dropped after frame_timeout, file and all.
  auto c = ipc::Client::connect(server.socket().string(), 5s);
  ASSERT_TRUE(c);
  ipc::Writer w("cleanup_open");
  w.add_int("flags", 0);
  w.add_string("origin", "x");
  auto payload = std::move(w).finish();
  ASSERT_TRUE(payload);
  ASSERT_TRUE(c->write_frame(*payload, ipc::Clock::now() + 5s));
  ASSERT_TRUE(c->read_frame(ipc::Clock::now() + 5s));  // cleanup_opened
  ASSERT_EQ(::write(c->fd(), "\x00", 1), 1);            // the first byte of a frame header
  auto start = std::chrono::steady_clock::now();
  auto end = c->read_frame(ipc::Clock::now() + 10s);  // EOF when cleanup gives up
  EXPECT_FALSE(end);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  for (int i = 0; i < 200 && scratch.incoming().size() > 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(scratch.incoming().size(), 1u);
}

// `subject` is a view of a literal: GCC 12 destroys temporaries passed to
// a coroutine inside a co_await expression twice (ipc/async.h).
asio::awaitable<Result<submit::CleanupResult>> submit_once(asio::io_context& io, const fs::path& socket,
                                                           submit::CleanupConnections& pool, std::string_view subject) {
  auto c = co_await submit::CleanupClient::open(io, socket, 0, "test", 10s, &pool);
  if (!c) co_return c.take_error();
  auto env = envelope("joe@example.org");
  auto r = recipient("bob@example.org");
  (void)co_await c->envelope(env);
  (void)co_await c->recipient(r);
  std::string text = "Subject: " + std::string(subject) + "\n\nbody\n";
  (void)co_await c->content(text);
  co_return co_await c->finish();
}

asio::awaitable<Result<submit::CleanupResult>> submit_with_end_flags(asio::io_context& io, const fs::path& socket,
                                                                     std::int64_t end_flags) {
  auto c = co_await submit::CleanupClient::open(io, socket, 0, "test", 10s);
  if (!c) co_return c.take_error();
  auto env = envelope("joe@example.org");
  auto r = recipient("bob@example.org");
  (void)co_await c->envelope(env);
  (void)co_await c->recipient(r);
  (void)co_await c->content("Subject: flagged\n\nbody\n");
  co_return co_await c->finish(end_flags);
}

TEST(Session, EndFlagsHoldOrDiscardTheMessage) {
  // smtpd's HOLD and DISCARD actions: the client hears "queued" either way;
  // a held file is ready in hold/, a discarded one is nowhere.
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  asio::io_context io;
  std::vector<Result<submit::CleanupResult>> results;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (std::int64_t f : {submit::end_flag::kHold, submit::end_flag::kDiscard,
                               submit::end_flag::kHold | submit::end_flag::kDiscard})
          results.push_back(co_await submit_with_end_flags(io, server.socket(), f));
      },
      asio::detached);
  io.run();
  ASSERT_EQ(results.size(), 3u);
  for (auto& r : results) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 0) << r->reason;
    EXPECT_FALSE(r->queue_id.empty());
  }
  EXPECT_TRUE(scratch.incoming().empty());
  auto held = scratch.files_in("hold");
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].filename().string(), results[0]->queue_id);
  auto rd = queue::QueueFileReader::open(held[0]);
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_EQ(rd->message().sender, "joe@example.org");
}

// Submits one small message through `pool` and adds its result to `out`
// (a failure fails the test).
asio::awaitable<void> submit_kept(asio::io_context& io, const fs::path& socket, submit::CleanupConnections& pool,
                                  std::string_view subject, std::vector<submit::CleanupResult>& out) {
  auto r = co_await submit_once(io, socket, pool, subject);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (r) out.push_back(*r);
}

// The client side of the kept-connection tests: its own event loop and
// CleanupConnections. run() drives `body` to its end, then stops the loop
// (the pool's idle timer would keep it going), or gives up after 20 s.
struct KeptClient {
  explicit KeptClient(std::chrono::milliseconds idle) : pool(io, idle) {}
  asio::io_context io;
  submit::CleanupConnections pool;
  std::vector<submit::CleanupResult> results;

  asio::awaitable<void> submit(const fs::path& socket, std::string_view subject) {
    co_await submit_kept(io, socket, pool, subject, results);
  }
  template <class Body>
  void run(Body body) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await body();
          io.stop();
        },
        asio::detached);
    io.run_for(20s);
  }
};

TEST(Session, KeptConnectionCarriesTheNextMessages) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  KeptClient client(60s);
  client.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) co_await client.submit(server.socket(), "kept");
  });
  ASSERT_EQ(client.results.size(), 3u);
  std::set<std::string> ids;
  for (const auto& r : client.results) {
    EXPECT_EQ(r.status, 0) << r.reason;
    EXPECT_TRUE(r.keep_open.value_or(false));
    ids.insert(r.queue_id);
  }
  EXPECT_EQ(ids.size(), 3u);  // three messages, three queue files
  EXPECT_EQ(scratch.incoming().size(), 3u);
  EXPECT_EQ(client.pool.connects(), 1u);  // over one connection
  EXPECT_EQ(client.pool.kept(), 1u);      // which waits for the next
}

TEST(Session, KeptConnectionThatCleanupClosedIsReplaced) {
  Scratch scratch;
  // cleanup waits for a kept connection's next message only ipc_timeout
  // here (max_idle in the daemon), then closes it.
  Server server(scratch, Committer::Mode::Batch, "ipc_timeout = 1s\n");
  KeptClient client(60s);
  client.run([&]() -> asio::awaitable<void> {
    co_await client.submit(server.socket(), "first");
    asio::steady_timer t(client.io);
    t.expires_after(1800ms);  // cleanup closes the kept connection meanwhile
    co_await t.async_wait(asio::use_awaitable);
    EXPECT_EQ(client.pool.kept(), 1u);
    co_await client.submit(server.socket(), "second");
  });
  ASSERT_EQ(client.results.size(), 2u);
  for (const auto& r : client.results) EXPECT_EQ(r.status, 0) << r.reason;
  EXPECT_EQ(client.pool.connects(), 2u);  // the closed one was dropped, not reported
  EXPECT_EQ(scratch.incoming().size(), 2u);
}

TEST(Session, IdleKeptConnectionsAreClosedByTheClient) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  KeptClient client(300ms);
  std::size_t kept_after_finish = 0;
  client.run([&]() -> asio::awaitable<void> {
    co_await client.submit(server.socket(), "idle");
    kept_after_finish = client.pool.kept();
    asio::steady_timer t(client.io);
    t.expires_after(700ms);
    co_await t.async_wait(asio::use_awaitable);
  });
  EXPECT_EQ(kept_after_finish, 1u);
  EXPECT_EQ(client.pool.kept(), 0u);  // closed after 300 ms idle (ipc_idle in smtpd)
}

TEST(Session, BytesAfterTheEndGetNoSecondMessage) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  auto c = ipc::Client::connect(server.socket().string(), 5s);
  ASSERT_TRUE(c);
  auto frame_of = [](const auto& m) { return ipc::encode(m).value(); };
  submit::CleanupOpen open;
  open.origin = "x";
  ASSERT_TRUE(c->write_frame(frame_of(open), ipc::Clock::now() + 5s));
  ASSERT_TRUE(c->read_frame(ipc::Clock::now() + 5s));  // cleanup_opened
  // The whole message and, before its result, the next cleanup_open.
  std::string out;
  for (std::string p : {frame_of(envelope("a@example.org")), frame_of(recipient("b@example.org")),
                        frame_of(submit::CleanupEnd{}), frame_of(open)}) {
    auto h = ipc::frame_header(static_cast<std::uint32_t>(p.size()));
    out.append(h.data(), h.size());
    out += p;
  }
  ASSERT_EQ(::write(c->fd(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
  auto frame = c->read_frame(ipc::Clock::now() + 5s);
  ASSERT_TRUE(frame) << frame.error().message;
  auto res = ipc::decode<submit::CleanupResult>(frame->payload);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 0) << res->reason;  // the message itself is fine
  EXPECT_FALSE(res->keep_open.value_or(false));
  EXPECT_FALSE(c->read_frame(ipc::Clock::now() + 5s));  // then EOF: the early open is not served
  EXPECT_EQ(scratch.incoming().size(), 1u);
}

TEST(Session, MalformedFramesAreRefused) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  // A status message where cleanup_open belongs.
  auto c = ipc::Client::connect(server.socket().string(), 5s);
  ASSERT_TRUE(c);
  ipc::proto::StatusReply wrong{0, "hello"};
  auto reply = c->call<submit::CleanupResult>(wrong, 5s);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->status, 451);
  // Undefined flag bits.
  auto c2 = ipc::Client::connect(server.socket().string(), 5s);
  ASSERT_TRUE(c2);
  ipc::Writer w("cleanup_open");
  w.add_int("flags", 1 << 20);
  w.add_string("origin", "x");
  auto payload = std::move(w).finish();
  ASSERT_TRUE(payload);
  ASSERT_TRUE(c2->write_frame(*payload, ipc::Clock::now() + 5s));
  auto frame = c2->read_frame(ipc::Clock::now() + 5s);
  ASSERT_TRUE(frame);
  auto res = ipc::decode<submit::CleanupResult>(frame->payload);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 451);
  EXPECT_TRUE(scratch.incoming().empty());
}

TEST(Session, ConcurrentClientsShareCommits) {
  Scratch scratch;
  Server server(scratch, Committer::Mode::Batch);
  constexpr int kClients = 8, kEach = 5;
  asio::io_context io;
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          for (int j = 0; j < kEach; ++j) {
            auto c = co_await submit::CleanupClient::open(io, server.socket(), 0, "test", 10s);
            if (!c) co_return;
            auto env = envelope("s" + std::to_string(i) + "@example.org");
            auto r = recipient("r@example.org");
            bool good = co_await c->envelope(env) && co_await c->recipient(r);
            if (good) good = static_cast<bool>(co_await c->content("Subject: x\n\nbody\n"));
            auto f = co_await c->finish();
            if (good && f && f->ok()) ++ok;
          }
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, kClients * kEach);
  auto files = scratch.incoming();
  EXPECT_EQ(files.size(), static_cast<std::size_t>(kClients * kEach));
  for (const auto& f : files) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_TRUE(st.st_mode & S_IXUSR) << f;
  }
  EXPECT_GE(server.batches(), 1u);
  EXPECT_LE(server.batches(), static_cast<std::size_t>(kClients * kEach));
}

TEST(Session, ConnectFailureIsAnError) {
  Scratch scratch;
  asio::io_context io;
  bool failed = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto c = co_await submit::CleanupClient::open(io, scratch.queue() / "public" / "nothing", 0, "x", 2s);
        failed = !c;
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(failed);
  EXPECT_FALSE(submit::BlockingCleanupClient::open(scratch.queue() / "public" / "nothing", 0, "x", 2s));
}

}  // namespace
}  // namespace postern::cleanup
