// command_test.cpp - exit status mapping, time limit, output capture, environment, privileges.
#include "deliver/command.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>

#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Commands never run as root; when the tests run as root they run as nobody.
CommandOptions base_options() {
  CommandOptions o;
  if (test::running_as_root()) o.run_as = Credentials{kNobody, kNogroup, {}};
  o.time_limit = 10s;
  return o;
}

InputSource text_input(std::string text) {
  auto done = std::make_shared<bool>(false);
  auto data = std::make_shared<std::string>(std::move(text));
  return [done, data](std::string& chunk) -> Result<bool> {
    if (*done) return false;
    *done = true;
    chunk = *data;
    return !chunk.empty();
  };
}

InputSource no_input() { return text_input(""); }

CommandResult sh(const std::string& script, CommandOptions o = base_options(), InputSource in = no_input()) {
  return run_shell_command(script, o, in);
}

TEST(SysExits, PostfixTable) {
  struct Row {
    int code;
    const char* dsn;
    const char* text;
  };
  const Row rows[] = {
      {64, "5.3.0", "command line usage error"}, {65, "5.6.0", "data format error"},
      {66, "5.3.0", "cannot open input"},        {67, "5.1.1", "user unknown"},
      {68, "5.1.2", "host name unknown"},        {69, "5.3.0", "service unavailable"},
      {70, "5.3.0", "internal software error"},  {71, "4.3.0", "system resource problem"},
      {72, "5.3.0", "critical OS file missing"}, {73, "5.2.0", "can't create user output file"},
      {74, "5.3.0", "input/output error"},       {75, "4.3.0", "temporary failure"},
      {76, "5.5.0", "remote error in protocol"}, {77, "5.7.0", "permission denied"},
      {78, "5.3.5", "local configuration error"}};
  for (const auto& r : rows) {
    const SysExitDetail* d = sys_exit_detail(r.code);
    ASSERT_NE(d, nullptr) << r.code;
    EXPECT_STREQ(d->dsn, r.dsn);
    EXPECT_STREQ(d->text, r.text);
  }
  EXPECT_EQ(sys_exit_detail(63), nullptr);
  EXPECT_EQ(sys_exit_detail(79), nullptr);
  EXPECT_EQ(sys_exit_detail(0), nullptr);
}

TEST(CommandOutcome, MappingWithoutRunningAnything) {
  auto exited = [](int code) { return code << 8; };
  EXPECT_TRUE(command_outcome(exited(0), false, "cmd", "").is_sent());
  EXPECT_EQ(command_outcome(exited(0), false, "cmd", "").text, "delivered to command: cmd");

  Outcome temp = command_outcome(exited(75), false, "cmd", "");
  EXPECT_TRUE(temp.is_deferred());
  EXPECT_EQ(temp.dsn, "4.3.0");
  EXPECT_EQ(temp.text, "temporary failure");

  Outcome nouser = command_outcome(exited(67), false, "cmd", "no such user");
  EXPECT_TRUE(nouser.is_bounced());
  EXPECT_EQ(nouser.dsn, "5.1.1");
  EXPECT_EQ(nouser.text, "user unknown. Command output: no such user");

  Outcome other = command_outcome(exited(1), false, "/usr/bin/procmail", "");
  EXPECT_TRUE(other.is_bounced());
  EXPECT_EQ(other.dsn, "5.3.0");
  EXPECT_EQ(other.text, "Command died with status 1: \"/usr/bin/procmail\"");

  Outcome dsn = command_outcome(exited(1), false, "cmd", "4.2.2 mailbox full");
  EXPECT_TRUE(dsn.is_deferred());
  EXPECT_EQ(dsn.dsn, "4.2.2");
  EXPECT_EQ(dsn.text, "mailbox full");
  Outcome dsn5 = command_outcome(exited(75), false, "cmd", "5.7.1 go away");
  EXPECT_TRUE(dsn5.is_bounced());  // the command's own code wins over its exit status
  EXPECT_EQ(dsn5.dsn, "5.7.1");

  Outcome sig = command_outcome(SIGSEGV, false, "cmd", "");
  EXPECT_TRUE(sig.is_deferred());  // as Postfix 3.x: tried again
  EXPECT_EQ(sig.dsn, "4.3.0");
  EXPECT_EQ(sig.text, "Command died with signal 11: \"cmd\"");
  EXPECT_TRUE(command_outcome(SIGSEGV, false, "cmd", "", true).is_deferred());

  Outcome slow = command_outcome(SIGKILL, true, "cmd", "partial");
  EXPECT_TRUE(slow.is_bounced());
  EXPECT_EQ(slow.text, "Command time limit exceeded: \"cmd\". Command output: partial");
  EXPECT_EQ(command_outcome(SIGKILL, true, "cmd", "", true).dsn, "4.3.0");
}

