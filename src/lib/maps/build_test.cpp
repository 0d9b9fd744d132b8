// build_test.cpp - postmap/postalias builds: reports, permissions, signatures,
// incremental updates, newaliases, and ownership when run as root.
#include "maps/build.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;
using testing::write_file;

BuildOptions opts() {
  BuildOptions o;
  o.log_warnings = false;
  o.myhostname = "build.example";
  return o;
}

std::unique_ptr<Table> reader(const std::string& spec, OpenOptions o = {}) {
  auto t = open_table(spec, quiet(o));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : nullptr;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(BuildMap, ReportsEntriesAndWarnings) {
  TempDir dir;
  write_file(dir.path("virtual"), "Foo bar\nbad\nfoo dup\nx: y\n");
  auto r = build_map(dir.path("virtual"), opts());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->db_path, dir.path("virtual.db"));
  EXPECT_EQ(r->stored, 2u);
  EXPECT_EQ(r->skipped, 2u);
  std::vector<std::string> want = {
      dir.path("virtual") + ", line 2: expected format: key whitespace value",
      dir.path("virtual") + ", line 4: record is in \"key: value\" format; is this an alias file?",
      dir.path("virtual.db") + ": duplicate entry: \"foo\"",
  };
  EXPECT_EQ(r->warnings, want);
  auto t = reader("hash:" + dir.path("virtual"));
  EXPECT_EQ(get(*t, "FOO"), "bar");
  EXPECT_EQ(get(*t, "x:"), "y");
}

TEST(BuildMap, TypesAndErrors) {
  TempDir dir;
  write_file(dir.path("t"), "k v\n");
  ASSERT_TRUE(build_map("btree:" + dir.path("t"), opts()).ok());
  EXPECT_EQ(get(*reader("btree:" + dir.path("t")), "k"), "v");
  BuildOptions o = opts();
  o.default_type = "btree";
  write_file(dir.path("u"), "k w\n");
  ASSERT_TRUE(build_map(dir.path("u"), o).ok());
  EXPECT_EQ(get(*reader("btree:" + dir.path("u")), "k"), "w");
  auto bad = build_map("regexp:" + dir.path("t"), opts());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "unsupported dictionary type: regexp does not support bulk-mode creation.");
  EXPECT_EQ(build_map("foo:" + dir.path("t"), opts()).error().message, "unsupported dictionary type: foo");
  EXPECT_EQ(build_map(dir.path("missing"), opts()).error().message,
            "open " + dir.path("missing") + ": No such file or directory");
}

TEST(BuildMap, PermissionsFollowTheSource) {
  TempDir dir;
  write_file(dir.path("secret"), "k v\n", 0600);
  write_file(dir.path("group"), "k v\n", 0640);
  write_file(dir.path("wide"), "k v\n", 0666);
  ASSERT_TRUE(build_map(dir.path("secret"), opts()).ok());
  ASSERT_TRUE(build_map(dir.path("group"), opts()).ok());
  ASSERT_TRUE(build_map(dir.path("wide"), opts()).ok());
  EXPECT_EQ(mode_of(dir.path("secret.db")), 0600u);
  EXPECT_EQ(mode_of(dir.path("group.db")), 0640u);
  EXPECT_EQ(mode_of(dir.path("wide.db")), 0644u);  // never group/other writable
  BuildOptions o = opts();
  o.inherit_permissions = false;
  ASSERT_TRUE(build_map(dir.path("secret"), o).ok());
  EXPECT_EQ(mode_of(dir.path("secret.db")), 0644u);
}

TEST(BuildMap, NullAndFoldOptions) {
  TempDir dir;
  write_file(dir.path("t"), "MiXed v\n");
  BuildOptions o = opts();
  o.nulls = NullMode::Without;
  o.fold = false;
  ASSERT_TRUE(build_map(dir.path("t"), o).ok());
  OpenOptions exact;
  exact.fold_fix = false;
  exact.nulls = NullMode::Without;
  EXPECT_EQ(get(*reader("hash:" + dir.path("t"), exact), "MiXed"), "v");
  exact.nulls = NullMode::With;
  EXPECT_EQ(get(*reader("hash:" + dir.path("t"), exact), "MiXed"), "<none>");
}

TEST(UpdateMap, AddsToAnExistingTable) {
  TempDir dir;
  write_file(dir.path("t"), "a 1\n");
  ASSERT_TRUE(build_map(dir.path("t"), opts()).ok());
  std::istringstream in("B 2\na dup\nbad\n");
  auto r = update_map(dir.path("t"), in, "stdin", opts());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->stored, 1u);
  std::vector<std::string> want = {"stdin, line 3: expected format: key whitespace value",
                                   dir.path("t.db") + ": duplicate entry: \"a\""};
  EXPECT_EQ(r->warnings, want);
  auto t = reader("hash:" + dir.path("t"));
  EXPECT_EQ(get(*t, "a"), "1");
  EXPECT_EQ(get(*t, "b"), "2");
  std::istringstream in2("c 3\n");
  ASSERT_TRUE(update_map(dir.path("new"), in2, "stdin", opts()).ok());  // created when missing
  EXPECT_EQ(get(*reader("hash:" + dir.path("new")), "c"), "3");
}

