// db_table.cpp - hash: and btree: tables in Berkeley DB 5.3 files, Postfix style.
//
// On-disk conventions are Postfix's (dict_db.c), so admins' existing .db
// files keep working and Postfix's tools read ours:
//   - hash:/p and btree:/p live in "/p.db" (DB_HASH / DB_BTREE, no subdatabase);
//   - keys are lowercased when written and looked up (fold_fix);
//   - keys and values are stored with a trailing NUL byte on Linux
//     (Postfix's default there; postmap -n omits it). Lookups try "key\0",
//     then "key", and stick with the form that matched first, so files
//     written either way work;
//   - readers take a shared flock(2) on the .db file around each access,
//     writers an exclusive one, which is what Postfix's daemons, postmap
//     and postalias do on Linux.
// Rebuilds write a temporary file next to the target and rename it into
// place, so readers never see a half-written table; Postfix's daemons notice
// the replaced file (its link count drops to zero) and restart, as ours do
// through changed(). The Berkeley DB environment is private, in memory, with
// its home in the table's directory: like Postfix, a DB_CONFIG file in the
// current directory is never read.
//
// Berkeley DB is loaded when the first such table is opened (dl_library.h;
// its C API: db_create() and db_env_create() are the only symbols needed,
// the rest are methods of its handles).
//
// Logs: "<file>.db: duplicate entry: "key"" (warning, Duplicates::Warn),
// "database <file>.db is older than source file <file>" (warning).
#include <db.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"
#include "log/log.h"
#include "base/dl_library.h"
#include "maps/internal.h"

namespace postern::maps::detail {
namespace {

constexpr std::uint32_t kHashElements = 4096;  // Postfix's DICT_DB_NELM sizing hint

// Berkeley DB reports details through a callback; keep the last one so that
// errors can carry it.
thread_local std::string t_db_message;

void db_errcall(const DB_ENV*, const char*, const char* msg) { t_db_message = msg ? msg : ""; }

// The library's entry points, resolved once.
struct DbApi {
  int (*env_create)(DB_ENV**, u_int32_t) = nullptr;
  int (*db_create)(DB**, DB_ENV*, u_int32_t) = nullptr;
  char* (*strerror)(int) = nullptr;
  std::string error;  // non-empty: the library could not be loaded
};

const DbApi& db_api() {
  static const DbApi api = [] {
    DbApi a;
    // The soname the headers belong to (DB_VERSION_MAJOR/MINOR): a file
    // written by another major version would not be readable anyway.
    DlLibrary lib(fmt::format("libdb-{}.{}.so", DB_VERSION_MAJOR, DB_VERSION_MINOR), "Berkeley DB");
    lib.bind(a.env_create, "db_env_create");
    lib.bind(a.db_create, "db_create");
    lib.bind(a.strerror, "db_strerror");
    a.error = lib.error();
    return a;
  }();
  return api;
}

// A DBT over caller-owned bytes (Berkeley DB does not write through it for
// keys; for results it points into its own memory).
DBT dbt(const void* data = nullptr, std::uint32_t size = 0) {
  DBT d;
  std::memset(&d, 0, sizeof d);
  d.data = const_cast<void*>(data);
  d.size = size;
  return d;
}

std::string db_strerror(int rc) {
  const DbApi& api = db_api();
  std::string s = api.strerror ? std::string(api.strerror(rc)) : std::strerror(rc > 0 ? rc : EINVAL);
  if (!t_db_message.empty()) {
    s += " (" + t_db_message + ")";
    t_db_message.clear();
  }
  return s;
}

// Holds an flock(2) lock for one operation.
class FlockGuard {
 public:
  FlockGuard() = default;
  Status acquire(int fd, int op, const std::string& what) {
    while (::flock(fd, op) < 0) {
      if (errno == EINTR) continue;
      return sys_error("{}: lock dictionary", what);
    }
    fd_ = fd;
    return {};
  }
  ~FlockGuard() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }
  FlockGuard(const FlockGuard&) = delete;
  FlockGuard& operator=(const FlockGuard&) = delete;

 private:
  int fd_ = -1;
};

// "dir/name.db" -> {"dir", "name.db"}; the environment home is the directory.
std::string c_string(const DBT& d) { return detail::c_string(d.data, d.size); }

class DbTable final : public Table {
 public:
  DbTable(std::string type, std::string name, OpenOptions o)
      : Table(std::move(type), std::move(name), std::move(o)) {
    db_path_ = this->name() + ".db";
    reset_nulls();
  }

