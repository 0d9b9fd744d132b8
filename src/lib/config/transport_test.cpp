#include "config/transport.h"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

TEST(Transport, Names) {
  for (const char* ok : {"smtp", "smtp-amavis", "relay_2", "lmtp.dovecot"}) EXPECT_TRUE(valid_transport_name(ok)) << ok;
  for (const char* bad : {"", ".hidden", "../x", "a/b", "a:b", "a b", "a\tb", "a\x7f"})
    EXPECT_FALSE(valid_transport_name(bad)) << bad;
  EXPECT_FALSE(valid_transport_name(std::string(101, 'a')));
}

TEST(Transport, ContentFilters) {
  for (const char* ok : {"smtp-amavis:[127.0.0.1]:10024", "scan:", "scan", "lmtp:unix:private/filter"})
    EXPECT_TRUE(check_content_filter(ok)) << ok;
  for (const char* bad : {":x", "../x:y", "smtp:[127.0.0.1] :10024", "smtp:x\ny", ""})
    EXPECT_FALSE(check_content_filter(bad)) << bad;
  auto e = check_content_filter("a/b:c");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("\"a/b\" is not a transport name"), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace postern::config