TEST(CommandOutput, Sanitized) {
  EXPECT_EQ(sanitize_command_output("a\tb\nc\x01\xff\r\n\n"), "a b c___");
  EXPECT_EQ(sanitize_command_output(""), "");
}

struct ExitCase {
  int code;
  Disposition result;
  const char* dsn;
};

class ExitCodeTest : public ::testing::TestWithParam<ExitCase> {};

TEST_P(ExitCodeTest, RealCommand) {
  const ExitCase& c = GetParam();
  CommandResult r = sh("exit " + std::to_string(c.code));
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_status, c.code);
  EXPECT_EQ(r.outcome.result, c.result) << r.outcome.to_string();
  EXPECT_EQ(r.outcome.dsn, c.dsn);
}

INSTANTIATE_TEST_SUITE_P(SysExits, ExitCodeTest,
                         ::testing::Values(ExitCase{0, Disposition::Sent, "2.0.0"},
                                           ExitCase{75, Disposition::Deferred, "4.3.0"},
                                           ExitCase{71, Disposition::Deferred, "4.3.0"},
                                           ExitCase{67, Disposition::Bounced, "5.1.1"},
                                           ExitCase{68, Disposition::Bounced, "5.1.2"},
                                           ExitCase{69, Disposition::Bounced, "5.3.0"},
                                           ExitCase{65, Disposition::Bounced, "5.6.0"},
                                           ExitCase{77, Disposition::Bounced, "5.7.0"},
                                           ExitCase{78, Disposition::Bounced, "5.3.5"},
                                           ExitCase{1, Disposition::Bounced, "5.3.0"},
                                           ExitCase{127, Disposition::Bounced, "5.3.0"}),
                         [](const auto& info) { return "exit" + std::to_string(info.param.code); });

TEST(RunCommand, MessageOnStdin) {
  CommandResult r = run_argv({"/bin/cat"}, base_options(), text_input("line one\nline two\n"));
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  EXPECT_EQ(r.outcome.text, "delivered to command: /bin/cat");
  EXPECT_EQ(r.output, "line one line two");
}

TEST(RunCommand, FormattedMessageOnStdin) {
  test::use_utc();
  ContentReader content = string_content("Subject: x\n\nbody\n");
  CopyOptions copy = CopyOptions::command();
  copy.now = test::kTestTime;
  MessageFormatter formatter(Envelope{"a@x", "", "b@y"}, copy, content);
  CommandOptions o = base_options();
  o.output_limit = 1000;
  CommandResult r = run_argv({"cat"}, o, formatted_input(formatter));  // found via PATH
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  EXPECT_EQ(r.output,
            "From a@x  Mon Nov 23 17:32:24 2026 Return-Path: <a@x> Delivered-To: b@y Subject: x  body");
}

TEST(RunCommand, LargeInputIsStreamed) {
  const std::size_t total = 4 * 1024 * 1024;
  auto sent = std::make_shared<std::size_t>(0);
  InputSource big = [sent, total](std::string& chunk) -> Result<bool> {
    if (*sent >= total) return false;
    chunk.assign(64 * 1024, 'x');
    *sent += chunk.size();
    return true;
  };
  CommandResult r = sh("wc -c", base_options(), big);
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  EXPECT_EQ(r.output, std::to_string(total));
}

TEST(RunCommand, CommandThatIgnoresInputStillSucceeds) {
  auto count = std::make_shared<int>(0);
  InputSource endless_enough = [count](std::string& chunk) -> Result<bool> {
    if (++*count > 64) return false;
    chunk.assign(64 * 1024, 'y');
    return true;
  };
  CommandResult r = run_argv({"/bin/true"}, base_options(), endless_enough);
  EXPECT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();  // EPIPE is not an error
}

