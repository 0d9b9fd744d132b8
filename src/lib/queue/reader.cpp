// reader.cpp - queue file validation and streaming (see reader.h).
//
// The validator is a small state machine over the record sequence; the
// cursor below it does framing only (header, length limits per type, which
// types each segment allows). Reads no parameters, logs nothing.
#include "queue/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/strings.h"

namespace postern::queue {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kWindow = 64 * 1024;
constexpr std::size_t kMaxTimePayload = 64;

template <class... A>
Error corrupt(std::string_view name, std::uint64_t offset, fmt::format_string<A...> f, A&&... a) {
  return Error{fmt::format("corrupt queue file {}: {} (offset {})", name,
                           fmt::format(f, std::forward<A>(a)...), offset),
               EBADMSG};
}

// Reads a descriptor it owns (the readers') or one the caller keeps
// (read_recipient_slice(); `owned` empty).
class FdSource final : public ByteSource {
 public:
  FdSource(UniqueFd fd, std::uint64_t size) : owned_(std::move(fd)), fd_(owned_.get()), size_(size) {}
  FdSource(int borrowed, std::uint64_t size) : fd_(borrowed), size_(size) {}
  Result<std::size_t> read_at(std::uint64_t offset, char* buf, std::size_t len) override {
    for (;;) {
      ssize_t n = ::pread(fd_, buf, len, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return sys_error("read queue file");
    }
  }
  std::uint64_t size() const override { return size_; }
  int fd() const { return fd_; }

 private:
  UniqueFd owned_;
  int fd_;
  std::uint64_t size_;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  Result<std::size_t> read_at(std::uint64_t offset, char* buf, std::size_t len) override {
    if (offset >= bytes_.size()) return std::size_t{0};
    std::size_t n = std::min<std::uint64_t>(len, bytes_.size() - offset);
    std::memcpy(buf, bytes_.data() + offset, n);
    return n;
  }
  std::uint64_t size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
};

// Largest payload each record type may carry (exact sizes checked later).
std::optional<std::size_t> max_payload(char type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::Size: return kSizePayloadLength;
    case RecordType::Warning: return kWarningPayloadLength;
    case RecordType::Time: return kMaxTimePayload;
    case RecordType::Sender: return kMaxAddressLength;
    case RecordType::Attribute:
    case RecordType::Recipient:
    case RecordType::Done: return kMaxEnvelopeRecord;
    case RecordType::Content:
    case RecordType::Extracted:
    case RecordType::End: return 0;
    case RecordType::Line:
    case RecordType::Partial: return kMaxContentRecord;
  }
  return std::nullopt;
}

bool allowed_in(Segment seg, char type) {
  switch (seg) {
    case Segment::Envelope: return std::string_view("CWTSARDM").find(type) != std::string_view::npos;
    case Segment::Content: return type == 'N' || type == 'L' || type == 'X';
    case Segment::Extracted: return type == 'A' || type == 'R' || type == 'D' || type == 'E';
    case Segment::End: return false;
  }
  return false;
}

std::string type_text(char type) {
  if (type > 0x20 && type < 0x7f) return fmt::format("'{}'", type);
  return fmt::format("0x{:02x}", static_cast<unsigned char>(type));
}

}  // namespace

// ---------------------------------------------------------------- cursor

RecordCursor::RecordCursor(std::shared_ptr<ByteSource> src, std::string name, std::uint64_t begin,
                           std::uint64_t end, Segment start_segment)
    : src_(std::move(src)), name_(std::move(name)), pos_(begin), end_(end), segment_(start_segment) {}

