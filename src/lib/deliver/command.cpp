// command.cpp - run a delivery command: fork, drop privileges, exec, feed stdin, capture output,
// enforce the time limit, map the exit status (see command.h).
//
// Reads no parameters (they come in CommandOptions). Logs a warning when a
// command is killed for exceeding its time limit.
#include "deliver/command.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "log/log.h"
#include "security/privileges.h"

namespace postern::deliver {

namespace {

// Postfix's sys_exits.c table: status, enhanced status code, text.
constexpr SysExitDetail kSysExits[] = {
    {64, "5.3.0", "command line usage error"},  {65, "5.6.0", "data format error"},
    {66, "5.3.0", "cannot open input"},         {67, "5.1.1", "user unknown"},
    {68, "5.1.2", "host name unknown"},         {69, "5.3.0", "service unavailable"},
    {70, "5.3.0", "internal software error"},   {71, "4.3.0", "system resource problem"},
    {72, "5.3.0", "critical OS file missing"},  {73, "5.2.0", "can't create user output file"},
    {74, "5.3.0", "input/output error"},        {75, "4.3.0", "temporary failure"},
    {76, "5.5.0", "remote error in protocol"},  {77, "5.7.0", "permission denied"},
    {78, "5.3.5", "local configuration error"},
};

constexpr int kExTempFail = 75;

// What the child reports over the close-on-exec pipe when it cannot exec.
enum Stage : int {
  kStageSession = 1,
  kStageGroups,
  kStageGid,
  kStageUid,
  kStageRedirect,
  kStageChdir,
  kStageExec,
  kStageLimit
};
struct ChildReport {
  int stage = 0;
  int err = 0;
};

// Only async-signal-safe calls from here on: the parent may have threads.
[[noreturn]] void child_fail(int report_fd, int stage) {
  ChildReport r{stage, errno};
  ssize_t n = ::write(report_fd, &r, sizeof(r));
  (void)n;
  ::_exit(kExTempFail);
}

// Pipe ends must not be 0, 1 or 2, or the dup2() calls in the child could
// clobber one another (a daemon may run with stdio closed).
bool raise_fd(UniqueFd& fd) {
  if (fd.get() > 2) return true;
  int n = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (n < 0) return false;
  fd.reset(n);
  return true;
}

bool make_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return false;
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  return raise_fd(read_end) && raise_fd(write_end);
}

void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) (void)::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// execvp()'s search, done in the parent (execvp may allocate, which is not
// safe in the child of a threaded process).
std::string resolve_program(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  std::string_view rest = path;
  for (;;) {
    std::size_t colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    std::string candidate(dir.empty() ? std::string_view(".") : dir);
    candidate += '/';
    candidate += name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0)
      return candidate;
    if (colon == std::string_view::npos) return {};
    rest.remove_prefix(colon + 1);
  }
}

std::string stage_text(const ChildReport& r, const std::string& description, const CommandOptions& o) {
  const char* err = std::strerror(r.err);
  unsigned long uid =
      o.run_as ? static_cast<unsigned long>(o.run_as->uid) : static_cast<unsigned long>(::geteuid());
  unsigned long gid =
      o.run_as ? static_cast<unsigned long>(o.run_as->gid) : static_cast<unsigned long>(::getegid());
  switch (r.stage) {
    case kStageSession:
      return fmt::format("cannot start a new session for command \"{}\": {}", description, err);
    case kStageGroups:
      return fmt::format("cannot set supplementary groups for uid={} gid={}: {}", uid, gid, err);
    case kStageGid:
      return fmt::format("cannot set group id {}: {}", gid, err);
    case kStageUid:
      return fmt::format("cannot set user id {}: {}", uid, err);
    case kStageRedirect:
      return fmt::format("cannot redirect standard input/output for command \"{}\": {}", description, err);
    case kStageChdir:
      return fmt::format("cannot change directory to \"{}\" for uid={} gid={}: {}", o.working_directory, uid,
                         gid, err);
    case kStageExec:
      return fmt::format("cannot execute command \"{}\": {}", description, err);
    case kStageLimit:
      return fmt::format("cannot set the file size limit {} for command \"{}\": {}", o.file_size_limit, description,
                         err);
    default:
      return fmt::format("cannot start command \"{}\": {}", description, err);
  }
}

