// format_test.cpp - postqueue's mailq and JSON output.
#include "format.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <nlohmann/json.hpp>

namespace postern::postqueue {
namespace {

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

ipc::proto::ShowqEntry entry(std::string queue, std::string id) {
  ipc::proto::ShowqEntry e;
  e.queue_name = std::move(queue);
  e.queue_id = std::move(id);
  e.arrival_time = 1764628801;  // Mon Dec  1 22:40:01 2025 UTC
  e.message_size = 1234;
  e.sender = "alice@example.com";
  e.recipients = {"bob@example.net"};
  e.reasons = {""};
  return e;
}

TEST_F(FormatTest, EmptyQueue) {
  MailqPrinter p;
  std::string out;
  p.finish(out);
  EXPECT_EQ(out, "Mail queue is empty\n");
}

TEST_F(FormatTest, MailqLayout) {
  MailqPrinter p;
  std::string out;
  p.entry(entry("active", "3F2A1C0D2"), out);
  auto held = entry("hold", "4B7E2A0C1");
  held.sender = "";
  held.message_size = 1000;
  p.entry(held, out);
  auto def = entry("deferred", "5C0000AB");
  def.recipients = {"a@x.example", "b@y.example", "c@x.example"};
  def.reasons = {"connect refused", "", "connect refused"};
  p.entry(def, out);
  p.finish(out);
  std::string pad(41, ' ');
  std::string want =
      "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
      "3F2A1C0D2*     1234 Mon Dec  1 22:40:01  alice@example.com\n" +
      pad + "bob@example.net\n\n" +
      "4B7E2A0C1!     1000 Mon Dec  1 22:40:01  MAILER-DAEMON\n" + pad + "bob@example.net\n\n" +
      "5C0000AB       1234 Mon Dec  1 22:40:01  alice@example.com\n" + std::string(76 - 15, ' ') +
      "(connect refused)\n" + pad + "a@x.example\n" + pad + "c@x.example\n" + pad + "b@y.example\n" +
      "\n-- 3 Kbytes in 3 Requests.\n";
  EXPECT_EQ(out, want);
}

TEST_F(FormatTest, ControlCharactersAreMasked) {
  MailqPrinter p;
  std::string out;
  auto e = entry("incoming", "3F2A1C0D2");
  e.sender = "evil\x1b[2J@example.com";
  p.entry(e, out);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_NE(out.find("evil?[2J@example.com"), std::string::npos);
}

TEST_F(FormatTest, JsonFieldsInPostfixOrder) {
  auto e = entry("deferred", "3F2A1C0D2");
  e.recipients = {"a@x.example", "b@y.example"};
  e.reasons = {"timeout", ""};
  std::string line = json_line(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line, "{\"queue_name\": \"deferred\", \"queue_id\": \"3F2A1C0D2\", \"arrival_time\": 1764628801, "
                  "\"message_size\": 1234, \"forced_expire\": false, \"sender\": \"alice@example.com\", "
                  "\"recipients\": [{\"address\": \"a@x.example\", \"delay_reason\": \"timeout\"}, "
                  "{\"address\": \"b@y.example\"}]}\n");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["recipients"][0]["delay_reason"], "timeout");
  EXPECT_FALSE(j["recipients"][1].contains("delay_reason"));
}

TEST_F(FormatTest, NullSenderAndExpireMark) {
  auto e = entry("hold", "3F2A1C0D2");
  e.sender = "";
  e.forced_expire = true;
  FormatOptions o{.null_sender = "bounce-master", .long_ids = false};
  auto j = nlohmann::json::parse(json_line(e, o));
  EXPECT_EQ(j["sender"], "bounce-master");
  EXPECT_EQ(j["forced_expire"], true);
  MailqPrinter p(o);
  std::string out;
  p.entry(e, out);
  EXPECT_NE(out.find("\n3F2A1C0D2!#    1234 Mon Dec  1 22:40:01  bounce-master\n"), std::string::npos) << out;
}

TEST_F(FormatTest, LongLayout) {
  MailqPrinter p(FormatOptions{.null_sender = "MAILER-DAEMON", .long_ids = true});
  std::string out;
  auto e = entry("active", "4jjp7P3GNwz1g7lP");
  e.recipients = {"a@x.example", "b@y.example"};
  e.reasons = {"connect refused", ""};
  p.entry(e, out);
  p.entry(entry("deferred", "6882FAE6152"), out);
  std::string pad(47, ' ');
  std::string want = "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
                     "4jjp7P3GNwz1g7lP*     1234 Mon Dec  1 22:40:01 alice@example.com\n" +
                     std::string(76 - 15, ' ') + "(connect refused)\n" + pad + "a@x.example\n" + pad +
                     "b@y.example\n\n" + "6882FAE6152           1234 Mon Dec  1 22:40:01 alice@example.com\n" + pad +
                     "bob@example.net\n";
  EXPECT_EQ(out, want);
}

TEST_F(FormatTest, JsonSurvivesInvalidUtf8) {
  auto e = entry("incoming", "3F2A1C0D2");
  e.sender = "\xff\xfe@example.com";
  auto j = nlohmann::json::parse(json_line(e));
  EXPECT_TRUE(j["sender"].is_string());
}

}  // namespace
}  // namespace postern::postqueue
