// postqueue - the users' queue interface (Postfix's postqueue(1)).
//
//   postqueue [-v] [-c config_dir] -p        list the queue (mailq format)
//   postqueue [-v] [-c config_dir] -j        list the queue, one JSON object per line
//   postqueue [-v] [-c config_dir] -f        flush: retry all deferred mail now
//   postqueue [-v] [-c config_dir] -i ID     retry the deferred message ID now
//   postqueue [-v] [-c config_dir] -s site   retry deferred mail for site now
//
// Installed set-gid setgid_group (postern set-permissions), so any user can
// reach the public sockets: -p and -j ask the showq service
// (public/$showq_service_name, ipc/proto/showq.h) and print what it
// streams, one message at a time. When showq cannot be reached (the master
// is not running), root reads the queue directly with the same code
// (src/showq/listing.h); anyone else gets "Queue report unavailable - mail
// system is down", as with Postfix.
//
// -f sends "FADI" to public/$queue_service_name (qmgr forgets dead
// destinations and rescans incoming and deferred ignoring retry times) and
// "W" to public/$pickup_service_name (maildrop), as Postfix's does.
// -i and -s: Postfix asks its flush service; Postern has none, so postqueue
// does the flush service's work itself: it sets the modification time (the
// next retry time) of the deferred message (-i), or of every deferred message
// with a pending recipient in domain `site` (-s, case-insensitive), to now,
// and sends "D" to qmgr. This needs write access to the deferred queue, i.e.
// root or mail_owner; other users get a clear error.
//
// Configuration: -c or MAIL_CONFIG, with the same rule as postdrop when
// running set-gid: a directory other than the default must be listed in
// the default main.cf's alternate_config_directories or be root-owned.
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// showq_service_name, queue_service_name, pickup_service_name, ipc_timeout,
// alternate_config_directories, empty_address_recipient,
// enable_long_queue_ids.
// Exit status: 0 (also for -i of a message that is not deferred), EX_USAGE
// bad arguments, EX_UNAVAILABLE mail system down, EX_NOPERM no access for -i/-s, EX_CONFIG bad
// configuration, EX_SOFTWARE a malformed reply from showq.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/strings.h"
#include "config/config.h"
#include "config/config_dir.h"
#include "format.h"
#include "ipc/client.h"
#include "ipc/proto/showq.h"
#include "ipc/trigger.h"
#include "ipc/wire.h"
#include "listing.h"
#include "maps/user_acl.h"
#include "log/log.h"
#include "postern/paths.h"
#include "queue/layout.h"
#include "queue/reader.h"
#include "queue/update.h"
#include "security/std_fds.h"

namespace fs = std::filesystem;
using namespace postern;

namespace {

[[noreturn]] void die(int status, const std::string& text) {
  log::write(log::Level::Fatal, text);
  log::flush();
  std::exit(status);
}

constexpr const char* kUsage = "usage: postqueue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site";

// Who may choose a configuration directory, and the path to load then:
// config/config_dir.h.
fs::path check_config_dir(const fs::path& dir) {
  auto checked = config::check_config_dir_choice(dir);
  if (!checked) die(EX_USAGE, checked.error().message);
  return *checked;
}

// Buffered stdout; a closed pipe (mailq | head) ends the program quietly.
class Out {
 public:
  ~Out() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= 64 * 1024) flush();
  }
  void flush() {
    std::string_view d = buf_;
    while (!d.empty()) {
      ssize_t n = ::write(1, d.data(), d.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        std::_Exit(errno == EPIPE ? 0 : EX_IOERR);
      }
      d.remove_prefix(static_cast<std::size_t>(n));
    }
    buf_.clear();
  }

 private:
  std::string buf_;
};

struct Env {
  config::Config cfg;
  fs::path queue_root;
  queue::HashConfig hash;
  std::chrono::seconds timeout{3600};
  postqueue::FormatOptions format;
};

enum class Format { Mailq, Json };

void print(Format f, postqueue::MailqPrinter& mailq, const ipc::proto::ShowqEntry& e, const Env& env, Out& out) {
  if (f == Format::Mailq)
    mailq.entry(e, out.buf());
  else
    out.buf() += postqueue::json_line(e, env.format);
  out.maybe_flush();
}

