// sendmail - Sendmail-compatible local submission (also mailq, newaliases).
//
//   sendmail [-t] [-i|-oi] [-f sender|-r sender] [-F full_name] [-N dsn] [-R ret] [-V envid]
//            [-B body] [-C config] [-v] [-o x]... [recipient ...]
//   sendmail -bs | -bp | -bi | -q | -qR site      mailq (= -bp)   newaliases (= -bi)
//
// Reads a message on stdin (LF or CRLF lines; a line with a single "."
// ends it unless -i/-oi) and hands it to postdrop(1), run from
// command_directory with the data on a pipe (never through a shell).
// postdrop writes it into maildrop/ and wakes pickup; when the master is
// not running the message waits in maildrop until it starts. The envelope
// sender is -f/-r or the invoking user's login name; the full name is -F,
// else $NAME, else the GECOS field. -t adds recipients from To:/Cc:/Bcc:
// (cleanup extracts them) to those on the command line, as Postfix >= 2.1.
// -bs speaks SMTP on stdin/stdout and submits each message the same way
// (postdrop -Q reports the new queue ID for "250 2.0.0 Ok: queued as ID").
// -bp (and mailq) and -q run postqueue(1) -p / -f, -qR site runs
// postqueue -s site, from command_directory; -bi rebuilds alias_database.
//
// Parameters: command_directory, sendmail_fix_line_endings, alias_database,
// myhostname. Configuration: -C (directory or main.cf), MAIL_CONFIG, or the
// default.
// Exit status (sysexits.h): 0 ok; EX_USAGE bad usage; EX_NOUSER no login
// name for the uid; EX_UNAVAILABLE postdrop/postqueue missing or -bi failed;
// EX_TEMPFAIL (or postdrop's own status) when postdrop failed; EX_CONFIG
// unreadable configuration; EX_SOFTWARE internal errors.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "log/log.h"
#include "maps/build.h"
#include "maps/user_acl.h"
#include "postern/paths.h"
#include "queue/queue_id.h"
#include "security/std_fds.h"
#include "sendmail.h"
#include "smtp/command.h"
#include "smtp/reply.h"

namespace fs = std::filesystem;
using namespace postern;
using namespace postern::sendmail;

