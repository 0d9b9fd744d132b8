// command_test.cpp - postmap/postalias command modes, output formats and exit codes.
#include "maps/command.h"

#include <gtest/gtest.h>

#include <sstream>

#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::TempDir;
using testing::write_file;

struct Run {
  int rc;
  std::string out;
};

Run run(Program p, std::vector<std::string> args, const std::string& input = {},
        CommandSettings settings = {}) {
  std::istringstream in(input);
  std::ostringstream out;
  SettingsLoader loader = [settings](const std::optional<std::string>&) -> Result<CommandSettings> {
    return settings;
  };
  int rc = run_table_command(p, args, {in, out}, loader);
  return {rc, out.str()};
}

class CommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir.path("map"), "Foo bar baz\nk2 v2\n");
    write_file(dir.path("aliases"), "Root: admin, other\n");
    ASSERT_EQ(run(Program::Postmap, {dir.path("map")}).rc, 0);
    ASSERT_EQ(run(Program::Postalias, {dir.path("aliases")}).rc, 0);
  }
  TempDir dir;
};

TEST_F(CommandTest, QueryExitCodes) {
  auto r = run(Program::Postmap, {"-q", "FOO", dir.path("map")});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "bar baz\n");
  r = run(Program::Postmap, {"-q", "missing", dir.path("map")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  r = run(Program::Postmap, {"-qk2", "inline:{k2=first}", "hash:" + dir.path("map")});
  EXPECT_EQ(r.out, "first\n");
  r = run(Program::Postmap, {"-f", "-q", "FOO", dir.path("map")});
  EXPECT_EQ(r.rc, 1);
  // A table that cannot be opened is fatal, like Postfix's "open database".
  EXPECT_EQ(run(Program::Postmap, {"-q", "x", dir.path("nonexistent")}).rc, 1);
}

TEST_F(CommandTest, QueriesFromStdin) {
  auto r = run(Program::Postmap, {"-q", "-", "inline:{missing=no, k2=early}", dir.path("map")},
               "foo\nmissing\nk2\nzz\n");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "foo\tbar baz\nmissing\tno\nk2\tearly\n");
  r = run(Program::Postalias, {"-q", "-", dir.path("aliases")}, "root\nnone\n");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "root:\tadmin, other\n");
  r = run(Program::Postmap, {"-q", "-", dir.path("map")}, "zz\n");
  EXPECT_EQ(r.rc, 1);
}

TEST_F(CommandTest, SequenceDumpsTheFirstTable) {
  auto r = run(Program::Postmap, {"-s", "inline:{b=2, a=1}", dir.path("map")});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "b\t2\na\t1\n");
  r = run(Program::Postalias, {"-s", "inline:{b=2}"});
  EXPECT_EQ(r.out, "b:\t2\n");
  EXPECT_EQ(run(Program::Postmap, {"-s", "static:x"}).rc, 1);  // not sequenceable
}

TEST_F(CommandTest, DeleteExitCodes) {
  EXPECT_EQ(run(Program::Postmap, {"-d", "Foo", dir.path("map")}).rc, 0);
  EXPECT_EQ(run(Program::Postmap, {"-d", "foo", dir.path("map")}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-q", "foo", dir.path("map")}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-d", "-", dir.path("map")}, "nothing\nk2\n").rc, 0);
  EXPECT_EQ(run(Program::Postmap, {"-q", "k2", dir.path("map")}).rc, 1);
  // -d does not create missing tables.
  EXPECT_EQ(run(Program::Postmap, {"-d", "x", dir.path("nonexistent")}).rc, 1);
  EXPECT_FALSE(std::filesystem::exists(dir.path("nonexistent.db")));
}

TEST_F(CommandTest, IncrementalFromStdin) {
  EXPECT_EQ(run(Program::Postmap, {"-i", dir.path("map")}, "new value\n").rc, 0);
  EXPECT_EQ(run(Program::Postmap, {"-q", "new", dir.path("map")}).out, "value\n");
  EXPECT_EQ(run(Program::Postmap, {"-r", "-i", dir.path("map")}, "foo replaced\n").rc, 0);
  EXPECT_EQ(run(Program::Postmap, {"-q", "foo", dir.path("map")}).out, "replaced\n");
  EXPECT_EQ(run(Program::Postalias, {"-i", dir.path("aliases")}, "x: y\n").rc, 0);
  EXPECT_EQ(run(Program::Postalias, {"-q", "x", dir.path("aliases")}).out, "y\n");
}

