// lmdb_table_test.cpp - lmdb: tables: Postfix's file layout, null and case
// conventions, duplicates, in-place updates and deletes, atomic rebuilds,
// map growth, the fcntl locking protocol, bad files.
//
// The raw-file helpers below load LMDB themselves (the library under test
// loads it with dlopen, so the test binary is not linked with it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "base/dl_library.h"
#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;

// The few LMDB calls the tests make to look at files directly.
struct RawLmdb {
  int (*env_create)(MDB_env**) = nullptr;
  int (*env_open)(MDB_env*, const char*, unsigned, mdb_mode_t) = nullptr;
  void (*env_close)(MDB_env*) = nullptr;
  int (*txn_begin)(MDB_env*, MDB_txn*, unsigned, MDB_txn**) = nullptr;
  int (*txn_commit)(MDB_txn*) = nullptr;
  void (*txn_abort)(MDB_txn*) = nullptr;
  int (*dbi_open)(MDB_txn*, const char*, unsigned, MDB_dbi*) = nullptr;
  int (*put)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*, unsigned) = nullptr;
  int (*cursor_open)(MDB_txn*, MDB_dbi, MDB_cursor**) = nullptr;
  int (*cursor_get)(MDB_cursor*, MDB_val*, MDB_val*, MDB_cursor_op) = nullptr;
  void (*cursor_close)(MDB_cursor*) = nullptr;
  std::string error;

  static const RawLmdb& get() {
    static const RawLmdb api = [] {
      RawLmdb a;
      DlLibrary lib("liblmdb.so.0", "LMDB");
      lib.bind(a.env_create, "mdb_env_create");
      lib.bind(a.env_open, "mdb_env_open");
      lib.bind(a.env_close, "mdb_env_close");
      lib.bind(a.txn_begin, "mdb_txn_begin");
      lib.bind(a.txn_commit, "mdb_txn_commit");
      lib.bind(a.txn_abort, "mdb_txn_abort");
      lib.bind(a.dbi_open, "mdb_dbi_open");
      lib.bind(a.put, "mdb_put");
      lib.bind(a.cursor_open, "mdb_cursor_open");
      lib.bind(a.cursor_get, "mdb_cursor_get");
      lib.bind(a.cursor_close, "mdb_cursor_close");
      a.error = lib.error();
      return a;
    }();
    return api;
  }
};

// Every raw key/value pair in an .lmdb file, bytes as stored (NULs included).
std::map<std::string, std::string> raw_dump(const std::string& path) {
  const RawLmdb& api = RawLmdb::get();
  std::map<std::string, std::string> out;
  if (!api.error.empty()) return out;
  MDB_env* env = nullptr;
  api.env_create(&env);
  if (api.env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0644) != 0) {
    api.env_close(env);
    return out;
  }
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  MDB_cursor* c = nullptr;
  api.txn_begin(env, nullptr, MDB_RDONLY, &txn);
  api.dbi_open(txn, nullptr, 0, &dbi);
  api.cursor_open(txn, dbi, &c);
  MDB_val k{}, v{};
  for (int rc = api.cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = api.cursor_get(c, &k, &v, MDB_NEXT))
    out[std::string(static_cast<char*>(k.mv_data), k.mv_size)] =
        std::string(static_cast<char*>(v.mv_data), v.mv_size);
  api.cursor_close(c);
  api.txn_abort(txn);
  api.env_close(env);
  return out;
}

