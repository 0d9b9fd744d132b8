// std_fds_test.cpp - closed standard descriptors are reopened on /dev/null.
#include "security/std_fds.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace postern::security {
namespace {

TEST(StdFds, ClosedOnesBecomeDevNull) {
  // In a child: closing our own stdout/stderr would hide the test's output.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(1);
    ::close(2);
    if (!open_standard_descriptors()) ::_exit(10);
    struct stat null_st {}, st {};
    if (::stat("/dev/null", &null_st) != 0) ::_exit(11);
    for (int fd : {1, 2}) {
      if (::fstat(fd, &st) != 0) ::_exit(12);
      if (st.st_rdev != null_st.st_rdev || !S_ISCHR(st.st_mode)) ::_exit(13);
    }
    // The next file gets a number above the standard ones.
    int next = ::open("/dev/null", O_RDONLY);
    ::_exit(next > 2 ? 0 : 14);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace postern::security