TEST_F(CommandTest, DefaultTypeFromSettings) {
  CommandSettings s;
  s.default_database_type = "btree";
  write_file(dir.path("bt"), "k v\n");
  EXPECT_EQ(run(Program::Postmap, {dir.path("bt")}, "", s).rc, 0);
  EXPECT_EQ(run(Program::Postmap, {"-q", "k", "btree:" + dir.path("bt")}).out, "v\n");
  EXPECT_EQ(run(Program::Postmap, {"-q", "k", dir.path("bt")}, "", s).out, "v\n");
}

TEST_F(CommandTest, UsageAndRefusedOptions) {
  EXPECT_EQ(run(Program::Postmap, {}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-q"}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-q", "a", "-d", "b", "x"}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-s", "-q", "a", "x"}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-b", "x"}).rc, 1);  // a message mode without "-q -"
  EXPECT_EQ(run(Program::Postmap, {"-F", "x"}).rc, 1);
  EXPECT_EQ(run(Program::Postalias, {"-h", "x"}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"-Z", "x"}).rc, 1);
  EXPECT_EQ(run(Program::Postmap, {"regexp:" + dir.path("map")}).rc, 1);  // cannot build regexp
  // -u and -v are accepted.
  EXPECT_EQ(run(Program::Postmap, {"-u", "-q", "foo", dir.path("map")}).rc, 0);
  // "--" ends options: "-q" is then a file name.
  EXPECT_EQ(run(Program::Postmap, {"--", dir.path("map")}).rc, 0);
}

TEST_F(CommandTest, MessageQueryModes) {
  // postmap -h/-b/-m: a message on stdin, keys as header_checks and
  // body_checks would see them.
  write_file(dir.path("hc"),
             "/^Subject: (.*)/ REJECT subject $1\n/^Content-Type: text\\/html/ WARN html\n/^X-Fold:/ INFO fold\n"
             "/^secret/ DISCARD body\n/^--b1/ DUNNO boundary\n/^$/ EMPTY\n");
  const std::string hc = "regexp:" + dir.path("hc");
  const std::string msg =
      "Subject: hi\nX-Fold: a\n\tb\nContent-Type: multipart/mixed; boundary=b1\n\npreamble\n--b1\n"
      "Content-Type: text/html\n\nsecret line\n--b1--\n";
  auto r = run(Program::Postmap, {"-h", "-q", "-", hc}, msg);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "Subject: hi\tREJECT subject hi\nX-Fold: a\n\tb\tINFO fold\n");
  r = run(Program::Postmap, {"-hm", "-q", "-", hc}, msg);  // the part's headers too
  EXPECT_EQ(r.out, "Subject: hi\tREJECT subject hi\nX-Fold: a\n\tb\tINFO fold\nContent-Type: text/html\tWARN html\n");
  // -b without -m: all after the message's headers is body, part headers too.
  r = run(Program::Postmap, {"-b", "-q", "-", hc}, msg);
  EXPECT_EQ(r.rc, 0);
  // (The empty line after a header section is a body key, as in Postfix.)
  EXPECT_EQ(r.out,
            "\tEMPTY\n--b1\tDUNNO boundary\nContent-Type: text/html\tWARN html\n\tEMPTY\nsecret line\tDISCARD body\n"
            "--b1--\tDUNNO boundary\n");
  r = run(Program::Postmap, {"-b", "-m", "-q", "-", hc}, msg);
  EXPECT_EQ(r.out, "\tEMPTY\n--b1\tDUNNO boundary\n\tEMPTY\nsecret line\tDISCARD body\n--b1--\tDUNNO boundary\n");
  // Both; nothing found is exit status 1.
  r = run(Program::Postmap, {"-h", "-b", "-q", "-", hc}, "Subject: x\n\nsecret\n");
  EXPECT_EQ(r.out, "Subject: x\tREJECT subject x\n\tEMPTY\nsecret\tDISCARD body\n");
  EXPECT_EQ(run(Program::Postmap, {"-h", "-b", "-q", "-", "inline:{k=v}"}, "X-Other: 1\nplain\n").rc, 1);
  // A header longer than header_size_limit is cut there, as cleanup does.
  CommandSettings small;
  small.header_size_limit = 20;
  r = run(Program::Postmap, {"-h", "-q", "-", hc}, "Subject: " + std::string(100, 'x') + "\n\nbody\n", small);
  EXPECT_EQ(r.out, "Subject: " + std::string(11, 'x') + "\tREJECT subject " + std::string(11, 'x') + "\n");
}

TEST_F(CommandTest, SettingsErrorsAreFatal) {
  std::istringstream in;
  std::ostringstream out;
  SettingsLoader broken = [](const std::optional<std::string>& d) -> Result<CommandSettings> {
    return make_error("open {}/main.cf: No such file or directory", d.value_or("?"));
  };
  EXPECT_EQ(run_table_command(Program::Postmap, {"-c", "/nowhere", "-q", "x", "static:y"}, {in, out}, broken),
            1);
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace postern::maps
