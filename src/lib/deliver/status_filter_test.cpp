// status_filter_test.cpp - *_delivery_status_filter.
#include "deliver/status_filter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace postern::deliver {
namespace {

struct TempTable {
  std::string path;
  explicit TempTable(const std::string& text) {
    char name[] = "/tmp/postern-status-filter-XXXXXX";
    int fd = ::mkstemp(name);
    ::close(fd);
    path = name;
    std::ofstream(path) << text;
  }
  ~TempTable() { std::remove(path.c_str()); }
};

}  // namespace

TEST(StatusFilter, EmptyListIsNone) {
  auto f = StatusFilter::open("smtp_delivery_status_filter", "");
  ASSERT_TRUE(f);
  EXPECT_FALSE(*f);
  Outcome o = Outcome::deferred("4.4.1", "x");
  EXPECT_EQ(filter_status(nullptr, o, "Q").to_string(), o.to_string());
}

TEST(StatusFilter, ReplacesCodeAndTextOfTheSameKind) {
  TempTable t(
      "/^4(\\.\\d+\\.\\d+ TLS is required, but host \\S+ refused to start TLS: .+)/ 5$1\n"
      "/^2\\.0\\.0 (.*)/ 2.0.0 delivered: $1\n"
      "/^5\\.1\\.1 .*busy/ 4.2.0 try again\n"
      "/^5\\.7\\.1 bad1/ 2.0.0 never a success\n"
      "/^4\\.0\\.0 bad2/ no code here\n"
      "/^4\\.0\\.0 bad3/ 5.0.0\n");
  auto f = StatusFilter::open("smtp_delivery_status_filter", "pcre:" + t.path);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_TRUE(*f);
  auto tls = (*f)->apply(Outcome::deferred("4.7.5", "TLS is required, but host mx[192.0.2.1] refused to start TLS: x"),
                         "Q");
  EXPECT_TRUE(tls.is_bounced());
  EXPECT_EQ(tls.dsn, "5.7.5");
  EXPECT_EQ(tls.text, "TLS is required, but host mx[192.0.2.1] refused to start TLS: x");
  auto ok = (*f)->apply(Outcome::sent("250 2.0.0 Ok: queued as X"), "Q");
  EXPECT_TRUE(ok.is_sent());
  EXPECT_EQ(ok.text, "delivered: 250 2.0.0 Ok: queued as X");
  auto busy = (*f)->apply(Outcome::bounced("5.1.1", "mailbox busy"), "Q");
  EXPECT_TRUE(busy.is_deferred());
  EXPECT_EQ(busy.dsn, "4.2.0");
  // A failure never becomes a success; malformed answers change nothing.
  for (auto o : {Outcome::bounced("5.7.1", "bad1"), Outcome::deferred("4.0.0", "bad2"),
                 Outcome::deferred("4.0.0", "bad3")}) {
    auto r = (*f)->apply(o, "Q");
    EXPECT_EQ(r.to_string(), o.to_string());
  }
  auto untouched = (*f)->apply(Outcome::deferred("4.4.1", "connection refused"), "Q");
  EXPECT_EQ(untouched.to_string(), "deferred 4.4.1 connection refused");
}

}  // namespace postern::deliver
