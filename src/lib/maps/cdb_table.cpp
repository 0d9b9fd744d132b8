// cdb_table.cpp - cdb: tables, Postfix's cdb_table(5), in tinycdb files.
//
// A constant database: built whole, then only read. On-disk conventions are
// those of Postfix's dict_cdb.c, so Postfix's tools read our files and we
// read theirs:
//   - cdb:/p lives in "/p.cdb" (djb's cdb format, written by tinycdb);
//   - keys are lowercased when written and looked up (fold_fix);
//   - unlike hash:, a build writes keys and values WITHOUT a trailing NUL
//     unless asked (postmap -N); lookups try "key\0", then "key", and stick
//     with the form that matched first, as for hash:;
//   - duplicates during a build: warned about and dropped (the first value
//     stays), or replaced (postmap -r), or dropped silently (postmap -w;
//     Postfix stores both records there, of which lookups only ever see the
//     first, so the answers are the same);
//   - no locks: nobody writes a .cdb in place. A build writes a temporary
//     file next to the target, fsyncs it and renames it into place on
//     commit(); readers keep their mapping of the old file and notice the
//     replacement through changed().
// Updating in place (postmap -i, postmap -d, postalias -i) is refused when
// the table is opened, as Postfix refuses it.
//
// Postfix cannot list a cdb table (postmap -s: "sequence operation is not
// supported"); Postern can, in file order.
//
// The file is untrusted input: tinycdb's cdb_init() refuses files shorter
// than the 2048-byte table of contents and its readers check every offset
// against the mapped size (a malformed file is EPROTO, a lookup error, never
// an out-of-bounds read). On top of that, only regular files under 4 GiB
// (the format's limit) are mapped, and values and keys longer than
// kMaxRecordBytes are errors rather than allocations.
//
// tinycdb (libcdb.so.1) is loaded when the first cdb: table is opened
// (dl_library.h); <cdb.h> only provides the types and accessor macros.
//
// Logs: "<file>: duplicate entry: "key"" (warning, Duplicates::Warn),
// "database <file>.cdb is older than source file <file>" (warning).
#include <cdb.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/dl_library.h"
#include "base/unique_fd.h"
#include "maps/internal.h"

namespace postern::maps::detail {
namespace {

// Largest key or value returned. Postmap's own source lines are limited to
// kMaxLineLength, so a legitimate table stays far below this; a hostile
// file cannot make a daemon allocate gigabytes for one lookup.
constexpr std::size_t kMaxRecordBytes = 16 * kMaxLineLength;

// The cdb format addresses records with 32-bit offsets.
constexpr off_t kMaxFileBytes = off_t{0xffffffff};

// The byte size of the table of contents that starts every cdb file.
constexpr unsigned kTocBytes = 2048;

// tinycdb's entry points, resolved once. Only functions: cdb_datapos() and
// friends are macros over struct cdb, cdb_seqinit() sets the cursor to the
// first record.
struct CdbApi {
  int (*init)(struct cdb*, int) = nullptr;
  void (*free)(struct cdb*) = nullptr;
  int (*find)(struct cdb*, const void*, unsigned) = nullptr;
  const void* (*get)(const struct cdb*, unsigned, unsigned) = nullptr;
  int (*seqnext)(unsigned*, struct cdb*) = nullptr;
  int (*make_start)(struct cdb_make*, int) = nullptr;
  int (*make_put)(struct cdb_make*, const void*, unsigned, const void*, unsigned, enum cdb_put_mode) = nullptr;
  int (*make_find)(struct cdb_make*, const void*, unsigned, enum cdb_put_mode) = nullptr;
  int (*make_finish)(struct cdb_make*) = nullptr;
  std::string error;  // non-empty: the library could not be loaded
};

const CdbApi& cdb_api() {
  static const CdbApi api = [] {
    CdbApi a;
    DlLibrary lib("libcdb.so.1", "tinycdb");
    lib.bind(a.init, "cdb_init");
    lib.bind(a.free, "cdb_free");
    lib.bind(a.find, "cdb_find");
    lib.bind(a.get, "cdb_get");
    lib.bind(a.seqnext, "cdb_seqnext");
    lib.bind(a.make_start, "cdb_make_start");
    lib.bind(a.make_put, "cdb_make_put");
    lib.bind(a.make_find, "cdb_make_find");
    lib.bind(a.make_finish, "cdb_make_finish");
    a.error = lib.error();
    return a;
  }();
  return api;
}

// errno after a failed tinycdb call, in words: EPROTO is its "the file's
// structure is inconsistent".
std::string cdb_strerror(int e) {
  if (e == EPROTO) return "malformed cdb file";
  if (e == 0) return "unknown error";
  return std::strerror(e);
}

// Record bytes as a C string, without a copy (see c_string() in internal.h).
std::string_view c_view(const char* p, unsigned len) { return {p, ::strnlen(p, len)}; }

class CdbTable final : public Table {
 public:
  CdbTable(std::string name, OpenOptions o) : Table("cdb", std::move(name), std::move(o)) {
    cdb_path_ = this->name() + ".cdb";
    reset_nulls();
  }

