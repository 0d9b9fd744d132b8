// update.cpp - done marks, warning time and ready mark (see update.h).
//
// Reads no parameters, logs nothing.
#include "queue/update.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

#include "base/unique_fd.h"
#include "queue/queue_file.h"

namespace postern::queue {
namespace fs = std::filesystem;

namespace {

Status pread_exact(int fd, char* buf, std::size_t len, std::uint64_t off) {
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read queue file");
    }
    if (n == 0) return Error{"corrupt queue file: unexpected end of file", EBADMSG};
    got += static_cast<std::size_t>(n);
  }
  return {};
}

Status pwrite_sync(int fd, std::string_view data, std::uint64_t off, bool sync = true) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("update queue file");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  if (!sync) return {};
  while (::fsync(fd) != 0)
    if (errno != EINTR) return sys_error("fsync queue file");
  return {};
}

template <class... A>
Error refuse(fmt::format_string<A...> f, A&&... a) {
  return Error{fmt::format(f, std::forward<A>(a)...), EINVAL};
}

std::uint32_t be32(const char* p) {
  auto u = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return (u(0) << 24) | (u(1) << 16) | (u(2) << 8) | u(3);
}

Result<SizeRecord> read_size(int fd) {
  char buf[kRecordHeaderSize + kSizePayloadLength];
  if (auto st = pread_exact(fd, buf, sizeof buf, 0); !st) return st.take_error();
  if (buf[0] != static_cast<char>(RecordType::Size) || be32(buf + 1) != kSizePayloadLength)
    return Error{"corrupt queue file: no size record", EBADMSG};
  auto s = SizeRecord::decode(std::string_view(buf + kRecordHeaderSize, kSizePayloadLength));
  if (!s) return Error{"corrupt queue file: " + s.error().message, EBADMSG};
  return s;
}

Status with_fd(const fs::path& path, const std::function<Status(int)>& fn) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return sys_error("open queue file {}", path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("fstat queue file {}", path.string());
  if (!S_ISREG(st.st_mode)) return make_error("queue file {}: not a regular file", path.string());
  auto r = fn(fd.get());
  if (!r) return Error{path.string() + ": " + r.error().message, r.error().sys_errno};
  return r;
}

}  // namespace

Status mark_recipient_done(int fd, std::uint64_t offset, bool sync) {
  auto size = read_size(fd);
  if (!size) return size.take_error();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("fstat queue file");
  auto file_size = static_cast<std::uint64_t>(st.st_size);
  // Recipients live after the fixed records in the envelope, or after X.
  std::uint64_t seg_end = 0;
  if (offset > kWarningRecordOffset && offset < size->content_offset) {
    seg_end = size->content_offset;
  } else if (offset > size->extracted_offset && size->extracted_offset > size->content_offset &&
             file_size >= kRecordHeaderSize && offset < file_size - kRecordHeaderSize) {
    seg_end = file_size - kRecordHeaderSize;  // the end record
  } else {
    return refuse("offset {} is not inside a recipient segment", offset);
  }
  char hdr[kRecordHeaderSize];
  if (auto st2 = pread_exact(fd, hdr, sizeof hdr, offset); !st2) return st2;
  char type = hdr[0];
  if (type != static_cast<char>(RecordType::Recipient) && type != static_cast<char>(RecordType::Done))
    return refuse("offset {} does not hold a recipient record", offset);
  // Envelope payloads are below 64 KiB and contain no NUL byte, so these two
  // NULs can only be the high bytes of a real length field.
  if (hdr[1] != 0 || hdr[2] != 0) return refuse("offset {} does not hold a recipient record", offset);
  std::uint32_t len = be32(hdr + 1);
  if (len > kMaxEnvelopeRecord || offset + kRecordHeaderSize + len > seg_end)
    return refuse("recipient record at offset {} has bad length {}", offset, len);
  std::string payload(len, '\0');
  if (auto st2 = pread_exact(fd, payload.data(), len, offset + kRecordHeaderSize); !st2) return st2;
  if (auto r = decode_recipient(payload); !r)
    return refuse("offset {} does not hold a valid recipient: {}", offset, r.error().message);
  if (type == static_cast<char>(RecordType::Done)) return {};
  const char done = static_cast<char>(RecordType::Done);
  return pwrite_sync(fd, std::string_view(&done, 1), offset, sync);
}

Status mark_recipient_done(const fs::path& path, std::uint64_t offset) {
  return with_fd(path, [&](int fd) { return mark_recipient_done(fd, offset); });
}

Status set_warning_time(int fd, std::int64_t when) {
  if (when < 0 || when > kMaxFixedValue) return refuse("warning time {} out of range", when);
  if (auto size = read_size(fd); !size) return size.take_error();
  char hdr[kRecordHeaderSize];
  if (auto st = pread_exact(fd, hdr, sizeof hdr, kWarningRecordOffset); !st) return st;
  if (hdr[0] != static_cast<char>(RecordType::Warning) || be32(hdr + 1) != kWarningPayloadLength)
    return Error{"corrupt queue file: no warning time record", EBADMSG};
  auto payload = encode_warning(when);
  if (!payload) return payload.take_error();
  return pwrite_sync(fd, *payload, kWarningRecordOffset + kRecordHeaderSize);
}

Status set_warning_time(const fs::path& path, std::int64_t when) {
  return with_fd(path, [&](int fd) { return set_warning_time(fd, when); });
}

bool is_ready_mode(mode_t mode) { return S_ISREG(mode) && (mode & S_IXUSR) != 0; }

Result<bool> is_ready(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return sys_error("stat queue file {}", path.string());
  return is_ready_mode(st.st_mode);
}

namespace {

Result<bool> set_mode_mark(const fs::path& path, mode_t mark) {
  // Never through a symbolic link, never blocking on a FIFO.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return sys_error("open queue file {}", path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("stat queue file {}", path.string());
  // EAGAIN, as the readers refuse such a file (is_not_ready()).
  if (!is_ready_mode(st.st_mode)) return Error{fmt::format("{}: not a complete queue file", path.string()), EAGAIN};
  if ((st.st_mode & mark) == mark) return false;
  if (::fchmod(fd.get(), (st.st_mode & 07777) | mark) != 0) return sys_error("chmod queue file {}", path.string());
  return true;
}

}  // namespace

Result<bool> set_expire_mark(const fs::path& path) { return set_mode_mark(path, kExpireMark); }
Result<bool> set_unthrottle_mark(const fs::path& path) { return set_mode_mark(path, kUnthrottleMark); }

}  // namespace postern::queue
