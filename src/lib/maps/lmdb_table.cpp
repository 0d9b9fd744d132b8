// lmdb_table.cpp - lmdb: tables in OpenLDAP LMDB files, Postfix style.
//
// On-disk conventions are Postfix's (dict_lmdb.c, slmdb.c, lmdb_table(5)),
// so Postfix's postmap/postalias and daemons read our files and we read
// theirs:
//   - lmdb:/p lives in the single file "/p.lmdb" (MDB_NOSUBDIR), in LMDB's
//     unnamed main database;
//   - keys are lowercased when written and looked up (fold_fix); keys and
//     values carry a trailing NUL byte unless told otherwise, and lookups try
//     "key\0" then "key", sticking with the form that matched first (the
//     same try1/try0 convention as hash:, see db_table.cpp);
//   - LMDB runs with MDB_NOLOCK, so there is no "/p.lmdb-lock" file and no
//     shared-memory reader table: a lock file would have to be writable by
//     every unprivileged reader. Instead, like Postfix, processes take POSIX
//     record locks (fcntl) on the .lmdb file itself: readers a shared lock
//     around each lookup, writers an exclusive one around each transaction
//     start and commit. That keeps a writer from recycling pages that a
//     reader is still walking. We use open-file-description locks
//     (F_OFD_SETLKW): they conflict with Postfix's classic fcntl locks, but
//     closing some other descriptor of the same file does not drop them;
//   - the memory map starts at lmdb_map_size (Postfix's default 16 MiB, or
//     the file's size when that is larger) and doubles whenever an update
//     runs into MDB_MAP_FULL; readers adopt a writer's larger map
//     (MDB_MAP_RESIZED).
// Access::Update (postmap -i, -d) holds a shared lock for the whole session,
// which keeps other writers out while readers go on, as Postfix's bulk mode
// does. Changes are applied in batches of transactions; each batch is kept
// in memory so that it can be replayed into a larger map after MDB_MAP_FULL
// (LMDB discards the transaction that ran out of room).
// Access::Rebuild writes a new file next to the target, without per-batch
// fsyncs, then fsyncs it and renames it into place: readers never see a
// half-built table and the file carries no free pages from older contents.
// (Postfix instead rebuilds in place inside one transaction; the result is
// the same to every reader.) Daemons notice the replaced file through
// changed().
//
// LMDB trusts its file: a damaged page can crash the reader. We check what
// is cheap to check: the metadata (LMDB itself), and before each read that
// the file still holds every page the metadata claims, so that a truncated
// or half-copied file is an error instead of a SIGBUS.
//
// LMDB is loaded when the first such table is opened (dl_library.h); lmdb.h
// supplies only types and constants.
//
// Logs: "lmdb:<name>: duplicate entry: "key"" (warning, Duplicates::Warn),
// "database <file>.lmdb is older than source file <file>" (warning),
// "lmdb:<name>: internal error: ..." (fatal, an LMDB assertion),
// "database lmdb:<name>: using size limit N after MDB_MAP_FULL" (with -v).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "base/dl_library.h"
#include "base/unique_fd.h"
#include "log/log.h"
#include "maps/internal.h"