// Asks showq. Returns false when showq could not be reached at all (so the
// caller may fall back); dies on errors after the listing started.
bool list_via_showq(const Env& env, Format f) {
  fs::path sock = env.queue_root / "public" / env.cfg.str("showq_service_name");
  auto c = ipc::Client::connect(sock.string(), std::chrono::seconds(10));
  if (!c) {
    log::debug("connect {}: {}", sock.string(), c.error().message);
    return false;
  }
  auto timeout = std::chrono::duration_cast<ipc::Client::Duration>(env.timeout);
  if (auto st = c->send(ipc::proto::ShowqRequest{}, timeout); !st) {
    log::debug("showq request: {}", st.error().message);
    return false;
  }
  postqueue::MailqPrinter mailq(env.format);
  Out out;
  for (bool first = true;; first = false) {
    auto frame = c->read_frame(ipc::Clock::now() + env.timeout);
    if (!frame) {
      // Nothing at all: the service is not really there.
      if (first) return false;
      out.flush();
      die(EX_SOFTWARE, fmt::format("showq: {}", frame.error().message));
    }
    auto type = ipc::peek_type(frame->payload);
    if (!type) die(EX_SOFTWARE, fmt::format("showq: malformed reply: {}", type.error().message));
    if (*type == ipc::proto::ShowqEnd::kType) {
      auto end = ipc::decode<ipc::proto::ShowqEnd>(frame->payload);
      if (!end) die(EX_SOFTWARE, fmt::format("showq: malformed reply: {}", end.error().message));
      break;
    }
    if (auto refusal = ipc::proto::refusal(frame->payload)) die(EX_SOFTWARE, "showq: " + refusal->message);
    auto entry = ipc::decode<ipc::proto::ShowqEntry>(frame->payload);
    if (!entry) die(EX_SOFTWARE, fmt::format("showq: malformed reply: {}", entry.error().message));
    print(f, mailq, *entry, env, out);
  }
  if (f == Format::Mailq) mailq.finish(out.buf());
  return true;
}

int list(const Env& env, Format f) {
  if (list_via_showq(env, f)) return 0;
  // The mail system is down. Root can read the queue itself.
  if (::geteuid() != 0) die(EX_UNAVAILABLE, "Queue report unavailable - mail system is down");
  showq::ListOptions lo{.queue_root = env.queue_root, .hash = env.hash};
  postqueue::MailqPrinter mailq(env.format);
  Out out;
  auto stats = showq::list_queues(lo, [&](ipc::proto::ShowqEntry& e) {
    print(f, mailq, e, env, out);
    return true;
  });
  if (!stats) {
    out.flush();
    die(EX_UNAVAILABLE, fmt::format("cannot read the queue: {}", stats.error().message));
  }
  if (f == Format::Mailq) mailq.finish(out.buf());
  return 0;
}

void trigger_qmgr(const Env& env, std::string_view letters, std::string_view what) {
  fs::path path = env.queue_root / "public" / env.cfg.str("queue_service_name");
  if (auto st = ipc::trigger(path.string(), letters); !st) {
    log::debug("trigger {}: {}", path.string(), st.error().message);
    die(EX_UNAVAILABLE, fmt::format("Cannot {} - mail system is down", what));
  }
}

