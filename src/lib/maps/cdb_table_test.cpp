// cdb_table_test.cpp - cdb: tables: Postfix's null and case conventions,
// duplicates, the refusal to update in place, atomic rebuilds, change
// detection, and files that are short, truncated, corrupt or hostile.
//
// Files "written by someone else" come from a small cdb writer below that
// follows the format description (djb's cdb: 2048-byte table of contents,
// records, 256 hash tables), not from tinycdb, so that a misreading of the
// format on our side would show.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <csignal>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;

using Records = std::vector<std::pair<std::string, std::string>>;

std::uint32_t cdb_hash(const std::string& s) {
  std::uint32_t h = 5381;
  for (unsigned char c : s) h = ((h << 5) + h) ^ c;
  return h;
}

void put32(std::string& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void append32(std::string& out, std::uint32_t v) {
  out.append(4, '\0');
  put32(out, out.size() - 4, v);
}

std::uint32_t get32(const std::string& in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

// The bytes of a cdb file holding `records` in this order, duplicates and all.
std::string cdb_bytes(const Records& records) {
  std::string out(2048, '\0');
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> buckets(256);
  for (const auto& [k, v] : records) {
    std::uint32_t h = cdb_hash(k);
    buckets[h & 255].emplace_back(h, static_cast<std::uint32_t>(out.size()));
    append32(out, static_cast<std::uint32_t>(k.size()));
    append32(out, static_cast<std::uint32_t>(v.size()));
    out += k;
    out += v;
  }
  for (int b = 0; b < 256; ++b) {
    std::uint32_t slots = static_cast<std::uint32_t>(buckets[b].size() * 2);
    put32(out, b * 8, static_cast<std::uint32_t>(out.size()));
    put32(out, b * 8 + 4, slots);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> table(slots, {0, 0});
    for (auto [h, pos] : buckets[b]) {
      std::uint32_t i = (h >> 8) % slots;
      while (table[i].second != 0) i = (i + 1) % slots;
      table[i] = {h, pos};
    }
    for (auto [h, pos] : table) {
      append32(out, h);
      append32(out, pos);
    }
  }
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Every record of a cdb file in file order, bytes as stored (NULs included).
Records raw_dump(const std::string& path) {
  std::string in = read_all(path);
  Records out;
  if (in.size() < 2048) return out;
  std::size_t end = get32(in, 0);  // the first hash table follows the records
  for (std::size_t pos = 2048; pos + 8 <= end;) {
    std::size_t klen = get32(in, pos), vlen = get32(in, pos + 4);
    out.emplace_back(in.substr(pos + 8, klen), in.substr(pos + 8 + klen, vlen));
    pos += 8 + klen + vlen;
  }
  return out;
}

std::unique_ptr<Table> open_or_die(const std::string& spec, OpenOptions o = {}) {
  auto t = open_table(spec, quiet(o));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : nullptr;
}

OpenOptions rebuild(NullMode nulls = NullMode::Auto) {
  OpenOptions o;
  o.access = Access::Rebuild;
  o.nulls = nulls;
  return o;
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

int count_files(const TempDir& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.dir())) {
    (void)e;
    ++n;
  }
  return n;
}

class CdbTable : public ::testing::Test {
 protected:
  std::string spec(const std::string& name) const { return "cdb:" + dir.path(name); }
  void build(const std::string& name, const Records& kv, OpenOptions o = rebuild()) {
    auto t = open_or_die(spec(name), o);
    ASSERT_TRUE(t);
    for (const auto& [k, v] : kv) ASSERT_TRUE(t->update(k, v).ok());
    ASSERT_TRUE(t->commit().ok());
  }
  TempDir dir;
};

TEST_F(CdbTable, DefaultBuildWritesNoTrailingNullAndFoldsKeys) {
  build("t", {{"Foo", "Bar Baz"}, {"key2", "value two"}});
  // Postfix's dict_cdb writes without null unless told (postmap -N).
  EXPECT_EQ(raw_dump(dir.path("t.cdb")), (Records{{"foo", "Bar Baz"}, {"key2", "value two"}}));

  auto r = open_or_die(spec("t"));
  ASSERT_TRUE(r);
  EXPECT_EQ(get(*r, "FOO"), "Bar Baz");
  EXPECT_EQ(get(*r, "foo"), "Bar Baz");
  EXPECT_EQ(get(*r, "key2"), "value two");
  EXPECT_EQ(get(*r, "bar"), "<none>");
  EXPECT_TRUE(r->fixed());
  EXPECT_EQ(r->file_path(), dir.path("t.cdb"));
  EXPECT_EQ(r->spec(), spec("t"));
}

TEST_F(CdbTable, WithNullOptionAndExplicitReaderConventions) {
  build("n", {{"k", "v"}}, rebuild(NullMode::With));
  EXPECT_EQ(raw_dump(dir.path("n.cdb")), (Records{{std::string("k\0", 2), std::string("v\0", 2)}}));
  EXPECT_EQ(get(*open_or_die(spec("n")), "K"), "v");
  OpenOptions without;
  without.nulls = NullMode::Without;
  EXPECT_EQ(get(*open_or_die(spec("n"), without), "k"), "<none>");
  OpenOptions with;
  with.nulls = NullMode::With;
  EXPECT_EQ(get(*open_or_die(spec("n"), with), "k"), "v");
}

TEST_F(CdbTable, ReadsFilesWrittenByOtherTools) {
  // As Postfix's postmap writes them: no nulls, keys already lowercase.
  testing::write_file(dir.path("pf.cdb"), cdb_bytes({{"foo", "bar"}, {"user@example.com", "other@example.net"}}));
  auto t = open_or_die(spec("pf"));
  EXPECT_EQ(get(*t, "FOO"), "bar");
  EXPECT_EQ(get(*t, "User@Example.com"), "other@example.net");
  EXPECT_EQ(get(*t, "user"), "<none>");
  EXPECT_EQ(sequence(*t), (std::map<std::string, std::string>{{"foo", "bar"},
                                                              {"user@example.com", "other@example.net"}}));
}

TEST_F(CdbTable, LookupsStickWithTheFirstConventionThatMatched) {
  // A file with both forms: after the first hit without null, only that form
  // is tried, as in Postfix's dict_cdbq_lookup.
  testing::write_file(dir.path("mix.cdb"),
                      cdb_bytes({{"a", "plain"}, {std::string("b\0", 2), std::string("nul\0", 4)}}));
  auto t = open_or_die(spec("mix"));
  EXPECT_EQ(get(*t, "a"), "plain");
  EXPECT_EQ(get(*t, "b"), "<none>");
  auto t2 = open_or_die(spec("mix"));
  EXPECT_EQ(get(*t2, "b"), "nul");
  EXPECT_EQ(get(*t2, "a"), "<none>");
}

TEST_F(CdbTable, NoFoldingKeepsCase) {
  OpenOptions o = rebuild();
  o.fold_fix = false;
  build("f", {{"MiXeD", "1"}}, o);
  OpenOptions ro;
  ro.fold_fix = false;
  EXPECT_EQ(get(*open_or_die(spec("f"), ro), "MiXeD"), "1");
  EXPECT_EQ(get(*open_or_die(spec("f"), ro), "mixed"), "<none>");
  EXPECT_EQ(get(*open_or_die(spec("f")), "MiXeD"), "<none>");
}

TEST_F(CdbTable, PostaliasSwitchesConventionsForItsNisEntries) {
  auto t = open_or_die(spec("al"), rebuild(NullMode::With));
  ASSERT_TRUE(*t->update("Root", "admin"));
  t->set_nulls(NullMode::Without);
  t->set_fold_fix(false);
  ASSERT_TRUE(*t->update("YP_MASTER_NAME", "host"));
  ASSERT_TRUE(t->commit().ok());
  EXPECT_EQ(raw_dump(dir.path("al.cdb")),
            (Records{{std::string("root\0", 5), std::string("admin\0", 6)}, {"YP_MASTER_NAME", "host"}}));
}

TEST_F(CdbTable, DuplicatePolicies) {
  for (auto [dups, expect_value, expect_stored] :
       {std::tuple{Duplicates::Warn, "first", false}, std::tuple{Duplicates::Ignore, "first", false},
        std::tuple{Duplicates::Replace, "second", true}}) {
    SCOPED_TRACE(static_cast<int>(dups));
    OpenOptions o = rebuild();
    o.duplicates = dups;
    auto t = open_or_die(spec("d"), o);
    ASSERT_TRUE(*t->update("k", "first"));
    ASSERT_TRUE(*t->update("other", "x"));
    auto second = t->update("K", "second");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(*second, expect_stored);
    if (dups == Duplicates::Warn) {
      // Postfix names the source here ("postmap: warning: src: duplicate entry").
      ASSERT_EQ(t->warnings().size(), 1u);
      EXPECT_EQ(t->warnings()[0], dir.path("d") + ": duplicate entry: \"k\"");
    } else {
      EXPECT_TRUE(t->warnings().empty());
    }
    ASSERT_TRUE(t->commit().ok());
    EXPECT_EQ(get(*open_or_die(spec("d")), "k"), expect_value);
    // One record per key in the file, whatever the policy.
    auto raw = raw_dump(dir.path("d.cdb"));
    ASSERT_EQ(raw.size(), 2u);
    EXPECT_EQ(sequence(*open_or_die(spec("d"))),
              (std::map<std::string, std::string>{{"k", expect_value}, {"other", "x"}}));
  }
  OpenOptions o = rebuild();
  o.duplicates = Duplicates::Error;
  auto t = open_or_die(spec("e"), o);
  ASSERT_TRUE(*t->update("k", "1"));
  auto dup = t->update("k", "2");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, dir.path("e") + ": duplicate entry: \"k\"");
}

TEST_F(CdbTable, UpdateInPlaceIsRefused) {
  build("u", {{"a", "1"}});
  std::string before = read_all(dir.path("u.cdb"));
  for (bool create : {true, false}) {
    OpenOptions up;
    up.access = Access::Update;
    up.create = create;
    auto t = open_table(spec("u"), quiet(up));
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().message, "open database " + dir.path("u.cdb") +
                                     ": a cdb table cannot be changed in place (update or delete); edit the "
                                     "source file and rebuild the table with postmap or postalias");
    // Nor is a missing table created.
    EXPECT_FALSE(open_table(spec("absent"), quiet(up)).ok());
  }
  EXPECT_EQ(read_all(dir.path("u.cdb")), before);
  EXPECT_EQ(count_files(dir), 1);
}