  ~DbTable() override {
    (void)close_handles();
    if (!temp_path_.empty() && !committed_) ::unlink(temp_path_.c_str());
  }

  Status open() {
    const OpenOptions& o = options();
    dbtype_ = type() == "hash" ? DB_HASH : DB_BTREE;
    std::string file = db_path_;
    std::uint32_t flags = 0;
    UniqueFd open_lock;  // shared lock while opening, so we never read a file Postfix is truncating
    switch (o.access) {
      case Access::ReadOnly:
        flags = DB_RDONLY;
        if (o.lock) {
          open_lock.reset(::open(db_path_.c_str(), O_RDONLY | O_CLOEXEC));
          if (!open_lock) return sys_error("open database {}", db_path_);
          FlockGuard g;
          if (auto s = g.acquire(open_lock.get(), LOCK_SH, db_path_); !s) return s;
          return open_handles(file, flags);
        }
        break;
      case Access::Update:
        flags = o.create ? DB_CREATE : 0;
        if (o.lock) {
          if (auto s = lock_for_update(); !s) return s;
        }
        break;
      case Access::Rebuild:
        temp_path_ = unique_temp_name(db_path_);
        file = temp_path_;
        flags = DB_CREATE | DB_EXCL;
        break;
    }
    if (auto s = open_handles(file, flags); !s) return s;
    if (o.access == Access::Update && o.lock && !session_lock_) {
      // The database did not exist: Berkeley DB created it; lock that file.
      session_lock_.reset(::open(db_path_.c_str(), O_RDWR | O_CLOEXEC));
      if (!session_lock_) return sys_error("open database {}", db_path_);
      while (::flock(session_lock_.get(), LOCK_EX) < 0)
        if (errno != EINTR) return sys_error("{}: lock dictionary", db_path_);
    }
    return {};
  }

  bool fixed() const override { return true; }
  std::string file_path() const override { return db_path_; }

  Result<std::optional<std::string>> lookup(std::string_view raw_key) override {
    std::string key = fixed_key(raw_key);
    FlockGuard g;
    if (needs_op_lock())
      if (auto s = g.acquire(fd_, LOCK_SH, db_path_); !s) return s.take_error();
    try {
      for (int with_null = 1; with_null >= 0; --with_null) {
        if (!nulls_.tries(with_null)) continue;
        DBT k = dbt(key.data(), static_cast<std::uint32_t>(key.size() + with_null));
        DBT v = dbt();
        int rc = db_->get(db_, nullptr, &k, &v, 0);
        if (rc == 0) {
          // Stick with the convention this file uses (Postfix does the same).
          nulls_.matched(with_null);
          return std::optional<std::string>(c_string(v));
        }
        if (rc != DB_NOTFOUND) return make_error("error reading {}: {}", db_path_, db_strerror(rc));
      }
    } catch (const std::exception& e) {
      return make_error("error reading {}: {}", db_path_, e.what());
    }
    return std::optional<std::string>();
  }

  Result<bool> update(std::string_view raw_key, std::string_view raw_value) override {
    if (options().access == Access::ReadOnly)
      return make_error("table {}: update requires write access", spec());
    std::string key = fixed_key(raw_key);
    std::string value(raw_value.substr(0, raw_value.find('\0')));
    std::uint32_t extra = nulls_.writes_null() ? 1 : 0;
    DBT k = dbt(key.data(), static_cast<std::uint32_t>(key.size() + extra));
    DBT v = dbt(value.data(), static_cast<std::uint32_t>(value.size() + extra));
    FlockGuard g;
    if (needs_op_lock())
      if (auto s = g.acquire(fd_, LOCK_EX, db_path_); !s) return s.take_error();
    int rc;
    try {
      rc = db_->put(db_, nullptr, &k, &v, options().duplicates == Duplicates::Replace ? 0 : DB_NOOVERWRITE);
    } catch (const std::exception& e) {
      return make_error("error writing {}: {}", db_path_, e.what());
    }
    if (rc == 0) return true;
    if (rc != DB_KEYEXIST) return make_error("error writing {}: {}", db_path_, db_strerror(rc));
    switch (options().duplicates) {
      case Duplicates::Ignore: break;
      case Duplicates::Warn: warn(db_path_ + ": duplicate entry: \"" + key + "\""); break;
      case Duplicates::Error: return make_error("{}: duplicate entry: \"{}\"", db_path_, key);
      case Duplicates::Replace: break;  // not reached: put() overwrites
    }
    return false;
  }

