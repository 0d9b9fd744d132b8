// edit_test.cpp - in-place editing of main.cf and master.cf, atomic writes.
#include "config/edit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/file_io.h"

using namespace postern::config;

namespace {

std::string edited(std::string_view text, const MainCfEdit& e, std::vector<std::string>* notes = nullptr) {
  auto r = edit_main_cf(text, e, notes);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : std::string();
}

struct TempDir {
  TempDir() {
    char t[] = "/tmp/postern-edit-test-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string read(const std::string& name) const { return *read_file(path / name); }
  std::filesystem::path path;
};

}  // namespace

TEST(EditMainCf, ReplaceKeepsCommentsAndOrder) {
  const char* text =
      "# header comment\n"
      "myhostname = old.example.com\n"
      "\n"
      "mydestination = a,\n"
      "   b,\n"
      "# inner comment\n"
      "   c\n"
      "# trailing comment stays\n"
      "relayhost =\n";
  MainCfEdit e;
  e.set = {{"mydestination", "x, y"}, {"relayhost", " [smtp.example.com]:587 "}};
  EXPECT_EQ(edited(text, e),
            "# header comment\n"
            "myhostname = old.example.com\n"
            "\n"
            "mydestination = x, y\n"
            "# trailing comment stays\n"
            "relayhost = [smtp.example.com]:587\n");
}

TEST(EditMainCf, AppendsNewParametersInOrder) {
  MainCfEdit e;
  e.set = {{"biff", "no"}, {"recipient_delimiter", ""}};
  EXPECT_EQ(edited("# only a comment", e), "# only a comment\nbiff = no\nrecipient_delimiter =\n");
  EXPECT_EQ(edited("", e), "biff = no\nrecipient_delimiter =\n");
}

TEST(EditMainCf, DuplicatesCollapseToOne) {
  MainCfEdit e;
  e.set = {{"biff", "yes"}};
  std::vector<std::string> notes;
  EXPECT_EQ(edited("biff = no\nx = 1\nbiff = no\n", e, &notes), "biff = yes\nx = 1\n");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("line 3"), std::string::npos);
}

TEST(EditMainCf, RemoveAndCommentOut) {
  const char* text = "a = 1\nb = 2\n  more\nc = 3";
  MainCfEdit e;
  e.remove = {"b", "not_there"};
  EXPECT_EQ(edited(text, e), "a = 1\nc = 3");
  MainCfEdit c;
  c.comment_out = {"b"};
  auto out = edited(text, c);
  EXPECT_EQ(out, "a = 1\n#b = 2\n#  more\nc = 3");
  auto cfg = Config::from_text(out);
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->is_set("b"));
}

TEST(EditMainCf, RejectsBadInput) {
  MainCfEdit e;
  e.set = {{"biff", "no\nmessage_size_limit = 1"}};
  EXPECT_FALSE(edit_main_cf("", e));
  e.set = {{"bad name", "1"}};
  EXPECT_FALSE(edit_main_cf("", e));
}