TEST_F(CdbTable, ReadOnlyTablesRefuseWritesAndWritersRefuseReads) {
  build("r", {{"a", "1"}});
  auto r = open_or_die(spec("r"));
  EXPECT_FALSE(r->update("x", "y").ok());
  EXPECT_FALSE(r->remove("a").ok());
  EXPECT_TRUE(r->commit().ok());  // nothing to commit
  auto w = open_or_die(spec("w"), rebuild());
  EXPECT_FALSE(w->lookup("a").ok());
  EXPECT_FALSE(w->for_each([](std::string_view, std::string_view) { return true; }).ok());
}

TEST_F(CdbTable, SequenceInFileOrderAndStopsWhenAsked) {
  build("s", {{"b", "2"}, {"a", "1"}, {"c", "3"}});
  auto r = open_or_die(spec("s"));
  std::vector<std::string> order;
  ASSERT_TRUE(r->for_each([&](std::string_view k, std::string_view v) {
                 order.push_back(std::string(k) + "=" + std::string(v));
                 return true;
               }).ok());
  EXPECT_EQ(order, (std::vector<std::string>{"b=2", "a=1", "c=3"}));
  int visited = 0;
  ASSERT_TRUE(r->for_each([&](std::string_view, std::string_view) { return ++visited < 2; }).ok());
  EXPECT_EQ(visited, 2);
  // Records written with null are listed without it.
  build("sn", {{"k", "v"}}, rebuild(NullMode::With));
  EXPECT_EQ(sequence(*open_or_die(spec("sn"))), (std::map<std::string, std::string>{{"k", "v"}}));
  // An empty table is a valid file with nothing in it.
  build("empty", {});
  EXPECT_TRUE(sequence(*open_or_die(spec("empty"))).empty());
  EXPECT_EQ(get(*open_or_die(spec("empty")), "k"), "<none>");
}

