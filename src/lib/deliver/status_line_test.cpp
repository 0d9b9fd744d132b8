#include "deliver/status_line.h"

#include <gtest/gtest.h>

namespace postern::deliver {
namespace {

TEST(StatusLine, DelayFormat) {
  EXPECT_EQ(format_delay(0), "0");
  EXPECT_EQ(format_delay(9'999), "0");
  EXPECT_EQ(format_delay(10'000), "0.01");
  EXPECT_EQ(format_delay(120'000), "0.12");
  EXPECT_EQ(format_delay(1'230'000), "1.2");
  EXPECT_EQ(format_delay(2'000'000), "2");
  EXPECT_EQ(format_delay(12'700'000), "12");
}

TEST(StatusLine, PostfixShape) {
  StatusLine s;
  s.queue_id = "3F2A1C0D2";
  s.recipient = "joe@example.com";
  s.orig_recipient = "joe";
  s.relay = "mx.example.com[192.0.2.1]:25";
  s.arrival_usec = 1'000'000'000'000'000;
  s.active_usec = s.arrival_usec + 10'000;
  s.agent_start_usec = s.active_usec + 20'000;
  s.connected_usec = s.agent_start_usec + 500'000;
  s.done_usec = s.connected_usec + 670'000;
  s.dsn = "2.0.0";
  s.status = "sent";
  s.text = "250 2.0.0 Ok: queued as X";
  EXPECT_EQ(format_status_line(s),
            "3F2A1C0D2: to=<joe@example.com>, orig_to=<joe>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, "
            "delays=0.01/0.02/0.5/0.67, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X)");
}

TEST(StatusLine, HostileTextStaysOnOneLine) {
  StatusLine s;
  s.queue_id = "A";
  s.recipient = "x\n@y";
  s.text = "bad\r\nstatus=sent";
  s.dsn = "5.0.0";
  s.status = "bounced";
  auto line = format_status_line(s);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_NE(line.find("relay=none"), std::string::npos);
}

}  // namespace
}  // namespace postern::deliver