int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

void kill_group(pid_t pid) {
  // The child leads its own process group (setsid), so this reaches its
  // offspring too. pid cannot have been reused: we have not reaped it.
  // An agent that works as mail_owner (pipe, spawn) signals a command of
  // another user as root, for this moment only.
  security::EffectiveRoot root;
  if (::kill(-pid, SIGKILL) < 0) (void)::kill(pid, SIGKILL);
}

pid_t wait_blocking(pid_t pid, int* status) {
  pid_t r;
  do r = ::waitpid(pid, status, 0);
  while (r < 0 && errno == EINTR);
  return r;
}

// Blocks SIGPIPE in this thread for the lifetime of the object; a SIGPIPE
// raised by our writes meanwhile is discarded, one that was pending before
// is left alone.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    if (::sigpending(&pending) == 0) was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    if (!was_pending_ && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      struct timespec zero {};
      (void)::sigtimedwait(&set_, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t set_{}, old_{};
  bool was_pending_ = false;
};

std::string command_description(const std::vector<std::string>& argv, const CommandOptions& options) {
  if (!options.description.empty()) return options.description;
  return argv.empty() ? std::string() : argv[0];
}

CommandResult fail_before_start(Outcome o) {
  CommandResult r;
  r.outcome = std::move(o);
  return r;
}

}  // namespace

const SysExitDetail* sys_exit_detail(int code) {
  for (const auto& d : kSysExits)
    if (d.code == code) return &d;
  return nullptr;
}

