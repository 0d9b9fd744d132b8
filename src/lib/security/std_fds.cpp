// std_fds.cpp - see std_fds.h.
#include "security/std_fds.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace postern::security {

bool open_standard_descriptors() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free number is this one: 0..fd-1 are open by now.
    int got = ::open("/dev/null", O_RDWR);
    if (got != fd) {
      if (got >= 0) ::close(got);
      return false;
    }
  }
  return true;
}

}  // namespace postern::security
