// expand_test.cpp - alias/.forward list parsing, $name expansion, Delivered-To scanning.
#include "expand.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::local;

namespace {
using V = std::vector<std::string>;
}

TEST(SplitDestinations, CommasSpacesQuotesAndComments) {
  EXPECT_EQ(split_destinations("bob, alice"), (V{"bob", "alice"}));
  EXPECT_EQ(split_destinations("bob alice"), (V{"bob", "alice"}));  // missing comma: two addresses
  EXPECT_EQ(split_destinations("  bob ,,  ,alice  "), (V{"bob", "alice"}));
  EXPECT_EQ(split_destinations("\"|/bin/prog -x, y\", bob"), (V{"|/bin/prog -x, y", "bob"}));
  EXPECT_EQ(split_destinations("|\"/bin/prog -x\""), (V{"|/bin/prog -x"}));
  EXPECT_EQ(split_destinations("bob (the boss), Alice Smith <alice@example.com>"),
            (V{"bob", "alice@example.com"}));
  EXPECT_EQ(split_destinations("\\bob"), (V{"bob"}));
  EXPECT_EQ(split_destinations(":include:/etc/list, /var/log/mail"), (V{":include:/etc/list", "/var/log/mail"}));
  EXPECT_EQ(split_destinations("user @ example.com"), (V{"user@example.com"}));
  EXPECT_EQ(split_destinations("\"john doe\"@example.com"), (V{"john doe@example.com"}));
  EXPECT_TRUE(split_destinations("").empty());
  EXPECT_TRUE(split_destinations("  # , (only a comment)").size() == 1);  // "#" is a name like any other
}

TEST(SplitDestinations, HostileInputIsBounded) {
  EXPECT_EQ(split_destinations("\"unterminated, quote"), (V{"unterminated, quote"}));
  EXPECT_EQ(split_destinations("a (unterminated comment, b"), (V{"a"}));
  EXPECT_EQ(split_destinations("<a@b"), (V{"a@b"}));
  std::string huge(kMaxDestinationLength + 10, 'x');
  EXPECT_EQ(split_destinations(huge + ", ok"), (V{"ok"}));
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "a,";
  EXPECT_EQ(split_destinations(many).size(), kMaxDestinations);
  std::string nested(100000, '(');
  EXPECT_TRUE(split_destinations(nested).empty());
}

TEST(Classify, Kinds) {
  EXPECT_EQ(classify("bob").kind, DestKind::Address);
  auto c = classify("|/bin/prog -x");
  EXPECT_EQ(c.kind, DestKind::Command);
  EXPECT_EQ(c.value, "/bin/prog -x");
  auto f = classify("/var/log/x");
  EXPECT_EQ(f.kind, DestKind::File);
  EXPECT_EQ(f.value, "/var/log/x");
  auto i = classify(":INCLUDE: /etc/list");
  EXPECT_EQ(i.kind, DestKind::Include);
  EXPECT_EQ(i.value, "/etc/list");
}

TEST(AllowList, Parse) {
  auto a = AllowList::parse({"alias", "Forward"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->allows(Origin::Alias));
  EXPECT_TRUE(a->allows(Origin::Forward));
  EXPECT_FALSE(a->allows(Origin::Include));
  EXPECT_FALSE(AllowList::parse({"bogus"}));
}

TEST(ExpandLocal, ForwardPath) {
  LocalVars v;
  v.home = "/home/bob";
  const std::string t = "$home/.forward${recipient_delimiter}${extension}";
  auto e = expand_local(t, v);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->undefined);  // skipped without an extension, as in Postfix
  v.extension = "lists";
  v.recipient_delimiter = "+";
  e = expand_local(t, v);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->undefined);
  EXPECT_EQ(e->text, "/home/bob/.forward+lists");
  e = expand_local("${extension?x}${domain:none}$$", v);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "xnone$");
  EXPECT_FALSE(expand_local("$bogus", v));
  EXPECT_FALSE(expand_local("${home", v));
  EXPECT_FALSE(expand_local("trailing$", v));
}

// forward_expansion_filter and execution_directory_expansion_filter:
// substituted values are censored, the template's own text is not.
TEST(ExpandLocal, FilterCensorsValuesOnly) {
  LocalVars v;
  v.home = "/home/bob";
  v.extension = "a b;`x`";
  v.recipient_delimiter = "+";
  auto e = expand_local("$home/.forward${recipient_delimiter}${extension}#", v, "abcdefghijklmnopqrstuvwxyz/.+");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "/home/bob/.forward+a_b__x_#");
  e = expand_local("$home/$extension", v);  // no filter: as is
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "/home/bob/a b;`x`");
}

TEST(DeliveredTo, CollectsHeaderValuesOnly) {
  auto content = deliver::string_content(
      "Received: x\nDelivered-To: Bob@Example.COM\ndelivered-to:\n  folded@example.com\nSubject: s\n\n"
      "Delivered-To: body@example.com\n");
  auto v = delivered_to_values(content);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (V{"bob@example.com", "folded@example.com"}));
}

TEST(SplitAddress, LastAt) {
  auto a = split_address("\"a@b\"@example.com");
  EXPECT_EQ(a.local, "\"a@b\"");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(split_address("bob").domain, "");
}

TEST(StripCommentLines, DropsHashLines) {
  EXPECT_EQ(strip_comment_lines("# list\nbob,\n   # indented comment\nalice\n"), "bob,\nalice\n");
  EXPECT_EQ(split_destinations(strip_comment_lines("#only\n")), V{});
}