std::string sanitize_command_output(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (unsigned char c : raw) {
    if (c == '\t' || c == '\n') {
      out += ' ';
    } else if (c < 0x20 || c >= 0x7f) {
      out += '_';
    } else {
      out += static_cast<char>(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Outcome command_outcome(int wait_status, bool timed_out, std::string_view description,
                        std::string_view output, bool abnormal_exit_defers) {
  std::string suffix = output.empty() ? std::string() : fmt::format(". Command output: {}", output);
  auto abnormal = [&](std::string text) {
    return abnormal_exit_defers ? Outcome::deferred("4.3.0", std::move(text))
                                : Outcome::bounced("5.3.0", std::move(text));
  };
  if (timed_out) return abnormal(fmt::format("Command time limit exceeded: \"{}\"{}", description, suffix));
  if (WIFSIGNALED(wait_status))
    return Outcome::deferred(
        "4.3.0", fmt::format("Command died with signal {}: \"{}\"{}", WTERMSIG(wait_status), description, suffix));
  if (!WIFEXITED(wait_status))
    return Outcome::deferred("4.3.0", fmt::format("Command ended abnormally: \"{}\"{}", description, suffix));
  int code = WEXITSTATUS(wait_status);
  if (code == 0) return Outcome::sent(fmt::format("delivered to command: {}", description));
  // A command may say exactly what went wrong: "4.2.2 mailbox full".
  if (std::size_t n = dsn_prefix_length(output); n > 0 && (output[0] == '4' || output[0] == '5')) {
    std::string text(str::trim(output.substr(n)));
    if (text.empty()) {
      const SysExitDetail* d = sys_exit_detail(code);
      text = d ? d->text : fmt::format("Command died with status {}: \"{}\"", code, description);
    }
    return Outcome::from_dsn(output.substr(0, n), std::move(text));
  }
  if (const SysExitDetail* d = sys_exit_detail(code)) return Outcome::from_dsn(d->dsn, d->text + suffix);
  return Outcome::bounced("5.3.0",
                          fmt::format("Command died with status {}: \"{}\"{}", code, description, suffix));
}

InputSource formatted_input(MessageFormatter& formatter) {
  return [&formatter](std::string& chunk) { return formatter.next(chunk); };
}

std::vector<std::pair<std::string, std::string>> local_command_environment(const LocalCommandEnv& e,
                                                                           std::string_view allowed) {
  std::vector<std::pair<std::string, std::string>> env;
  auto add = [&](const char* name, const std::string& value) {
    // Censor: data from the envelope goes into the environment of a shell
    // command; keep only characters that cannot surprise anybody.
    env.emplace_back(name, str::censor(value, allowed));
  };
  auto add_if = [&](const char* name, const std::string& value) {
    if (!value.empty()) add(name, value);
  };
  add_if("HOME", e.home);
  add("LOGNAME", e.logname);
  add("USER", e.logname);
  add("SENDER", e.sender);
  add("RECIPIENT", e.recipient);
  add("LOCAL", e.local);
  add_if("SHELL", e.shell);
  add_if("DOMAIN", e.domain);
  add_if("EXTENSION", e.extension);
  add_if("ORIGINAL_RECIPIENT", e.original_recipient);
  add_if("CLIENT_HOSTNAME", e.client_hostname);
  add_if("CLIENT_ADDRESS", e.client_address);
  add_if("CLIENT_HELO", e.client_helo);
  add_if("CLIENT_PROTOCOL", e.client_protocol);
  add_if("SASL_METHOD", e.sasl_method);
  add_if("SASL_SENDER", e.sasl_sender);
  add_if("SASL_USERNAME", e.sasl_username);
  return env;
}

Attempt<StartedCommand> start_command(const std::vector<std::string>& argv, const CommandOptions& options,
                                      int in_fd, int out_fd, int err_fd) {
  const std::string description = command_description(argv, options);

  // --- Everything the child needs is prepared here, before fork(). ---
  if (argv.empty() || argv[0].empty())
    return Outcome::bounced("5.3.0", "invalid command: empty argument vector", EINVAL);
  for (const auto& a : argv)
    if (has_nul(a))
      return Outcome::bounced(
          "5.3.0", fmt::format("invalid command \"{}\": NUL byte in argument", description), EINVAL);

  // Environment, as Postfix's pipe_command(): export_environment ("NAME"
  // passes ours on, "NAME=value" sets it), then PATH, always ours, then
  // the caller's; the last one wins.
  std::vector<std::pair<std::string, std::string>> env_pairs;
  for (const auto& entry : options.export_environment) {
    if (auto eq = entry.find('='); eq != std::string::npos)
      env_pairs.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    else if (const char* v = std::getenv(entry.c_str()))
      env_pairs.emplace_back(entry, v);
  }
  env_pairs.emplace_back("PATH", options.path);
  for (const auto& kv : options.environment) env_pairs.push_back(kv);
  std::vector<std::string> env_strings;
  for (std::size_t i = 0; i < env_pairs.size(); ++i) {
    const auto& [name, value] = env_pairs[i];
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name) || has_nul(value))
      return Outcome::deferred(
          "4.3.5", fmt::format("mail system configuration error: bad environment variable name \"{}\"",
                               str::printable(name, 64)));
    bool overridden = false;
    for (std::size_t j = i + 1; j < env_pairs.size(); ++j)
      if (env_pairs[j].first == name) overridden = true;
    if (!overridden) env_strings.push_back(name + "=" + value);
  }

  // Privileges. A command never runs as root (Postfix refuses too): a root
  // caller must say whose rights it gets.
  bool switch_ids = false;
  std::vector<gid_t> groups;
  // After security::work_as_mail_owner() (pipe, spawn) the real uid is the
  // root that switches.
  const bool can_switch = security::can_regain_root();
  if (!options.run_as && can_switch)
    return Outcome::deferred(
        "4.3.5",
        fmt::format("mail system configuration error: refusing to run command \"{}\" as root", description));
  if (options.run_as) {
    const Credentials& c = *options.run_as;
    if (c.uid == 0)
      return Outcome::deferred(
          "4.3.5", fmt::format("mail system configuration error: refusing to run command \"{}\" as root",
                               description));
    if (can_switch) {
      switch_ids = true;
      groups = c.groups.empty() ? std::vector<gid_t>{c.gid} : c.groups;
    } else if (c.uid != ::geteuid() || c.gid != ::getegid()) {
      return Outcome::deferred(
          "4.3.0",
          fmt::format("cannot run command \"{}\" as uid={} gid={}: not running as root", description,
                      static_cast<unsigned long>(c.uid), static_cast<unsigned long>(c.gid)),
          EPERM);
    }
  }

  // Searched with root's eyes, as before pipe and spawn worked as
  // mail_owner: the command's user may search directories mail_owner
  // cannot (the exec in the child, as that user, has the last word).
  std::string program;
  {
    security::EffectiveRoot root;
    program = resolve_program(argv[0], options.path);
  }
  if (program.empty())
    return Outcome::deferred(
        "4.3.0", fmt::format("cannot execute command \"{}\": {}", description, std::strerror(ENOENT)),
        ENOENT);

  std::vector<char*> c_argv;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_envp;
  for (auto& e : env_strings) c_envp.push_back(e.data());
  c_envp.push_back(nullptr);
  const char* workdir = options.working_directory.empty() ? nullptr : options.working_directory.c_str();
  const mode_t mask = options.umask;
  // The file size limit, worked out before fork() (never above the hard
  // limit we have: an unprivileged child could not raise it anyway).
  std::optional<struct rlimit> fsize;
  if (options.file_size_limit > 0) {
    struct rlimit now {};
    if (::getrlimit(RLIMIT_FSIZE, &now) == 0) {
      const rlim_t want = static_cast<rlim_t>(options.file_size_limit);
      if (now.rlim_max == RLIM_INFINITY || want < now.rlim_max) fsize = rlimit{want, want};
    }
  }
  const uid_t uid = options.run_as ? options.run_as->uid : 0;
  const gid_t gid = options.run_as ? options.run_as->gid : 0;

  UniqueFd rep_r, rep_w;
  if (!make_pipe(rep_r, rep_w)) {
    int err = errno;
    return Outcome::deferred("4.3.0", fmt::format("cannot create pipe: {}", std::strerror(err)), err);
  }
  // The three descriptors, raised above 2 (so that the dup2() calls below
  // cannot clobber one another) and close-on-exec (the copies on 0, 1 and 2
  // are the ones the command keeps).
  UniqueFd std_fds[3];
  const int wanted[3] = {in_fd, out_fd, err_fd};
  for (int i = 0; i < 3; ++i) {
    std_fds[i].reset(::fcntl(wanted[i], F_DUPFD_CLOEXEC, 3));
    if (!std_fds[i]) {
      int err = errno;
      return Outcome::deferred("4.3.0", fmt::format("cannot duplicate descriptor: {}", std::strerror(err)), err);
    }
  }

  // No signal handler of ours may run in the child between fork() and the
  // reset below: block everything across fork().
  sigset_t all, saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid == 0) {
    // ---- Child. ----
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; ++s) (void)::sigaction(s, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int rep = rep_w.get();
    if (::setsid() < 0) child_fail(rep, kStageSession);
    if (switch_ids) {
      // Irrevocable: groups and gid while still root, then uid.
      if (!security::regain_root()) child_fail(rep, kStageUid);
      if (::setgroups(groups.size(), groups.data()) < 0) child_fail(rep, kStageGroups);
      if (::setgid(gid) < 0) child_fail(rep, kStageGid);
      if (::setuid(uid) < 0) child_fail(rep, kStageUid);
      if (::setuid(0) == 0) {
        errno = EPERM;
        child_fail(rep, kStageUid);
      }
    }
    if (::dup2(std_fds[0].get(), STDIN_FILENO) < 0 || ::dup2(std_fds[1].get(), STDOUT_FILENO) < 0 ||
        ::dup2(std_fds[2].get(), STDERR_FILENO) < 0)
      child_fail(rep, kStageRedirect);
    if (workdir != nullptr && ::chdir(workdir) < 0) child_fail(rep, kStageChdir);
    if (fsize && ::setrlimit(RLIMIT_FSIZE, &*fsize) < 0) child_fail(rep, kStageLimit);
    ::umask(mask);
#ifdef CLOSE_RANGE_CLOEXEC
    // Whatever the daemon left open without close-on-exec stays with us.
    (void)::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
    ::execve(program.c_str(), c_argv.data(), c_envp.data());
    child_fail(rep, kStageExec);
  }
  int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0)
    return Outcome::deferred("4.3.0", fmt::format("Delivery failed: fork: {}", std::strerror(fork_errno)),
                             fork_errno);
  StartedCommand c;
  c.pid = pid;
  c.pidfd.reset(pidfd_for(pid));
  rep_w.reset();
  set_nonblocking(rep_r.get());
  c.report = std::move(rep_r);
  c.description = description;
  return c;
}