Result<bool> RecordCursor::next(RawRecord& out) {
  if (pos_ == end_) return false;
  if (segment_ == Segment::End) return corrupt(name_, pos_, "data after the end record");
  if (pos_ > end_ || end_ - pos_ < kRecordHeaderSize) return corrupt(name_, pos_, "truncated record header");
  // Make sure [pos_, pos_ + 5) is in the window.
  auto window = [&](std::uint64_t off, std::size_t n) -> Result<std::string_view> {
    if (off >= buf_off_ && off + n <= buf_off_ + buf_.size())
      return std::string_view(buf_).substr(off - buf_off_, n);
    std::string* dst = &buf_;
    std::size_t want = n;
    if (n <= kWindow) {
      want = static_cast<std::size_t>(std::min<std::uint64_t>(kWindow, end_ - off));
      buf_off_ = off;
    } else {
      dst = &big_;
    }
    dst->resize(want);
    std::size_t got = 0;
    while (got < want) {
      auto r = src_->read_at(off + got, dst->data() + got, want - got);
      if (!r) return Error{fmt::format("{}: {}", name_, r.error().message), r.error().sys_errno};
      if (*r == 0) break;
      got += *r;
    }
    dst->resize(got);
    if (got < n) return corrupt(name_, off, "file is shorter than expected (truncated while reading?)");
    if (dst == &big_) {
      buf_.clear();  // the window no longer describes anything useful
      return std::string_view(big_).substr(0, n);
    }
    return std::string_view(buf_).substr(0, n);
  };
  auto hdr = window(pos_, kRecordHeaderSize);
  if (!hdr) return hdr.take_error();
  char type = (*hdr)[0];
  auto u = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>((*hdr)[i])); };
  std::uint32_t len = (u(1) << 24) | (u(2) << 16) | (u(3) << 8) | u(4);
  auto limit = max_payload(type);
  if (!limit) return corrupt(name_, pos_, "unknown record type {}", type_text(type));
  if (!allowed_in(segment_, type))
    return corrupt(name_, pos_, "record type {} ({}) not allowed in the {} segment", type_text(type),
                   *record_type_name(type), to_string(segment_));
  if (len > *limit)
    return corrupt(name_, pos_, "{} record length {} exceeds limit {}", *record_type_name(type), len, *limit);
  if (len > end_ - pos_ - kRecordHeaderSize)
    return corrupt(name_, pos_, "{} record length {} runs past the end of the file", *record_type_name(type),
                   len);
  std::uint64_t rec_off = pos_;
  auto payload = window(pos_ + kRecordHeaderSize, len);
  if (!payload) return payload.take_error();
  pos_ += kRecordHeaderSize + len;
  if (type == 'M')
    segment_ = Segment::Content;
  else if (type == 'X')
    segment_ = Segment::Extracted;
  else if (type == 'E')
    segment_ = Segment::End;
  out.type = type;
  out.offset = rec_off;
  out.segment = (type == 'M') ? Segment::Content : segment_;
  out.payload = *payload;
  return true;
}

Result<bool> ContentCursor::next(ContentPiece& out) {
  RawRecord r;
  std::uint64_t at = cursor_.position();
  auto more = cursor_.next(r);
  if (!more) return more.take_error();
  if (!*more) {
    if (pending_partial_) return corrupt(cursor_.name(), at, "partial line at end of content");
    return false;
  }
  if (r.type != 'N' && r.type != 'L')
    return corrupt(cursor_.name(), r.offset, "record type {} inside the content", type_text(r.type));
  out.data = r.payload;
  out.complete = (r.type == 'N');
  out.offset = r.offset;
  pending_partial_ = !out.complete;
  return true;
}

// ---------------------------------------------------------------- validator

namespace {

struct Validator {
  Validator(QueueMessage& msg, const std::string& file, const ReadOptions& o) : m(msg), name(file), opts(o) {}
  QueueMessage& m;
  const std::string& name;
  const ReadOptions& opts;
  std::size_t envelope_index = 0;
  std::uint64_t content_size = 0;
  std::uint64_t recipients = 0;
  char last_content_type = 0;
  bool saw_end = false;
  std::vector<std::string> typed_seen;  // well-known attributes seen in this segment

  Status time_record(const RawRecord& r) {
    auto sp = r.payload.find(' ');
    if (sp == std::string_view::npos) return corrupt(name, r.offset, "arrival time lacks microseconds");
    auto sec = r.payload.substr(0, sp), usec = r.payload.substr(sp + 1);
    auto digits = [](std::string_view s, std::size_t max) {
      if (s.empty() || s.size() > max) return false;
      for (char c : s)
        if (c < '0' || c > '9') return false;
      return true;
    };
    if (!digits(sec, 15) || !digits(usec, 6)) return corrupt(name, r.offset, "bad arrival time");
    m.arrival_sec = static_cast<std::int64_t>(*str::parse_uint(sec));
    m.arrival_usec = static_cast<std::uint32_t>(*str::parse_uint(usec));
    if (m.arrival_usec > 999999) return corrupt(name, r.offset, "bad arrival time microseconds");
    return {};
  }