TEST(RunCommand, TimeLimitKillsTheProcessGroup) {
  CommandOptions o = base_options();
  o.time_limit = 1s;
  auto start = std::chrono::steady_clock::now();
  // The background sleep shares the process group and must die too.
  CommandResult r = sh("sleep 10 & echo $!; sleep 10", o);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(elapsed, 5s);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_TRUE(r.outcome.is_bounced()) << r.outcome.to_string();
  EXPECT_EQ(r.outcome.dsn, "5.3.0");
  EXPECT_EQ(r.outcome.text.rfind("Command time limit exceeded: \"sleep 10 & echo $!; sleep 10\"", 0), 0u)
      << r.outcome.text;
  pid_t bg = static_cast<pid_t>(std::atoi(r.output.c_str()));
  ASSERT_GT(bg, 0) << r.output;
  // Gone, or at most a zombie waiting for init to reap it.
  bool alive = false;
  for (int i = 0; i < 50; ++i) {
    std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
    std::string line;
    alive = static_cast<bool>(std::getline(stat, line)) && line.find(") Z ") == std::string::npos;
    if (!alive) break;
    usleep(20 * 1000);
  }
  EXPECT_FALSE(alive);

  o.abnormal_exit_defers = true;
  o.time_limit = 300ms;
  CommandResult d = sh("sleep 10", o);
  EXPECT_TRUE(d.timed_out);
  EXPECT_TRUE(d.outcome.is_deferred());
}

// Postfix's commands inherit its master's umask, 077.
TEST(RunCommand, FileCreationMask) {
  CommandResult r = sh("umask");
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  EXPECT_EQ(r.output, "0077");
  CommandOptions o = base_options();
  o.umask = 022;
  r = sh("umask", o);
  EXPECT_EQ(r.output, "0022");
}

TEST(RunCommand, SignalDeath) {
  CommandResult r = sh("kill -TERM $$");
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_TRUE(r.outcome.is_deferred()) << r.outcome.to_string();
  EXPECT_EQ(r.outcome.text, "Command died with signal 15: \"kill -TERM $$\"");
}

TEST(RunCommand, OutputCaptureIsBounded) {
  CommandOptions o = base_options();
  o.output_limit = 100;
  // 1 MB of output: far more than a pipe holds; the command must not block.
  CommandResult r = sh("head -c 1000000 /dev/zero | tr '\\000' a; exit 1", o);
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_EQ(r.output, std::string(100, 'a'));
  EXPECT_TRUE(r.output_truncated);
  EXPECT_EQ(r.outcome.text,
            "Command died with status 1: \"head -c 1000000 /dev/zero | tr '\\000' a; exit 1\". "
            "Command output: " +
                std::string(100, 'a'));
}

TEST(RunCommand, OffspringThatWritesForeverDoesNotHoldTheAgent) {
  // The command exits at once and leaves a child writing to the output pipe
  // without end: the agent takes what is there and returns (it used to read
  // for as long as the child wrote).
  CommandOptions o = base_options();
  o.output_limit = 100;
  auto t0 = std::chrono::steady_clock::now();
  CommandResult r = sh("yes flood & exit 0", o);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_TRUE(r.outcome.is_sent());
}

TEST(RunCommand, DsnInOutput) {
  CommandResult r = sh("echo '4.2.2 mailbox full'; exit 1");
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.2.2");
  EXPECT_EQ(r.outcome.text, "mailbox full");
  CommandResult s = sh("echo oops >&2; exit 67");
  EXPECT_TRUE(s.outcome.is_bounced());
  EXPECT_EQ(s.outcome.text, "user unknown. Command output: oops");
}

TEST(RunCommand, ArgvIsNeverShellParsed) {
  CommandResult r = run_argv({"/bin/echo", "a; echo injected $(id)"}, base_options(), no_input());
  ASSERT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(r.output, "a; echo injected $(id)");
  CommandResult s = sh("echo one; echo two");
  EXPECT_EQ(s.output, "one two");
}

