// layout.cpp - queue directory table, hashed paths, tree creation, scanner.
//
// See layout.h. Reads no parameters itself and logs nothing: problems are
// returned (Result) or collected as ScanIssue for the caller to log.
#include "queue/layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/strings.h"
#include "base/unique_fd.h"

namespace postern::queue {
namespace fs = std::filesystem;

const std::array<QueueDirSpec, kQueueNameCount> kQueueLayout{{
    {QueueName::Maildrop, 0730, OwnerClass::MailOwner, GroupClass::SetgidGroup, true,
     "local submissions written by postdrop (group write, no group read)"},
    {QueueName::Incoming, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "new messages written by cleanup, not yet seen by qmgr"},
    {QueueName::Active, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "messages qmgr has opened for delivery"},
    {QueueName::Deferred, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "messages with recipients that could not be delivered yet"},
    {QueueName::Hold, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "messages on hold until released by postsuper -H"},
    {QueueName::Corrupt, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "damaged queue files set aside for inspection"},
    {QueueName::Bounce, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "per-message logs of failed recipients"},
    {QueueName::Defer, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "per-message logs of delayed recipients"},
    {QueueName::Trace, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "per-message delivery logs (sendmail -v, -bv, DSN SUCCESS)"},
    {QueueName::Flush, 0700, OwnerClass::MailOwner, GroupClass::Default, false,
     "fast flush logs, one per destination"},
    {QueueName::Saved, 0700, OwnerClass::MailOwner, GroupClass::Default, true,
     "messages kept by the header/body checks action \"save\" (reserved)"},
    {QueueName::Public, 0710, OwnerClass::MailOwner, GroupClass::SetgidGroup, false,
     "public service sockets (pickup, qmgr triggers, showq)"},
    {QueueName::Private, 0700, OwnerClass::MailOwner, GroupClass::Default, false,
     "private service sockets between daemons"},
    {QueueName::Pid, 0755, OwnerClass::Root, GroupClass::Default, false, "master lock and pid files"},
    {QueueName::Recycle, 0700, OwnerClass::MailOwner, GroupClass::Default, false,
     "finished queue files kept for reuse by cleanup (queue/recycle.h)"},
}};

namespace {
constexpr std::array<std::string_view, kQueueNameCount> kNames{
    "maildrop", "incoming", "active", "deferred", "hold",   "corrupt", "bounce",
    "defer",    "trace",    "flush",  "saved",    "public", "private", "pid",      "recycle",
};

bool is_hash_dir_name(std::string_view n) {
  return n.size() == 1 && ((n[0] >= '0' && n[0] <= '9') || (n[0] >= 'A' && n[0] <= 'F'));
}

// mkdir that never follows a symlink and reports whether it created the dir.
Result<bool> ensure_dir(const fs::path& p, mode_t mode) {
  if (::mkdir(p.c_str(), mode) == 0) return true;
  if (errno != EEXIST) return sys_error("create directory {}", p.string());
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return sys_error("lstat {}", p.string());
  if (!S_ISDIR(st.st_mode)) return make_error("{} exists and is not a directory", p.string());
  return false;
}

Status apply_owner_mode(const fs::path& p, const QueueDirSpec* s, mode_t mode, const TreeOptions& o,
                        bool created) {
  if (created || o.fix_modes) {
    if (::chmod(p.c_str(), mode) != 0) return sys_error("chmod {} {:o}", p.string(), mode);
  }
  if (o.mail_owner_uid) {
    uid_t uid = 0;
    gid_t gid = 0;
    if (s == nullptr || s->owner == OwnerClass::Root) {
      uid = 0;
      gid = 0;
    } else {
      uid = *o.mail_owner_uid;
      gid = o.mail_owner_gid.value_or(static_cast<gid_t>(-1));
      if (s->group == GroupClass::SetgidGroup) {
        if (!o.setgid_group_gid) return make_error("{} needs setgid_group's gid", p.string());
        gid = *o.setgid_group_gid;
      }
    }
    if (::lchown(p.c_str(), uid, gid) != 0) return sys_error("chown {}", p.string());
    // chown clears nothing on directories, but re-assert the mode anyway in
    // case the system cleared set-id bits.
    if (::chmod(p.c_str(), mode) != 0) return sys_error("chmod {} {:o}", p.string(), mode);
  }
  return {};
}

Status make_hash_dirs(const fs::path& dir, int levels, const QueueDirSpec& s, const TreeOptions& o,
                      std::vector<fs::path>& created) {
  if (levels <= 0) return {};
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  for (char c : kHex) {
    fs::path sub = dir / std::string(1, c);
    auto made = ensure_dir(sub, s.mode);
    if (!made) return made.take_error();
    if (auto st = apply_owner_mode(sub, &s, s.mode, o, *made); !st) return st;
    if (*made) created.push_back(sub);
    if (auto st = make_hash_dirs(sub, levels - 1, s, o, created); !st) return st;
  }
  return {};
}

}  // namespace

std::string_view to_string(QueueName q) { return kNames[static_cast<std::size_t>(q)]; }

Result<QueueName> parse_queue_name(std::string_view s) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == s) return static_cast<QueueName>(i);
  return make_error("unknown queue name \"{}\"", str::printable(s, 64));
}

