// postdrop - write a local submission into the maildrop queue (set-gid helper of sendmail).
//
//   postdrop [-c config_dir] [-v] [-Q]
//
// Installed set-gid setgid_group (postern set-permissions), because the
// maildrop directory (0730 mail_owner:setgid_group) lets only that group
// create files. sendmail(1) runs postdrop from command_directory and writes
// the message to its stdin as the record stream of drop_stream.h; postdrop
// validates every record (stdin is controlled by whoever runs it), writes a
// queue file into maildrop/ with the queue library's writer, commits it
// (fsync; the ready mark, which also makes it readable for pickup: mode
// 0544, like Postfix's 0444 files, the 0730 directory keeping other users
// out; directory fsync), and sends a "W" trigger to
// public/$pickup_service_name. The trigger fails silently when the master
// is not running: the file waits in maildrop.
//
// Configuration: -c or MAIL_CONFIG. When running set-gid for a user other
// than root, a configuration directory other than the compiled-in default
// is accepted only if it is listed in the default main.cf's
// alternate_config_directories, or if it and its main.cf are owned by root
// and writable by nobody else (so a user cannot point postdrop at a queue
// of their choosing with a main.cf they wrote).
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// enable_long_queue_ids, pickup_service_name, alternate_config_directories.
// Prints nothing on success; with -Q (sendmail -bs asks for it, to say
// "queued as ID") one line "queue_id=ID" on standard output. Errors go to stderr as "postdrop: fatal: ..."
// with a sysexits(3) status: EX_USAGE bad arguments, EX_DATAERR malformed
// input, EX_TEMPFAIL when the file cannot be written, EX_CONFIG bad
// configuration. Signals (HUP INT QUIT TERM) abort cleanly: the
// uncommitted file is removed.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "base/strings.h"
#include "config/config.h"
#include "config/config_dir.h"
#include "drop_stream.h"
#include "ipc/trigger.h"
#include "maps/user_acl.h"
#include "log/log.h"
#include "postern/paths.h"
#include "queue/layout.h"
#include "queue/writer.h"
#include "security/std_fds.h"

namespace fs = std::filesystem;
using namespace postern;

namespace {

volatile sig_atomic_t g_interrupted = 0;

// The maildrop file's size limit is 4 x message_size_limit plus this: room
// for the envelope (sender, recipients, attributes) and for the record
// framing of every line, which a message of very short lines can make
// larger than the message. Cleanup applies the exact limit.
constexpr rlim_t kEnvelopeAllowance = 16 << 20;
extern "C" void on_signal(int) { g_interrupted = 1; }

[[noreturn]] void die(int status, const std::string& text) {
  log::write(log::Level::Fatal, text);
  log::flush();
  std::exit(status);
}

// Who may choose a configuration directory, and the path to load then:
// config/config_dir.h.
fs::path check_config_dir(const fs::path& dir) {
  auto checked = config::check_config_dir_choice(dir);
  if (!checked) die(EX_USAGE, checked.error().message);
  return *checked;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything is opened (security/std_fds.h).
  if (!security::open_standard_descriptors()) return EX_OSERR;
  log::init("postdrop", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  // A set-gid program must not be fooled by inherited file mode masks into
  // creating group-writable files, nor die half-way on a closed pipe.
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a blocked read returns EINTR
  ::sigemptyset(&sa.sa_mask);
  // An interrupt from the keyboard cancels the submission. A hangup or
  // terminate signal does so only when the caller left it at its default:
  // one that ignores them ("nohup ... | sendmail") wants the mail to go
  // through all the same (Postfix keeps an inherited "ignore" too).
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM}) {
    struct sigaction old {};
    if ((s == SIGHUP || s == SIGTERM) && ::sigaction(s, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(s, &sa, nullptr);
  }
  // Writing past the file size limit set below fails with EFBIG instead of
  // killing the process.
  ::signal(SIGXFSZ, SIG_IGN);

  const char* env_dir = std::getenv("MAIL_CONFIG");
  fs::path config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  int verbose = 0;
  bool report_id = false;
  int ch;
  while ((ch = ::getopt(argc, argv, "c:rvQ")) != -1) {
    switch (ch) {
      case 'c': config_dir = optarg; break;
      case 'Q': report_id = true; break;
      case 'r': break;  // Postfix's "raw record input": ours is always a record stream
      case 'v':  // verbose logging is for root (Postfix's rule for this set-gid program)
        if (::getuid() == 0) log::set_verbose(++verbose);
        break;
      default: die(EX_USAGE, "usage: postdrop [-c config_dir] [-v] [-Q]");
    }
  }
  if (optind != argc) die(EX_USAGE, "usage: postdrop [-c config_dir] [-v] [-Q]");
  config_dir = check_config_dir(config_dir);
  auto cfg = config::Config::load(config_dir);
  if (!cfg) die(EX_CONFIG, cfg.error().message);
  // postdrop is set-gid: a user who runs it directly must be refused too.
  if (auto st = maps::check_user_acl("authorized_submit_users", cfg->str("authorized_submit_users"), ::getuid(),
                                     cfg->str("mail_owner"), "submit mail");
      !st)
    die(st.error().sys_errno == EPERM ? EX_NOPERM : EX_TEMPFAIL, st.error().message);
  auto hash = queue::HashConfig::from_params(fmt::format("{}", fmt::join(cfg->list("hash_queue_names"), ",")),
                                             cfg->integer("hash_queue_depth"));
  if (!hash) die(EX_CONFIG, hash.error().message);

  // A program piping into sendmail without end must not fill the queue's
  // file system: the maildrop file is bounded by message_size_limit (see
  // kEnvelopeAllowance); an inherited lower limit stays.
  if (const std::int64_t limit = cfg->size("message_size_limit");
      limit > 0 && static_cast<rlim_t>(limit) < (RLIM_INFINITY - kEnvelopeAllowance) / 4) {
    const rlim_t want = 4 * static_cast<rlim_t>(limit) + kEnvelopeAllowance;
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_FSIZE, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want)) {
      rl.rlim_cur = want;
      (void)::setrlimit(RLIMIT_FSIZE, &rl);
    }
  }