TEST(RunCommand, CleanEnvironment) {
  ::setenv("POSTERN_TEST_SECRET", "leak", 1);
  ::setenv("TZ", "UTC", 1);
  const std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", "/nonexistent/evil", 1);  // restored below
  CommandOptions o = base_options();
  o.output_limit = 10000;
  // Postfix's export_environment: names are passed on, NAME=value is set,
  // and PATH is always the agent's own.
  o.export_environment = {"TZ", "MAIL_CONFIG", "POSTERN_FIXED=yes it is", "PATH"};
  LocalCommandEnv e;
  e.home = "/home/bob";
  e.logname = "bob";
  e.shell = "/bin/sh";
  e.sender = "alice@example.org";
  e.recipient = "bob+x;rm -rf ~@example.com";
  e.local = "bob+x";
  e.domain = "example.com";
  e.extension = "x";
  o.environment = local_command_environment(e);
  o.environment.emplace_back("PATH", "/bin");  // the caller's value wins
  CommandResult r = run_argv({"/usr/bin/env"}, o, no_input());
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  const std::string& out = r.output;
  for (const char* want :
       {"PATH=/bin", "TZ=UTC ", "POSTERN_FIXED=yes it is ", "HOME=/home/bob ", "LOGNAME=bob ", "USER=bob ", "SHELL=/bin/sh ",
        "SENDER=alice@example.org ", "RECIPIENT=bob+x_rm_-rf__@example.com ", "LOCAL=bob+x ",
        "DOMAIN=example.com ", "EXTENSION=x"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in " << out;
  EXPECT_EQ(out.find("POSTERN_TEST_SECRET"), std::string::npos);
  EXPECT_EQ(out.find("ORIGINAL_RECIPIENT"), std::string::npos);  // empty: not exported
  EXPECT_EQ(out.find("PATH=/usr/bin:/bin"), std::string::npos);
  EXPECT_EQ(out.find("PATH=/bin:"), std::string::npos);
  EXPECT_EQ(out.find("/nonexistent/evil"), std::string::npos);
  ::setenv("PATH", saved_path.c_str(), 1);
  ::unsetenv("POSTERN_TEST_SECRET");
}

TEST(RunCommand, LocalEnvironmentCensorsAndSkipsEmpty) {
  LocalCommandEnv e;
  e.logname = "bob";
  e.sender = "";
  e.recipient = "a b`c$d@x";
  e.client_address = "192.0.2.1";
  auto env = local_command_environment(e);
  std::map<std::string, std::string> m(env.begin(), env.end());
  EXPECT_EQ(m.count("HOME"), 0u);
  EXPECT_EQ(m.count("SHELL"), 0u);
  EXPECT_EQ(m.at("SENDER"), "");  // always present, like Postfix
  EXPECT_EQ(m.at("RECIPIENT"), "a_b_c_d@x");
  EXPECT_EQ(m.at("CLIENT_ADDRESS"), "192.0.2.1");
  EXPECT_EQ(m.count("SASL_USERNAME"), 0u);
}

TEST(RunCommand, WorkingDirectory) {
  CommandOptions o = base_options();
  o.working_directory = "/";
  EXPECT_EQ(run_argv({"/bin/pwd"}, o, no_input()).output, "/");
  o.working_directory = "/nonexistent-postern-dir";
  CommandResult r = run_argv({"/bin/pwd"}, o, no_input());
  EXPECT_FALSE(r.started);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_NE(r.outcome.text.find("cannot change directory to \"/nonexistent-postern-dir\""), std::string::npos)
      << r.outcome.text;
}

TEST(RunCommand, StartFailuresAreDeferred) {
  CommandResult missing = run_argv({"/nonexistent/program"}, base_options(), no_input());
  EXPECT_FALSE(missing.started);
  EXPECT_TRUE(missing.outcome.is_deferred());
  EXPECT_EQ(missing.outcome.text,
            "cannot execute command \"/nonexistent/program\": No such file or directory");
  CommandResult not_in_path = run_argv({"no-such-program-xyz"}, base_options(), no_input());
  EXPECT_TRUE(not_in_path.outcome.is_deferred());
  test::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  test::write_file(dir / "script", "#!/bin/sh\nexit 0\n");
  ::chmod((dir / "script").c_str(), 0644);
  CommandResult not_exec = run_argv({(dir / "script").string()}, base_options(), no_input());
  EXPECT_TRUE(not_exec.outcome.is_deferred());
  EXPECT_NE(not_exec.outcome.text.find("Permission denied"), std::string::npos) << not_exec.outcome.text;
}

TEST(RunCommand, InvalidCommands) {
  EXPECT_TRUE(run_argv({}, base_options(), no_input()).outcome.is_bounced());
  EXPECT_TRUE(run_argv({std::string("/bin/echo\0x", 11)}, base_options(), no_input()).outcome.is_bounced());
  CommandOptions o = base_options();
  o.environment.emplace_back("BAD=NAME", "x");
  EXPECT_EQ(run_argv({"/bin/true"}, o, no_input()).outcome.dsn, "4.3.5");
  EXPECT_TRUE(run_shell_command("true", base_options(), no_input(), {}).outcome.is_deferred());
}

TEST(RunCommand, InputErrorKillsCommandAndDefers) {
  auto calls = std::make_shared<int>(0);
  InputSource failing = [calls](std::string& chunk) -> Result<bool> {
    if (++*calls > 1) return Error{"corrupt queue file", EBADMSG};
    chunk = "first part\n";
    return true;
  };
  auto start = std::chrono::steady_clock::now();
  CommandResult r = sh("cat >/dev/null; sleep 5; exit 0", base_options(), failing);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(r.outcome.is_deferred()) << r.outcome.to_string();
  EXPECT_EQ(r.outcome.text, "error reading message: corrupt queue file");
}

TEST(RunCommand, RunsAsNobodyWithGroups) {
  if (!test::running_as_root()) GTEST_SKIP() << "needs root to switch users";
  CommandOptions o = base_options();
  o.run_as = Credentials{kNobody, kNogroup, {kNogroup, 100}};
  CommandResult r = sh("id -u; id -g; id -G", o);
  ASSERT_TRUE(r.outcome.is_sent()) << r.outcome.to_string();
  EXPECT_EQ(r.output, "65534 65534 65534 100");

  o.run_as = Credentials{kNobody, kNogroup, {}};
  EXPECT_EQ(sh("id -G", o).output, "65534");
}

TEST(RunCommand, NeverAsRoot) {
  CommandOptions o = base_options();
  o.run_as = Credentials{0, 0, {}};
  CommandResult r = sh("id -u", o);
  EXPECT_FALSE(r.started);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.3.5");
  if (test::running_as_root()) {
    o.run_as.reset();
    EXPECT_EQ(sh("id -u", o).outcome.dsn, "4.3.5");
  }
}

TEST(RunCommand, NonRootCannotSwitchUsers) {
  if (test::running_as_root()) GTEST_SKIP() << "only meaningful without root";
  CommandOptions o = base_options();
  o.run_as = Credentials{::geteuid() + 1, ::getegid(), {}};
  EXPECT_TRUE(sh("true", o).outcome.is_deferred());
  o.run_as = Credentials{::geteuid(), ::getegid(), {}};
  EXPECT_TRUE(sh("true", o).outcome.is_sent());
}

TEST(RunCommand, LostExitStatusIsDeferred) {
  // With SIGCHLD ignored the kernel reaps children itself; not knowing how
  // the command ended must never count as success.
  struct sigaction ign {};
  struct sigaction old {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ign, &old), 0);
  CommandResult r = sh("exit 0");
  ::sigaction(SIGCHLD, &old, nullptr);
  EXPECT_TRUE(r.outcome.is_deferred()) << r.outcome.to_string();
  EXPECT_NE(r.outcome.text.find("cannot wait for command"), std::string::npos);
}

TEST(RunCommand, SigpipeDoesNotKillUs) {
  // Writing into a command that has exited raises SIGPIPE; the runner must
  // neither die of it nor leave it pending.
  auto count = std::make_shared<int>(0);
  InputSource lots = [count](std::string& chunk) -> Result<bool> {
    if (++*count > 200) return false;
    chunk.assign(64 * 1024, 'z');
    return true;
  };
  CommandResult r = sh("exit 0", base_options(), lots);
  EXPECT_TRUE(r.outcome.is_sent());
  sigset_t pending;
  sigemptyset(&pending);
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

}  // namespace
}  // namespace postern::deliver
