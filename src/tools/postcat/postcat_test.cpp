// postcat_test.cpp - postcat's output format and command line.
#include "postcat.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "queue/layout.h"
#include "queue/queue_test_util.h"
#include "queue/update.h"
#include "queue/writer.h"

namespace postern::postcat {
namespace {
namespace fs = std::filesystem;
using queue::testing::TempQueue;

struct Postcat : ::testing::Test {
  TempQueue tq;
  fs::path path;
  std::string id;

  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    ASSERT_TRUE(queue::create_queue_tree(tq.root(), queue::HashConfig::defaults()).ok());
    queue::WriterOptions o;
    o.queue_root = tq.root();
    o.queue = queue::QueueName::Deferred;  // hashed, depth 1
    auto w = queue::QueueFileWriter::create(o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->begin({"alice@example.org", 1700000000, 42, 1700014400}).ok());
    ASSERT_TRUE(w->add_attribute("client_name", "mail.example.net").ok());
    auto r1 = w->add_recipient({"bob@example.com", "Bob@Example.com", "rfc822;Bob@Example.com",
                                queue::kNotifyFailure | queue::kNotifyDelay});
    ASSERT_TRUE(r1.ok());
    ASSERT_TRUE(w->add_recipient({"carol@example.com", "", "", 0}).ok());
    ASSERT_TRUE(w->add_line("Subject: hello").ok());
    ASSERT_TRUE(w->add_line("\tcontinued").ok());
    ASSERT_TRUE(w->add_line("X-Long: a").ok());
    ASSERT_TRUE(w->add_line("").ok());
    ASSERT_TRUE(w->add_partial("body ").ok());
    ASSERT_TRUE(w->add_line("text").ok());
    ASSERT_TRUE(w->add_line("From: not a header in the body").ok());
    ASSERT_TRUE(w->add_extracted_recipient({"dave@example.com", "", "", 0}).ok());
    ASSERT_TRUE(w->commit().ok());
    path = w->path();
    id = w->id().str();
    ASSERT_TRUE(queue::mark_recipient_done(path, *r1).ok());
  }

  std::string print(unsigned flags, std::string_view name = "F") {
    auto rd = queue::QueueFileReader::open(path);
    EXPECT_TRUE(rd.ok()) << rd.error().message;
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = ::open_memstream(&buf, &len);
    auto st = print_queue_file(*rd, name, flags, f);
    EXPECT_TRUE(st.ok()) << st.error().message;
    std::fclose(f);
    std::string out(buf, len);
    std::free(buf);
    return out;
  }
};

TEST(PostcatHeader, LooksLikeHeader) {
  EXPECT_TRUE(looks_like_header("Subject: x"));
  EXPECT_TRUE(looks_like_header("Subject:"));
  EXPECT_TRUE(looks_like_header("Subject :x"));
  EXPECT_TRUE(looks_like_header("X-Weird-Name!#: x"));
  EXPECT_FALSE(looks_like_header(""));
  EXPECT_FALSE(looks_like_header(": x"));
  EXPECT_FALSE(looks_like_header(" Subject: x"));
  EXPECT_FALSE(looks_like_header("Sub ject: x"));
  EXPECT_FALSE(looks_like_header("no colon here"));
  EXPECT_FALSE(looks_like_header("Subject x"));
}

TEST_F(Postcat, FullListing) {
  std::string want =
      "*** ENVELOPE RECORDS F ***\n"
      // content size 78 = 15 + 11 + 10 + 1 + 10 + 31; M at 277 (C 84, W 20, T 18,
      // S 22, A 33, R 74, R 26); X at 389 = 282 + 7 headers + 72 payload bytes.
      "message_size:              78             277               3             389               1\n"
      "warning_message_time: Tue Nov 14 22:13:20 2023\n"
      "message_arrival_time: Tue Nov 14 22:13:20 2023\n"
      "sender: alice@example.org\n"
      "named_attribute: client_name=mail.example.net\n"
      "original_recipient: Bob@Example.com\n"
      "dsn_orig_rcpt: rfc822;Bob@Example.com\n"
      "dsn_notify_flags: FAILURE,DELAY\n"
      "done_recipient: bob@example.com\n"
      "recipient: carol@example.com\n"
      "*** MESSAGE CONTENTS F ***\n"
      "Subject: hello\n"
      "\tcontinued\n"
      "X-Long: a\n"
      "\n"
      "body text\n"
      "From: not a header in the body\n"
      "*** HEADER EXTRACTED F ***\n"
      "recipient: dave@example.com\n"
      "*** MESSAGE FILE END F ***\n";
  // The warning time is 4 hours after arrival.
  want.replace(want.find("Tue Nov 14 22:13:20"), 19, "Wed Nov 15 02:13:20");
  EXPECT_EQ(print(0), want);
  EXPECT_EQ(print(kPrintAll), want);
}

TEST_F(Postcat, Sections) {
  EXPECT_EQ(print(kPrintHeader), "Subject: hello\n\tcontinued\nX-Long: a\n");
  EXPECT_EQ(print(kPrintBody), "\nbody text\nFrom: not a header in the body\n");
  EXPECT_EQ(print(kPrintHeader | kPrintBody),
            "Subject: hello\n\tcontinued\nX-Long: a\n\nbody text\nFrom: not a header in the body\n");
  std::string env = print(kPrintEnvelope);
  EXPECT_NE(env.find("*** ENVELOPE RECORDS F ***\n"), std::string::npos);
  EXPECT_NE(env.find("*** MESSAGE CONTENTS F ***\n*** HEADER EXTRACTED F ***\n"), std::string::npos);
  EXPECT_EQ(env.find("Subject"), std::string::npos);
  EXPECT_NE(env.find("recipient: dave@example.com\n*** MESSAGE FILE END F ***\n"), std::string::npos);
}

TEST_F(Postcat, Offsets) {
  std::string out = print(kPrintOffset | kPrintHeader);
  // Every record on its own line, offsets right-aligned in 9 columns.
  EXPECT_EQ(out.substr(0, 10), fmt::format("{:>9} ", 277 + 5));
  EXPECT_NE(out.find("Subject: hello\n"), std::string::npos);
}

// ---------------------------------------------------------------- command line

struct Run {
  int status;
  std::string out;
};

Run run(const std::string& cmd) {
  std::string full = cmd + " 2>&1";
  std::FILE* p = ::popen(full.c_str(), "r");
  Run r{-1, {}};
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

TEST_F(Postcat, CommandPrintsFile) {
  auto r = run(std::string(POSTCAT_BINARY) + " -h " + q(path));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "Subject: hello\n\tcontinued\nX-Long: a\n");
  // From a pipe.
  r = run("cat " + q(path) + " | " + POSTCAT_BINARY + " -e");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("*** ENVELOPE RECORDS stdin ***"), std::string::npos) << r.out;
  // From stdin redirected from the file.
  r = run(std::string(POSTCAT_BINARY) + " -b < " + q(path));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "\nbody text\nFrom: not a header in the body\n");
}

