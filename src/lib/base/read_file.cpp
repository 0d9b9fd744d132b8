// read_file.cpp - see read_file.h.
#include "base/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/unique_fd.h"

namespace postern {

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size, TooLarge too_large,
                              int extra_open_flags) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_open_flags));
  if (!fd) return sys_error("open {}", path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("fstat {}", path.string());
  if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path.string());
  if (too_large == TooLarge::Refuse && static_cast<std::uint64_t>(st.st_size) > max_size)
    return make_error("{}: file is larger than {} bytes", path.string(), max_size);
  std::string out;
  // Read straight into the string: a 64 KiB buffer on the stack costs every
  // process start 16 page faults (the stack-clash probes touch each page),
  // dear on virtual machines (server/heap.h). The first read asks for one
  // byte past the size fstat() gave, so that the common case ends after two
  // reads; the size may change under us, so the loop still bounds what it
  // takes, growing by up to 64 KiB per step.
  const std::size_t expected = std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_size) + 1;
  for (;;) {
    // Ask for one byte past the bound, so that "exactly max_size" and
    // "longer" can be told apart when refusing.
    std::size_t room = max_size - out.size() + (too_large == TooLarge::Refuse ? 1 : 0);
    if (room == 0) break;
    std::size_t step = out.size() < expected ? expected - out.size() : std::size_t{65536};
    step = std::min(std::max<std::size_t>(step, 512), room);
    const std::size_t had = out.size();
    out.resize(had + step);
    ssize_t n = ::read(fd.get(), out.data() + had, step);
    out.resize(had + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read {}", path.string());
    }
    if (n == 0) break;
    if (out.size() > max_size) return make_error("{}: file is larger than {} bytes", path.string(), max_size);
  }
  return out;
}

}  // namespace postern
