// regex_trial.cpp - see regex_trial.h.
#include "maps/regex_trial.h"

#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace postern::maps {
namespace {

// What the child writes once regcomp() returned (whatever it returned: a
// syntax error is reported by the real compile afterwards).
constexpr char kDone = 'y';

// Wall-clock backstop in the parent, for a child starved of CPU; the child's
// own timer is what normally stops it.
constexpr int kWallLimitMs = 10000;

[[noreturn]] void child(int out, const std::string& pattern, int cflags, std::chrono::milliseconds limit) {
  // Only SIGPROF may reach this process: the parent's handlers are not ours
  // to run here, and SIGPROF's default action ends it.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPROF, &dfl, nullptr);
  sigset_t only_prof;
  ::sigfillset(&only_prof);
  ::sigdelset(&only_prof, SIGPROF);
  ::pthread_sigmask(SIG_SETMASK, &only_prof, nullptr);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(limit).count();
  itimerval t{};
  t.it_value.tv_sec = static_cast<time_t>(us / 1000000);
  t.it_value.tv_usec = static_cast<suseconds_t>(us % 1000000);
  ::setitimer(ITIMER_PROF, &t, nullptr);
  regex_t re;
  if (::regcomp(&re, pattern.c_str(), cflags) == 0) ::regfree(&re);
  ssize_t n = ::write(out, &kDone, 1);
  ::_exit(n == 1 ? 0 : 1);
}

}  // namespace

std::string posix_regex_trial(const std::string& pattern, int cflags, std::chrono::milliseconds cpu_limit) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return fmt::format("cannot try the regular expression: pipe: {}", std::strerror(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  // No handler of the caller's may run in the child before it resets them.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) child(wr.get(), pattern, cflags, cpu_limit);
  int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return fmt::format("cannot try the regular expression: fork: {}", std::strerror(fork_errno));
  wr.reset();

  char got = 0;
  bool done = false, timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWallLimitMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{rd.get(), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      timed_out = rc == 0;
      break;
    }
    ssize_t n = ::read(rd.get(), &got, 1);
    if (n < 0 && errno == EINTR) continue;
    done = n == 1 && got == kDone;
    break;  // the byte, or end of file: the child is gone
  }
  if (!done) ::kill(pid, SIGKILL);
  int status = 0;
  pid_t w;
  do w = ::waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  if (done) return {};
  if (w == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGPROF)
    return fmt::format("regular expression too complex: compiling it took more than {} ms of CPU time",
                       cpu_limit.count());
  if (timed_out)
    return fmt::format("regular expression too complex: compiling it took more than {} seconds",
                       kWallLimitMs / 1000);
  return "cannot try the regular expression: the trial process failed";
}

}  // namespace postern::maps