// The next retry time of a deferred message is its modification time.
Status make_due(const fs::path& path) {
  struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (::utimensat(AT_FDCWD, path.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("{}", path.string());
  return {};
}

void need_queue_access(const Env& env, std::string_view option) {
  fs::path dir = env.queue_root / "deferred";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    die(EX_NOPERM, fmt::format("{} needs write access to {} (run it as root or mail_owner: Postern has no "
                               "flush service that would do it on your behalf)",
                               option, dir.string()));
}

int flush_id(const Env& env, const std::string& text) {
  auto id = queue::QueueId::parse(text);
  if (!id) die(EX_USAGE, fmt::format("invalid queue ID: {}", str::printable(text, 64)));
  need_queue_access(env, "-i");
  auto path = queue::find_in_queue(env.queue_root, queue::QueueName::Deferred, *id);
  // Not deferred (delivered meanwhile, on hold, active right now): nothing
  // to do, and no error, as with Postfix's flush service.
  if (!path) {
    log::debug("{}: not in the deferred queue", id->str());
    return 0;
  }
  if (auto st = make_due(*path); !st) die(EX_UNAVAILABLE, st.error().message);
  // As Postfix's flush service: the unthrottle mark makes qmgr try this
  // message's dead destinations again and ignore defer_transports for it.
  if (auto marked = queue::set_unthrottle_mark(*path); !marked) {
    // Gone meanwhile (taken by a queue run) or not a complete file: nothing
    // to flush, as with Postfix.
    if (marked.error().sys_errno == ENOENT || queue::is_not_ready(marked.error())) return 0;
    die(EX_UNAVAILABLE, marked.error().message);
  }
  trigger_qmgr(env, std::string(1, ipc::kTriggerScanDeferred), "flush mail queue");
  return 0;
}

// Domain of an address (after the last '@'), lower case, no trailing dot.
std::string domain_of(std::string_view addr) {
  auto at = addr.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string d = str::lower(addr.substr(at + 1));
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

int flush_site(const Env& env, const std::string& site_arg) {
  std::string site = str::lower(str::trim(site_arg));
  while (!site.empty() && site.back() == '.') site.pop_back();
  if (site.empty() || site.size() > 255 || site.find_first_of("@/ \t\r\n") != std::string::npos)
    die(EX_USAGE, fmt::format("invalid site name: {}", str::printable(site_arg, 64)));
  need_queue_access(env, "-s");
  // Postfix's flush service first asks qmgr to forget its dead sites and
  // transports (and to ignore defer_transports in its next scans), then
  // makes the site's messages due.
  trigger_qmgr(env, std::string(1, ipc::kTriggerFlushDead), "flush mail queue");
  queue::QueueScanner scanner(env.queue_root, queue::QueueName::Deferred, env.hash);
  std::size_t touched = 0;
  for (;;) {
    auto next = scanner.next();
    if (!next) die(EX_UNAVAILABLE, next.error().message);
    if (!*next) break;
    // The pending recipients in slices, so that a long list is never in
    // memory at once.
    bool match = false;
    queue::ReadOptions ro{.require_ready = true, .verify_content = false, .max_recipients = 4096, .pending_only = true};
    auto reader = queue::QueueFileReader::open((*next)->path, ro);
    if (!reader) continue;
    auto walked = queue::for_each_recipient_slice(
        *reader, 4096, true, [&](const std::vector<queue::Recipient>& list) -> Result<bool> {
          for (const auto& r : list)
            if (domain_of(r.fields.address) == site) match = true;
          return !match;  // one match is enough
        });
    if (!walked || !match) continue;
    if (auto st = make_due((*next)->path); !st) {
      log::warning("{}", st.error().message);
      continue;
    }
    ++touched;
  }
  log::debug("{} deferred messages for {} scheduled", touched, site);
  trigger_qmgr(env, std::string(1, ipc::kTriggerScanDeferred), "flush mail queue");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything is opened (security/std_fds.h).
  if (!security::open_standard_descriptors()) return EX_OSERR;
  log::init("postqueue", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);

  const char* env_dir = std::getenv("MAIL_CONFIG");
  fs::path config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  char action = 0;
  std::string arg;
  int verbose = 0;
  int ch;
  while ((ch = ::getopt(argc, argv, "c:fi:jps:v")) != -1) {
    switch (ch) {
      case 'c': config_dir = optarg; break;
      case 'v': log::set_verbose(++verbose); break;
      case 'f':
      case 'j':
      case 'p':
      case 'i':
      case 's':
        if (action != 0 && action != ch) die(EX_USAGE, "specify only one of -f, -i, -j, -p, -s");
        action = static_cast<char>(ch);
        if (optarg) arg = optarg;
        break;
      default: die(EX_USAGE, kUsage);
    }
  }
  if (optind != argc || action == 0) die(EX_USAGE, kUsage);
  config_dir = check_config_dir(config_dir);
  auto cfg = config::Config::load(config_dir);
  if (!cfg) die(EX_CONFIG, cfg.error().message);
  Env env{.cfg = std::move(*cfg), .queue_root = {}, .hash = {}, .timeout = {}, .format = {}};
  env.queue_root = env.cfg.str("queue_directory");
  std::string names;
  for (const auto& n : env.cfg.list("hash_queue_names")) names += n + ",";
  auto hash = queue::HashConfig::from_params(names, env.cfg.integer("hash_queue_depth"));
  if (!hash) die(EX_CONFIG, hash.error().message);
  env.hash = *hash;
  env.timeout = env.cfg.time("ipc_timeout");
  env.format.null_sender = env.cfg.str("empty_address_recipient");
  env.format.long_ids = env.cfg.boolean("enable_long_queue_ids");
  // -p and -j list the queue; -f, -s and -i flush it.
  const bool listing = action == 'p' || action == 'j';
  if (auto st = maps::check_user_acl(listing ? "authorized_mailq_users" : "authorized_flush_users",
                                     env.cfg.str(listing ? "authorized_mailq_users" : "authorized_flush_users"),
                                     ::getuid(), env.cfg.str("mail_owner"),
                                     listing ? "view the mail queue" : "flush the mail queue");
      !st)
    die(st.error().sys_errno == EPERM ? EX_NOPERM : EX_TEMPFAIL, st.error().message);

  switch (action) {
    case 'p': return list(env, Format::Mailq);
    case 'j': return list(env, Format::Json);
    case 'f': {
      ipc::TriggerRequest r{.scan_incoming = true, .scan_deferred = true, .scan_all = true, .flush_dead = true};
      trigger_qmgr(env, ipc::trigger_bytes(r), "flush mail queue");
      // And the maildrop, as Postfix's postqueue -f: mail that sendmail
      // left there while pickup was not running goes out now too. A
      // system without pickup still has its queue flushed.
      fs::path pickup = env.queue_root / "public" / env.cfg.str("pickup_service_name");
      if (auto st = ipc::trigger(pickup.string(), std::string(1, ipc::kTriggerWakeup)); !st)
        log::debug("trigger {}: {}", pickup.string(), st.error().message);
      return 0;
    }
    case 'i': return flush_id(env, arg);
    case 's': return flush_site(env, arg);
  }
  return EX_SOFTWARE;
}