  ~CdbTable() override {
    if (reader_open_) cdb_api().free(&reader_);
    if (writer_open_) abandon_build();
  }

  Status open() {
    // Refused before anything is loaded or opened. Postfix says "dict_cdb_open:
    // inappropriate open flags for cdb database".
    if (options().access == Access::Update)
      return make_error(
          "open database {}: a cdb table cannot be changed in place (update or delete); "
          "edit the source file and rebuild the table with postmap or postalias",
          cdb_path_);
    const CdbApi& api = cdb_api();
    if (!api.error.empty()) return make_error("open database {}: {}", cdb_path_, api.error);
    return options().access == Access::Rebuild ? open_writer() : open_reader();
  }

  bool fixed() const override { return true; }
  std::string file_path() const override { return cdb_path_; }

  Result<std::optional<std::string>> lookup(std::string_view raw_key) override {
    if (!reader_open_) return make_error("table {}: lookup requires read access", spec());
    const CdbApi& api = cdb_api();
    std::string key = fixed_key(raw_key);
    for (int with_null = 1; with_null >= 0; --with_null) {
      if (!nulls_.tries(with_null)) continue;
      errno = 0;
      int rc = api.find(&reader_, key.c_str(), static_cast<unsigned>(key.size() + with_null));
      if (rc < 0) return make_error("error reading {}: {}", cdb_path_, cdb_strerror(errno));
      if (rc == 0) continue;
      // Stick with the convention this file uses (Postfix does the same).
      nulls_.matched(with_null);
      auto value = record(cdb_datapos(&reader_), cdb_datalen(&reader_), "value");
      if (!value) return value.take_error();
      return std::optional<std::string>(std::string(*value));
    }
    return std::optional<std::string>();
  }

  Result<bool> update(std::string_view raw_key, std::string_view raw_value) override {
    if (!writer_open_) return make_error("table {}: update requires write access", spec());
    std::string key = fixed_key(raw_key);
    std::string value(raw_value.substr(0, raw_value.find('\0')));
    unsigned extra = write_null_ ? 1 : 0;
    if (key.size() + extra > kMaxRecordBytes || value.size() + extra > kMaxRecordBytes)
      return make_error("error writing {}: entry for \"{}\" is longer than {} bytes", temp_path_, key,
                        kMaxRecordBytes);
    // INSERT refuses a key that exists (return 1); REPLACE drops the old
    // record from the file first (return 1 when there was one).
    enum cdb_put_mode mode = options().duplicates == Duplicates::Replace ? CDB_PUT_REPLACE : CDB_PUT_INSERT;
    errno = 0;
    int rc = cdb_api().make_put(&maker_, key.c_str(), static_cast<unsigned>(key.size() + extra), value.c_str(),
                                static_cast<unsigned>(value.size() + extra), mode);
    if (rc < 0) {
      write_failed_ = true;
      return make_error("error writing {}: {}", temp_path_, cdb_strerror(errno));
    }
    if (rc == 0 || mode == CDB_PUT_REPLACE) return true;
    // Postfix names the table by its source here, not by the .cdb file.
    switch (options().duplicates) {
      case Duplicates::Ignore: break;
      case Duplicates::Warn: warn(name() + ": duplicate entry: \"" + key + "\""); break;
      case Duplicates::Error: return make_error("{}: duplicate entry: \"{}\"", name(), key);
      case Duplicates::Replace: break;  // not reached
    }
    return false;
  }