TEST(BuildAliases, SignaturesAndValues) {
  TempDir dir;
  write_file(dir.path("aliases"), "Root: admin,   other\nnoval:\npipe: |/bin/cat\n@: x\n");
  auto r = build_aliases(dir.path("aliases"), opts());
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::vector<std::string> want = {dir.path("aliases") + ", line 2: need name:value pair",
                                   dir.path("aliases") + ", line 4: name must be local"};
  EXPECT_EQ(r->warnings, want);
  auto t = reader("hash:" + dir.path("aliases"));
  EXPECT_EQ(get(*t, "root"), "admin, other");
  EXPECT_EQ(get(*t, "pipe"), "|/bin/cat");
  EXPECT_EQ(get(*t, "@"), "@");
  // NIS entries: without trailing null and not case folded.
  OpenOptions exact;
  exact.fold_fix = false;
  exact.nulls = NullMode::Without;
  auto nis = reader("hash:" + dir.path("aliases"), exact);
  EXPECT_EQ(get(*nis, "YP_MASTER_NAME"), "build.example");
  std::string stamp = get(*nis, "YP_LAST_MODIFIED");
  ASSERT_EQ(stamp.size(), 10u);
  EXPECT_TRUE(std::all_of(stamp.begin(), stamp.end(), ::isdigit));
  exact.nulls = NullMode::With;
  EXPECT_EQ(get(*reader("hash:" + dir.path("aliases"), exact), "YP_MASTER_NAME"), "<none>");
}

TEST(BuildAliases, WithoutNisEntries) {
  TempDir dir;
  write_file(dir.path("aliases"), "a: b\n");
  BuildOptions o = opts();
  o.nis_entries = false;
  ASSERT_TRUE(build_aliases(dir.path("aliases"), o).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(reader("hash:" + dir.path("aliases"))
                  ->for_each([&](std::string_view k, std::string_view) {
                    keys.emplace_back(k);
                    return true;
                  })
                  .ok());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"@", "a"}));
}

TEST(UpdateAliases, ReplacesSignatures) {
  TempDir dir;
  write_file(dir.path("aliases"), "a: b\n");
  ASSERT_TRUE(build_aliases(dir.path("aliases"), opts()).ok());
  std::istringstream in("c: d\na: changed\n");
  BuildOptions o = opts();
  o.myhostname = "second.example";
  auto r = update_aliases(dir.path("aliases"), in, "stdin", o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->warnings, (std::vector<std::string>{dir.path("aliases.db") + ": duplicate entry: \"a\""}));
  auto t = reader("hash:" + dir.path("aliases"));
  EXPECT_EQ(get(*t, "c"), "d");
  EXPECT_EQ(get(*t, "a"), "b");
  OpenOptions exact;
  exact.fold_fix = false;
  EXPECT_EQ(get(*reader("hash:" + dir.path("aliases"), exact), "YP_MASTER_NAME"), "second.example");
}

TEST(RebuildAliasDatabase, EveryListedTable) {
  TempDir dir;
  write_file(dir.path("one"), "a: b\n");
  write_file(dir.path("two"), "c: d\n");
  ASSERT_TRUE(rebuild_alias_database("hash:" + dir.path("one") + ", btree:" + dir.path("two"), opts()).ok());
  EXPECT_EQ(get(*reader("hash:" + dir.path("one")), "a"), "b");
  EXPECT_EQ(get(*reader("btree:" + dir.path("two")), "c"), "d");
  auto bad = rebuild_alias_database("hash:" + dir.path("missing"), opts());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "open " + dir.path("missing") + ": No such file or directory");
}

TEST(BuildMap, RunsAsTheSourceOwnerWhenRoot) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root";
  struct passwd* nobody = ::getpwnam("nobody");
  if (!nobody) GTEST_SKIP() << "no user nobody";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.dir().c_str(), 0777), 0);
  write_file(dir.path("users"), "k v\n");
  ASSERT_EQ(::chown(dir.path("users").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  ASSERT_TRUE(build_map(dir.path("users"), opts()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.path("users.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->pw_uid);
  EXPECT_EQ(::geteuid(), 0u);  // privileges are back
  // With -o the table is written as root.
  BuildOptions o = opts();
  o.as_source_owner = false;
  ASSERT_TRUE(build_map(dir.path("users"), o).ok());
  ASSERT_EQ(::stat(dir.path("users.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  // A source owner who cannot write the directory cannot get root to write there.
  ASSERT_EQ(::chmod(dir.dir().c_str(), 0755), 0);
  EXPECT_FALSE(build_map(dir.path("users"), opts()).ok());
}

}  // namespace
}  // namespace postern::maps
