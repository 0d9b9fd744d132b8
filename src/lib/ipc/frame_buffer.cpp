// frame_buffer.cpp - see frame_buffer.h.
#include "ipc/frame_buffer.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace postern::ipc {

Result<std::optional<Frame>> FrameBuffer::next() {
  std::size_t have = end_ - begin_;
  if (have < kFrameHeaderSize) return std::optional<Frame>{};
  auto size = parse_frame_header(std::string_view(buf_.get() + begin_, kFrameHeaderSize), limits_);
  if (!size) return size.take_error();
  if (have - kFrameHeaderSize < *size) return std::optional<Frame>{};
  Frame f;
  f.payload.assign(buf_.get() + begin_ + kFrameHeaderSize, *size);
  begin_ += kFrameHeaderSize + *size;
  if (begin_ == end_) begin_ = end_ = 0;
  return std::optional<Frame>{std::move(f)};
}

char* FrameBuffer::prepare(std::size_t n) {
  if (begin_ > 0) {
    // Move the incomplete rest to the front rather than grow.
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (cap_ < end_ + n) {
    auto bigger = std::make_unique_for_overwrite<char[]>(end_ + n);
    if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    cap_ = end_ + n;
  }
  return buf_.get() + end_;
}

void FrameBuffer::commit(std::size_t n) { end_ += std::min(n, cap_ - end_); }

}  // namespace postern::ipc