TEST_F(CdbTable, RemoveDuringABuild) {
  auto t = open_or_die(spec("rm"), rebuild());
  ASSERT_TRUE(*t->update("a", "1"));
  ASSERT_TRUE(*t->update("b", "2"));
  auto removed = t->remove("A");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  removed = t->remove("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  ASSERT_TRUE(t->commit().ok());
  EXPECT_EQ(raw_dump(dir.path("rm.cdb")), (Records{{"b", "2"}}));
}

TEST_F(CdbTable, RebuildIsAtomicAndDetectedByReaders) {
  build("a", {{"k", "old"}});
  auto reader = open_or_die(spec("a"));
  EXPECT_FALSE(reader->changed());
  {
    // An abandoned rebuild leaves the old table and no temporary file.
    auto b = open_or_die(spec("a"), rebuild());
    ASSERT_TRUE(*b->update("k", "abandoned"));
    EXPECT_EQ(count_files(dir), 2);
  }
  EXPECT_EQ(count_files(dir), 1);
  EXPECT_EQ(get(*reader, "k"), "old");
  EXPECT_FALSE(reader->changed());

  auto c = open_or_die(spec("a"), rebuild());
  ASSERT_TRUE(*c->update("k", "new"));
  EXPECT_EQ(get(*open_or_die(spec("a")), "k"), "old");  // not visible before commit
  ASSERT_TRUE(c->commit().ok());
  ASSERT_TRUE(c->commit().ok());  // twice is harmless
  EXPECT_EQ(count_files(dir), 1);
  EXPECT_TRUE(reader->changed());
  EXPECT_EQ(get(*reader, "k"), "old");  // the open table still reads its file
  EXPECT_EQ(get(*open_or_die(spec("a")), "k"), "new");
}

TEST_F(CdbTable, CreateModeIsApplied) {
  OpenOptions o = rebuild();
  o.create_mode = 0640;
  build("m", {{"k", "v"}}, o);
  struct stat st {};
  ASSERT_EQ(::stat(dir.path("m.cdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(CdbTable, BuildInAMissingDirectoryFails) {
  auto t = open_table("cdb:" + dir.path("nodir/t"), quiet(rebuild()));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("open database " + dir.path("nodir/t.cdb")), std::string::npos)
      << t.error().message;
}

TEST_F(CdbTable, AFailedWriteIsNeverPublished) {
  build("full", {{"k", "old"}});
  // A file size limit stands in for a full disk: write() fails with EFBIG.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  auto t = open_or_die(spec("full"), rebuild());
  ASSERT_TRUE(t);
  struct rlimit small = saved;
  small.rlim_cur = 16384;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = t->update("k", std::string(65536, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("error writing " + dir.path("full.cdb.postern.")), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find(std::strerror(EFBIG)), std::string::npos) << r.error().message;
  auto c = t->commit();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "finish database " + dir.path("full.cdb") + ": an earlier write failed");
  EXPECT_EQ(count_files(dir), 1);
  EXPECT_EQ(get(*open_or_die(spec("full")), "k"), "old");
}

TEST_F(CdbTable, MissingShortAndOddFiles) {
  auto missing = open_table(spec("missing"), quiet());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "open database " + dir.path("missing.cdb") + ": No such file or directory");

  testing::write_file(dir.path("empty.cdb"), "");
  auto empty = open_table(spec("empty"), quiet());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "open database " + dir.path("empty.cdb") +
                                       ": malformed cdb file: 0 bytes, shorter than its 2048-byte header");
  testing::write_file(dir.path("short.cdb"), std::string(2047, '\0'));
  EXPECT_FALSE(open_table(spec("short"), quiet()).ok());

  std::filesystem::create_directory(dir.path("dir.cdb"));
  auto d = open_table(spec("dir"), quiet());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message, "open database " + dir.path("dir.cdb") + ": not a regular file");

  // A FIFO under the name neither hangs the open nor is read.
  ASSERT_EQ(::mkfifo(dir.path("fifo.cdb").c_str(), 0600), 0);
  auto f = open_table(spec("fifo"), quiet());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, "open database " + dir.path("fifo.cdb") + ": not a regular file");
}