namespace postern::maps::detail {
namespace {

// The smallest initial map (lmdb_map_size has the same lower bound).
constexpr std::size_t kMinMapSize = 64 * 1024;
// Room for LMDB's metadata and a first transaction beyond the file's size
// (Postfix's slmdb uses the same margin).
constexpr std::size_t kMapSlack = 10240;
// The map doubles on MDB_MAP_FULL up to here; beyond it mmap() would fail.
constexpr std::size_t kMapSizeLimit = static_cast<std::size_t>(SSIZE_MAX);
// Values are C strings from one source line (at most kMaxLineLength); the
// bound on what we read keeps a damaged file from asking for gigabytes.
constexpr std::size_t kMaxValueSize = 64 * 1024 * 1024;
// One write transaction holds at most this much before it is committed and
// a new one begun: the replay log stays small, and so does LMDB's list of
// dirty pages.
constexpr std::size_t kBatchOps = 20000;
constexpr std::size_t kBatchBytes = 16 * 1024 * 1024;

// The library's entry points, resolved once.
struct LmdbApi {
  int (*env_create)(MDB_env**) = nullptr;
  int (*env_open)(MDB_env*, const char*, unsigned, mdb_mode_t) = nullptr;
  void (*env_close)(MDB_env*) = nullptr;
  int (*env_set_mapsize)(MDB_env*, size_t) = nullptr;
  int (*env_get_fd)(MDB_env*, mdb_filehandle_t*) = nullptr;
  int (*env_info)(MDB_env*, MDB_envinfo*) = nullptr;
  int (*env_stat)(MDB_env*, MDB_stat*) = nullptr;
  int (*env_sync)(MDB_env*, int) = nullptr;
  int (*env_get_maxkeysize)(MDB_env*) = nullptr;
  int (*env_set_userctx)(MDB_env*, void*) = nullptr;
  void* (*env_get_userctx)(MDB_env*) = nullptr;
  int (*env_set_assert)(MDB_env*, MDB_assert_func*) = nullptr;
  int (*txn_begin)(MDB_env*, MDB_txn*, unsigned, MDB_txn**) = nullptr;
  int (*txn_commit)(MDB_txn*) = nullptr;
  void (*txn_abort)(MDB_txn*) = nullptr;
  int (*dbi_open)(MDB_txn*, const char*, unsigned, MDB_dbi*) = nullptr;
  int (*get)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*) = nullptr;
  int (*put)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*, unsigned) = nullptr;
  int (*del)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*) = nullptr;
  int (*cursor_open)(MDB_txn*, MDB_dbi, MDB_cursor**) = nullptr;
  int (*cursor_get)(MDB_cursor*, MDB_val*, MDB_val*, MDB_cursor_op) = nullptr;
  void (*cursor_close)(MDB_cursor*) = nullptr;
  char* (*strerror)(int) = nullptr;
  std::string error;  // non-empty: the library could not be loaded
};

const LmdbApi& lmdb_api() {
  static const LmdbApi api = [] {
    LmdbApi a;
    // The soname of the ABI lmdb.h describes (Debian's liblmdb0).
    DlLibrary lib("liblmdb.so.0", "LMDB");
    lib.bind(a.env_create, "mdb_env_create");
    lib.bind(a.env_open, "mdb_env_open");
    lib.bind(a.env_close, "mdb_env_close");
    lib.bind(a.env_set_mapsize, "mdb_env_set_mapsize");
    lib.bind(a.env_get_fd, "mdb_env_get_fd");
    lib.bind(a.env_info, "mdb_env_info");
    lib.bind(a.env_stat, "mdb_env_stat");
    lib.bind(a.env_sync, "mdb_env_sync");
    lib.bind(a.env_get_maxkeysize, "mdb_env_get_maxkeysize");
    lib.bind(a.env_set_userctx, "mdb_env_set_userctx");
    lib.bind(a.env_get_userctx, "mdb_env_get_userctx");
    lib.bind(a.env_set_assert, "mdb_env_set_assert");
    lib.bind(a.txn_begin, "mdb_txn_begin");
    lib.bind(a.txn_commit, "mdb_txn_commit");
    lib.bind(a.txn_abort, "mdb_txn_abort");
    lib.bind(a.dbi_open, "mdb_dbi_open");
    lib.bind(a.get, "mdb_get");
    lib.bind(a.put, "mdb_put");
    lib.bind(a.del, "mdb_del");
    lib.bind(a.cursor_open, "mdb_cursor_open");
    lib.bind(a.cursor_get, "mdb_cursor_get");
    lib.bind(a.cursor_close, "mdb_cursor_close");
    lib.bind(a.strerror, "mdb_strerror");
    a.error = lib.error();
    return a;
  }();
  return api;
}

