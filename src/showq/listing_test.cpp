// listing_test.cpp - the queue walk behind showq and postqueue's direct listing.
#include "listing.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "queue/status_log.h"
#include "queue/update.h"
#include "queue/writer.h"

namespace postern::showq {
namespace {

namespace fs = std::filesystem;

class ListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern-showq-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(queue::create_queue_tree(root_, hash_).ok());
    opts_.queue_root = root_;
    opts_.hash = hash_;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  queue::QueueId write(queue::QueueName q, std::string sender, std::vector<std::string> rcpts, bool commit = true,
                       std::size_t done_index = static_cast<std::size_t>(-1)) {
    queue::WriterOptions wo{.queue_root = root_, .queue = q, .hash = hash_};
    auto w = queue::QueueFileWriter::create(wo);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE(w->begin({.sender = sender, .arrival_sec = 1700000000}).ok());
    std::vector<std::uint64_t> offsets;
    for (auto& r : rcpts) {
      queue::RecipientFields f;
      f.address = r;
      auto off = w->add_recipient(f);
      EXPECT_TRUE(off.ok());
      offsets.push_back(*off);
    }
    EXPECT_TRUE(w->add_line("Subject: x").ok());
    EXPECT_TRUE(w->add_line("").ok());
    EXPECT_TRUE(w->add_line("body").ok());
    auto id = w->id();
    if (commit) {
      EXPECT_TRUE(w->commit().ok());
      if (done_index < offsets.size()) {
        // Mark one recipient done, as a delivery agent would.
        EXPECT_TRUE(queue::mark_recipient_done(w->path(), offsets[done_index]).ok());
      }
    } else {
      EXPECT_TRUE(w->finish_write().ok());
      unfinished_.push_back(std::move(*w));
    }
    return id;
  }

  fs::path root_;
  queue::HashConfig hash_ = queue::HashConfig::defaults();
  ListOptions opts_;
  std::vector<queue::QueueFileWriter> unfinished_;
};

TEST_F(ListingTest, EmptyQueue) {
  int n = 0;
  auto st = list_queues(opts_, [&](ipc::proto::ShowqEntry&) { return ++n, true; });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(n, 0);
  EXPECT_EQ(st->messages, 0);
}

TEST_F(ListingTest, ListsEveryQueueWithPendingRecipientsAndReasons) {
  auto inc = write(queue::QueueName::Incoming, "a@example.com", {"b@example.net"});
  auto act = write(queue::QueueName::Active, "", {"c@example.net", "d@example.net"}, true, 0);
  auto dfr = write(queue::QueueName::Deferred, "e@example.com", {"f@example.net", "g@example.org"});
  auto hold = write(queue::QueueName::Hold, "h@example.com", {"i@example.net"});
  write(queue::QueueName::Incoming, "busy@example.com", {"x@example.net"}, false);  // still being written
  queue::StatusEntry e;
  e.recipient = "g@example.org";
  e.status = "4.4.1";
  e.action = "delayed";
  e.reason = "connect to mx.example.org[192.0.2.1]:25: Connection refused";
  e.relay = "none";
  e.time = 1700000100;
  ASSERT_TRUE(queue::append_status_log(queue::queue_path(root_, queue::QueueName::Defer, dfr, hash_), {e}).ok());
  // A held message keeps its defer log, and postsuper -e marked it.
  e.recipient = "i@example.net";
  e.reason = "lost connection";
  ASSERT_TRUE(queue::append_status_log(queue::queue_path(root_, queue::QueueName::Defer, hold, hash_), {e}).ok());
  auto marked = queue::set_expire_mark(queue::queue_path(root_, queue::QueueName::Hold, hold, hash_));
  ASSERT_TRUE(marked.ok() && *marked);
  marked = queue::set_expire_mark(queue::queue_path(root_, queue::QueueName::Hold, hold, hash_));
  ASSERT_TRUE(marked.ok() && !*marked);  // already set

  std::map<std::string, ipc::proto::ShowqEntry> seen;
  std::vector<std::string> order;
  auto st = list_queues(opts_, [&](ipc::proto::ShowqEntry& x) {
    EXPECT_TRUE(x.check().ok());
    order.push_back(x.queue_name);
    seen[x.queue_id] = x;
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->messages, 4);
  EXPECT_EQ(st->skipped, 1);
  // Postfix's showq order.
  EXPECT_EQ(order, (std::vector<std::string>{"active", "incoming", "deferred", "hold"}));
  EXPECT_EQ(seen[inc.str()].sender, "a@example.com");
  EXPECT_EQ(seen[inc.str()].arrival_time, 1700000000);
  EXPECT_EQ(seen[inc.str()].message_size, 17);
  EXPECT_EQ(seen[act.str()].sender, "");
  EXPECT_EQ(seen[act.str()].recipients, (std::vector<std::string>{"d@example.net"}));
  EXPECT_EQ(seen[dfr.str()].recipients, (std::vector<std::string>{"f@example.net", "g@example.org"}));
  EXPECT_EQ(seen[dfr.str()].reasons,
            (std::vector<std::string>{"", "connect to mx.example.org[192.0.2.1]:25: Connection refused"}));
  EXPECT_EQ(seen[hold.str()].queue_name, "hold");
  EXPECT_TRUE(seen[hold.str()].forced_expire);
  EXPECT_FALSE(seen[dfr.str()].forced_expire);
  EXPECT_EQ(seen[hold.str()].reasons, (std::vector<std::string>{"lost connection"}));
  EXPECT_EQ(st->size, 4 * 17);
}

TEST_F(ListingTest, DamagedFileIsSkipped) {
  auto id = write(queue::QueueName::Deferred, "a@example.com", {"b@example.net"});
  auto path = queue::queue_path(root_, queue::QueueName::Deferred, id, hash_);
  fs::resize_file(path, fs::file_size(path) - 3);
  auto st = list_queues(opts_, [&](ipc::proto::ShowqEntry&) { return true; });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->messages, 0);
  EXPECT_EQ(st->skipped, 1);
}

TEST_F(ListingTest, SinkCanStopTheWalk) {
  write(queue::QueueName::Incoming, "a@example.com", {"b@example.net"});
  write(queue::QueueName::Incoming, "a@example.com", {"b@example.net"});
  int n = 0;
  auto st = list_queues(opts_, [&](ipc::proto::ShowqEntry&) { return ++n < 1; });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(n, 1);
}

TEST_F(ListingTest, ManyRecipientsAreCapped) {
  std::vector<std::string> rcpts;
  for (int i = 0; i < 1500; ++i) rcpts.push_back("user" + std::to_string(i) + "@example.net");
  write(queue::QueueName::Incoming, "a@example.com", rcpts, true, rcpts.size());
  auto st = list_queues(opts_, [&](ipc::proto::ShowqEntry& e) {
    EXPECT_EQ(e.recipients.size(), ipc::proto::kShowqMaxRecipients);
    EXPECT_EQ(e.recipients_omitted, 500);
    EXPECT_TRUE(ipc::encode(e).ok());
    return true;
  });
  ASSERT_TRUE(st.ok());
}

}  // namespace
}  // namespace postern::showq