std::optional<Outcome> start_failure(StartedCommand& c, const CommandOptions& options) {
  if (!c.report) return std::nullopt;
  ChildReport report;
  std::size_t got = 0;
  for (;;) {
    ssize_t n = ::read(c.report.get(), reinterpret_cast<char*>(&report) + got, sizeof(report) - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      if (got < sizeof(report)) continue;
    } else if (n < 0 && errno == EINTR) {
      continue;
    }
    break;
  }
  c.report.reset();
  if (got != sizeof(report)) return std::nullopt;
  return Outcome::deferred("4.3.0", stage_text(report, c.description, options), report.err);
}

void kill_command(pid_t pid) { kill_group(pid); }

CommandResult run_argv(const std::vector<std::string>& argv, const CommandOptions& options,
                       const InputSource& input) {
  const std::string description = command_description(argv, options);
  UniqueFd in_r, in_w, out_r, out_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w)) {
    int err = errno;
    return fail_before_start(
        Outcome::deferred("4.3.0", fmt::format("cannot create pipe: {}", std::strerror(err)), err));
  }
  SigpipeBlock no_sigpipe;
  const auto started_at = std::chrono::steady_clock::now();
  auto started = start_command(argv, options, in_r.get(), out_w.get(), out_w.get());
  if (!started) return fail_before_start(started.take_failure());
  const pid_t pid = started->pid;
  UniqueFd pidfd = std::move(started->pidfd);

  // ---- Parent. ----
  in_r.reset();
  out_w.reset();
  set_nonblocking(in_w.get());
  set_nonblocking(out_r.get());
  const auto deadline = started_at + options.time_limit;

  CommandResult result;
  std::string raw_output;
  std::string pending;
  std::size_t pending_off = 0;
  bool input_done = false;
  std::optional<Error> input_error;
  int write_errno = 0;
  int wait_status = 0;
  bool reaped = false;
  int wait_errno = 0;  // waitpid() failed: the status is unknown (someone else reaped the child?)

  // Reads what the command wrote, at most `budget` bytes per call: a command
  // (or offspring it left behind) that writes without end must not keep us
  // here past the time limit, which the loop below checks between calls.
  constexpr std::size_t kReadBudget = 64 * 1024;
  auto read_output = [&]() {
    char buf[4096];
    for (std::size_t budget = kReadBudget; budget > 0;) {
      ssize_t n = ::read(out_r.get(), buf, std::min(sizeof(buf), budget));
      if (n > 0) {
        budget -= static_cast<std::size_t>(n);
        std::size_t room =
            options.output_limit > raw_output.size() ? options.output_limit - raw_output.size() : 0;
        std::size_t take = std::min(room, static_cast<std::size_t>(n));
        raw_output.append(buf, take);
        if (take < static_cast<std::size_t>(n)) result.output_truncated = true;
        continue;  // keep draining: a full pipe would stall the command
      }
      if (n == 0) out_r.reset();
      if (n < 0 && errno == EINTR) continue;
      return;  // EAGAIN: nothing more for now
    }
  };
  auto abort_input = [&]() {
    in_w.reset();
    input_done = true;
  };

  while (true) {
    if (!reaped) {
      pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
      if (r == pid) {
        reaped = true;
      } else if (r < 0 && errno != EINTR) {
        wait_errno = errno;
        reaped = true;
      }
    }
    if (reaped) {
      // What the command wrote before exiting is still in the pipe; anything
      // its leftover offspring write later is not our business.
      if (out_r.valid()) read_output();
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      log::warning("command time limit exceeded: killing \"{}\" (pid {})", str::printable(description, 200),
                   static_cast<long>(pid));
      kill_group(pid);
      if (wait_blocking(pid, &wait_status) < 0) wait_errno = errno;
      reaped = true;
      if (out_r.valid()) read_output();
      break;
    }

    // Refill the input buffer (the callback decides the chunk size; a few
    // empty chunks in a row are tolerated, then we poll and come back).
    for (int refills = 0; in_w.valid() && pending_off >= pending.size() && !input_done && refills < 64;
         ++refills) {
      pending.clear();
      pending_off = 0;
      Result<bool> more = false;
      try {
        more = input(pending);
      } catch (const std::exception& e) {
        // The callback must not leave a running, unreaped command behind.
        more = Error{std::string("input callback failed: ") + e.what(), EIO};
      }
      if (!more) {
        input_error = more.take_error();
        abort_input();
        // Never let the command act on a truncated message.
        kill_group(pid);
      } else if (!*more) {
        abort_input();  // EOF for the command
      }
    }

    struct pollfd pfd[3];
    int nfds = 0;
    int i_in = -1, i_out = -1, i_pid = -1;
    bool input_starved = in_w.valid() && pending_off >= pending.size();
    if (in_w.valid() && !input_starved) {
      i_in = nfds;
      pfd[nfds++] = {in_w.get(), POLLOUT, 0};
    }
    if (out_r.valid()) {
      i_out = nfds;
      pfd[nfds++] = {out_r.get(), POLLIN, 0};
    }
    if (pidfd.valid()) {
      i_pid = nfds;
      pfd[nfds++] = {pidfd.get(), POLLIN, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    // Without a pidfd, look for the child's exit every 50 ms.
    long long wait_ms = pidfd.valid() ? left : std::min<long long>(left, 50);
    if (input_starved) wait_ms = 0;
    int rc = ::poll(pfd, static_cast<nfds_t>(nfds), static_cast<int>(std::min<long long>(wait_ms, 1 << 30)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      // Should not happen; avoid spinning.
      struct timespec ts {
        0, 10 * 1000 * 1000
      };
      ::nanosleep(&ts, nullptr);
      continue;
    }
    if (i_in >= 0 && pfd[i_in].revents != 0) {
      ssize_t n = ::write(in_w.get(), pending.data() + pending_off, pending.size() - pending_off);
      if (n > 0) {
        pending_off += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        // EPIPE: the command stopped reading early, which is its right.
        if (errno != EPIPE) write_errno = errno;
        abort_input();
      }
    }
    if (i_out >= 0 && pfd[i_out].revents != 0) read_output();
    (void)i_pid;  // readable pidfd: the waitpid() at the top collects the status
  }

  result.output = sanitize_command_output(raw_output);
  if (WIFEXITED(wait_status)) result.exit_status = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) result.signal = WTERMSIG(wait_status);

  // A problem before exec (reported over a pipe that the child's exit has
  // closed, so the report, if any, is complete now).
  if (auto failed = start_failure(started.value(), options)) {
    result.outcome = std::move(*failed);
    return result;
  }
  result.started = true;
  if (wait_errno != 0) {
    // Without the exit status we cannot know whether the command took the
    // message: try again later (a duplicate beats a loss).
    result.exit_status = -1;
    result.signal = 0;
    result.outcome = Outcome::deferred(
        "4.3.0", fmt::format("cannot wait for command \"{}\": {}", description, std::strerror(wait_errno)),
        wait_errno);
    return result;
  }
  if (input_error) {
    result.outcome = read_error_outcome(*input_error);
    return result;
  }
  bool clean_exit = !result.timed_out && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  if (clean_exit && write_errno != 0) {
    result.outcome = Outcome::from_errno(write_errno, "5.3.0",
                                         fmt::format("Command failed: error writing message: {}: \"{}\"",
                                                     std::strerror(write_errno), description));
    return result;
  }
  result.outcome = command_outcome(wait_status, result.timed_out, description, result.output,
                                   options.abnormal_exit_defers);
  return result;
}

CommandResult run_shell_command(std::string_view text, const CommandOptions& options,
                                const InputSource& input, const std::vector<std::string>& shell) {
  if (shell.empty())
    return fail_before_start(
        Outcome::deferred("4.3.5", "mail system configuration error: empty command shell"));
  std::vector<std::string> argv = shell;
  argv.emplace_back(text);  // ONE argument: the shell parses it, we never do
  CommandOptions o = options;
  if (o.description.empty()) o.description = std::string(text);
  return run_argv(argv, o, input);
}

}  // namespace postern::deliver