// LMDB's text for its own codes ("MDB_MAP_FULL: Environment mapsize limit
// reached") and strerror() for errno values.
std::string mdb_error(int rc) {
  const LmdbApi& api = lmdb_api();
  if (api.strerror) return api.strerror(rc);
  return std::strerror(rc > 0 ? rc : EINVAL);
}

// An LMDB assertion means the file or the library is broken beyond
// recovery; LMDB aborts after this returns. Say which table, as Postfix does.
void on_lmdb_assert(MDB_env* env, const char* msg) {
  const auto* spec = static_cast<const std::string*>(lmdb_api().env_get_userctx(env));
  log::fatal("{}: internal error: {}", spec ? *spec : std::string("lmdb"), msg ? msg : "");
}

MDB_val mdb_val(const std::string& bytes, std::size_t size) {
  MDB_val v;
  v.mv_size = size;
  v.mv_data = const_cast<char*>(bytes.data());
  return v;
}

// Bytes up to the first NUL: keys and values are C strings to Postfix.
std::string c_string(const MDB_val& v) { return detail::c_string(v.mv_data, v.mv_size); }

// Sets the whole-file record lock held through `fd`'s open file description
// to F_RDLCK, F_WRLCK or F_UNLCK, waiting as long as it takes.
Status set_file_lock(int fd, short type, const std::string& what) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // to the end of the file, however large it grows
  while (::fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
    if (errno == EINTR) continue;
    return sys_error("{}: {} dictionary", what, type == F_UNLCK ? "unlock" : "lock");
  }
  return {};
}

// One write made by the current transaction, kept for replay.
struct PendingWrite {
  bool put = true;  // false: a delete
  std::string key;  // bytes as stored (with the trailing NUL, if any)
  std::string value;
  unsigned flags = 0;
};

class LmdbTable final : public Table {
 public:
  LmdbTable(std::string name, OpenOptions o) : Table("lmdb", std::move(name), std::move(o)) {
    path_ = this->name() + ".lmdb";
    spec_ = spec();
    reset_nulls();
  }

  ~LmdbTable() override {
    abort_txn();
    close_env();
    if (!temp_path_.empty() && !committed_) ::unlink(temp_path_.c_str());
  }