  // Drops an entry from a table being built (a cdb file is never changed
  // once it is in place).
  Result<bool> remove(std::string_view raw_key) override {
    if (!writer_open_) return make_error("table {}: delete requires write access", spec());
    std::string key = fixed_key(raw_key);
    errno = 0;
    int rc = cdb_api().make_find(&maker_, key.c_str(), static_cast<unsigned>(key.size() + (write_null_ ? 1 : 0)),
                                 CDB_FIND_REMOVE);
    if (rc < 0) {
      write_failed_ = true;
      return make_error("error deleting from {}: {}", temp_path_, cdb_strerror(errno));
    }
    return rc > 0;
  }

  Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    if (!reader_open_) return make_error("table {}: sequence requires read access", spec());
    const CdbApi& api = cdb_api();
    unsigned cursor = 0;
    cdb_seqinit(&cursor, &reader_);
    for (;;) {
      errno = 0;
      int rc = api.seqnext(&cursor, &reader_);
      if (rc == 0) return {};
      if (rc < 0) return make_error("error seeking {}: {}", cdb_path_, cdb_strerror(errno));
      // seqnext() checked both against the data section; record() checks
      // them again against the mapping and the size limit.
      unsigned kpos = cdb_keypos(&reader_), klen = cdb_keylen(&reader_);
      unsigned vpos = cdb_datapos(&reader_), vlen = cdb_datalen(&reader_);
      auto k = record(kpos, klen, "key");
      if (!k) return k.take_error();
      auto v = record(vpos, vlen, "value");
      if (!v) return v.take_error();
      if (!fn(*k, *v)) return {};
    }
  }

  Status commit() override {
    if (options().access != Access::Rebuild || committed_) return {};
    if (!writer_open_) return make_error("finish database {}: the build failed earlier", temp_path_);
    // tinycdb's state after a failed write is unknown: never publish it.
    if (write_failed_) {
      abandon_build();
      return make_error("finish database {}: an earlier write failed", cdb_path_);
    }
    writer_open_ = false;  // make_finish() frees the maker's memory whatever it returns
    errno = 0;
    if (cdb_api().make_finish(&maker_) < 0) {
      Error e = make_error("finish database {}: {}", temp_path_, cdb_strerror(errno));
      discard_temp();
      return e;
    }
    if (auto s = publish(); !s) {
      discard_temp();
      return s;
    }
    committed_ = true;
    return {};
  }

  bool changed() const override {
    if (!reader_open_) return false;
    return stamp_.replaced(fd_.get(), cdb_path_);
  }

  void warn_if_stale_source() {
    if (auto w = stale_source_warning(cdb_path_, name())) warn(std::move(*w));
  }

 protected:
  void on_nulls_changed() override { reset_nulls(); }

 private:
  void reset_nulls() {
    nulls_.reset(options().nulls);
    // Postfix's cdb default when undecided is no null (dict_cdbm_open),
    // unlike Berkeley DB's "with null" on Linux.
    write_null_ = options().nulls == NullMode::With;
  }

