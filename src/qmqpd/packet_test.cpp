#include "qmqpd/packet.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/netstring.h"

namespace postern::qmqpd {
namespace {

std::string request(const std::string& message, const std::string& sender, const std::vector<std::string>& rcpts) {
  std::string inner = netstring(message) + netstring(sender);
  for (const auto& r : rcpts) inner += netstring(r);
  return netstring(inner);
}

struct Parsed {
  std::string message, sender;
  std::vector<std::string> rcpts;
  bool end = false;
  std::string error, where;
};

// Feeds `bytes` in pieces of `step` and collects the parts.
Parsed parse(const std::string& bytes, std::size_t step, PacketLimits limits = {1 << 20, 1 << 16, 2048}) {
  PacketReader r(limits);
  Parsed p;
  std::size_t fed = 0;
  for (;;) {
    auto part = r.next();
    if (!part) {
      p.error = part.error().message;
      p.where = std::string(r.where());
      return p;
    }
    switch (*part) {
      case PacketReader::Part::kNeedMore:
        if (fed == bytes.size()) return p;
        r.feed(std::string_view(bytes).substr(fed, step));
        fed = std::min(bytes.size(), fed + step);
        break;
      case PacketReader::Part::kMessage: p.message = r.take_message(); break;
      case PacketReader::Part::kSender: p.sender = r.address(); break;
      case PacketReader::Part::kRecipient: p.rcpts.push_back(r.address()); break;
      case PacketReader::Part::kEnd: p.end = true; return p;
    }
  }
}

TEST(QmqpPacket, WholeRequestInAnyPieces) {
  std::string req = request("Subject: x\n\nhi\n", "alice@example.org", {"bob@example.com", "carol@example.net"});
  for (std::size_t step : {1u, 2u, 7u, 4096u}) {
    Parsed p = parse(req, step);
    EXPECT_TRUE(p.end) << step;
    EXPECT_EQ(p.error, "") << step;
    EXPECT_EQ(p.message, "Subject: x\n\nhi\n");
    EXPECT_EQ(p.sender, "alice@example.org");
    EXPECT_EQ(p.rcpts, (std::vector<std::string>{"bob@example.com", "carol@example.net"}));
  }
}

TEST(QmqpPacket, NullSenderAndNoRecipients) {
  Parsed p = parse(request("x\n", "", {}), 3);
  EXPECT_TRUE(p.end);
  EXPECT_EQ(p.sender, "");
  EXPECT_TRUE(p.rcpts.empty());
}

TEST(QmqpPacket, IncompleteRequestWaitsForMore) {
  std::string req = request("x\n", "a@b", {"c@d"});
  Parsed p = parse(req.substr(0, req.size() - 1), 5);  // without the final ','
  EXPECT_FALSE(p.end);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.rcpts.size(), 1u);
}

TEST(QmqpPacket, OuterLengthMustMatchTheParts) {
  std::string inner = netstring("x\n") + netstring("a@b") + netstring("c@d");
  // One byte more announced than sent: the ',' comes early.
  Parsed p = parse(std::to_string(inner.size() + 1) + ":" + inner + ",", 4);
  EXPECT_EQ(p.error, "netstring format error");
  // One byte fewer: the parts run past the outer netstring.
  p = parse(std::to_string(inner.size() - 1) + ":" + inner + ",", 4);
  EXPECT_EQ(p.error, "netstring format error");
  EXPECT_EQ(p.where, "receiving recipient address");
}

TEST(QmqpPacket, BoundsAreCheckedBeforeThePayload) {
  // A message over the limit fails at its length digits.
  PacketReader r({1 << 20, 100, 2048});
  r.feed("200000:101:");
  auto part = r.next();
  ASSERT_FALSE(part);
  EXPECT_EQ(part.error().message, "netstring length exceeds storage limit");
  EXPECT_EQ(r.where(), "receiving message content");

  // An address over the limit.
  Parsed p = parse(request("x\n", std::string(3000, 'a'), {"c@d"}), 100);
  EXPECT_EQ(p.error, "netstring length exceeds storage limit");
  EXPECT_EQ(p.where, "receiving sender address");

  // A request over the packet bound, at its header.
  p = parse("99999999:", 100);
  EXPECT_EQ(p.error, "netstring length exceeds storage limit");
  EXPECT_EQ(p.where, "receiving QMQP packet header");
}

TEST(QmqpPacket, MalformedFraming) {
  EXPECT_EQ(parse("x:", 10).error, "netstring format error");
  EXPECT_EQ(parse("10:2;ab,", 10).error, "netstring format error");
  EXPECT_EQ(parse("12:2:ab;1:a,1:b,", 10).error, "netstring format error");  // no ',' after the message
  Parsed p = parse("13:2:ab,1:a,x:b,,", 20);
  EXPECT_EQ(p.error, "netstring format error");
  EXPECT_EQ(p.where, "receiving recipient address");
}

TEST(QmqpPacket, MemoryStaysWithinThePartBeingRead) {
  // Recipients stream through: the reader does not keep what it handed out.
  std::vector<std::string> rcpts(20000, "someone@example.com");
  std::string req = request("x\n", "a@b", rcpts);
  PacketReader r({1 << 30, 1 << 20, 2048});
  std::size_t fed = 0, most = 0, count = 0;
  for (;;) {
    auto part = r.next();
    ASSERT_TRUE(part);
    if (*part == PacketReader::Part::kEnd) break;
    if (*part == PacketReader::Part::kRecipient) ++count;
    if (*part == PacketReader::Part::kNeedMore) {
      ASSERT_LT(fed, req.size());
      r.feed(std::string_view(req).substr(fed, 65536));
      fed = std::min(req.size(), fed + 65536);
    }
    most = std::max(most, r.buffered());
  }
  EXPECT_EQ(count, rcpts.size());
  EXPECT_LT(most, 2u * 65536 + 100);
  EXPECT_GT(req.size(), 4u * 65536);
}

TEST(QmqpPacket, Reply) {
  EXPECT_EQ(reply('K', "Ok: queued as 3F2A"), "19:KOk: queued as 3F2A,");
  EXPECT_EQ(reply('D', ""), "1:D,");
}

TEST(QmqpPacket, Verp) {
  EXPECT_TRUE(asks_for_verp("list-return-@example.org-@[]"));
  EXPECT_TRUE(asks_for_verp("ab@x-@[]"));
  EXPECT_FALSE(asks_for_verp("a@lists.example.org-@[]"));  // the delimiter alone, no prefix
  EXPECT_FALSE(asks_for_verp("list-return@example.org"));
  EXPECT_FALSE(asks_for_verp("@example.org-@[]"));  // no prefix
  EXPECT_FALSE(asks_for_verp("list@-@[]"));         // no origin
  EXPECT_FALSE(asks_for_verp("-@[]"));
}

// The content qmqpd passes on after its Received: header, built as the
// session builds it.
std::string content_after_received(const std::string& message) {
  std::string out;
  std::size_t pos = 0;
  for (auto ml = mailbox_line_at(message, pos); ml; ml = mailbox_line_at(message, pos)) {
    out += "X-Mailbox-Line: " + std::string(ml->line) + "\n";
    pos = ml->next;
  }
  std::string_view rest = std::string_view(message).substr(pos);
  if (needs_blank_line(rest)) out += "\n";
  out += rest;
  return out;
}

TEST(QmqpPacket, ContentAfterTheReceivedHeader) {
  EXPECT_EQ(content_after_received("Subject: x\n\nbody\n"), "Subject: x\n\nbody\n");
  EXPECT_EQ(content_after_received("From alice Mon Nov 23 17:32:24 2026\n>From old\nSubject: x\n\nbody\n"),
            "X-Mailbox-Line: From alice Mon Nov 23 17:32:24 2026\nX-Mailbox-Line: >From old\nSubject: x\n\nbody\n");
  // A first line that would continue qmqpd's Received: header starts the body.
  EXPECT_EQ(content_after_received(" indented\nmore\n"), "\n indented\nmore\n");
  EXPECT_EQ(content_after_received("From x\n\tindented\n"), "X-Mailbox-Line: From x\n\n\tindented\n");
  EXPECT_EQ(content_after_received("From only"), "X-Mailbox-Line: From only\n");  // no newline at all
  EXPECT_EQ(content_after_received("Fromage: x\n"), "Fromage: x\n");
  EXPECT_EQ(content_after_received(""), "");
}

TEST(QmqpPacket, MessageIsMovedOutNotCopied) {
  // The reader hands over its buffer: what it holds afterwards is only what
  // followed the message.
  std::string msg(200000, 'm');
  std::string req = request(msg, "a@b", {"c@d"});
  PacketReader r({1 << 20, 1 << 20, 2048});
  r.feed(req);
  auto part = r.next();
  ASSERT_TRUE(part);
  ASSERT_EQ(*part, PacketReader::Part::kMessage);
  EXPECT_EQ(r.take_message(), msg);
  EXPECT_LT(r.buffered(), 100u);
  EXPECT_EQ(*r.next(), PacketReader::Part::kSender);
  EXPECT_EQ(r.address(), "a@b");
  EXPECT_EQ(*r.next(), PacketReader::Part::kRecipient);
  EXPECT_EQ(*r.next(), PacketReader::Part::kEnd);
}

}  // namespace
}  // namespace postern::qmqpd