TEST_F(CdbTable, TruncatedFileIsAnErrorNotACrash) {
  Records kv;
  for (int i = 0; i < 200; ++i) kv.emplace_back("key" + std::to_string(i), "value " + std::to_string(i));
  build("tr", kv);
  std::string full = read_all(dir.path("tr.cdb"));
  // Cut inside the hash tables, then inside the records.
  for (std::size_t cut : {full.size() - 100, std::size_t{2048 + 500}}) {
    SCOPED_TRACE(cut);
    testing::write_file(dir.path("tr.cdb"), full.substr(0, cut));
    auto t = open_or_die(spec("tr"));
    ASSERT_TRUE(t);
    int errors = 0;
    for (const auto& [k, v] : kv) {
      auto r = t->lookup(k);
      if (!r) {
        EXPECT_NE(r.error().message.find("error reading " + dir.path("tr.cdb") + ": malformed cdb file"),
                  std::string::npos)
            << r.error().message;
        ++errors;
      } else if (*r) {
        EXPECT_EQ(**r, v);  // what is still found is right
      }
    }
    EXPECT_GT(errors, 0);
    auto s = t->for_each([](std::string_view, std::string_view) { return true; });
    if (cut < 2048 + 1000) {
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error().message, "error seeking " + dir.path("tr.cdb") + ": malformed cdb file");
    }
  }
}