  Status open_reader() {
    // O_NONBLOCK: a FIFO planted under the name must not hang the daemon;
    // it is refused below as not a regular file.
    fd_.reset(::open(cdb_path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd_) return sys_error("open database {}", cdb_path_);
    struct stat st {};
    if (::fstat(fd_.get(), &st) < 0) return sys_error("open database {}: fstat", cdb_path_);
    if (!S_ISREG(st.st_mode)) return make_error("open database {}: not a regular file", cdb_path_);
    if (st.st_size < static_cast<off_t>(kTocBytes))
      return make_error("open database {}: malformed cdb file: {} bytes, shorter than its {}-byte header",
                        cdb_path_, st.st_size, kTocBytes);
    if (st.st_size > kMaxFileBytes)
      return make_error("open database {}: file too large for the cdb format ({} bytes)", cdb_path_, st.st_size);
    errno = 0;
    if (cdb_api().init(&reader_, fd_.get()) < 0)
      return make_error("open database {}: {}", cdb_path_, cdb_strerror(errno ? errno : EPROTO));
    reader_open_ = true;
    stamp_ = FileStamp::of(st);
    return {};
  }

  Status open_writer() {
    // A fresh, unpredictable name, created exclusively: a build never writes
    // through a link someone left at the temporary name, and two concurrent
    // builds never share a file (the last rename wins, each file whole).
    for (int attempt = 0; attempt < 10; ++attempt) {
      temp_path_ = unique_temp_name(cdb_path_);
      // 0644 minus the umask, like Postfix's; create_mode is applied at commit.
      fd_.reset(::open(temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (fd_ || errno != EEXIST) break;
    }
    if (!fd_) {
      Error e = sys_error("open database {}", temp_path_);
      temp_path_.clear();
      return e;
    }
    if (cdb_api().make_start(&maker_, fd_.get()) < 0) {
      Error e = sys_error("initialize database {}", temp_path_);
      discard_temp();
      return e;
    }
    writer_open_ = true;
    return {};
  }

  // Makes the finished temporary file durable, then visible under its name.
  Status publish() {
    if (options().create_mode && ::fchmod(fd_.get(), *options().create_mode) < 0)
      return sys_error("chmod {}", temp_path_);
    if (::fsync(fd_.get()) < 0) return sys_error("fsync {}", temp_path_);
    if (::close(fd_.release()) < 0) return sys_error("close database {}", temp_path_);
    if (::rename(temp_path_.c_str(), cdb_path_.c_str()) < 0)
      return sys_error("rename database from {} to {}", temp_path_, cdb_path_);
    temp_path_.clear();
    sync_parent_dir(cdb_path_);
    return {};
  }

  // A build that is not committed. tinycdb frees its in-memory index only in
  // cdb_make_finish(), which would first write that index out; with the
  // descriptor closed the first write fails at once and the memory is still
  // freed.
  void abandon_build() {
    writer_open_ = false;
    fd_.reset();
    maker_.cdb_fd = -1;
    (void)cdb_api().make_finish(&maker_);
    discard_temp();
  }

  void discard_temp() {
    fd_.reset();
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  // `len` bytes at `pos` of the mapped file, checked by tinycdb against the
  // file size, as a C string.
  Result<std::string_view> record(unsigned pos, unsigned len, const char* what) const {
    if (len > kMaxRecordBytes)
      return make_error("error reading {}: {} of {} bytes is longer than the {}-byte limit", cdb_path_, what, len,
                        kMaxRecordBytes);
    errno = 0;
    const void* p = cdb_api().get(&reader_, len, pos);
    if (!p) return make_error("error reading {}: {}", cdb_path_, cdb_strerror(errno ? errno : EPROTO));
    return c_view(static_cast<const char*>(p), len);
  }

  std::string cdb_path_;
  std::string temp_path_;   // Rebuild: the file being written, until renamed
  UniqueFd fd_;             // the .cdb file (reader) or the temporary file (writer)
  struct cdb reader_ {};    // ReadOnly: mapping of fd_, valid while reader_open_
  struct cdb_make maker_ {};  // Rebuild: valid while writer_open_
  bool reader_open_ = false;
  bool writer_open_ = false;
  bool committed_ = false;
  bool write_failed_ = false;
  NullConvention nulls_;
  bool write_null_ = false;
  FileStamp stamp_;
};

}  // namespace

Result<std::unique_ptr<Table>> open_cdb(std::string_view name, const OpenOptions& o) {
  auto t = std::make_unique<CdbTable>(std::string(name), o);
  if (auto s = t->open(); !s) return s.take_error();
  if (o.access == Access::ReadOnly) t->warn_if_stale_source();
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace postern::maps::detail