  Status attribute(const RawRecord& r, bool extracted) {
    auto a = decode_attribute(r.payload);
    if (!a) return corrupt(name, r.offset, "{}", a.error().message);
    if (is_typed_attribute(a->name)) {
      for (const auto& s : typed_seen)
        if (s == a->name) return corrupt(name, r.offset, "duplicate attribute {}", s);
      typed_seen.push_back(a->name);
    }
    const auto& v = a->value;
    if (a->name == attr::kEncoding)
      m.encoding = v == "7bit"   ? BodyEncoding::SevenBit
                   : v == "8bit" ? BodyEncoding::EightBit
                                 : BodyEncoding::Binary;
    else if (a->name == attr::kSmtputf8)
      m.smtputf8 = (v == "yes");
    else if (a->name == attr::kUtf8Headers)
      m.utf8_headers = (v == "yes");
    else if (a->name == attr::kDsnRet)
      m.dsn_ret = v == "FULL" ? DsnRet::Full : DsnRet::Headers;
    else if (a->name == attr::kDsnEnvid)
      m.dsn_envid = v;
    (extracted ? m.extracted_attributes : m.attributes).push_back(std::move(a).value());
    return {};
  }

  Status recipient(const RawRecord& r, Segment seg) {
    auto f = decode_recipient(r.payload);
    if (!f) return corrupt(name, r.offset, "{}", f.error().message);
    ++recipients;
    const bool done = r.type == 'D';
    if (r.offset < opts.recipients_from || (done && opts.pending_only)) return {};
    if (m.recipients.size() >= opts.max_recipients) {
      if (m.recipients_not_kept++ == 0) m.more_recipients_at = r.offset;
      return {};
    }
    m.recipients.push_back(Recipient{std::move(f).value(), done, r.offset, seg});
    return {};
  }

  Status envelope(const RawRecord& r) {
    std::size_t i = envelope_index++;
    static constexpr char kFixed[] = {'C', 'W', 'T', 'S'};
    if (i < 4 && r.type != kFixed[i])
      return corrupt(name, r.offset, "expected {} record, found {}", *record_type_name(kFixed[i]),
                     type_text(r.type));
    if (i >= 4 && std::string_view("CWTS").find(r.type) != std::string_view::npos)
      return corrupt(name, r.offset, "duplicate {} record", *record_type_name(r.type));
    switch (r.type) {
      case 'C': {
        auto s = SizeRecord::decode(r.payload);
        if (!s) return corrupt(name, r.offset, "{}", s.error().message);
        m.size = *s;
        return {};
      }
      case 'W': {
        if (r.offset != kWarningRecordOffset) return corrupt(name, r.offset, "misplaced warning time record");
        auto w = decode_warning(r.payload);
        if (!w) return corrupt(name, r.offset, "{}", w.error().message);
        m.warning_time = *w;
        return {};
      }
      case 'T': return time_record(r);
      case 'S':
        if (!valid_envelope_text(r.payload)) return corrupt(name, r.offset, "sender has NUL, CR or LF");
        m.sender = std::string(r.payload);
        return {};
      case 'A': return attribute(r, false);
      case 'R':
      case 'D': return recipient(r, Segment::Envelope);
      case 'M':
        if (r.offset != m.size.content_offset)
          return corrupt(name, r.offset, "size record says content starts at {}", m.size.content_offset);
        typed_seen.clear();
        return {};
    }
    return corrupt(name, r.offset, "unexpected record {}", type_text(r.type));  // cursor prevents this
  }

  Status content(const RawRecord& r) {
    if (r.type == 'X') {
      if (last_content_type == 'L') return corrupt(name, r.offset, "partial line at end of content");
      if (r.offset != m.size.extracted_offset)
        return corrupt(name, r.offset, "size record says extracted segment starts at {}",
                       m.size.extracted_offset);
      if (content_size != m.size.content_size)
        return corrupt(name, r.offset, "size record says content size {}, found {}", m.size.content_size,
                       content_size);
      typed_seen.clear();
      return {};
    }
    content_size += r.payload.size() + (r.type == 'N' ? 1 : 0);
    last_content_type = r.type;
    return {};
  }

