// status_log.cpp - see status_log.h.
#include "queue/status_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "base/read_file.h"
#include "base/unique_fd.h"

namespace postern::queue {
namespace {

bool single_line(std::string_view v) {
  return v.find_first_of(std::string_view("\0\r\n", 3)) == std::string_view::npos;
}

Status add(std::string& out, std::string_view name, std::string_view value, bool optional) {
  if (value.empty() && optional) return {};
  if (!single_line(value)) return make_error("status log: {}: NUL, CR or LF in value", name);
  if (name.size() + 1 + value.size() + 1 > kMaxLogLine) return make_error("status log: {}: value too long", name);
  out.append(name).append("=").append(value).append("\n");
  return {};
}

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<std::string> format_status_entry(const StatusEntry& e) {
  if (e.recipient.empty()) return make_error("status log: empty recipient");
  if (e.status.empty()) return make_error("status log: empty status");
  std::string out;
  for (auto st : {add(out, "recipient", e.recipient, false),
                  add(out, "original_recipient", e.original_recipient, true),
                  add(out, "orcpt", e.orcpt, true), add(out, "notify", std::to_string(e.notify), false),
                  add(out, "status", e.status, false), add(out, "action", e.action, true),
                  add(out, "reason", e.reason, true), add(out, "relay", e.relay, true),
                  add(out, "time", std::to_string(e.time), false)}) {
    if (!st) return st.error();
  }
  out += '\n';
  return out;
}

StatusLog parse_status_log(std::string_view text) {
  StatusLog log;
  if (text.size() > kMaxLogFile) text = text.substr(0, kMaxLogFile);
  StatusEntry cur;
  bool any = false, bad = false, timed = false;
  auto finish = [&] {
    if (any) {
      // No "time" (the last line written): torn.
      if (bad || !timed || cur.recipient.empty() || cur.status.empty())
        ++log.malformed;
      else
        log.entries.push_back(std::move(cur));
    }
    cur = StatusEntry{};
    any = bad = timed = false;
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    bool complete = nl != std::string_view::npos;
    std::string_view line = text.substr(pos, complete ? nl - pos : std::string_view::npos);
    pos = complete ? nl + 1 : text.size();
    if (!complete) {  // a torn last entry (writer died mid-write): not an entry
      if (any || !line.empty()) ++log.malformed;
      return log;
    }
    if (line.empty()) {
      finish();
      continue;
    }
    any = true;
    auto eq = line.find('=');
    if (line.size() > kMaxLogLine || eq == std::string_view::npos || line.find('\0') != std::string_view::npos ||
        line.find('\r') != std::string_view::npos) {
      bad = true;
      continue;
    }
    std::string_view name = line.substr(0, eq), value = line.substr(eq + 1);
    if (name == "recipient") cur.recipient = value;
    else if (name == "original_recipient") cur.original_recipient = value;
    else if (name == "orcpt") cur.orcpt = value;
    else if (name == "notify") bad |= !parse_int(value, cur.notify) || cur.notify > 15;
    else if (name == "status") cur.status = value;
    else if (name == "action") cur.action = value;
    else if (name == "reason") cur.reason = value;
    else if (name == "relay") cur.relay = value;
    else if (name == "time") {
      bad |= !parse_int(value, cur.time);
      timed = true;
    }
    // unknown names: ignored (forward compatible)
  }
  if (any) ++log.malformed;  // no closing empty line: torn
  return log;
}

Status append_status_log(const std::filesystem::path& path, const std::vector<StatusEntry>& entries) {
  std::string text;
  for (const auto& e : entries) {
    auto t = format_status_entry(e);
    if (!t) return t.error();
    text += *t;
  }
  // O_NONBLOCK: a FIFO planted under the name must not hang the writer (it
  // is refused as not a regular file below). O_RDWR: the last bytes are
  // read to see whether an earlier writer finished its entry.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
  if (!fd) return sys_error("open {}", path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("fstat {}", path.string());
  if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path.string());
  // Appenders of one message's log (bounce processes serving several
  // delivery agents) take turns, so that a failed write can be cut back
  // without cutting another's entry. Released when fd closes.
  int rc;
  do rc = ::flock(fd.get(), LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) return sys_error("lock {}", path.string());
  off_t start = ::lseek(fd.get(), 0, SEEK_END);
  if (start < 0) return sys_error("seek {}", path.string());
  // What a crashed writer left unfinished is closed first, so that it stays
  // an entry of its own (and, lacking its "time" line, a malformed one).
  if (start > 0) {
    char tail[2] = {'\n', '\n'};
    std::size_t want = start >= 2 ? 2 : 1;
    if (::pread(fd.get(), tail + 2 - want, want, start - static_cast<off_t>(want)) != static_cast<ssize_t>(want))
      return sys_error("read {}", path.string());
    if (tail[1] != '\n') text.insert(0, "\n\n");
    else if (tail[0] != '\n') text.insert(0, "\n");
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = sys_error("write {}", path.string());
      // Nothing of this append stays behind to merge with the next one.
      (void)::ftruncate(fd.get(), start);
      return e;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0) return sys_error("fsync {}", path.string());
  return {};
}

Result<StatusLog> read_status_log(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO planted in the queue must not hang the reader (the
  // regular-file check refuses it after the open).
  auto text = read_file(path, kMaxLogFile, TooLarge::KeepHead, O_NOFOLLOW | O_NONBLOCK);
  if (!text) return text.take_error();
  return parse_status_log(*text);
}

}  // namespace postern::queue