  Result<bool> remove(std::string_view raw_key) override {
    if (options().access == Access::ReadOnly)
      return make_error("table {}: delete requires write access", spec());
    std::string key = fixed_key(raw_key);
    FlockGuard g;
    if (needs_op_lock())
      if (auto s = g.acquire(fd_, LOCK_EX, db_path_); !s) return s.take_error();
    try {
      for (int with_null = 1; with_null >= 0; --with_null) {
        if (!nulls_.tries(with_null)) continue;
        DBT k = dbt(key.data(), static_cast<std::uint32_t>(key.size() + with_null));
        int rc = db_->del(db_, nullptr, &k, 0);
        if (rc == 0) {
          nulls_.matched(with_null);
          return true;
        }
        if (rc != DB_NOTFOUND) return make_error("error deleting from {}: {}", db_path_, db_strerror(rc));
      }
    } catch (const std::exception& e) {
      return make_error("error deleting from {}: {}", db_path_, e.what());
    }
    return false;
  }

  Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    FlockGuard g;
    if (needs_op_lock())
      if (auto s = g.acquire(fd_, LOCK_SH, db_path_); !s) return s;
    DBC* cursor = nullptr;
    try {
      int rc = db_->cursor(db_, nullptr, &cursor, 0);
      if (rc != 0) return make_error("error seeking {}: {}", db_path_, db_strerror(rc));
      DBT k = dbt(), v = dbt();
      for (rc = cursor->get(cursor, &k, &v, DB_FIRST); rc == 0; rc = cursor->get(cursor, &k, &v, DB_NEXT)) {
        if (!fn(c_string(k), c_string(v))) break;
      }
      cursor->close(cursor);
      cursor = nullptr;
      if (rc != 0 && rc != DB_NOTFOUND) return make_error("error seeking {}: {}", db_path_, db_strerror(rc));
    } catch (const std::exception& e) {
      if (cursor) cursor->close(cursor);
      return make_error("error seeking {}: {}", db_path_, e.what());
    }
    return {};
  }