  Status extracted(const RawRecord& r) {
    switch (r.type) {
      case 'X': return {};
      case 'A': return attribute(r, true);
      case 'R':
      case 'D': return recipient(r, Segment::Extracted);
      case 'E': saw_end = true; return {};
    }
    return corrupt(name, r.offset, "unexpected record {}", type_text(r.type));
  }

  Status feed(const RawRecord& r) {
    // The cursor reports M as Content and X as Extracted: route by the
    // segment the record *belongs to* before the switch.
    if (r.type == 'M') return envelope(r);
    if (r.type == 'X') {
      if (auto st = content(r); !st) return st;
      return extracted(r);
    }
    switch (r.segment) {
      case Segment::Envelope: return envelope(r);
      case Segment::Content: return content(r);
      case Segment::Extracted:
      case Segment::End: return extracted(r);
    }
    return {};
  }
};

}  // namespace

// ---------------------------------------------------------------- reader

Result<QueueFileReader> QueueFileReader::load(std::shared_ptr<ByteSource> src, std::string name, int fd,
                                              const ReadOptions& options) {
  QueueFileReader rd;
  rd.src_ = std::move(src);
  rd.name_ = std::move(name);
  rd.fd_ = fd;
  QueueMessage& m = rd.message_;
  m.file_size = rd.src_->size();
  if (m.file_size == 0) return corrupt(rd.name_, 0, "empty file");
  Validator v(m, rd.name_, options);
  RecordCursor cur(rd.src_, rd.name_, 0, m.file_size, Segment::Envelope);
  RawRecord r;
  for (;;) {
    auto more = cur.next(r);
    if (!more) return more.take_error();
    if (!*more) break;
    if (auto st = v.feed(r); !st) return st.take_error();
    if (r.type == 'M' && !options.verify_content) {
      // Trust the size record for where the content ends, but check that the
      // extracted segment really starts there and runs to the end.
      const auto& s = m.size;
      if (s.extracted_offset < s.content_offset + kRecordHeaderSize || s.extracted_offset >= m.file_size)
        return corrupt(rd.name_, r.offset, "size record has impossible extracted offset {}",
                       s.extracted_offset);
      cur = RecordCursor(rd.src_, rd.name_, s.extracted_offset, m.file_size, Segment::Content);
      auto x = cur.next(r);
      if (!x) return x.take_error();
      if (!*x || r.type != 'X') return corrupt(rd.name_, s.extracted_offset, "no extracted segment there");
      v.content_size = s.content_size;  // not verified in this mode
      if (auto st = v.feed(r); !st) return st.take_error();
    }
  }
  if (v.envelope_index < 4) return corrupt(rd.name_, m.file_size, "file ends inside the envelope");
  if (!v.saw_end) return corrupt(rd.name_, m.file_size, "missing end record");
  if (v.recipients != m.size.recipient_count)
    return corrupt(rd.name_, 0, "size record says {} recipients, found {}", m.size.recipient_count,
                   v.recipients);
  return rd;
}

Result<QueueFileReader> QueueFileReader::open_fd(UniqueFd fd, std::string name, const ReadOptions& options) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("fstat queue file {}", name);
  if (!S_ISREG(st.st_mode)) return make_error("queue file {}: not a regular file", name);
  if (options.require_ready && (st.st_mode & S_IXUSR) == 0)
    return Error{fmt::format("queue file {}: not ready (still being written, or its writer died)", name),
                 EAGAIN};
  int raw = fd.get();
  auto src = std::make_shared<FdSource>(std::move(fd), static_cast<std::uint64_t>(st.st_size));
  return load(std::move(src), std::move(name), raw, options);
}

Result<QueueFileReader> QueueFileReader::open(const fs::path& path, const ReadOptions& options) {
  // O_NONBLOCK: a FIFO planted under a queue file name must not hang us.
  int flags = (options.writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd) return sys_error("open queue file {}", path.string());
  return open_fd(std::move(fd), path.string(), options);
}

