// date_test.cpp - Date: and Message-ID values against fixed times and zones.
#include "mail/date.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

using namespace postern::mail;

namespace {

constexpr std::time_t kExample = 1795455144;  // 2026-11-23 17:32:24 UTC, a Monday

// Set TZ for the duration of a test (POSIX TZ strings need no tzdata).
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ")) {
      had_old_ = true;
      old_ = old;
    }
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTz() {
    if (had_old_) {
      setenv("TZ", old_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  bool had_old_ = false;
  std::string old_;
};

}  // namespace

TEST(MailDate, FixedZones) {
  EXPECT_EQ(format_mail_date(kExample, 0, "UTC"), "Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
  EXPECT_EQ(format_mail_date(kExample, 5 * 3600 + 1800, "IST"), "Mon, 23 Nov 2026 23:02:24 +0530 (IST)");
  EXPECT_EQ(format_mail_date(kExample, -(3 * 3600 + 1800), "NST"), "Mon, 23 Nov 2026 14:02:24 -0330 (NST)");
  // Postfix prints "+0000" for -00:30 (integer division); we keep the sign.
  EXPECT_EQ(format_mail_date(kExample, -1800, "X"), "Mon, 23 Nov 2026 17:02:24 -0030 (X)");
  EXPECT_EQ(format_mail_date(kExample, 14 * 3600, "LINT"), "Tue, 24 Nov 2026 07:32:24 +1400 (LINT)");
}

TEST(MailDate, CalendarEdges) {
  EXPECT_EQ(format_mail_date(0, 0, "UTC"), "Thu, 01 Jan 1970 00:00:00 +0000 (UTC)");
  EXPECT_EQ(format_mail_date(-1, 0, "UTC"), "Wed, 31 Dec 1969 23:59:59 +0000 (UTC)");
  EXPECT_EQ(format_mail_date(1709251199, 0, "UTC"), "Thu, 29 Feb 2024 23:59:59 +0000 (UTC)");
  EXPECT_EQ(format_mail_date(1709251199, 19800, "IST"), "Fri, 01 Mar 2024 05:29:59 +0530 (IST)");
  EXPECT_EQ(format_mail_date(951782400, 0, ""), "Tue, 29 Feb 2000 00:00:00 +0000");  // no zone comment
  EXPECT_EQ(format_mail_date(1772672523, 0, "UTC"), "Thu, 05 Mar 2026 01:02:03 +0000 (UTC)");
}

TEST(MailDate, ZoneNameAndOffsetAreSanitized) {
  EXPECT_EQ(format_mail_date(0, 0, "U(T)C\r\nX: y"), "Thu, 01 Jan 1970 00:00:00 +0000 (UTCXy)");
  EXPECT_EQ(format_mail_date(0, 0, "()"), "Thu, 01 Jan 1970 00:00:00 +0000");
  // Offsets beyond a day are clamped.
  EXPECT_EQ(format_mail_date(0, 100 * 3600, "Z"), "Fri, 02 Jan 1970 00:00:00 +2400 (Z)");
}

TEST(MailDate, LocalTimeFollowsTz) {
  {
    ScopedTz tz("UTC0");
    EXPECT_EQ(mail_date(kExample), "Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
  }
  {
    ScopedTz tz("XYZ-5:30");
    EXPECT_EQ(mail_date(kExample), "Mon, 23 Nov 2026 23:02:24 +0530 (XYZ)");
  }
  {
    // Daylight saving time: US Eastern rules, November is standard time, July summer time.
    ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");
    EXPECT_EQ(mail_date(kExample), "Mon, 23 Nov 2026 12:32:24 -0500 (EST)");
    EXPECT_EQ(mail_date(1783166400), "Sat, 04 Jul 2026 08:00:00 -0400 (EDT)");
  }
}

TEST(MessageId, PostfixShape) {
  EXPECT_EQ(make_message_id(kExample, "3F2A1C0D2", "mail.example.com"),
            "<20261123173224.3F2A1C0D2@mail.example.com>");
  // The time is UTC whatever TZ says.
  ScopedTz tz("XYZ-5:30");
  EXPECT_EQ(make_message_id(kExample, "4Wq", "h"), "<20261123173224.4Wq@h>");
}

TEST(MessageId, InputsCannotBreakTheHeader) {
  std::string id = make_message_id(kExample, "A>B\r\nBcc: x@y", "host name\n.example");
  EXPECT_EQ(id, "<20261123173224.A?B??Bcc??x?y@host?name?.example>");
  EXPECT_EQ(make_message_id(kExample, "", ""), "<20261123173224.unknown@unknown>");
}