const QueueDirSpec& spec(QueueName q) { return kQueueLayout[static_cast<std::size_t>(q)]; }

HashConfig HashConfig::defaults() {
  HashConfig h;
  h.set_hashed(QueueName::Deferred);
  h.set_hashed(QueueName::Defer);
  h.depth = 1;
  return h;
}

void HashConfig::set_hashed(QueueName q, bool on) {
  auto bit = 1u << static_cast<unsigned>(q);
  hashed = on ? (hashed | bit) : (hashed & ~bit);
}

Result<HashConfig> HashConfig::from_params(std::string_view names, std::int64_t depth) {
  if (depth < 1 || depth > kMaxDepth)
    return make_error("hash_queue_depth: {} is out of range 1..{}", depth, kMaxDepth);
  HashConfig h;
  h.depth = static_cast<int>(depth);
  for (const auto& n : str::split(names)) {
    auto q = parse_queue_name(n);
    if (!q) return make_error("hash_queue_names: {}", q.error().message);
    if (!spec(*q).holds_queue_ids) return make_error("hash_queue_names: queue \"{}\" cannot be hashed", n);
    // Its files are written by postdrop as the submitting user, who would
    // create the hash subdirectories too; Postfix refuses it as well.
    if (*q == QueueName::Maildrop) return make_error("hash_queue_names: the maildrop queue must not be hashed");
    h.set_hashed(*q);
  }
  return h;
}

namespace {
// The directory of `id` in queue q as a string: the paths are built as one
// string and turned into a path once, because each std::filesystem::path
// `/` copies and re-splits the whole path (allocations that showed as a
// tenth of the queue manager's work, which builds several paths per message).
std::string queue_dir_string(const fs::path& root, QueueName q, const QueueId& id, const HashConfig& hash) {
  std::string s = root.native();
  s.reserve(s.size() + 32);
  if (!s.empty() && s.back() != '/') s += '/';
  s += to_string(q);
  if (hash.is_hashed(q)) {
    std::string part = id.hash_part();
    int depth = std::clamp(hash.depth, 0, HashConfig::kMaxDepth);
    for (int i = 0; i < depth; ++i) {
      s += '/';
      s += part[static_cast<std::size_t>(i)];
    }
  }
  return s;
}
}  // namespace

fs::path queue_dir_for(const fs::path& root, QueueName q, const QueueId& id, const HashConfig& hash) {
  return fs::path(queue_dir_string(root, q, id, hash));
}

fs::path queue_path(const fs::path& root, QueueName q, const QueueId& id, const HashConfig& hash) {
  std::string s = queue_dir_string(root, q, id, hash);
  s += '/';
  s += id.str();
  return fs::path(std::move(s));
}

std::optional<fs::path> find_in_queue(const fs::path& root, QueueName q, const QueueId& id) {
  HashConfig h;
  for (int depth = 0; depth <= HashConfig::kMaxDepth; ++depth) {
    h.set_hashed(q, depth > 0);
    h.depth = depth;
    fs::path p = queue_path(root, q, id, h);
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return p;
  }
  return std::nullopt;
}

