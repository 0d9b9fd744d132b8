// writer.cpp - QueueFileWriter (see writer.h for the protocol and its reasons).
//
// Reads no parameters. Logs a warning when an abandoned file cannot be
// removed; every other problem is returned to the caller.
#include "queue/writer.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "base/fs_durability.h"
#include "log/log.h"

namespace postern::queue {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBufferSize = 64 * 1024;
constexpr int kTempAttempts = 100;
constexpr int kRenameAttempts = 10000;

Status write_all(int fd, std::string_view data, const fs::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write queue file {}", p.string());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status pwrite_all(int fd, std::string_view data, std::uint64_t off, const fs::path& p) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("update queue file {}", p.string());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  return {};
}

Status fsync_fd(int fd, const fs::path& p) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return sys_error("fsync {}", p.string());
  }
  return {};
}

Status fsync_dir(const fs::path& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // postdrop writes into maildrop (0730) through the setgid group, which may
  // not read the directory and so cannot fsync it. The rename happened before
  // the file's own fsyncs, which on journaling file systems commit it too;
  // that is the guarantee Postfix's postdrop relies on as well.
  if (!d && errno == EACCES) return {};
  if (!d) return sys_error("open directory {}", dir.string());
  return fsync_fd(d.get(), dir);
}

std::uint64_t random64() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v)) {
    struct timeval tv {};
    ::gettimeofday(&tv, nullptr);
    v = static_cast<std::uint64_t>(tv.tv_usec) * 2654435761u ^ static_cast<std::uint64_t>(::getpid());
  }
  return v;
}

std::atomic<std::uint64_t> g_temp_counter{0};

// Creates the missing hash subdirectories between `top` (a queue directory)
// and `dir`, with the queue's mode; adds the parent of each one made to
// `created_parents` (their fsync makes the new names durable).
Status make_hash_dirs(const fs::path& top, const fs::path& dir, QueueName q,
                      std::vector<fs::path>& created_parents) {
  fs::path p = top;
  std::string rel = fs::relative(dir, top).string();
  for (const auto& part : fs::path(rel)) {
    fs::path parent = p;
    p /= part;
    if (::mkdir(p.c_str(), spec(q).mode) == 0)
      created_parents.push_back(parent);
    else if (errno != EEXIST)
      return sys_error("create directory {}", p.string());
  }
  return {};
}

}  // namespace

// Moves `from` to `to` unless `to` exists. Sets errno like rename(2).
int detail::rename_noreplace(const fs::path& from, const fs::path& to) {
#ifdef RENAME_NOREPLACE
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
#endif
  // File systems without RENAME_NOREPLACE: link(2) never replaces either.
  if (::link(from.c_str(), to.c_str()) != 0) return -1;
  if (::unlink(from.c_str()) != 0) {
    int e = errno;
    ::unlink(to.c_str());
    errno = e;
    return -1;
  }
  return 0;
}

