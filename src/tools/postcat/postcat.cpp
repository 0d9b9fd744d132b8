// postcat.cpp - queue file pretty-printer (see postcat.h, docs/man/postcat.md).
//
// Output follows Postfix's postcat so that people and scripts used to it
// feel at home: "*** ENVELOPE RECORDS name ***", "message_size: ...",
// "message_arrival_time: <asctime>", "sender: ...", "named_attribute:
// name=value", "original_recipient: ...", "recipient: ..." or
// "done_recipient: ...", "*** MESSAGE CONTENTS name ***", the header and
// body lines, "*** HEADER EXTRACTED name ***", "*** MESSAGE FILE END name ***".
// Reads no parameters, logs nothing.
#include "postcat.h"

#include <sys/stat.h>

#include <cerrno>
#include <ctime>

#include "base/strings.h"
#include "queue/layout.h"
#include "queue/queue_file.h"

namespace postern::postcat {
namespace fs = std::filesystem;
using queue::RawRecord;
using queue::RecordType;

bool looks_like_header(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != ':' && line[i] > 0x20 && line[i] < 0x7f) ++i;
  if (i == 0) return false;
  std::size_t name_end = i;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':' && name_end > 0;
}

namespace {

enum class State { Envelope, Header, Body };

class Printer {
 public:
  Printer(std::string_view name, unsigned flags, std::FILE* out) : name_(name), flags_(flags), out_(out) {}

  void prefix(const RawRecord& r) {
    if (flags_ & kPrintOffset) std::fprintf(out_, "%9llu ", static_cast<unsigned long long>(r.offset));
    if (flags_ & kPrintDecimalType)
      std::fprintf(out_, "%3d ", static_cast<int>(static_cast<unsigned char>(r.type)));
  }
  void marker(const RawRecord& r, std::string_view text) {
    prefix(r);
    std::fprintf(out_, "*** %.*s %.*s ***\n", int(text.size()), text.data(), int(name_.size()), name_.data());
  }
  void line(const RawRecord& r, std::string_view label, std::string_view value) {
    prefix(r);
    std::fprintf(out_, "%.*s: ", int(label.size()), label.data());
    std::fwrite(value.data(), 1, value.size(), out_);
    std::fputc('\n', out_);
  }
  void time_line(const RawRecord& r, std::string_view label, std::int64_t when) {
    std::time_t t = static_cast<std::time_t>(when);
    std::tm tm{};
    char buf[64] = "?";
    if (::localtime_r(&t, &tm)) std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
    line(r, label, buf);
  }

  Status record(const RawRecord& r) {
    const bool env = flags_ & kPrintEnvelope;
    switch (static_cast<RecordType>(r.type)) {
      case RecordType::Content:
        if (env) marker(r, "MESSAGE CONTENTS");
        state_ = State::Header;
        do_print_ = flags_ & kPrintHeader;
        return {};
      case RecordType::Extracted:
        if (do_print_ && prev_partial_) std::fputc('\n', out_);
        if (env) marker(r, "HEADER EXTRACTED");
        state_ = State::Envelope;
        do_print_ = env;
        return {};
      case RecordType::End:
        if (env) marker(r, "MESSAGE FILE END");
        return {};
      case RecordType::Line:
      case RecordType::Partial: return text(r);
      default: break;
    }
    if (!do_print_) return {};
    switch (static_cast<RecordType>(r.type)) {
      case RecordType::Size: line(r, "message_size", r.payload); break;
      case RecordType::Warning: {
        auto w = queue::decode_warning(r.payload);
        if (!w) return w.take_error();
        if (*w != 0) time_line(r, "warning_message_time", *w);
        break;
      }
      case RecordType::Time: {
        auto sp = r.payload.find(' ');
        auto sec = str::parse_uint(r.payload.substr(0, sp));
        if (!sec) return make_error("bad arrival time record");
        time_line(r, "message_arrival_time", static_cast<std::int64_t>(*sec));
        break;
      }
      case RecordType::Sender: line(r, "sender", r.payload); break;
      case RecordType::Attribute: line(r, "named_attribute", r.payload); break;
      case RecordType::Recipient:
      case RecordType::Done: {
        auto f = queue::decode_recipient(r.payload);
        if (!f) return f.take_error();
        if (!f->orig_rcpt.empty()) line(r, "original_recipient", f->orig_rcpt);
        if (!f->orcpt.empty()) line(r, "dsn_orig_rcpt", f->orcpt);
        if (f->notify != 0) line(r, "dsn_notify_flags", queue::notify_to_string(f->notify));
        line(r, r.type == 'D' ? "done_recipient" : "recipient", f->address);
        break;
      }
      default: break;
    }
    return {};
  }

 private:
  Status text(const RawRecord& r) {
    // The first line that is neither a header nor a continuation (and does
    // not continue a long line) starts the body.
    if (state_ == State::Header && !prev_partial_ && !looks_like_header(r.payload) &&
        !(!r.payload.empty() && (r.payload[0] == ' ' || r.payload[0] == '\t'))) {
      state_ = State::Body;
      do_print_ = flags_ & kPrintBody;
    }
    if (do_print_) {
      if (!prev_partial_ || (flags_ & (kPrintOffset | kPrintDecimalType))) prefix(r);
      std::fwrite(r.payload.data(), 1, r.payload.size(), out_);
      // With offsets every record gets its own line, as in Postfix.
      if (r.type == 'N' || (flags_ & (kPrintOffset | kPrintDecimalType))) std::fputc('\n', out_);
    }
    prev_partial_ = (r.type == 'L');
    return {};
  }

  std::string_view name_;
  unsigned flags_;
  std::FILE* out_;
  State state_ = State::Envelope;
  bool do_print_ = false;
  bool prev_partial_ = false;

 public:
  void start() {
    do_print_ = flags_ & kPrintEnvelope;
    if (do_print_) std::fprintf(out_, "*** ENVELOPE RECORDS %.*s ***\n", int(name_.size()), name_.data());
  }
};

}  // namespace

Status print_queue_file(const queue::QueueFileReader& reader, std::string_view name, unsigned flags,
                        std::FILE* out) {
  if ((flags & kPrintAll) == 0) flags |= kPrintAll;
  Printer p(name, flags, out);
  p.start();
  auto cur = reader.records();
  RawRecord r;
  for (;;) {
    auto more = cur.next(r);
    if (!more) return more.take_error();
    if (!*more) break;
    if (auto st = p.record(r); !st)
      return Error{fmt::format("corrupt queue file {}: {} (offset {})", name, st.error().message, r.offset),
                   EBADMSG};
  }
  if (std::fflush(out) != 0 || std::ferror(out)) return sys_error("write error");
  return {};
}

Result<fs::path> find_queue_file(const fs::path& queue_root, const queue::QueueId& id) {
  static constexpr queue::QueueName kSearch[] = {queue::QueueName::Maildrop, queue::QueueName::Incoming,
                                                 queue::QueueName::Active,   queue::QueueName::Deferred,
                                                 queue::QueueName::Hold,     queue::QueueName::Saved};
  for (int round = 0; round < 2; ++round) {
    for (auto q : kSearch) {
      if (auto p = queue::find_in_queue(queue_root, q, id)) return p->lexically_relative(queue_root);
    }
  }
  errno = ENOENT;
  return sys_error("open queue file {}", id.str());
}

}  // namespace postern::postcat