// Writes raw pairs with LMDB directly (a table written by someone else).
void raw_write(const std::string& path, const std::map<std::string, std::string>& kv) {
  const RawLmdb& api = RawLmdb::get();
  ASSERT_EQ(api.error, "");
  MDB_env* env = nullptr;
  ASSERT_EQ(api.env_create(&env), 0);
  ASSERT_EQ(api.env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  ASSERT_EQ(api.txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(api.dbi_open(txn, nullptr, 0, &dbi), 0);
  for (const auto& [key, value] : kv) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    ASSERT_EQ(api.put(txn, dbi, &k, &v, 0), 0);
  }
  ASSERT_EQ(api.txn_commit(txn), 0);
  api.env_close(env);
}

std::unique_ptr<Table> open_or_die(const std::string& spec, OpenOptions o) {
  auto t = open_table(spec, quiet(o));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : nullptr;
}

OpenOptions with_access(Access a) {
  OpenOptions o;
  o.access = a;
  return o;
}

std::string open_error(const std::string& spec, OpenOptions o = {}) {
  auto t = open_table(spec, quiet(o));
  return t.ok() ? "<opened>" : t.error().message;
}

std::map<std::string, std::string> sequence(Table& t) {
  std::map<std::string, std::string> seen;
  auto s = t.for_each([&](std::string_view k, std::string_view v) {
    seen[std::string(k)] = std::string(v);
    return true;
  });
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return seen;
}

// Tries to lock the whole file the way Postfix does (a classic fcntl lock,
// without waiting) from a descriptor of its own. True when granted.
bool postfix_could_lock(const std::string& path, short type) {
  // Classic locks belong to the process, and a process never conflicts with
  // itself: ask from a child, as another Postfix process would.
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(path.c_str(), type == F_WRLCK ? O_RDWR : O_RDONLY);
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    ::_exit(fd >= 0 && ::fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class LmdbTableTest : public ::testing::Test {
 protected:
  std::string spec(const std::string& name) const { return "lmdb:" + dir.path(name); }
  std::string file(const std::string& name) const { return dir.path(name + ".lmdb"); }
  void build(const std::string& name, const std::map<std::string, std::string>& kv, OpenOptions o = {}) {
    o.access = Access::Rebuild;
    auto t = open_or_die(spec(name), o);
    ASSERT_TRUE(t);
    for (const auto& [k, v] : kv) ASSERT_TRUE(t->update(k, v).ok());
    ASSERT_TRUE(t->commit().ok());
  }
  TempDir dir;
};

TEST_F(LmdbTableTest, DefaultWritesKeysAndValuesWithTrailingNullAndFoldsKeys) {
  auto t = open_or_die(spec("t"), with_access(Access::Rebuild));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->file_path(), file("t"));
  ASSERT_TRUE(*t->update("Foo", "Bar Baz"));
  ASSERT_TRUE(t->commit().ok());
  auto raw = raw_dump(file("t"));
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw.begin()->first, std::string("foo\0", 4));
  EXPECT_EQ(raw.begin()->second, std::string("Bar Baz\0", 8));
  // One file, like Postfix's: MDB_NOLOCK leaves no "-lock" companion.
  EXPECT_FALSE(std::filesystem::exists(file("t") + "-lock"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.dir()), {}), 1);

  auto r = open_or_die(spec("t"), {});
  EXPECT_TRUE(r->fixed());
  EXPECT_EQ(get(*r, "FOO"), "Bar Baz");
  EXPECT_EQ(get(*r, "foo"), "Bar Baz");
  EXPECT_EQ(get(*r, "bar"), "<none>");
}

TEST_F(LmdbTableTest, WithoutNullOption) {
  OpenOptions o;
  o.nulls = NullMode::Without;
  build("n", {{"Key", "value"}}, o);
  auto raw = raw_dump(file("n"));
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw.begin()->first, "key");
  EXPECT_EQ(raw.begin()->second, "value");
  EXPECT_EQ(get(*open_or_die(spec("n"), {}), "KEY"), "value");
}

TEST_F(LmdbTableTest, LookupsStickWithTheFirstConventionThatMatched) {
  raw_write(file("mixed"), {{std::string("with\0", 5), std::string("1\0", 2)}, {"without", "2"}});
  auto r = open_or_die(spec("mixed"), {});
  EXPECT_EQ(get(*r, "with"), "1");
  EXPECT_EQ(get(*r, "without"), "<none>");  // settled on "with null"
  auto r2 = open_or_die(spec("mixed"), {});
  EXPECT_EQ(get(*r2, "without"), "2");
  EXPECT_EQ(get(*r2, "with"), "<none>");
}

TEST_F(LmdbTableTest, NoFoldingKeepsCase) {
  OpenOptions o;
  o.fold_fix = false;
  build("c", {{"MixedCase", "v"}}, o);
  EXPECT_EQ(raw_dump(file("c")).begin()->first, std::string("MixedCase\0", 10));
  auto r = open_or_die(spec("c"), o);
  EXPECT_EQ(get(*r, "MixedCase"), "v");
  EXPECT_EQ(get(*r, "mixedcase"), "<none>");
}