  queue::WriterOptions wo;
  wo.queue_root = cfg->str("queue_directory");
  wo.queue = queue::QueueName::Maildrop;
  wo.hash = *hash;
  // pickup runs as mail_owner and must read a file owned by the submitter:
  // read bits for all, as Postfix's 0444, set by the ready mark itself
  // (0544), so that no moment has a complete file pickup cannot read;
  // maildrop's own mode keeps other users out.
  wo.mode = 0444;
  wo.id_format = queue::id_format(cfg->boolean("enable_long_queue_ids"));
  auto writer = queue::QueueFileWriter::create(wo);
  if (!writer)
    die(EX_TEMPFAIL, fmt::format("uid={}: cannot create a file in {}/maildrop: {}", ::getuid(),
                                 wo.queue_root.string(), writer.error().message));

  postdrop::ByteReader in = [](char* buf, std::size_t len) -> Result<std::size_t> {
    for (;;) {
      if (g_interrupted) return make_error("interrupted by a signal");
      ssize_t n = ::read(0, buf, len);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      return sys_error("read standard input");
    }
  };
  auto sum = postdrop::decode_drop_stream(in, *writer);
  if (!sum) {
    // die() exits without unwinding: remove the incomplete file here.
    writer->abandon();
    if (sum.error().sys_errno == EFBIG)
      die(EX_DATAERR, fmt::format("uid={}: message file too large (message_size_limit {})", ::getuid(),
                                  cfg->size("message_size_limit")));
    int status = sum.error().sys_errno != 0 ? EX_TEMPFAIL : EX_DATAERR;
    die(status, fmt::format("uid={}: {}", ::getuid(), sum.error().message));
  }
  if (g_interrupted) {
    writer->abandon();
    die(EX_TEMPFAIL, "interrupted by a signal");
  }
  if (auto st = writer->commit(); !st) {
    writer->abandon();  // a failed step already removed it; this makes sure
    if (st.error().sys_errno == EFBIG)
      die(EX_DATAERR, fmt::format("uid={}: message file too large (message_size_limit {})", ::getuid(),
                                  cfg->size("message_size_limit")));
    die(EX_TEMPFAIL, fmt::format("uid={}: commit {}: {}", ::getuid(), writer->id().str(), st.error().message));
  }
  log::debug("{}: uid={} from=<{}> nrcpt={}", writer->id().str(), ::getuid(), sum->sender, sum->recipients);
  if (report_id) {
    std::string line = "queue_id=" + writer->id().str() + "\n";
    if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      log::debug("cannot report the queue ID: {}", std::strerror(errno));
  }

  fs::path trigger_path = fs::path(wo.queue_root) / "public" / cfg->str("pickup_service_name");
  if (auto st = ipc::trigger(trigger_path.string(), std::string(1, ipc::kTriggerWakeup)); !st)
    log::debug("no pickup wake-up (master not running?): {}", st.error().message);
  return 0;
}