Result<QueueFileReader> QueueFileReader::from_memory(std::string bytes, std::string name,
                                                     const ReadOptions& options) {
  auto src = std::make_shared<MemorySource>(std::move(bytes));
  return load(std::move(src), std::move(name), -1, options);
}

ContentCursor QueueFileReader::content() const {
  const auto& s = message_.size;
  return ContentCursor(
      RecordCursor(src_, name_, s.content_offset + kRecordHeaderSize, s.extracted_offset, Segment::Content));
}

RecordCursor QueueFileReader::records() const {
  return RecordCursor(src_, name_, 0, message_.file_size, Segment::Envelope);
}

Status for_each_recipient_slice(const QueueFileReader& reader, std::size_t slice, bool pending_only,
                                const std::function<Result<bool>(const std::vector<Recipient>&)>& each) {
  const QueueMessage& m = reader.message();
  auto go_on = each(m.recipients);
  if (!go_on) return go_on.take_error();
  for (std::uint64_t at = m.more_recipients_at; *go_on && at != 0;) {
    if (reader.fd() < 0) return make_error("queue file {}: recipient slices need a file descriptor", reader.name());
    auto next = read_recipient_slice(reader.fd(), reader.name(), m.size, at, slice, pending_only);
    if (!next) return next.take_error();
    go_on = each(next->recipients);
    if (!go_on) return go_on.take_error();
    at = next->more_at;
  }
  return {};
}

Result<RecipientSlice> read_recipient_slice(int fd, const std::string& name, const SizeRecord& size,
                                            std::uint64_t from, std::size_t max, bool pending_only) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("fstat queue file {}", name);
  if (!S_ISREG(st.st_mode)) return make_error("queue file {}: not a regular file", name);
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  // Where the envelope ends and the extracted segment starts, as the
  // validating read found them; a file changed since then fails below.
  if (size.content_offset == 0 || size.extracted_offset <= size.content_offset ||
      size.extracted_offset >= file_size)
    return corrupt(name, 0, "size record does not fit the file");
  const bool in_content = from >= size.content_offset && from < size.extracted_offset;
  if (from == 0 || from >= file_size || in_content) return corrupt(name, from, "no recipient record can start here");
  Segment seg = from < size.content_offset ? Segment::Envelope : Segment::Extracted;
  auto src = std::make_shared<FdSource>(fd, file_size);
  RecordCursor cur(src, name, from, file_size, seg);
  RecipientSlice out;
  RawRecord r;
  for (;;) {
    auto more = cur.next(r);
    if (!more) return more.take_error();
    if (!*more) return corrupt(name, file_size, "missing end record");
    switch (r.type) {
      case 'R':
      case 'D': {
        auto f = decode_recipient(r.payload);
        if (!f) return corrupt(name, r.offset, "{}", f.error().message);
        const bool done = r.type == 'D';
        if (done && pending_only) break;
        if (out.recipients.size() >= max) {
          out.more_at = r.offset;
          return out;
        }
        out.recipients.push_back(Recipient{std::move(f).value(), done, r.offset, seg});
        break;
      }
      case 'A':
        if (auto a = decode_attribute(r.payload); !a) return corrupt(name, r.offset, "{}", a.error().message);
        break;
      case 'M': {
        if (r.offset != size.content_offset)
          return corrupt(name, r.offset, "size record says content starts at {}", size.content_offset);
        cur = RecordCursor(src, name, size.extracted_offset, file_size, Segment::Content);
        auto x = cur.next(r);
        if (!x) return x.take_error();
        if (!*x || r.type != 'X') return corrupt(name, size.extracted_offset, "no extracted segment there");
        seg = Segment::Extracted;
        break;
      }
      case 'E': {
        auto after = cur.next(r);  // nothing may follow
        if (!after) return after.take_error();
        return out;
      }
      default:
        // The fixed records (C, W, T, S) exist once, before any recipient.
        return corrupt(name, r.offset, "unexpected record {}", type_text(r.type));
    }
  }
}

Result<QueueMessage> read_queue_file(const fs::path& path, const ReadOptions& options) {
  auto r = QueueFileReader::open(path, options);
  if (!r) return r.take_error();
  return r->take_message();
}

}  // namespace postern::queue