TEST_F(LmdbTableTest, DuplicatePolicies) {
  OpenOptions o = with_access(Access::Rebuild);
  auto t = open_or_die(spec("d"), o);
  ASSERT_TRUE(*t->update("k", "first"));
  auto again = t->update("K", "second");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  ASSERT_EQ(t->warnings().size(), 1u);
  // Postfix's dict_lmdb wording: type:name, not the file.
  EXPECT_EQ(t->warnings()[0], spec("d") + ": duplicate entry: \"k\"");

  t->set_duplicates(Duplicates::Ignore);
  EXPECT_FALSE(*t->update("k", "third"));
  EXPECT_EQ(t->warnings().size(), 1u);

  t->set_duplicates(Duplicates::Error);
  auto err = t->update("k", "fourth");
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().message, spec("d") + ": duplicate entry: \"k\"");

  t->set_duplicates(Duplicates::Replace);
  EXPECT_TRUE(*t->update("k", "fifth"));
  ASSERT_TRUE(t->commit().ok());
  EXPECT_EQ(get(*open_or_die(spec("d"), {}), "k"), "fifth");
}

TEST_F(LmdbTableTest, UpdateInPlaceDeleteAndSequence) {
  build("u", {{"a", "1"}, {"b", "2"}});
  struct stat before {};
  ASSERT_EQ(::stat(file("u").c_str(), &before), 0);

  auto u = open_or_die(spec("u"), with_access(Access::Update));
  ASSERT_TRUE(*u->update("c", "3"));
  EXPECT_EQ(get(*u, "c"), "3");  // the session sees its own writes
  auto removed = u->remove("A");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  removed = u->remove("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  ASSERT_TRUE(u->commit().ok());

  // Updated in place, as Postfix does: same file.
  struct stat after {};
  ASSERT_EQ(::stat(file("u").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);

  auto r = open_or_die(spec("u"), {});
  EXPECT_EQ(sequence(*r), (std::map<std::string, std::string>{{"b", "2"}, {"c", "3"}}));
  int visited = 0;
  ASSERT_TRUE(r->for_each([&](std::string_view, std::string_view) { return ++visited < 1; }).ok());
  EXPECT_EQ(visited, 1);
}

TEST_F(LmdbTableTest, ReadOnlyTablesRefuseWrites) {
  build("ro", {{"b", "2"}});
  auto r = open_or_die(spec("ro"), {});
  auto u = r->update("x", "y");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message, "table " + spec("ro") + ": update requires write access");
  auto d = r->remove("b");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message, "table " + spec("ro") + ": delete requires write access");
  EXPECT_TRUE(r->commit().ok());
  EXPECT_EQ(get(*r, "b"), "2");
}

TEST_F(LmdbTableTest, UpdateCreatesAMissingFileUnlessTold) {
  OpenOptions up = with_access(Access::Update);
  up.create = false;
  EXPECT_EQ(open_error(spec("none"), up), "open database " + file("none") + ": No such file or directory");
  EXPECT_FALSE(std::filesystem::exists(file("none")));
  up.create = true;
  auto t = open_or_die(spec("none"), up);
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  EXPECT_EQ(get(*open_or_die(spec("none"), {}), "k"), "v");
}

TEST_F(LmdbTableTest, AnUncommittedUpdateIsDropped) {
  build("drop", {{"k", "v"}});
  {
    auto u = open_or_die(spec("drop"), with_access(Access::Update));
    ASSERT_TRUE(*u->update("new", "x"));
    ASSERT_TRUE(*u->remove("k"));
  }
  auto r = open_or_die(spec("drop"), {});
  EXPECT_EQ(sequence(*r), (std::map<std::string, std::string>{{"k", "v"}}));
}

TEST_F(LmdbTableTest, RebuildIsAtomicAndDetectedByReaders) {
  build("a", {{"k", "old"}});
  auto reader = open_or_die(spec("a"), {});
  EXPECT_FALSE(reader->changed());

  {
    // An abandoned rebuild leaves the old table and no temporary file.
    auto b = open_or_die(spec("a"), with_access(Access::Rebuild));
    ASSERT_TRUE(*b->update("k", "abandoned"));
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.dir()), {}), 1);
  EXPECT_EQ(get(*reader, "k"), "old");
  EXPECT_FALSE(reader->changed());

  auto c = open_or_die(spec("a"), with_access(Access::Rebuild));
  ASSERT_TRUE(*c->update("k", "new"));
  EXPECT_EQ(get(*reader, "k"), "old");  // not visible before commit
  ASSERT_TRUE(c->commit().ok());
  EXPECT_TRUE(reader->changed());
  EXPECT_EQ(get(*reader, "k"), "old");  // the open handle still reads its file
  EXPECT_EQ(get(*open_or_die(spec("a"), {}), "k"), "new");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.dir()), {}), 1);
}