Result<std::vector<fs::path>> create_queue_tree(const fs::path& root, const HashConfig& hash,
                                                const TreeOptions& options) {
  std::vector<fs::path> created;
  auto made = ensure_dir(root, kQueueRootMode);
  if (!made) return made.take_error();
  if (*made) created.push_back(root);
  if (auto st = apply_owner_mode(root, nullptr, kQueueRootMode, options, *made); !st) return st.take_error();
  for (const auto& s : kQueueLayout) {
    fs::path dir = root / std::string(to_string(s.name));
    auto m = ensure_dir(dir, s.mode);
    if (!m) return m.take_error();
    if (*m) created.push_back(dir);
    if (auto st = apply_owner_mode(dir, &s, s.mode, options, *m); !st) return st.take_error();
    if (options.create_hash_dirs && hash.is_hashed(s.name)) {
      if (auto st = make_hash_dirs(dir, hash.depth, s, options, created); !st) return st.take_error();
    }
  }
  return created;
}

// ---------------------------------------------------------------- scanner

struct QueueScanner::Level {
  DIR* dir = nullptr;
  fs::path path;
  std::string prefix;  // path and a slash, to which entry names are appended
  std::string rel;     // hash digits walked so far ("3F")
  ~Level() {
    if (dir) ::closedir(dir);
  }
};

QueueScanner::QueueScanner(fs::path root, QueueName q, HashConfig hash)
    : root_(std::move(root)), queue_(q), hash_(hash) {}
QueueScanner::~QueueScanner() = default;
QueueScanner::QueueScanner(QueueScanner&&) noexcept = default;
QueueScanner& QueueScanner::operator=(QueueScanner&&) noexcept = default;

void QueueScanner::report(ScanIssue::Kind kind, fs::path path, std::string reason) {
  ++issue_count_;
  if (issues_.size() < kMaxIssuesKept) issues_.push_back({kind, std::move(path), std::move(reason)});
}

namespace {
// Opens a directory without following a symlink at its last component.
DIR* open_dir(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (!d) ::close(fd);
  return d;
}
}  // namespace

Result<std::optional<QueueEntry>> QueueScanner::next() {
  if (!started_) {
    started_ = true;
    auto top = std::make_unique<Level>();
    top->path = root_ / std::string(to_string(queue_));
    top->prefix = top->path.native() + '/';
    top->dir = open_dir(top->path);
    if (!top->dir) return sys_error("open queue directory {}", top->path.string());
    stack_.push_back(std::move(top));
  }
  while (!stack_.empty()) {
    Level& lv = *stack_.back();
    errno = 0;
    struct dirent* de = ::readdir(lv.dir);
    if (!de) {
      if (errno != 0) report(ScanIssue::Kind::Unreadable, lv.path, std::strerror(errno));
      stack_.pop_back();
      continue;
    }
    std::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    fs::path p(lv.prefix + std::string(name));  // see queue_dir_string()
    unsigned char type = de->d_type;
    auto file_type = [&]() -> unsigned char {
      if (type != DT_UNKNOWN) return type;
      struct stat st {};
      if (::fstatat(::dirfd(lv.dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return DT_UNKNOWN;
      if (S_ISREG(st.st_mode)) return DT_REG;
      if (S_ISDIR(st.st_mode)) return DT_DIR;
      return DT_LNK;  // anything else: treat as "not regular"
    };
    if (is_hash_dir_name(name)) {
      if (file_type() == DT_DIR && lv.rel.size() < static_cast<std::size_t>(HashConfig::kMaxDepth)) {
        auto sub = std::make_unique<Level>();
        sub->prefix = p.native() + '/';
        sub->path = p;
        sub->rel = lv.rel + std::string(name);
        sub->dir = open_dir(p);
        if (!sub->dir) {
          report(ScanIssue::Kind::Unreadable, p, std::strerror(errno));
          continue;
        }
        stack_.push_back(std::move(sub));
        continue;
      }
      report(ScanIssue::Kind::Junk, p, "not a hash subdirectory");
      continue;
    }
    if (name.substr(0, kTempPrefix.size()) == kTempPrefix) {
      report(ScanIssue::Kind::Temporary, p, "temporary file");
      continue;
    }
    auto id = QueueId::parse(name);
    if (!id) {
      report(ScanIssue::Kind::Junk, p, id.error().message);
      continue;
    }
    if (file_type() != DT_REG) {
      report(ScanIssue::Kind::NotRegular, p, "not a regular file");
      continue;
    }
    QueueEntry e{std::move(id).value(), std::move(p), false};
    std::string expect;
    if (hash_.is_hashed(queue_)) expect = e.id.hash_part().substr(0, static_cast<std::size_t>(hash_.depth));
    e.misplaced = (expect != lv.rel);
    return std::optional<QueueEntry>(std::move(e));
  }
  return std::optional<QueueEntry>();
}

}  // namespace postern::queue