namespace {

[[noreturn]] void die(int status, const std::string& text) {
  log::write(log::Level::Fatal, text);
  log::flush();
  std::exit(status);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One postdrop child with its stdin on a pipe.
class Postdrop {
 public:
  // With `report_id` (sendmail -bs), postdrop is asked (-Q) to print the
  // new queue ID on its standard output, a pipe read by queue_id().
  static Result<Postdrop> start(const fs::path& command_dir, const fs::path& config_dir, bool report_id = false) {
    fs::path prog = command_dir / "postdrop";
    if (::access(prog.c_str(), X_OK) != 0) return sys_error("cannot run {}", prog.string());
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
    int o[2] = {-1, -1};
    if (report_id && ::pipe2(o, O_CLOEXEC) != 0) {
      ::close(p[0]);
      ::close(p[1]);
      return sys_error("pipe");
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(p[0]);
      ::close(p[1]);
      if (report_id) {
        ::close(o[0]);
        ::close(o[1]);
      }
      return sys_error("fork");
    }
    if (pid == 0) {
      if (::dup2(p[0], 0) < 0) ::_exit(EX_OSERR);
      if (report_id && ::dup2(o[1], 1) < 0) ::_exit(EX_OSERR);
      std::string cfg = config_dir.string();
      const char* argv[] = {"postdrop", "-c", cfg.c_str(), report_id ? "-Q" : nullptr, nullptr};
      ::execv(prog.c_str(), const_cast<char* const*>(argv));
      ::_exit(EX_UNAVAILABLE);
    }
    ::close(p[0]);
    Postdrop d;
    d.pid_ = pid;
    d.fd_ = p[1];
    if (report_id) {
      ::close(o[1]);
      d.out_ = o[0];
    }
    return d;
  }
  Postdrop(Postdrop&& o) noexcept : pid_(o.pid_), fd_(o.fd_), out_(o.out_), failed_(o.failed_), id_(std::move(o.id_)) {
    o.pid_ = -1;
    o.fd_ = -1;
    o.out_ = -1;
  }
  ~Postdrop() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) wait();
    if (out_ >= 0) ::close(out_);
  }
  // The queue ID postdrop reported (after wait()), empty when none.
  const std::string& queue_id() const { return id_; }
  postdrop::StreamEncoder::Sink sink() {
    return [this](std::string_view d) -> Status {
      if (failed_ || !write_all(fd_, d)) {
        failed_ = true;
        return make_error("postdrop stopped reading");
      }
      return {};
    };
  }
  // Closes the pipe and returns postdrop's exit status (EX_SOFTWARE on a signal).
  int wait() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (out_ >= 0) {
      // "queue_id=ID\n", bounded; anything else is ignored.
      std::string text;
      char buf[256];
      for (;;) {
        ssize_t n = ::read(out_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (text.size() < 1024) text.append(buf, static_cast<std::size_t>(n));
      }
      ::close(out_);
      out_ = -1;
      constexpr std::string_view kKey = "queue_id=";
      if (text.starts_with(kKey)) {
        auto end = text.find('\n');
        if (end != std::string::npos)
          if (auto id = queue::QueueId::parse(std::string_view(text).substr(kKey.size(), end - kKey.size())))
            id_ = id->str();
      }
    }
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0)
      if (errno != EINTR) return EX_SOFTWARE;
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return EX_SOFTWARE;
  }

 private:
  Postdrop() = default;
  pid_t pid_ = -1;
  int fd_ = -1;
  int out_ = -1;
  bool failed_ = false;
  std::string id_;
};

// postdrop's status as ours: sysexits codes pass through, others are temporary.
int submit_status(int postdrop_status) {
  if (postdrop_status == 0) return 0;
  if (postdrop_status >= EX__BASE && postdrop_status <= EX__MAX) return postdrop_status;
  return EX_TEMPFAIL;
}

struct Env {
  fs::path config_dir;
  std::optional<config::Config> cfg;
  std::string login;
  std::string gecos;
};