Result<QueueFileWriter> QueueFileWriter::create(const WriterOptions& o) {
  fs::path top = o.queue_root / std::string(to_string(o.queue));
  // 1. A temporary file that nobody else can have: O_EXCL, our pid, a
  //    counter and random bits. Its inode is ours while it exists.
  UniqueFd fd;
  fs::path tmp;
  std::uint64_t stale_size = 0;
  // 1a. Or a finished file from the recycle bin, taken by a rename to such
  //     a name (only one process can win it) and checked before anything
  //     is changed: a regular file, ours, with no other name and without
  //     the ready mark (recycle.h).
  for (int i = 0; o.recycle && i < 4 && !fd; ++i) {
    auto cand = o.recycle->next();
    if (!cand) break;
    tmp = top / fmt::format("{}{}.{}.{:016x}", kTempPrefix, ::getpid(), g_temp_counter++, random64());
    if (::rename(cand->c_str(), tmp.c_str()) != 0) continue;
    UniqueFd f(::open(tmp.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat cst {};
    // Not truncated: the new message overwrites the old bytes in place and
    // finish_write() cuts off the rest, so the file keeps its blocks (freeing
    // them costs a synchronous discard on file systems mounted with it).
    // The mode is set again below, before the file gets a queue name. A
    // second name is another file's (fsck counted what a crash left):
    // removing ours is safe.
    if (!f || ::fstat(f.get(), &cst) != 0 || !S_ISREG(cst.st_mode) || cst.st_nlink != 1 ||
        cst.st_uid != ::geteuid() || cst.st_size < 0 ||
        static_cast<std::uint64_t>(cst.st_size) > kRecycleMaxSize) {
      ::unlink(tmp.c_str());
      continue;
    }
    if (cst.st_mode & S_IXUSR) {
      // Perhaps a queued message's second name, left by a crash: neither
      // written nor removed (its inode counts one link, so removing a name
      // would free the message). Back where it was, never offered again by
      // this bin; qmgr's sweep_recycle_bin() decides at its next start.
      if (::rename(tmp.c_str(), cand->c_str()) != 0)
        log::warning("recycle: cannot put {} back as {}: {}; leave it alone", tmp.string(), cand->string(),
                     std::strerror(errno));
      o.recycle->pass_over(cand->filename().string());
      continue;
    }
    fd = std::move(f);
    stale_size = static_cast<std::uint64_t>(cst.st_size);
  }
  for (int i = 0; i < kTempAttempts && !fd; ++i) {
    tmp = top / fmt::format("{}{}.{}.{:016x}", kTempPrefix, ::getpid(), g_temp_counter++, random64());
    fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, o.mode & 0600));
    if (!fd && errno != EEXIST) return sys_error("create file {}", tmp.string());
  }
  if (!fd) return make_error("create file in {}: too many name collisions", top.string());
  auto remove_tmp = [&] { ::unlink(tmp.c_str()); };
  // Independent of the umask: the mode is part of the protocol.
  if (::fchmod(fd.get(), o.mode & 0600) != 0) {
    auto e = sys_error("chmod {}", tmp.string());
    remove_tmp();
    return e;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    auto e = sys_error("fstat {}", tmp.string());
    remove_tmp();
    return e;
  }

  // 2. Name it after time and inode; retry with a new time on collision.
  std::vector<fs::path> created_parents;
  struct timeval last {};
  for (int attempt = 0; attempt < kRenameAttempts; ++attempt) {
    struct timeval now {};
    ::gettimeofday(&now, nullptr);
    if (attempt > 0 && now.tv_sec == last.tv_sec && now.tv_usec == last.tv_usec) continue;  // wait for a tick
    last = now;
    auto id = QueueId::make(o.id_format, now.tv_sec, static_cast<std::uint32_t>(now.tv_usec),
                            static_cast<std::uint64_t>(st.st_ino));
    if (!id) {
      remove_tmp();
      return id.take_error();
    }
    fs::path dir = queue_dir_for(o.queue_root, o.queue, *id, o.hash);
    fs::path target = dir / id->str();
    if (detail::rename_noreplace(tmp, target) == 0) {
      QueueFileWriter w(std::move(id).value());
      w.path_ = std::move(target);
      w.fd_ = std::move(fd);
      w.mode_ = o.mode & 0644;  // read bits for others only with the ready mark
      w.stale_size_ = stale_size;
      w.dirs_.push_back(dir);
      for (auto& p : created_parents) w.dirs_.push_back(p);
      // Every name above was made before the file's commit fsync; where that
      // fsync commits them too (fs_durability.h), they need no directory
      // fsync.
      if (fsync_commits_earlier_names(w.fd_.get())) w.warm_dirs_ = std::exchange(w.dirs_, {});
      // A reused file's departure from the bin needs no fsync: a name a
      // crash leaves there keeps the ready mark of the message, which
      // makes cleanup pass over it (recycle.h).
      if (w.dirs_.empty()) w.dirs_synced_->store(true, std::memory_order_release);
      w.buf_.reserve(kBufferSize);
      return w;
    }
    if (errno == EEXIST) continue;
    if (errno == ENOENT && dir != top) {
      // A hash subdirectory is missing: create the chain with the queue's mode.
      if (auto st = make_hash_dirs(top, dir, o.queue, created_parents); !st) {
        remove_tmp();
        return st.take_error();
      }
      continue;
    }
    auto e = sys_error("rename {} to {}", tmp.string(), target.string());
    remove_tmp();
    return e;
  }
  remove_tmp();
  return make_error("cannot find a free queue file name in {}", top.string());
}

QueueFileWriter::QueueFileWriter(QueueFileWriter&& o) noexcept
    : id_(o.id_),
      path_(std::exchange(o.path_, {})),
      dirs_(std::move(o.dirs_)),
      warm_dirs_(std::move(o.warm_dirs_)),
      dirs_synced_(o.dirs_synced_),
      fd_(std::move(o.fd_)),
      mode_(o.mode_),
      state_(std::exchange(o.state_, State::Failed)),
      buf_(std::move(o.buf_)),
      offset_(o.offset_),
      stale_size_(o.stale_size_),
      size_(o.size_),
      partial_open_(o.partial_open_) {}

