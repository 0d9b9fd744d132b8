// content_test.cpp - queue file pieces to DATA wire bytes.
#include "content.h"

#include <gtest/gtest.h>

#include <vector>

namespace postern::smtp_client {
namespace {

struct Piece {
  std::string data;
  bool complete;
};

PieceSource from(std::vector<Piece> pieces) {
  auto state = std::make_shared<std::pair<std::vector<Piece>, std::size_t>>(std::move(pieces), 0);
  return [state](queue::ContentPiece& out) -> Result<bool> {
    if (state->second >= state->first.size()) return false;
    const Piece& p = state->first[state->second++];
    out.data = p.data;
    out.complete = p.complete;
    return true;
  };
}

std::string all(ContentEncoder& enc, std::size_t target = 1 << 20) {
  std::string out, chunk;
  for (bool more = true; more;) {
    chunk.clear();
    auto r = enc.fill(chunk, target);
    EXPECT_TRUE(r.ok());
    more = r.ok() && *r;
    out += chunk;
  }
  return out;
}

TEST(Content, CrlfAndDotStuffing) {
  ContentEncoder enc(from({{"Subject: x", true}, {"", true}, {".", true}, {"..two", true}, {"a.b", true}}));
  EXPECT_EQ(all(enc), "Subject: x\r\n\r\n..\r\n...two\r\na.b\r\n.\r\n");
  EXPECT_TRUE(enc.done());
}

TEST(Content, LongLinesAreJoinedAndOnlyTheirStartIsStuffed) {
  ContentEncoder enc(from({{".aaa", false}, {".bbb", false}, {"ccc", true}}));
  EXPECT_EQ(all(enc), "..aaa.bbbccc\r\n.\r\n");
}

TEST(Content, EmptyMessage) {
  ContentEncoder enc(from({}));
  EXPECT_EQ(all(enc), ".\r\n");
}

TEST(Content, StrayCrLfCannotEndTheData) {
  ContentEncoder enc(from({{"x\r\n.\r\nMAIL FROM:<evil>", true}}));
  EXPECT_EQ(all(enc), "x  .  MAIL FROM:<evil>\r\n.\r\n");
}

TEST(Content, ChunksAreBounded) {
  std::vector<Piece> pieces;
  for (int i = 0; i < 1000; ++i) pieces.push_back({std::string(100, 'x'), true});
  ContentEncoder enc(from(std::move(pieces)));
  std::string chunk;
  std::size_t total = 0;
  int chunks = 0;
  for (bool more = true; more;) {
    chunk.clear();
    auto r = enc.fill(chunk, 4096);
    ASSERT_TRUE(r.ok());
    more = *r;
    EXPECT_LE(chunk.size(), 4096u + 102u);
    total += chunk.size();
    ++chunks;
  }
  EXPECT_EQ(total, 1000u * 102u + 3u);
  EXPECT_GT(chunks, 20);
}

TEST(Content, ReadErrorsPropagate) {
  ContentEncoder enc([](queue::ContentPiece&) -> Result<bool> { return make_error("corrupt"); });
  std::string out;
  EXPECT_FALSE(enc.fill(out, 100).ok());
}

}  // namespace
}  // namespace postern::smtp_client
