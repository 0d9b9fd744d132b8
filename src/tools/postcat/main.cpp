// postcat - show the contents of queue files.
//
//   postcat [-bdehoqv] [-c config_dir] [-Q queue_dir] [file_or_id ...]
//
//   -e  envelope records      -h  header lines       -b  body lines
//       (none of -e -h -b: all three)
//   -o  print record offsets  -d  print record types as decimal numbers
//   -q  arguments are queue IDs: search maildrop, incoming, active, deferred,
//       hold and saved under queue_directory
//   -Q  queue directory for -q (default: queue_directory from main.cf)
//   -c  configuration directory (default: $MAIL_CONFIG, then the compiled-in one)
//   -v  more verbose messages
// Without file arguments, postcat reads one queue file from standard input.
//
// Every file is validated completely before anything of it is printed, so a
// damaged file gives "postcat: fatal: corrupt queue file NAME: reason" and
// exit status 1, never a partial listing. Files without the ready mark (still
// being written) are shown too: postcat is an inspection tool.
//
// Parameters: queue_directory (only for -q without -Q). Messages go to
// stderr ("postcat: fatal: ..."); nothing is sent to syslog.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"
#include "log/log.h"
#include "postcat.h"
#include "postern/paths.h"
#include "queue/queue_id.h"
#include "queue/reader.h"

namespace fs = std::filesystem;
using namespace postern;

namespace {

// A queue file from a pipe is read into memory; bound it.
constexpr std::size_t kMaxStdinBytes = 256u << 20;

[[noreturn]] void usage() {
  log::fatal(
      "usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] "
      "[-e (envelope records)] [-h (header text)] [-o (offsets)] [-q (access queue)] "
      "[-Q queue_dir] [-v] [file(s)...]");
}

queue::ReadOptions inspect_options() {
  queue::ReadOptions o;
  o.require_ready = false;
  return o;
}

void show(const queue::QueueFileReader& rd, const std::string& name, unsigned flags) {
  auto st = postcat::print_queue_file(rd, name, flags, stdout);
  if (!st) log::fatal("{}", st.error().message);
}

queue::QueueFileReader open_or_die(const fs::path& path) {
  auto rd = queue::QueueFileReader::open(path, inspect_options());
  if (!rd) log::fatal("{}", rd.error().message);
  return std::move(rd).value();
}

queue::QueueFileReader open_stdin() {
  struct stat st {};
  if (::fstat(0, &st) != 0) log::fatal("fstat stdin: {}", std::strerror(errno));
  if (S_ISREG(st.st_mode)) {
    int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) log::fatal("dup stdin: {}", std::strerror(errno));
    auto rd = queue::QueueFileReader::open_fd(UniqueFd(fd), "stdin", inspect_options());
    if (!rd) log::fatal("{}", rd.error().message);
    return std::move(rd).value();
  }
  std::string bytes;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) log::fatal("read stdin: {}", std::strerror(errno));
    if (n == 0) break;
    if (bytes.size() + static_cast<std::size_t>(n) > kMaxStdinBytes)
      log::fatal("stdin: more than {} bytes; give the file name instead", kMaxStdinBytes);
    bytes.append(buf, static_cast<std::size_t>(n));
  }
  auto rd = queue::QueueFileReader::from_memory(std::move(bytes), "stdin", inspect_options());
  if (!rd) log::fatal("{}", rd.error().message);
  return std::move(rd).value();
}

fs::path queue_directory(const fs::path& config_dir) {
  auto cfg = config::Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().message);
  return cfg->str("queue_directory");
}

}  // namespace

int main(int argc, char** argv) {
  // Messages to stderr only, like Postfix's postcat.
  log::init("postcat", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  const char* env_dir = std::getenv("MAIL_CONFIG");
  fs::path config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  fs::path queue_dir;
  unsigned flags = 0;
  bool search_queue = false;
  int verbose = 0;
  int ch;
  while ((ch = ::getopt(argc, argv, "bc:dehoqQ:v")) != -1) {
    switch (ch) {
      case 'b': flags |= postcat::kPrintBody; break;
      case 'c': config_dir = optarg; break;
      case 'd': flags |= postcat::kPrintDecimalType; break;
      case 'e': flags |= postcat::kPrintEnvelope; break;
      case 'h': flags |= postcat::kPrintHeader; break;
      case 'o': flags |= postcat::kPrintOffset; break;
      case 'q': search_queue = true; break;
      case 'Q': queue_dir = optarg; break;
      case 'v': log::set_verbose(++verbose); break;
      default: usage();
    }
  }
  if ((flags & postcat::kPrintAll) == 0) flags |= postcat::kPrintAll;

  if (optind == argc) {
    if (search_queue) usage();
    show(open_stdin(), "stdin", flags);
    return 0;
  }
  if (search_queue) {
    if (queue_dir.empty()) queue_dir = queue_directory(config_dir);
    for (int i = optind; i < argc; ++i) {
      auto id = queue::QueueId::parse(argv[i]);
      if (!id) log::fatal("{}", id.error().message);
      auto rel = postcat::find_queue_file(queue_dir, *id);
      if (!rel) log::fatal("{}", rel.error().message);
      log::debug("found {} as {}", id->str(), rel->string());
      // Shown relative to queue_directory, as Postfix does ("deferred/3/3F2A1C0D2").
      show(open_or_die(queue_dir / *rel), rel->string(), flags);
    }
    return 0;
  }
  for (int i = optind; i < argc; ++i) show(open_or_die(argv[i]), argv[i], flags);
  return 0;
}