TEST_F(LmdbTableTest, InPlaceUpdatesAreDetectedByReaders) {
  build("ip", {{"k", "old"}});
  // Make the update's mtime differ even on coarse-grained clocks.
  struct timespec past[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file("ip").c_str(), past, 0), 0);
  auto reader = open_or_die(spec("ip"), {});
  EXPECT_FALSE(reader->changed());
  auto u = open_or_die(spec("ip"), with_access(Access::Update));
  u->set_duplicates(Duplicates::Replace);
  ASSERT_TRUE(*u->update("k", "new"));
  ASSERT_TRUE(u->commit().ok());
  EXPECT_TRUE(reader->changed());
  EXPECT_EQ(get(*reader, "k"), "new");  // LMDB readers see committed updates
}

TEST_F(LmdbTableTest, CreateModeIsApplied) {
  OpenOptions o;
  o.create_mode = 0640;
  build("m", {{"k", "v"}}, o);
  struct stat st {};
  ASSERT_EQ(::stat(file("m").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(LmdbTableTest, MissingEmptyCorruptAndTruncatedFiles) {
  EXPECT_EQ(open_error(spec("missing")), "open database " + file("missing") + ": No such file or directory");

  testing::write_file(file("empty"), "");
  EXPECT_EQ(open_error(spec("empty")), "open database " + file("empty") + ": empty file, not an LMDB database");

  testing::write_file(file("junk"), std::string(20000, '\x5a'));
  EXPECT_EQ(open_error(spec("junk")), "open database " + file("junk") + ": MDB_INVALID: File is not an LMDB file");

  // Postfix's own reader dies of SIGBUS on this one.
  std::map<std::string, std::string> many;
  for (int i = 0; i < 200; ++i) many["key" + std::to_string(i)] = std::string(100, 'v');
  build("cut", many);
  ASSERT_EQ(::truncate(file("cut").c_str(), 3 * 4096), 0);
  EXPECT_NE(open_error(spec("cut")).find("open database " + file("cut") + ": file is truncated (12288 bytes"),
            std::string::npos)
      << open_error(spec("cut"));
  // Shorter than its metadata: LMDB's own check.
  ASSERT_EQ(::truncate(file("cut").c_str(), 100), 0);
  EXPECT_EQ(open_error(spec("cut")), "open database " + file("cut") + ": MDB_INVALID: File is not an LMDB file");
}

TEST_F(LmdbTableTest, TruncationAfterOpenFailsLookupsInsteadOfCrashing) {
  std::map<std::string, std::string> many;
  for (int i = 0; i < 200; ++i) many["key" + std::to_string(i)] = std::string(100, 'v');
  build("later", many);
  auto r = open_or_die(spec("later"), {});
  EXPECT_EQ(get(*r, "key7"), std::string(100, 'v'));
  ASSERT_EQ(::truncate(file("later").c_str(), 3 * 4096), 0);
  EXPECT_NE(get(*r, "key7").find("file is truncated"), std::string::npos);
}

TEST_F(LmdbTableTest, KeysAreCStringsAndBounded) {
  auto t = open_or_die(spec("z"), with_access(Access::Rebuild));
  ASSERT_TRUE(*t->update(std::string_view("ab\0cd", 5), std::string_view("v\0w", 3)));
  // LMDB keys hold at most 511 bytes: a clear error, not a silent skip.
  auto too_long = t->update(std::string(600, 'x'), "v");
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().message,
            "error updating " + spec("z") + ": key \"" + std::string(40, 'x') +
                "...\" is too long (601 bytes, LMDB allows 511)");
  // The failed write did not spoil the rest of the rebuild.
  ASSERT_TRUE(*t->update("other", "o"));
  ASSERT_TRUE(t->commit().ok());
  auto r = open_or_die(spec("z"), {});
  EXPECT_EQ(get(*r, "ab"), "v");
  EXPECT_EQ(get(*r, std::string_view("ab\0zz", 5)), "v");
  EXPECT_EQ(get(*r, "other"), "o");
  EXPECT_EQ(get(*r, ""), "<none>");
  // A key that cannot be stored is simply not there: a long address from a
  // client must not turn into a table error.
  EXPECT_EQ(get(*r, std::string(5000, 'y')), "<none>");
}

TEST_F(LmdbTableTest, NullConventionSwitchesMidSession) {
  // What postalias does for its NIS entries.
  auto t = open_or_die(spec("al"), with_access(Access::Rebuild));
  ASSERT_TRUE(*t->update("Root", "admin"));
  t->set_nulls(NullMode::Without);
  t->set_fold_fix(false);
  ASSERT_TRUE(*t->update("YP_MASTER_NAME", "host"));
  ASSERT_TRUE(t->commit().ok());
  auto raw = raw_dump(file("al"));
  EXPECT_EQ(raw, (std::map<std::string, std::string>{{"YP_MASTER_NAME", "host"},
                                                     {std::string("root\0", 5), std::string("admin\0", 6)}}));
}

TEST_F(LmdbTableTest, MapGrowsWhenFull) {
  // Well past the 16 MiB initial map and past several write batches.
  const std::string value(1000, 'v');
  std::map<std::string, std::string> big;
  for (int i = 0; i < 30000; ++i) big["key" + std::to_string(i)] = value;
  build("big", big);
  struct stat st {};
  ASSERT_EQ(::stat(file("big").c_str(), &st), 0);
  EXPECT_GT(st.st_size, 16 * 1024 * 1024);

  // A reader opened now maps the current size; an in-place update grows the
  // file beyond that, and the reader adopts the writer's map (MDB_MAP_RESIZED).
  auto reader = open_or_die(spec("big"), {});
  EXPECT_EQ(get(*reader, "key29999"), value);
  auto u = open_or_die(spec("big"), with_access(Access::Update));
  for (int i = 30000; i < 60000; ++i) ASSERT_TRUE(*u->update("key" + std::to_string(i), value));
  ASSERT_TRUE(u->commit().ok());
  EXPECT_EQ(get(*reader, "key59999"), value);
  EXPECT_EQ(get(*reader, "key0"), value);
  EXPECT_EQ(sequence(*reader).size(), 60000u);
}

TEST_F(LmdbTableTest, UpdateSessionsFollowPostfixLocking) {
  build("lk", {{"k", "v"}});
  {
    // A writer holds a shared lock for its whole session: Postfix's readers
    // get in, Postfix's writers (exclusive, per operation) wait.
    auto u = open_or_die(spec("lk"), with_access(Access::Update));
    ASSERT_TRUE(*u->update("n", "1"));
    EXPECT_TRUE(postfix_could_lock(file("lk"), F_RDLCK));
    EXPECT_FALSE(postfix_could_lock(file("lk"), F_WRLCK));
    ASSERT_TRUE(u->commit().ok());
    EXPECT_TRUE(postfix_could_lock(file("lk"), F_WRLCK));
  }
  // Readers hold no lock between lookups.
  auto r = open_or_die(spec("lk"), {});
  EXPECT_EQ(get(*r, "n"), "1");
  EXPECT_TRUE(postfix_could_lock(file("lk"), F_WRLCK));
}

TEST_F(LmdbTableTest, LookupsWaitForAnExclusiveLock) {
  build("w", {{"k", "v"}});
  auto r = open_or_die(spec("w"), {});
  // A Postfix writer in the middle of an update (a classic fcntl lock,
  // held by another process). One pipe each way, so that neither side
  // reads back its own byte.
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(file("w").c_str(), O_RDWR);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    char c = (fd >= 0 && ::fcntl(fd, F_SETLK, &fl) == 0) ? 'y' : 'n';
    (void)!::write(to_parent[1], &c, 1);
    char wait;
    (void)!::read(to_child[0], &wait, 1);  // until the parent says so
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  std::atomic<bool> done{false};
  std::string answer;
  std::thread lookup([&] {
    answer = get(*r, "k");
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(done.load());
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  lookup.join();
  EXPECT_EQ(answer, "v");
  ::waitpid(pid, nullptr, 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

TEST_F(LmdbTableTest, TheFileIsClosedOnExec) {
  build("fd", {{"k", "v"}});
  auto r = open_or_die(spec("fd"), {});
  int found = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target != file("fd")) continue;
    ++found;
    int fd = std::stoi(e.path().filename().string());
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd;
  }
  EXPECT_GE(found, 1);
}

TEST_F(LmdbTableTest, StaleSourceWarning) {
  build("s", {{"k", "v"}});
  testing::write_file(dir.path("s"), "k v\n");
  // Source edited long after the table was built.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  struct timespec db_times[2] = {{0, UTIME_OMIT}, {now.tv_sec - 1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file("s").c_str(), db_times, 0), 0);
  struct timespec src_times[2] = {{0, UTIME_OMIT}, {now.tv_sec - 500, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("s").c_str(), src_times, 0), 0);
  auto r = open_or_die(spec("s"), {});
  ASSERT_EQ(r->warnings().size(), 1u);
  EXPECT_EQ(r->warnings()[0], "database " + file("s") + " is older than source file " + dir.path("s"));
}

}  // namespace
}  // namespace postern::maps