TEST_F(CdbTable, CorruptOffsetsAreErrors) {
  std::string good = cdb_bytes({{"k", "v"}});
  // Hash table of k's bucket pointing past the end of the file.
  std::string bad_table = good;
  put32(bad_table, (cdb_hash("k") & 255) * 8, 0x7fffffff);
  testing::write_file(dir.path("bt.cdb"), bad_table);
  auto t = open_or_die(spec("bt"));
  EXPECT_EQ(get(*t, "k"), "<error: error reading " + dir.path("bt.cdb") + ": malformed cdb file>");

  // A record whose value length runs past the data section.
  std::string bad_len = good;
  put32(bad_len, 2048 + 4, 0x10000);
  testing::write_file(dir.path("bl.cdb"), bad_len);
  t = open_or_die(spec("bl"));
  EXPECT_EQ(get(*t, "k"), "<error: error reading " + dir.path("bl.cdb") + ": malformed cdb file>");
  EXPECT_FALSE(t->for_each([](std::string_view, std::string_view) { return true; }).ok());
}

TEST_F(CdbTable, OverlongValuesAreRefused) {
  std::string big(16 * kMaxLineLength + 1, 'x');
  testing::write_file(dir.path("big.cdb"), cdb_bytes({{"k", big}, {"small", "ok"}}));
  auto t = open_or_die(spec("big"));
  auto r = t->lookup("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "error reading " + dir.path("big.cdb") + ": value of " +
                                   std::to_string(big.size()) + " bytes is longer than the " +
                                   std::to_string(16 * kMaxLineLength) + "-byte limit");
  EXPECT_EQ(get(*t, "small"), "ok");
  EXPECT_FALSE(t->for_each([](std::string_view, std::string_view) { return true; }).ok());
  // Nor does a build write one.
  auto w = open_or_die(spec("w"), rebuild());
  EXPECT_FALSE(w->update("k", big).ok());
}

TEST_F(CdbTable, RandomBytesNeverCrash) {
  // Valid-looking sizes, arbitrary contents: every answer is a value, "not
  // found" or an error (AddressSanitizer runs catch the rest).
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::string bytes(2048 + rng() % 4096, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (round % 2) {  // keep the TOC plausible half of the time
      for (int b = 0; b < 256; ++b) {
        put32(bytes, b * 8, 2048 + rng() % (bytes.size() - 2048 + 64));
        put32(bytes, b * 8 + 4, rng() % 16);
      }
    }
    testing::write_file(dir.path("rnd.cdb"), bytes);
    auto t = open_or_die(spec("rnd"));
    ASSERT_TRUE(t);
    for (const char* k : {"a", "key", "user@example.com", ""}) (void)t->lookup(k);
    int n = 0;
    (void)t->for_each([&](std::string_view, std::string_view) { return ++n < 10000; });
  }
}

TEST_F(CdbTable, KeysAreCStrings) {
  build("z", {{std::string("ab\0cd", 5), std::string("v\0w", 3)}});
  auto r = open_or_die(spec("z"));
  EXPECT_EQ(get(*r, "ab"), "v");
  EXPECT_EQ(get(*r, std::string_view("ab\0zz", 5)), "v");
  EXPECT_EQ(get(*r, ""), "<none>");
}

TEST_F(CdbTable, StaleSourceWarning) {
  build("s", {{"k", "v"}});
  testing::write_file(dir.path("s"), "k v\n");
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  struct timespec db_times[2] = {{0, UTIME_OMIT}, {now.tv_sec - 1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("s.cdb").c_str(), db_times, 0), 0);
  struct timespec src_times[2] = {{0, UTIME_OMIT}, {now.tv_sec - 500, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("s").c_str(), src_times, 0), 0);
  auto r = open_or_die(spec("s"));
  ASSERT_EQ(r->warnings().size(), 1u);
  EXPECT_EQ(r->warnings()[0], "database " + dir.path("s.cdb") + " is older than source file " + dir.path("s"));
}

}  // namespace
}  // namespace postern::maps