QueueFileWriter& QueueFileWriter::operator=(QueueFileWriter&& o) noexcept {
  if (this != &o) {
    abandon();
    id_ = o.id_;
    path_ = std::exchange(o.path_, {});
    dirs_ = std::move(o.dirs_);
    warm_dirs_ = std::move(o.warm_dirs_);
    dirs_synced_ = o.dirs_synced_;
    fd_ = std::move(o.fd_);
    mode_ = o.mode_;
    state_ = std::exchange(o.state_, State::Failed);
    buf_ = std::move(o.buf_);
    offset_ = o.offset_;
    stale_size_ = o.stale_size_;
    size_ = o.size_;
    partial_open_ = o.partial_open_;
  }
  return *this;
}

QueueFileWriter::~QueueFileWriter() { abandon(); }

void QueueFileWriter::abandon() {
  if (state_ != State::Committed && !path_.empty()) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      log::warning("remove abandoned queue file {}: {}", path_.string(), std::strerror(errno));
    path_.clear();
    state_ = State::Failed;
  }
  fd_.reset();
}

Status QueueFileWriter::fail(Error e) {
  abandon();
  return e;
}

Status QueueFileWriter::require_open(const char* what) {
  if (state_ == State::Failed) return make_error("{}: queue file writer has failed", what);
  return {};
}

Status QueueFileWriter::flush_buffer() {
  if (buf_.empty()) return {};
  auto st = write_all(fd_.get(), buf_, path_);
  buf_.clear();
  return st;
}

Status QueueFileWriter::put_record(RecordType type, std::string_view payload) {
  auto len = static_cast<std::uint32_t>(payload.size());
  char hdr[kRecordHeaderSize] = {static_cast<char>(type), static_cast<char>(len >> 24),
                                 static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                                 static_cast<char>(len)};
  if (buf_.size() + sizeof hdr + payload.size() > kBufferSize) {
    if (auto st = flush_buffer(); !st) return fail(st.take_error());
  }
  buf_.append(hdr, sizeof hdr);
  if (payload.size() > kBufferSize) {
    // Large content pieces bypass the buffer rather than growing it.
    if (auto st = flush_buffer(); !st) return fail(st.take_error());
    if (auto st = write_all(fd_.get(), payload, path_); !st) return fail(st.take_error());
  } else {
    buf_.append(payload);
  }
  offset_ += sizeof hdr + payload.size();
  return {};
}

Status QueueFileWriter::enter(State target) {
  if (state_ == State::Envelope && (target == State::Content || target == State::Extracted)) {
    size_.content_offset = offset_;
    if (auto st = put_record(RecordType::Content, {}); !st) return st;
    state_ = State::Content;
  }
  if (state_ == State::Content && target == State::Extracted) {
    if (partial_open_) {
      // A content segment never ends inside a line: close it.
      if (auto st = put_record(RecordType::Line, {}); !st) return st;
      size_.content_size += 1;
      partial_open_ = false;
    }
    size_.extracted_offset = offset_;
    if (auto st = put_record(RecordType::Extracted, {}); !st) return st;
    state_ = State::Extracted;
    typed_seen_.clear();
  }
  if (state_ != target) return make_error("queue file {}: records out of order", path_.string());
  return {};
}

Status QueueFileWriter::begin(const EnvelopeStart& env) {
  if (auto st = require_open("begin"); !st) return st;
  if (state_ != State::Fresh) return make_error("queue file {}: begin() called twice", path_.string());
  if (env.sender.size() > kMaxAddressLength || !valid_envelope_text(env.sender))
    return make_error("queue file {}: bad sender address", path_.string());
  std::int64_t sec = env.arrival_sec;
  std::uint32_t usec = env.arrival_usec;
  if (sec < 0) {
    struct timeval now {};
    ::gettimeofday(&now, nullptr);
    sec = now.tv_sec;
    usec = static_cast<std::uint32_t>(now.tv_usec);
  }
  if (usec > 999999 || sec > kMaxFixedValue)
    return make_error("queue file {}: bad arrival time", path_.string());
  auto warning = encode_warning(env.warning_time);
  if (!warning) return make_error("queue file {}: {}", path_.string(), warning.error().message);
  // The size record is a placeholder now; finish_write() patches it.
  if (auto st = put_record(RecordType::Size, size_.encode().value()); !st) return st;
  if (auto st = put_record(RecordType::Warning, *warning); !st) return st;
  if (auto st = put_record(RecordType::Time, fmt::format("{} {}", sec, usec)); !st) return st;
  if (auto st = put_record(RecordType::Sender, env.sender); !st) return st;
  state_ = State::Envelope;
  return {};
}