[[noreturn]] void run_postqueue(const Env& env, std::vector<std::string> args) {
  fs::path prog = fs::path(env.cfg->str("command_directory")) / "postqueue";
  if (::access(prog.c_str(), X_OK) != 0)
    die(EX_UNAVAILABLE, fmt::format("cannot run {}: {}", prog.string(), std::strerror(errno)));
  std::vector<std::string> argv = {"postqueue", "-c", env.config_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  log::flush();
  ::execv(prog.c_str(), cargv.data());
  die(EX_UNAVAILABLE, fmt::format("execute {}: {}", prog.string(), std::strerror(errno)));
}

int deliver(const Env& env, const Options& o) {
  std::string sender = o.sender ? *o.sender : env.login;
  std::optional<std::string> full_name = o.full_name;
  if (!full_name) full_name = default_full_name(std::getenv("NAME"), env.gecos, env.login);
  if (full_name && (full_name->size() > 1000 || !queue::valid_envelope_text(*full_name))) full_name.reset();
  // With -t and no recipient on the command line, a message whose header
  // names none is refused at once (EX_USAGE), as Postfix's sendmail does,
  // rather than bounced later. So the records are held back until the
  // header has been read (up to kHoldLimit; a header that long goes out
  // before the check, and a refusal then leaves postdrop an unfinished
  // stream, which it throws away), and postdrop starts only then.
  constexpr std::size_t kHoldLimit = 1 << 20;
  std::optional<Postdrop> pd;
  std::string held;
  bool holding = o.extract && o.recipients.empty();
  bool no_recipients = false;
  auto start_postdrop = [&]() -> Status {
    auto started = Postdrop::start(env.cfg->str("command_directory"), env.config_dir);
    if (!started) die(EX_UNAVAILABLE, started.error().message);
    pd.emplace(std::move(*started));
    holding = false;
    std::string out = std::move(held);
    held.clear();
    return out.empty() ? Status{} : pd->sink()(out);
  };
  if (!holding)
    if (auto st = start_postdrop(); !st) die(EX_TEMPFAIL, st.error().message);
  postdrop::StreamEncoder enc([&](std::string_view d) -> Status {
    if (!holding) return pd->sink()(d);
    held.append(d);
    return held.size() > kHoldLimit ? start_postdrop() : Status{};
  });
  ReadOptions ro{.ignore_dots = o.ignore_dots,
                 .endings = parse_line_endings(env.cfg->str("sendmail_fix_line_endings")),
                 .headers_done = {}};
  if (o.extract && o.recipients.empty())
    ro.headers_done = [&](bool has_recipients) -> Status {
      if (!has_recipients) {
        no_recipients = true;
        return make_error("no recipients");
      }
      return holding ? start_postdrop() : Status{};
    };
  ByteReader in = [](char* buf, std::size_t len) -> Result<std::size_t> {
    for (;;) {
      ssize_t n = ::read(0, buf, len);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return sys_error("read standard input");
    }
  };
  Status st = write_envelope(o, sender, full_name, enc);
  if (st) st = read_message(in, ro, enc);
  if (no_recipients) {
    if (pd) (void)pd->wait();  // an unfinished stream: postdrop removes its file
    die(EX_USAGE, fmt::format("{}({}): No recipient addresses found in message header", sender, ::getuid()));
  }
  // read_message() reports the end of the header (or fails), so postdrop
  // runs by now unless something failed first.
  if (!pd) die(EX_TEMPFAIL, st ? "postdrop was not started" : st.error().message);
  int status = pd->wait();
  if (status != 0) {
    // postdrop has already said why on stderr.
    die(submit_status(status), fmt::format("{}({}): error writing the message to postdrop (status {})", env.login,
                                           ::getuid(), status));
  }
  if (!st) die(EX_TEMPFAIL, st.error().message);
  return 0;
}

// ---- -bs: an SMTP dialogue on stdin/stdout ---------------------------------

class LineIn {
 public:
  // One line without LF (and without a final CR); nullopt at end of input.
  // Longer lines are returned in pieces with `partial` set.
  std::optional<std::string> next(bool& partial, std::size_t max) {
    partial = false;
    std::string line;
    for (;;) {
      if (pos_ == len_) {
        ssize_t n;
        do n = ::read(0, buf_, sizeof buf_);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
          if (line.empty()) return std::nullopt;
          return line;
        }
        pos_ = 0;
        len_ = static_cast<std::size_t>(n);
      }
      char c = buf_[pos_++];
      if (c == '\n') {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      line.push_back(c);
      if (line.size() >= max) {
        partial = true;
        return line;
      }
    }
  }

 private:
  char buf_[8192];
  std::size_t pos_ = 0, len_ = 0;
};

void reply(int code, std::string_view enh, std::string_view text) {
  std::string out = smtp::format_reply(smtp::Reply(code, std::string(enh), std::string(text)));
  write_all(1, out);
}

int smtp_session(const Env& env, Options o) {
  std::string host = env.cfg->str("myhostname");
  write_all(1, smtp::format_reply(smtp::Reply(220, "", host + " ESMTP Postern")));
  LineIn in;
  std::optional<std::string> sender;
  std::vector<std::string> rcpts;
  std::vector<unsigned> notify;
  std::optional<smtp::MailFrom> mail;
  smtp::CommandOptions copts;
  copts.smtputf8 = false;
  for (;;) {
    bool partial = false;
    auto line = in.next(partial, 4096);
    if (!line) return 0;
    if (partial) {
      // Drain the rest of an over-long command line.
      while (partial && in.next(partial, 4096)) {}
      reply(500, "5.5.2", "Error: line too long");
      continue;
    }
    auto cmd = smtp::parse_command(*line, copts);
    if (!cmd) {
      write_all(1, smtp::format_reply(cmd.error().reply));
      if (cmd.error().disconnect) return 0;
      continue;
    }
    switch (cmd->verb) {
      case smtp::Verb::Helo: reply(250, "", host); break;
      case smtp::Verb::Ehlo: {
        smtp::EhloFeatures f;
        f.vrfy = false;
        f.etrn = false;
        f.chunking = false;
        f.smtputf8 = false;
        write_all(1, smtp::format_reply(smtp::ehlo_reply(host, smtp::ehlo_keywords(f))));
        break;
      }
      case smtp::Verb::Mail: {
        if (sender) {
          reply(503, "5.5.1", "Error: nested MAIL command");
          break;
        }
        const auto& m = cmd->mail();
        auto s = parse_address(m.path.text.empty() ? std::string("<>") : "<" + m.path.text + ">");
        if (!s) {
          reply(501, "5.1.7", "Bad sender address syntax");
          break;
        }
        sender = *s;
        mail = m;
        reply(250, "2.1.0", "Ok");
        break;
      }
      case smtp::Verb::Rcpt: {
        if (!sender) {
          reply(503, "5.5.1", "Error: need MAIL command");
          break;
        }
        auto r = parse_address("<" + cmd->rcpt().path.text + ">");
        if (!r || r->empty()) {
          reply(501, "5.1.3", "Bad recipient address syntax");
          break;
        }
        rcpts.push_back(*r);
        notify.push_back(cmd->rcpt().notify);
        reply(250, "2.1.5", "Ok");
        break;
      }
      case smtp::Verb::Data: {
        if (!sender) {
          reply(503, "5.5.1", "Error: need MAIL command");
          break;
        }
        if (rcpts.empty()) {
          reply(503, "5.5.1", "Error: need RCPT command");
          break;
        }
        reply(354, "", "End data with <CR><LF>.<CR><LF>");
        Options mo = o;
        mo.mode = Mode::Smtp;
        mo.extract = false;
        mo.recipients.clear();
        if (mail->ret == smtp::Ret::Full) mo.ret = "FULL";
        if (mail->ret == smtp::Ret::Hdrs) mo.ret = "HDRS";
        if (mail->envid) mo.envid = *mail->envid;
        if (mail->body == smtp::Body::EightBitMime) mo.body = "8bit";
        if (mail->body == smtp::Body::SevenBit) mo.body = "7bit";
        auto pd = Postdrop::start(env.cfg->str("command_directory"), env.config_dir, true);
        std::optional<postdrop::StreamEncoder> enc;
        Status st = pd ? Status{} : Status(pd.error());
        if (pd) {
          enc.emplace(pd->sink());
          st = write_envelope(mo, *sender, o.full_name, *enc);
          for (std::size_t i = 0; st && i < rcpts.size(); ++i) {
            queue::RecipientFields f;
            f.address = rcpts[i];
            f.notify = notify[i];
            st = enc->recipient(f);
          }
          if (st) st = enc->begin_content();
        }
        // Read the data to the end whatever happens, dot-unstuffed.
        bool ended = false, continuing = false;
        while (auto l = in.next(partial, queue::kMaxContentRecord)) {
          if (!continuing && *l == ".") {
            ended = true;
            break;
          }
          std::string_view text = *l;
          if (!continuing && !text.empty() && text[0] == '.') text.remove_prefix(1);
          if (st) st = partial ? enc->partial(text) : enc->line(text);
          continuing = partial;
        }
        if (!ended) return 0;  // client went away: postdrop sees no end record and removes its file
        if (st) st = enc->end();
        int status = pd ? pd->wait() : EX_UNAVAILABLE;
        if (st && status == 0 && !pd->queue_id().empty())
          reply(250, "2.0.0", "Ok: queued as " + pd->queue_id());
        else if (st && status == 0)
          reply(250, "2.0.0", "Ok: queued");
        else
          reply(451, "4.3.0", "Error: queue file write error");
        sender.reset();
        mail.reset();
        rcpts.clear();
        notify.clear();
        break;
      }
      case smtp::Verb::Rset:
        sender.reset();
        mail.reset();
        rcpts.clear();
        notify.clear();
        reply(250, "2.0.0", "Ok");
        break;
      case smtp::Verb::Noop: reply(250, "2.0.0", "Ok"); break;
      case smtp::Verb::Quit: reply(221, "2.0.0", "Bye"); return 0;
      case smtp::Verb::Vrfy: reply(502, "5.5.1", "VRFY command is disabled"); break;
      default:
        if (cmd->looks_like_header()) {
          reply(221, "2.7.0", "Error: I can break rules, too. Goodbye.");
          return 0;
        }
        reply(502, "5.5.2", "Error: command not recognized");
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything is opened (security/std_fds.h).
  if (!security::open_standard_descriptors()) return EX_OSERR;
  std::string program = fs::path(argc > 0 && argv[0] ? argv[0] : "sendmail").filename().string();
  if (program != "mailq" && program != "newaliases") program = "sendmail";
  log::init(program, log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  auto opts = parse_args(args, program);
  if (!opts) die(EX_USAGE, opts.error().message);
  log::set_verbose(opts->verbose);
  for (const auto& w : opts->warnings) log::warning("{}", w);

  Env env;
  const char* env_dir = std::getenv("MAIL_CONFIG");
  env.config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  if (opts->config) {
    // -C names a directory or its main.cf.
    fs::path c = *opts->config;
    std::error_code ec;
    env.config_dir = fs::is_directory(c, ec) ? c : c.parent_path();
    if (env.config_dir.empty()) env.config_dir = ".";
  }
  auto cfg = config::Config::load(env.config_dir);
  if (!cfg) die(EX_CONFIG, cfg.error().message);
  env.cfg = std::move(*cfg);
  // postdrop and postqueue read the same configuration.
  ::setenv("MAIL_CONFIG", env.config_dir.c_str(), 1);

  struct passwd* pw = ::getpwuid(::getuid());
  if (!pw) die(EX_NOUSER, fmt::format("no login name found for user ID {}", ::getuid()));
  env.login = pw->pw_name;
  env.gecos = pw->pw_gecos ? pw->pw_gecos : "";
  // Refused here already, before a message is read (postdrop checks too).
  if (opts->mode == Mode::Deliver || opts->mode == Mode::Smtp) {
    if (auto st = maps::check_user_acl("authorized_submit_users", env.cfg->str("authorized_submit_users"), ::getuid(),
                                       env.cfg->str("mail_owner"), "submit mail");
        !st)
      die(st.error().sys_errno == EPERM ? EX_NOPERM : EX_TEMPFAIL, st.error().message);
  }

  switch (opts->mode) {
    case Mode::Deliver: return deliver(env, *opts);
    case Mode::Smtp: return smtp_session(env, *opts);
    case Mode::ListQueue: run_postqueue(env, {"-p"});
    case Mode::FlushQueue: run_postqueue(env, {"-f"});
    case Mode::FlushSite: run_postqueue(env, {"-s", opts->flush_site});
    case Mode::FlushId: run_postqueue(env, {"-i", opts->flush_id});
    case Mode::Ignore: return 0;
    case Mode::Newaliases: {
      maps::BuildOptions bo;
      bo.myhostname = env.cfg->str("myhostname");
      bo.lmdb_map_size = static_cast<std::size_t>(env.cfg->integer("lmdb_map_size"));
      const std::string databases = opts->alias_database.value_or(env.cfg->str("alias_database"));
      if (auto st = maps::rebuild_alias_database(databases, bo); !st)
        die(EX_UNAVAILABLE, st.error().message);
      return 0;
    }
  }
  return EX_SOFTWARE;
}