  Status commit() override {
    if (options().access == Access::ReadOnly) return {};
    if (committed_) return {};
    if (auto s = close_handles(); !s) return s;
    if (options().access == Access::Update) {
      committed_ = true;
      session_lock_.reset();
      return {};
    }
    // Make the new file durable before it becomes visible under its name.
    {
      UniqueFd fd(::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return sys_error("open {}", temp_path_);
      if (options().create_mode && ::fchmod(fd.get(), *options().create_mode) < 0)
        return sys_error("chmod {}", temp_path_);
      if (::fsync(fd.get()) < 0) return sys_error("fsync {}", temp_path_);
    }
    // Wait for writers that update the old file in place (postmap -i) to
    // finish, so that their changes are not written into a dead file while we
    // rename.
    UniqueFd old(::open(db_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (old && options().lock) {
      while (::flock(old.get(), LOCK_EX) < 0)
        if (errno != EINTR) return sys_error("{}: lock dictionary", db_path_);
    }
    if (::rename(temp_path_.c_str(), db_path_.c_str()) < 0)
      return sys_error("rename {} to {}", temp_path_, db_path_);
    committed_ = true;
    sync_parent_dir(db_path_);
    return {};
  }

  bool changed() const override {
    if (options().access != Access::ReadOnly) return false;
    return stamp_.replaced(fd_, db_path_);
  }

  void warn_if_stale_source() {
    if (auto w = stale_source_warning(db_path_, name())) warn(std::move(*w));
  }

 protected:
  void on_nulls_changed() override { reset_nulls(); }

 private:
  void reset_nulls() {
    nulls_.reset(options().nulls);
  }

  bool needs_op_lock() const { return options().lock && options().access == Access::ReadOnly && fd_ >= 0; }

  // Exclusive lock on the existing file for the whole update session. If a
  // rebuild renamed a new file into place while we waited, lock that one.
  Status lock_for_update() {
    for (int attempt = 0; attempt < 10; ++attempt) {
      UniqueFd fd(::open(db_path_.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd) {
        if (errno == ENOENT && options().create) return {};  // created (and then locked) by open()
        return sys_error("open database {}", db_path_);
      }
      while (::flock(fd.get(), LOCK_EX) < 0)
        if (errno != EINTR) return sys_error("{}: lock dictionary", db_path_);
      struct stat held {
      }, now{};
      if (::fstat(fd.get(), &held) == 0 && ::stat(db_path_.c_str(), &now) == 0 && held.st_dev == now.st_dev &&
          held.st_ino == now.st_ino) {
        session_lock_ = std::move(fd);
        return {};
      }
    }
    return make_error("{}: file keeps being replaced; giving up", db_path_);
  }

  Status open_handles(const std::string& file, std::uint32_t flags) {
    try {
      auto [home, base] = split_dir(file);
      const DbApi& api = db_api();
      if (!api.error.empty()) return make_error("open database {}: {}", db_path_, api.error);
      int rc = api.env_create(&env_, 0);
      if (rc != 0) {
        env_ = nullptr;
        return make_error("create DB environment: {}", db_strerror(rc));
      }
      env_->set_errcall(env_, db_errcall);
      std::size_t cache = std::max<std::size_t>(options().db_cache_size, 64 * 1024);
      cache = std::min<std::size_t>(cache, std::size_t(1) << 30);
      rc = env_->set_cachesize(env_, 0, static_cast<std::uint32_t>(cache), 1);
      if (rc != 0) return make_error("set DB cache size {}: {}", cache, db_strerror(rc));
      rc = env_->open(env_, home.c_str(), DB_CREATE | DB_INIT_MPOOL | DB_PRIVATE, 0);
      if (rc != 0) return make_error("open DB environment {}: {}", home, db_strerror(rc));
      rc = api.db_create(&db_, env_, 0);
      if (rc != 0) {
        db_ = nullptr;
        return make_error("create DB handle: {}", db_strerror(rc));
      }
      if (dbtype_ == DB_HASH && (rc = db_->set_h_nelem(db_, kHashElements)) != 0)
        return make_error("set DB hash element count: {}", db_strerror(rc));
      rc = db_->open(db_, nullptr, base.c_str(), nullptr, dbtype_, flags, 0644);
      if (rc != 0) {
        std::string why = rc > 0 ? std::string(std::strerror(rc)) : db_strerror(rc);
        t_db_message.clear();
        Error e{fmt::format("open database {}: {}", file == temp_path_ ? temp_path_ : db_path_, why),
                rc > 0 ? rc : 0};
        (void)close_handles();
        return e;
      }
      rc = db_->fd(db_, &fd_);
      if (rc != 0) return make_error("get database file descriptor: {}", db_strerror(rc));
      struct stat st {};
      if (::fstat(fd_, &st) == 0) stamp_ = FileStamp::of(st);
    } catch (const std::exception& e) {
      (void)close_handles();
      return make_error("open database {}: {}", db_path_, e.what());
    }
    return {};
  }

  Status close_handles() {
    Status result;
    try {
      // DB->close and DB_ENV->close free the handle whatever they return.
      if (db_) {
        int rc = db_->close(db_, 0);
        db_ = nullptr;
        if (rc != 0) result = make_error("close database {}: {}", db_path_, db_strerror(rc));
      }
      if (env_) {
        env_->close(env_, 0);
        env_ = nullptr;
      }
    } catch (const std::exception& e) {
      result = make_error("close database {}: {}", db_path_, e.what());
    }
    fd_ = -1;
    return result;
  }

  std::string db_path_;
  std::string temp_path_;
  DBTYPE dbtype_ = DB_HASH;
  DB_ENV* env_ = nullptr;  // owned: freed by close_handles()
  DB* db_ = nullptr;       // owned: freed by close_handles()
  int fd_ = -1;            // the database's own descriptor (owned by Berkeley DB)
  UniqueFd session_lock_;  // Access::Update: exclusive lock held until commit/close
  NullConvention nulls_;
  bool committed_ = false;
  FileStamp stamp_;
};

}  // namespace

Result<std::unique_ptr<Table>> open_db(std::string_view type, std::string_view name, const OpenOptions& o) {
  auto t = std::make_unique<DbTable>(std::string(type), std::string(name), o);
  if (auto s = t->open(); !s) return s.take_error();
  if (o.access == Access::ReadOnly && o.lock) t->warn_if_stale_source();
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace postern::maps::detail
