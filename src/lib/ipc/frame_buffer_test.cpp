// frame_buffer_test.cpp - frames come out whole and in order however the
// bytes were cut, an oversized header is refused before its payload, and
// the buffer does not grow with the number of frames.
#include "ipc/frame_buffer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace postern::ipc {
namespace {

void feed(FrameBuffer& b, std::string_view bytes) {
  std::memcpy(b.prepare(bytes.size()), bytes.data(), bytes.size());
  b.commit(bytes.size());
}

std::string framed(std::string_view payload) {
  auto f = make_frame(payload);
  EXPECT_TRUE(f);
  return f ? *f : std::string();
}

std::optional<std::string> next_payload(FrameBuffer& b) {
  auto r = b.next();
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (!r || !*r) return std::nullopt;
  return (*r)->payload;
}

TEST(FrameBuffer, SeveralFramesFromOneRead) {
  FrameBuffer b;
  feed(b, framed("envelope") + framed("rcpt") + framed(std::string(5000, 'x')) + framed("end"));
  EXPECT_EQ(next_payload(b), "envelope");
  EXPECT_EQ(next_payload(b), "rcpt");
  EXPECT_EQ(next_payload(b), std::string(5000, 'x'));
  EXPECT_EQ(next_payload(b), "end");
  EXPECT_EQ(next_payload(b), std::nullopt);
  EXPECT_FALSE(b.partial());
}

TEST(FrameBuffer, FramesCutAtEveryByte) {
  FrameBuffer b;
  std::string bytes = framed("first") + framed("second");
  std::vector<std::string> got;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    feed(b, bytes.substr(i, 1));
    while (auto p = next_payload(b)) got.push_back(*p);
    // Between the two frames nothing is pending; inside one, something is.
    bool boundary = i + 1 == framed("first").size() || i + 1 == bytes.size();
    EXPECT_EQ(b.partial(), !boundary) << "after byte " << i;
  }
  EXPECT_EQ(got, (std::vector<std::string>{"first", "second"}));
}

TEST(FrameBuffer, OversizedHeaderIsRefusedBeforeItsPayload) {
  FrameBuffer b(FrameLimits{.max_payload = 16});
  feed(b, framed("ok"));
  auto h = frame_header(17);
  feed(b, std::string_view(h.data(), h.size()));
  EXPECT_EQ(next_payload(b), "ok");
  auto r = b.next();
  EXPECT_FALSE(r);
}

TEST(FrameBuffer, EmptyFrameIsRefused) {
  FrameBuffer b;
  auto h = frame_header(0);
  feed(b, std::string_view(h.data(), h.size()));
  EXPECT_FALSE(b.next());
}

TEST(FrameBuffer, KeepsOnlyWhatIsUnconsumed) {
  // A long stream of frames, each read cut across a frame boundary: the
  // room asked for is reused, not appended, once frames are taken out.
  FrameBuffer b;
  std::string one = framed(std::string(100, 'a'));
  std::string stream;
  for (int i = 0; i < 1000; ++i) stream += one;
  std::size_t frames = 0;
  for (std::size_t off = 0; off < stream.size(); off += 150) {
    std::string_view chunk = std::string_view(stream).substr(off, 150);
    std::memcpy(b.prepare(chunk.size()), chunk.data(), chunk.size());
    b.commit(chunk.size());
    // The unconsumed rest (less than one frame) plus one read's room.
    EXPECT_LE(b.size(), one.size() + 150);
    while (next_payload(b)) ++frames;
  }
  EXPECT_EQ(frames, 1000u);
}

}  // namespace
}  // namespace postern::ipc