  Status open() {
    const LmdbApi& api = lmdb_api();
    if (!api.error.empty()) return make_error("open database {}: {}", path_, api.error);
    const OpenOptions& o = options();
    std::string file = path_;
    unsigned flags = MDB_NOSUBDIR | MDB_NOLOCK;
    std::size_t size_hint = 0;  // the existing file's size: the map must cover it
    struct stat st {};
    switch (o.access) {
      case Access::ReadOnly:
        if (::stat(path_.c_str(), &st) < 0) return sys_error("open database {}", path_);
        // LMDB would try to initialize an empty file and fail with EBADF.
        if (S_ISREG(st.st_mode) && st.st_size == 0)
          return make_error("open database {}: empty file, not an LMDB database", path_);
        size_hint = static_cast<std::size_t>(st.st_size);
        flags |= MDB_RDONLY;
        break;
      case Access::Update:
        if (::stat(path_.c_str(), &st) == 0)
          size_hint = static_cast<std::size_t>(st.st_size);
        else if (errno != ENOENT || !o.create)
          return sys_error("open database {}", path_);
        break;
      case Access::Rebuild: {
        // Sized for the table it replaces, as Postfix sizes its in-place rebuild.
        if (::stat(path_.c_str(), &st) == 0) size_hint = static_cast<std::size_t>(st.st_size);
        temp_path_ = unique_temp_name(path_);
        // Created here, exclusively: never through someone else's symlink.
        UniqueFd fd(::open(temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
        if (!fd) {
          Error e = sys_error("open database {}", temp_path_);
          temp_path_.clear();
          return e;
        }
        file = temp_path_;
        // The temporary file is private: no fsync per batch, one at commit().
        flags |= MDB_NOSYNC;
        break;
      }
    }
    map_size_ = std::max(o.lmdb_map_size, kMinMapSize);
    if (size_hint > map_size_ - kMapSlack) map_size_ = std::min(size_hint + kMapSlack, kMapSizeLimit);
    if (auto s = open_env(file, flags); !s) return s;
    if (o.access == Access::Update && o.lock) {
      // Like Postfix's bulk writer: a moment of exclusive access proves that
      // no reader is inside an old snapshot; the shared lock we keep then
      // holds other writers off while readers continue.
      if (auto s = lock_to(F_WRLCK); !s) return s;
      if (auto s = lock_to(F_RDLCK); !s) return s;
    }
    return {};
  }

  bool fixed() const override { return true; }
  std::string file_path() const override { return path_; }

  Result<std::optional<std::string>> lookup(std::string_view raw_key) override {
    std::string key = fixed_key(raw_key);
    OpLock guard(*this);
    if (auto s = guard.acquire(F_RDLCK); !s) return s.take_error();
    ReadTxn txn(*this);
    if (auto s = txn.begin(); !s) return s.take_error();
    const LmdbApi& api = lmdb_api();
    for (int with_null = 1; with_null >= 0; --with_null) {
      if (!nulls_.tries(with_null)) continue;
      std::size_t size = key.size() + static_cast<std::size_t>(with_null);
      // No such key can be stored, so it is not there (LMDB would say
      // MDB_BAD_VALSIZE, and a long address from a client must not turn a
      // lookup into a temporary failure).
      if (size == 0 || size > max_key_size_) continue;
      MDB_val k = mdb_val(key, size), v{};
      int rc = api.get(txn.get(), dbi_, &k, &v);
      if (rc == 0) {
        // Stick with the convention this file uses (Postfix does the same).
        nulls_.matched(with_null);
        if (v.mv_size > kMaxValueSize)
          return make_error("error reading {}: value of \"{}\" is too large ({} bytes)", spec_, key, v.mv_size);
        return std::optional<std::string>(c_string(v));
      }
      if (rc != MDB_NOTFOUND) return make_error("error reading {}: {}", spec_, mdb_error(rc));
    }
    return std::optional<std::string>();
  }

  Result<bool> update(std::string_view raw_key, std::string_view raw_value) override {
    if (options().access == Access::ReadOnly)
      return make_error("table {}: update requires write access", spec_);
    std::string key = fixed_key(raw_key);
    std::string value(raw_value.substr(0, raw_value.find('\0')));
    std::size_t extra = nulls_.writes_null() ? 1 : 0;
    if (key.size() + extra == 0) return make_error("error updating {}: empty key", spec_);
    if (key.size() + extra > max_key_size_)
      return make_error("error updating {}: key \"{}...\" is too long ({} bytes, LMDB allows {})", spec_,
                        key.substr(0, 40), key.size() + extra, max_key_size_);
    if (value.size() + extra > kMaxValueSize)
      return make_error("error updating {}: value of \"{}\" is too large ({} bytes)", spec_, key, value.size());
    PendingWrite w;
    w.key = key;
    w.value = value;
    if (extra) {
      w.key.push_back('\0');
      w.value.push_back('\0');
    }
    w.flags = options().duplicates == Duplicates::Replace ? 0 : MDB_NOOVERWRITE;
    auto rc = write(std::move(w));
    if (!rc) return rc.take_error();
    if (*rc == 0) return true;
    if (*rc != MDB_KEYEXIST) return fail(make_error("error updating {}: {}", spec_, mdb_error(*rc)));
    switch (options().duplicates) {
      case Duplicates::Ignore: break;
      case Duplicates::Warn: warn(spec_ + ": duplicate entry: \"" + key + "\""); break;
      case Duplicates::Error: return make_error("{}: duplicate entry: \"{}\"", spec_, key);
      case Duplicates::Replace: break;  // not reached: put() overwrites
    }
    return false;
  }

  Result<bool> remove(std::string_view raw_key) override {
    if (options().access == Access::ReadOnly)
      return make_error("table {}: delete requires write access", spec_);
    std::string key = fixed_key(raw_key);
    for (int with_null = 1; with_null >= 0; --with_null) {
      if (!nulls_.tries(with_null)) continue;
      std::size_t size = key.size() + static_cast<std::size_t>(with_null);
      if (size == 0 || size > max_key_size_) continue;  // cannot be stored, so not there
      PendingWrite w;
      w.put = false;
      w.key = key;
      if (with_null) w.key.push_back('\0');
      auto rc = write(std::move(w));
      if (!rc) return rc.take_error();
      if (*rc == 0) {
        nulls_.matched(with_null);
        return true;
      }
      if (*rc != MDB_NOTFOUND) return fail(make_error("error deleting from {}: {}", spec_, mdb_error(*rc)));
    }
    return false;
  }

  Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    // One lock and one snapshot for the whole walk: a writer cannot recycle
    // pages under the cursor (Postfix locks each step only).
    OpLock guard(*this);
    if (auto s = guard.acquire(F_RDLCK); !s) return s;
    ReadTxn txn(*this);
    if (auto s = txn.begin(); !s) return s;
    const LmdbApi& api = lmdb_api();
    MDB_cursor* cursor = nullptr;
    int rc = api.cursor_open(txn.get(), dbi_, &cursor);
    if (rc != 0) return make_error("error seeking {}: {}", spec_, mdb_error(rc));
    MDB_val k{}, v{};
    for (rc = api.cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0; rc = api.cursor_get(cursor, &k, &v, MDB_NEXT)) {
      if (v.mv_size > kMaxValueSize) {
        api.cursor_close(cursor);
        return make_error("error seeking {}: value of \"{}\" is too large ({} bytes)", spec_, c_string(k),
                          v.mv_size);
      }
      if (!fn(c_string(k), c_string(v))) break;
    }
    api.cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return make_error("error seeking {}: {}", spec_, mdb_error(rc));
    return {};
  }

  Status commit() override {
    if (options().access == Access::ReadOnly || committed_) return {};
    if (broken_) return *broken_;
    if (auto s = commit_txn(); !s) return s;
    if (options().access == Access::Update) {
      close_env();  // releases the session lock
      committed_ = true;
      return {};
    }
    // Make the new file durable before it becomes visible under its name.
    const LmdbApi& api = lmdb_api();
    if (int rc = api.env_sync(env_, 1); rc != 0)
      return make_error("error writing {}: sync: {}", temp_path_, mdb_error(rc));
    if (options().create_mode && ::fchmod(fd_, *options().create_mode) < 0)
      return sys_error("chmod {}", temp_path_);
    close_env();
    // Wait for writers inside the old file (postmap -i, Postfix's or ours)
    // to finish, so that their work is not written into a file that is
    // about to disappear. Readers only need read access to hold us up.
    UniqueFd old(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
    short lock_type = F_WRLCK;
    if (!old && (errno == EACCES || errno == EROFS)) {
      old.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      lock_type = F_RDLCK;
    }
    if (old && options().lock)
      if (auto s = set_file_lock(old.get(), lock_type, path_); !s) return s;
    if (::rename(temp_path_.c_str(), path_.c_str()) < 0) return sys_error("rename {} to {}", temp_path_, path_);
    committed_ = true;
    sync_parent_dir(path_);
    return {};
  }

  bool changed() const override {
    if (options().access != Access::ReadOnly) return false;
    return stamp_.replaced(fd_, path_);
  }

  void warn_if_stale_source() {
    if (auto w = stale_source_warning(path_, name())) warn(std::move(*w));
  }

 protected:
  void on_nulls_changed() override { reset_nulls(); }

 private:
  // The lock around one read: shared for ReadOnly tables that lock. Update
  // sessions already hold a shared lock for their whole life.
  class OpLock {
   public:
    explicit OpLock(LmdbTable& t) : t_(t) {}
    Status acquire(short type) {
      if (!t_.options().lock || t_.options().access != Access::ReadOnly || t_.fd_ < 0) return {};
      if (auto s = set_file_lock(t_.fd_, type, t_.path_); !s) return s;
      held_ = true;
      return {};
    }
    ~OpLock() {
      if (held_) (void)set_file_lock(t_.fd_, F_UNLCK, t_.path_);
    }
    OpLock(const OpLock&) = delete;
    OpLock& operator=(const OpLock&) = delete;

   private:
    LmdbTable& t_;
    bool held_ = false;
  };

  // A snapshot to read from: the session's write transaction when there is
  // one (so that reads see its writes), else a read-only transaction of its
  // own, aborted at the end of the scope.
  class ReadTxn {
   public:
    explicit ReadTxn(LmdbTable& t) : t_(t) {}
    Status begin() {
      if (t_.txn_) {
        txn_ = t_.txn_;
        return {};
      }
      if (auto s = t_.check_file(); !s) return s;
      const LmdbApi& api = lmdb_api();
      for (int attempt = 0;; ++attempt) {
        int rc = api.txn_begin(t_.env_, nullptr, MDB_RDONLY, &txn_);
        if (rc == 0) break;
        txn_ = nullptr;
        if (rc != MDB_MAP_RESIZED || attempt >= 2)
          return make_error("error reading {}: {}", t_.spec_, mdb_error(rc));
        if (auto s = t_.adopt_map_size(); !s) return s;
      }
      owned_ = true;
      return {};
    }
    MDB_txn* get() const { return txn_; }
    ~ReadTxn() {
      if (owned_) lmdb_api().txn_abort(txn_);
    }
    ReadTxn(const ReadTxn&) = delete;
    ReadTxn& operator=(const ReadTxn&) = delete;

   private:
    LmdbTable& t_;
    MDB_txn* txn_ = nullptr;
    bool owned_ = false;
  };

  // Restores the session's lock state when an exclusive moment ends.
  class Exclusive {
   public:
    explicit Exclusive(LmdbTable& t) : t_(t), before_(t.lock_state_) {}
    Status acquire() { return t_.lock_to(F_WRLCK); }
    ~Exclusive() { (void)t_.lock_to(before_); }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    LmdbTable& t_;
    short before_;
  };

  void reset_nulls() {
    nulls_.reset(options().nulls);
  }

  bool session_locks() const { return options().access == Access::Update && options().lock && fd_ >= 0; }

  // Moves the session's lock to `type` (Access::Update only).
  Status lock_to(short type) {
    if (!session_locks() || lock_state_ == type) return {};
    if (auto s = set_file_lock(fd_, type, path_); !s) return s;
    lock_state_ = type;
    return {};
  }

  Status open_env(const std::string& file, unsigned flags) {
    const LmdbApi& api = lmdb_api();
    int rc = api.env_create(&env_);
    if (rc != 0) {
      env_ = nullptr;
      return make_error("open database {}: {}", path_, mdb_error(rc));
    }
    api.env_set_userctx(env_, &spec_);
    api.env_set_assert(env_, on_lmdb_assert);
    if ((rc = api.env_set_mapsize(env_, map_size_)) != 0 || (rc = api.env_open(env_, file.c_str(), flags, 0644)) != 0) {
      close_env();
      return make_error("open database {}: {}", file, mdb_error(rc));
    }
    if ((rc = api.env_get_fd(env_, &fd_)) != 0) {
      close_env();
      return make_error("open database {}: {}", file, mdb_error(rc));
    }
    // Delivery agents run commands: the table must not leak into them.
    ::fcntl(fd_, F_SETFD, ::fcntl(fd_, F_GETFD) | FD_CLOEXEC);
    max_key_size_ = static_cast<std::size_t>(api.env_get_maxkeysize(env_));
    struct stat st {};
    if (::fstat(fd_, &st) == 0) stamp_ = FileStamp::of(st);
    if (auto s = check_file(); !s) {
      close_env();
      return s;
    }
    // The unnamed main database always exists; opening it in a read
    // transaction (committed, so that the handle stays valid) writes nothing.
    MDB_txn* txn = nullptr;
    if ((rc = api.txn_begin(env_, nullptr, MDB_RDONLY, &txn)) == 0) {
      if ((rc = api.dbi_open(txn, nullptr, 0, &dbi_)) == 0)
        rc = api.txn_commit(txn);
      else
        api.txn_abort(txn);
    }
    if (rc != 0) {
      close_env();
      return make_error("open database {}: {}", file, mdb_error(rc));
    }
    return {};
  }

  // The file must hold every page its newest metadata refers to: LMDB reads
  // the file through a memory map, and a page beyond the end of the file
  // would kill the process with SIGBUS instead of failing a lookup.
  Status check_file() {
    const LmdbApi& api = lmdb_api();
    MDB_stat ms{};
    api.env_stat(env_, &ms);
    struct stat st {};
    if (::fstat(fd_, &st) < 0) return sys_error("open database {}", path_);
    auto size = static_cast<std::size_t>(st.st_size);
    const std::size_t psize = ms.ms_psize ? ms.ms_psize : 4096;
    // The two metadata pages come first; env_info reads them from the map.
    if (size < 2 * psize) return make_error("open database {}: file is truncated ({} bytes)", path_, size);
    MDB_envinfo info{};
    api.env_info(env_, &info);
    std::size_t need = (info.me_last_pgno + 1) * psize;
    if (size < need)
      return make_error("open database {}: file is truncated ({} bytes, its metadata needs {})", path_, size, need);
    return {};
  }

  // Another process grew the map beyond ours (MDB_MAP_RESIZED): take its size.
  Status adopt_map_size() {
    const LmdbApi& api = lmdb_api();
    if (int rc = api.env_set_mapsize(env_, 0); rc != 0)
      return make_error("error reading {}: {}", spec_, mdb_error(rc));
    MDB_envinfo info{};
    api.env_info(env_, &info);
    map_size_ = info.me_mapsize;
    log::debug("database {}: using size limit {} after MDB_MAP_RESIZED", spec_, map_size_);
    return check_file();
  }

  // Starts the session's write transaction if none is open.
  Status ensure_txn() {
    if (txn_) return {};
    const LmdbApi& api = lmdb_api();
    // Exclusive while the transaction starts: no reader may still be inside
    // a snapshot whose pages this transaction is allowed to recycle.
    Exclusive ex(*this);
    if (session_locks())
      if (auto s = ex.acquire(); !s) return s;
    for (int attempt = 0;; ++attempt) {
      int rc = api.txn_begin(env_, nullptr, 0, &txn_);
      if (rc == 0) return {};
      txn_ = nullptr;
      if (rc != MDB_MAP_RESIZED || attempt >= 2) return make_error("error updating {}: {}", spec_, mdb_error(rc));
      if (auto s = adopt_map_size(); !s) return s;
    }
  }

  void abort_txn() {
    if (txn_) lmdb_api().txn_abort(txn_);
    txn_ = nullptr;
  }

  void close_env() {
    abort_txn();
    if (env_) lmdb_api().env_close(env_);
    env_ = nullptr;
    fd_ = -1;
    lock_state_ = F_UNLCK;
  }

  int apply(const PendingWrite& w) {
    const LmdbApi& api = lmdb_api();
    MDB_val k = mdb_val(w.key, w.key.size());
    if (!w.put) return api.del(txn_, dbi_, &k, nullptr);
    MDB_val v = mdb_val(w.value, w.value.size());
    return api.put(txn_, dbi_, &k, &v, w.flags);
  }

  // LMDB dropped the transaction for lack of room: double the map and
  // replay the batch into a fresh transaction.
  Status grow_and_replay() {
    const LmdbApi& api = lmdb_api();
    for (;;) {
      abort_txn();
      if (map_size_ >= kMapSizeLimit)
        return make_error("error updating {}: {}", spec_, mdb_error(MDB_MAP_FULL));
      map_size_ = map_size_ > kMapSizeLimit / 2 ? kMapSizeLimit : map_size_ * 2;
      if (int rc = api.env_set_mapsize(env_, map_size_); rc != 0)
        return make_error("error updating {}: map size {}: {}", spec_, map_size_, mdb_error(rc));
      log::debug("database {}: using size limit {} after MDB_MAP_FULL", spec_, map_size_);
      if (auto s = ensure_txn(); !s) return s;
      int rc = 0;
      for (const auto& w : pending_)
        if ((rc = apply(w)) != 0) break;
      if (rc == 0) return {};
      // Each replayed write succeeded before, so only room can be missing.
      if (rc != MDB_MAP_FULL) return make_error("error updating {}: {}", spec_, mdb_error(rc));
    }
  }

  // Runs one write in the session's transaction. Returns LMDB's status:
  // 0, MDB_KEYEXIST, MDB_NOTFOUND (deletes) or a hard error.
  Result<int> write(PendingWrite w) {
    if (broken_) return *broken_;
    if (auto s = ensure_txn(); !s) return fail(s.take_error());
    int rc;
    while ((rc = apply(w)) == MDB_MAP_FULL)
      if (auto s = grow_and_replay(); !s) return fail(s.take_error());
    if (rc != 0) return rc;
    pending_bytes_ += w.key.size() + w.value.size();
    pending_.push_back(std::move(w));
    if (pending_.size() >= kBatchOps || pending_bytes_ >= kBatchBytes)
      if (auto s = commit_txn(); !s) return fail(s.take_error());
    return 0;
  }

  // Commits the session's transaction (exclusively, so that no reader sees
  // the metadata half written).
  Status commit_txn() {
    if (!txn_) return {};
    const LmdbApi& api = lmdb_api();
    Exclusive ex(*this);
    if (session_locks())
      if (auto s = ex.acquire(); !s) return s;
    for (;;) {
      int rc = api.txn_commit(txn_);
      txn_ = nullptr;  // freed by LMDB whatever the outcome
      if (rc == 0) break;
      if (rc != MDB_MAP_FULL) return make_error("error updating {}: {}", spec_, mdb_error(rc));
      if (auto s = grow_and_replay(); !s) return s;
    }
    pending_.clear();
    pending_bytes_ = 0;
    return {};
  }

  // A failed write leaves the transaction unusable: refuse everything after
  // it, commit() included, rather than commit part of a batch.
  Error fail(Error e) {
    abort_txn();
    pending_.clear();
    pending_bytes_ = 0;
    broken_ = e;
    return e;
  }

  std::string path_;  // name + ".lmdb"
  std::string spec_;  // "lmdb:name", also LMDB's user context for assertions
  std::string temp_path_;
  MDB_env* env_ = nullptr;  // owned: closed by close_env()
  MDB_txn* txn_ = nullptr;  // the session's write transaction, owned
  MDB_dbi dbi_ = 0;
  int fd_ = -1;  // the data file's descriptor, owned by LMDB; carries our locks
  short lock_state_ = F_UNLCK;
  std::size_t map_size_ = kMinMapSize;
  std::size_t max_key_size_ = 511;
  std::vector<PendingWrite> pending_;  // writes of txn_, for replay
  std::size_t pending_bytes_ = 0;
  std::optional<Error> broken_;
  NullConvention nulls_;
  bool committed_ = false;
  FileStamp stamp_;
};

}  // namespace

Result<std::unique_ptr<Table>> open_lmdb(std::string_view name, const OpenOptions& o) {
  auto t = std::make_unique<LmdbTable>(std::string(name), o);
  if (auto s = t->open(); !s) return s.take_error();
  if (o.access == Access::ReadOnly && o.lock) t->warn_if_stale_source();
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace postern::maps::detail