Status QueueFileWriter::note_typed_attribute(std::string_view name) {
  // The reader allows each typed attribute once per segment; never write a
  // file it would call corrupt.
  if (!is_typed_attribute(name)) return {};
  for (const auto& n : typed_seen_)
    if (n == name) return make_error("queue file {}: attribute {} given twice", path_.string(), name);
  typed_seen_.emplace_back(name);
  return {};
}

Status QueueFileWriter::add_attribute(std::string_view name, std::string_view value) {
  if (auto st = require_open("add_attribute"); !st) return st;
  if (state_ != State::Envelope)
    return make_error("queue file {}: envelope attribute after the envelope", path_.string());
  auto payload = encode_attribute(name, value);
  if (!payload) return payload.take_error();
  if (auto st = note_typed_attribute(name); !st) return st;
  return put_record(RecordType::Attribute, *payload);
}

Result<std::uint64_t> QueueFileWriter::add_recipient(const RecipientFields& r) {
  if (auto st = require_open("add_recipient"); !st) return st.take_error();
  if (state_ != State::Envelope)
    return make_error("queue file {}: envelope recipient after the envelope", path_.string());
  auto payload = encode_recipient(r);
  if (!payload) return payload.take_error();
  std::uint64_t at = offset_;
  if (auto st = put_record(RecordType::Recipient, *payload); !st) return st.take_error();
  ++size_.recipient_count;
  return at;
}

Status QueueFileWriter::add_line(std::string_view line) {
  if (auto st = require_open("add_line"); !st) return st;
  if (auto st = enter(State::Content); !st) return st;
  size_.content_size += line.size() + 1;
  while (line.size() > kMaxContentRecord) {
    if (auto st = put_record(RecordType::Partial, line.substr(0, kMaxContentRecord)); !st) return st;
    line.remove_prefix(kMaxContentRecord);
  }
  partial_open_ = false;
  return put_record(RecordType::Line, line);
}

Status QueueFileWriter::add_partial(std::string_view piece) {
  if (auto st = require_open("add_partial"); !st) return st;
  if (auto st = enter(State::Content); !st) return st;
  size_.content_size += piece.size();
  while (!piece.empty()) {
    auto n = std::min(piece.size(), kMaxContentRecord);
    if (auto st = put_record(RecordType::Partial, piece.substr(0, n)); !st) return st;
    piece.remove_prefix(n);
    partial_open_ = true;
  }
  return {};
}

Status QueueFileWriter::add_extracted_attribute(std::string_view name, std::string_view value) {
  if (auto st = require_open("add_extracted_attribute"); !st) return st;
  auto payload = encode_attribute(name, value);
  if (!payload) return payload.take_error();
  if (auto st = enter(State::Extracted); !st) return st;
  if (auto st = note_typed_attribute(name); !st) return st;
  return put_record(RecordType::Attribute, *payload);
}

Result<std::uint64_t> QueueFileWriter::add_extracted_recipient(const RecipientFields& r) {
  if (auto st = require_open("add_extracted_recipient"); !st) return st.take_error();
  auto payload = encode_recipient(r);
  if (!payload) return payload.take_error();
  if (auto st = enter(State::Extracted); !st) return st.take_error();
  std::uint64_t at = offset_;
  if (auto st = put_record(RecordType::Recipient, *payload); !st) return st.take_error();
  ++size_.recipient_count;
  return at;
}

Status QueueFileWriter::finish_write() {
  if (auto st = require_open("finish_write"); !st) return st;
  if (state_ == State::Fresh)
    return make_error("queue file {}: finish_write() before begin()", path_.string());
  if (state_ != State::Envelope && state_ != State::Content && state_ != State::Extracted)
    return make_error("queue file {}: finish_write() called twice", path_.string());
  if (auto st = enter(State::Extracted); !st) return st;
  if (auto st = put_record(RecordType::End, {}); !st) return st;
  if (auto st = flush_buffer(); !st) return fail(st.take_error());
  // Now the offsets are known: patch the size record's payload in place.
  auto size = size_.encode();
  if (!size) return fail(make_error("queue file {}: {}", path_.string(), size.error().message));
  if (auto st = pwrite_all(fd_.get(), *size, kSizeRecordOffset + kRecordHeaderSize, path_); !st)
    return fail(st.take_error());
  // A reused file: nothing of its previous message may survive past the end
  // record (the fsync in sync()/mark_ready() makes the new length durable
  // with the content).
  if (stale_size_ > offset_ && ::ftruncate(fd_.get(), static_cast<off_t>(offset_)) != 0)
    return fail(sys_error("truncate {}", path_.string()));
  state_ = State::Written;
  return {};
}

