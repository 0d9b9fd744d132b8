// frame_buffer.h - frames split out of bytes read in bulk.
//
// A client that has a whole message ready sends all its frames in one
// write (smtpd hands cleanup the envelope, recipients, content and end of
// a small message in one sendmsg). Reading them one exact read at a time
// (header, then payload) costs two system calls and two trips through the
// event loop per frame, with a wait for readability and its timer before
// each; on the benchmark machine that was most of cleanup's time between
// the last byte of a message and its write. A FrameBuffer takes whatever
// one read returned and hands out the complete frames in it; the caller
// reads (or waits) again only when no complete frame is left.
//
// Bounds: a header is checked against the limits as soon as its four bytes
// are in (before the payload is awaited), and the caller only reads when
// no complete frame is buffered, so the buffer never holds more than one
// frame of at most max_payload plus one read's worth of bytes.
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "ipc/frame.h"

namespace postern::ipc {

class FrameBuffer {
 public:
  explicit FrameBuffer(FrameLimits limits = {}) : limits_(limits) {}

  // The next complete frame, std::nullopt when the bytes of one are still
  // missing, or an error for a header over the limits (the stream is then
  // unusable: the caller drops the connection).
  Result<std::optional<Frame>> next();

  // Room for `n` more bytes at the end (the caller reads into it), and how
  // many of them the read filled.
  char* prepare(std::size_t n);
  void commit(std::size_t n);

  // Bytes of an incomplete frame are buffered: the peer is in the middle
  // of a frame (the caller may then allow less time than between frames).
  bool partial() const { return end_ > begin_; }

  // Bytes allocated (tests: the bound above).
  std::size_t size() const { return cap_; }

 private:
  FrameLimits limits_;
  // Not a std::string: growing one zero-fills the new room, and a read's
  // room (64 KiB for cleanup) is mostly never written.
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
};

}  // namespace postern::ipc