TEST(EditMainCf, FileIsReplacedAtomicallyAndValidated) {
  TempDir d;
  std::ofstream(d.path / "main.cf") << "# keep me\nbiff = no\n";
  ::chmod((d.path / "main.cf").c_str(), 0640);
  MainCfEdit e;
  e.set = {{"biff", "yes"}, {"message_size_limit", "1000"}};
  ASSERT_TRUE(edit_main_cf_file(d.path, e));
  EXPECT_EQ(d.read("main.cf"), "# keep me\nbiff = yes\nmessage_size_limit = 1000\n");
  struct stat st {};
  ASSERT_EQ(::stat((d.path / "main.cf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  MainCfEdit bad;
  bad.set = {{"message_size_limit", "huge"}};
  auto r = edit_main_cf_file(d.path, bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad numerical value"), std::string::npos) << r.error().message;
  EXPECT_EQ(d.read("main.cf"), "# keep me\nbiff = yes\nmessage_size_limit = 1000\n");
  // No temporary files are left behind.
  int files = 0;
  for (auto& ent : std::filesystem::directory_iterator(d.path)) files += ent.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(EditMainCf, MissingFileIsCreated) {
  TempDir d;
  MainCfEdit e;
  e.set = {{"relayhost", "[mx]:25"}};
  ASSERT_TRUE(edit_main_cf_file(d.path, e));
  EXPECT_EQ(d.read("main.cf"), "relayhost = [mx]:25\n");
}

TEST(EditMasterCf, ReplacementUnderANewKeyTakesTheOldPlace) {
  const char* text = "a unix - - n - - pickup\nb unix - - n - - cleanup\nc unix - - n - - qmgr\n";
  MasterCfEdit e;
  e.set = {{"b2/unix", "b2 unix - - n - - cleanup -o x=1 -o { y = 2 3 }"}};
  e.replaces = {{"b2/unix", "b/unix"}};
  auto r = edit_master_cf(text, e);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "a unix - - n - - pickup\n"
            "b2         unix  -       -       n       -       -       cleanup\n    -o x=1\n    -o {y=2 3}\n"
            "c unix - - n - - qmgr\n");
  // Onto a key that is already there: a duplicate, refused.
  e.replaces = {{"b2/unix", "b/unix"}};
  e.set = {{"c/unix", "c unix - - n - - cleanup"}};
  e.replaces = {{"c/unix", "b/unix"}};
  EXPECT_FALSE(edit_master_cf(text, e));
}

TEST(EditMasterCf, ReplaceAppendRemoveComment) {
  const char* text =
      "# header\n"
      "smtp       inet  n       -       y       -       -       smtpd\n"
      "submission inet n - y - - smtpd\n"
      "  -o syslog_name=postfix/submission\n"
      "pickup    unix  n       -       y       60      1       pickup\n";
  MasterCfEdit e;
  e.set = {{"smtp/inet", "smtp inet n - n - 5 smtpd -o smtpd_sasl_auth_enable=no"},
           {"relay/unix", "relay unix - - n - - smtp"}};
  e.remove = {"submission/inet"};
  e.comment_out = {"pickup/unix"};
  auto r = edit_master_cf(text, e);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "# header\n"
            "smtp       inet  n       -       n       -       5       smtpd\n"
            "    -o smtpd_sasl_auth_enable=no\n"  // Postfix's layout
            "#pickup    unix  n       -       y       60      1       pickup\n"
            "relay      unix  -       -       n       -       -       smtp\n");
}

TEST(EditMasterCf, Errors) {
  MasterCfEdit e;
  e.set = {{"smtp/inet", "smtp unix - - n - - smtpd"}};
  auto r = edit_master_cf("", e);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("defines smtp/unix"), std::string::npos) << r.error().message;
  e.set = {{"smtp/inet", "smtp inet n - n - - "}};
  EXPECT_FALSE(edit_master_cf("", e));
  e.set = {{"smtp/inet", "smtp inet n - n - - smtpd\nqmgr unix n - n 300 1 qmgr"}};
  EXPECT_FALSE(edit_master_cf("", e));
  // Removing or commenting out what is not there is no error, and changes nothing.
  MasterCfEdit x;
  x.remove = {"nothing/unix"};
  x.comment_out = {"nothing/inet"};
  auto same = edit_master_cf("smtp inet n - n - - smtpd\n", x);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(*same, "smtp inet n - n - - smtpd\n");
  // An existing broken file is reported rather than silently kept broken.
  MasterCfEdit ok;
  ok.set = {{"smtp/inet", "smtp inet n - n - - smtpd"}};
  EXPECT_FALSE(edit_master_cf("broken line\n", ok));
}

TEST(EditMasterCf, FileRoundTrip) {
  TempDir d;
  MasterCfEdit e;
  e.set = {{"smtp/inet", "smtp inet n - n - - smtpd"}};
  ASSERT_TRUE(edit_master_cf_file(d.path, e));
  EXPECT_EQ(d.read("master.cf"), "smtp       inet  n       -       n       -       -       smtpd\n");
}

TEST(FileIo, ReadLimits) {
  TempDir d;
  std::ofstream(d.path / "big") << std::string(100, 'x');
  EXPECT_TRUE(read_file(d.path / "big", 100));
  EXPECT_FALSE(read_file(d.path / "big", 99));
  auto r = read_file(d.path / "absent");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, ENOENT);
  EXPECT_FALSE(read_file(d.path));  // a directory
}