Status QueueFileWriter::move_to_queue(const fs::path& queue_root, QueueName q, const HashConfig& hash) {
  if (auto st = require_open("move_to_queue"); !st) return st;
  if (state_ == State::Ready || state_ == State::Committed)
    return make_error("queue file {}: move_to_queue() after mark_ready()", path_.string());
  fs::path top = queue_root / std::string(to_string(q));
  fs::path dir = queue_dir_for(queue_root, q, id_, hash);
  fs::path target = dir / id_.str();
  std::vector<fs::path> created_parents;
  for (int attempt = 0;; ++attempt) {
    if (detail::rename_noreplace(path_, target) == 0) break;
    if (errno == ENOENT && dir != top && attempt == 0) {
      if (auto st = make_hash_dirs(top, dir, q, created_parents); !st) return fail(st.take_error());
      continue;
    }
    return fail(sys_error("rename {} to {}", path_.string(), target.string()));
  }
  // Both directories changed; a crash must find the file under its new
  // name only. Every directory due before stays due, and a
  // presync job already running keeps its old flag, so the commit fsyncs
  // this whole list itself.
  std::vector<fs::path> dirs{dir};
  dirs.insert(dirs.end(), created_parents.begin(), created_parents.end());
  dirs.push_back(path_.parent_path());
  dirs.insert(dirs.end(), dirs_.begin(), dirs_.end());
  dirs.insert(dirs.end(), warm_dirs_.begin(), warm_dirs_.end());
  dirs_ = std::move(dirs);
  warm_dirs_.clear();
  dirs_synced_ = std::make_shared<std::atomic<bool>>(false);
  path_ = std::move(target);
  return {};
}

Status QueueFileWriter::sync() {
  if (auto st = require_open("sync"); !st) return st;
  if (state_ != State::Written) return make_error("queue file {}: sync() out of order", path_.string());
  if (auto st = fsync_fd(fd_.get(), path_); !st) return fail(st.take_error());
  state_ = State::Synced;
  return {};
}

Status QueueFileWriter::mark_ready() {
  if (auto st = require_open("mark_ready"); !st) return st;
  if (state_ != State::Written && state_ != State::Synced)
    return make_error("queue file {}: mark_ready() out of order", path_.string());
  if (::fchmod(fd_.get(), mode_ | S_IXUSR) != 0) return fail(sys_error("chmod {}", path_.string()));
  if (auto st = fsync_fd(fd_.get(), path_); !st) return fail(st.take_error());
  state_ = State::Ready;
  return {};
}

Status QueueFileWriter::sync_directory() {
  if (auto st = require_open("sync_directory"); !st) return st;
  if (state_ != State::Ready)
    return make_error("queue file {}: sync_directory() out of order", path_.string());
  if (!dirs_synced_->load(std::memory_order_acquire))
    for (const auto& d : dirs_)
      if (auto st = fsync_dir(d); !st) return fail(st.take_error());
  state_ = State::Committed;
  fd_.reset();
  return {};
}

Status QueueFileWriter::presync_directories() { return directory_sync().run(); }

Status QueueFileWriter::sync_directory_list(const std::vector<fs::path>& dirs) {
  for (const auto& d : dirs)
    if (auto st = fsync_dir(d); !st) return st;
  return {};
}

Status QueueFileWriter::DirectorySync::run() const {
  if (auto st = sync_directory_list(dirs); !st) return st;
  done->store(true, std::memory_order_release);
  return {};
}

Status QueueFileWriter::commit() {
  if (state_ == State::Envelope || state_ == State::Content || state_ == State::Extracted ||
      state_ == State::Fresh)
    if (auto st = finish_write(); !st) return st;
  if (state_ == State::Written || state_ == State::Synced)
    if (auto st = mark_ready(); !st) return st;
  return sync_directory();
}

Status QueueFileWriter::sync_directories(std::span<QueueFileWriter* const> writers) {
  for (auto* w : writers) {
    if (auto st = w->require_open("sync_directories"); !st) return st;
    if (w->state_ != State::Ready)
      return make_error("queue file {}: sync_directories() before mark_ready()", w->path_.string());
  }
  std::set<fs::path> done;
  for (auto* w : writers) {
    if (w->dirs_synced_->load(std::memory_order_acquire)) continue;
    for (const auto& d : w->dirs_) {
      if (!done.insert(d).second) continue;
      if (auto st = fsync_dir(d); !st) {
        for (auto* x : writers) x->abandon();
        return st;
      }
    }
  }
  for (auto* w : writers) {
    w->state_ = State::Committed;
    w->fd_.reset();
  }
  return {};
}

}  // namespace postern::queue