TEST_F(Postcat, CommandSearchesQueueById) {
  auto r = run(std::string(POSTCAT_BINARY) + " -e -q -Q " + q(tq.root()) + " " + id);
  EXPECT_EQ(r.status, 0) << r.out;
  std::string rel = fs::relative(path, tq.root()).string();
  EXPECT_EQ(rel.substr(0, 9), "deferred/");
  EXPECT_NE(r.out.find("*** ENVELOPE RECORDS " + rel + " ***"), std::string::npos) << r.out;
  // Through main.cf's queue_directory.
  fs::path conf = tq.root().parent_path() / "etc";
  fs::create_directories(conf);
  std::ofstream(conf / "main.cf") << "queue_directory = " << tq.root().string() << "\n";
  r = run(std::string(POSTCAT_BINARY) + " -h -c " + q(conf) + " -q " + id);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "Subject: hello\n\tcontinued\nX-Long: a\n");
  // Unknown and malformed IDs.
  r = run(std::string(POSTCAT_BINARY) + " -q -Q " + q(tq.root()) + " 3F2A1C0D2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("postcat: fatal: open queue file 3F2A1C0D2: No such file"), std::string::npos)
      << r.out;
  r = run(std::string(POSTCAT_BINARY) + " -q -Q " + q(tq.root()) + " ../../etc/passwd");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("postcat: fatal: bad queue ID"), std::string::npos) << r.out;
}

TEST_F(Postcat, CommandRejectsCorruptFile) {
  std::string bytes = queue::testing::slurp(path);
  fs::path bad = tq.root().parent_path() / "bad";
  queue::testing::spit(bad, bytes.substr(0, bytes.size() - 3));
  auto r = run(std::string(POSTCAT_BINARY) + " " + q(bad));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("postcat: fatal: corrupt queue file " + bad.string() + ": "), std::string::npos)
      << r.out;
  // Nothing of the file is printed before the error.
  EXPECT_EQ(r.out.find("ENVELOPE"), std::string::npos) << r.out;
  r = run(std::string(POSTCAT_BINARY) + " " + q(tq.root() / "missing"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("postcat: fatal: open queue file"), std::string::npos) << r.out;
  r = run(std::string(POSTCAT_BINARY) + " -x");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("usage:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace postern::postcat
