// instance.cpp - see instance.h.
#include "instance.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "config/master_cf.h"
#include "log/log.h"
#include "maps/build.h"
#include "postern/paths.h"
#include "queue/layout.h"
#include "security/privileges.h"

namespace fs = std::filesystem;

namespace postern::tool {
namespace {

bool running_from_build_tree() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return !ec && exe.parent_path() == fs::path(paths::kBuildCommandDir);
}

Status write_new_file(const fs::path& p, const std::string& text, mode_t mode) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return sys_error("create {}", p.string());
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0) return sys_error("write {}", p.string());
    off += std::size_t(n);
  }
  if (::fsync(fd.get()) != 0) return sys_error("fsync {}", p.string());
  return {};
}

// master.cf for a new instance: the sample, with SMTP moved to
// 127.0.0.1:PORT, and entries whose program is not (yet) in
// daemon_directory commented out so the master never spawns a missing
// program.
std::string instance_master_cf(const fs::path& daemon_dir, int smtp_port) {
  std::istringstream in(kSampleMasterCf);
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ' ' || line[0] == '\t') {
      out += line + "\n";
      continue;
    }
    auto cols = str::split(line, " \t");
    if (cols.size() >= 8 && cols[0] == "smtp" && cols[1] == "inet") {
      line.replace(0, 4, fmt::format("127.0.0.1:{}", smtp_port));
    }
    if (cols.size() >= 8 && ::access((daemon_dir / cols[7]).c_str(), X_OK) != 0) {
      out += "# not built: " + line + "\n";
      continue;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string default_daemon_directory() {
  return running_from_build_tree() ? paths::kBuildDaemonDir : paths::kDaemonDir;
}
std::string default_command_directory() {
  return running_from_build_tree() ? paths::kBuildCommandDir : paths::kCommandDir;
}

Status init_instance(const fs::path& dir_in, int smtp_port) {
  std::error_code ec;
  fs::create_directories(dir_in, ec);
  if (ec) return make_error("create {}: {}", dir_in.string(), ec.message());
  fs::path dir = fs::canonical(dir_in, ec);
  if (ec) return make_error("{}: {}", dir_in.string(), ec.message());
  fs::path main_cf = dir / "main.cf", master_cf = dir / "master.cf";
  bool root = security::running_as_root();
  std::string owner = "postern", group = "postdrop";
  if (!root) {
    auto me = security::current_user();
    if (!me) return me.take_error();
    owner = me->name;
    auto* gr = ::getgrgid(me->gid);
    group = gr ? gr->gr_name : std::to_string(me->gid);
  }
  std::string daemon_dir = default_daemon_directory();
  if (!fs::exists(main_cf)) {
    std::string text = fmt::format(
        "# Self-contained Postern instance written by `postern init`.\n"
        "# Everything it uses lives below {0}.\n"
        "config_directory = {0}\n"
        "queue_directory = {0}/queue\n"
        "data_directory = {0}/data\n"
        "mail_spool_directory = {0}/mail\n"
        "maillog_file = {0}/maillog\n"
        "maillog_file_prefixes = {0}/, /var, /dev/stdout\n"
        "daemon_directory = {1}\n"
        "command_directory = {2}\n"
        "mail_owner = {3}\n"
        "setgid_group = {4}\n"
        "inet_interfaces = 127.0.0.1\n"
        "inet_protocols = ipv4\n"
        "mynetworks_style = host\n"
        "alias_maps = hash:{0}/aliases\n"
        "alias_database = hash:{0}/aliases\n",
        dir.string(), daemon_dir, default_command_directory(), owner, group);
    if (auto st = write_new_file(main_cf, text, 0644); !st) return st;
    std::printf("postern: wrote %s\n", main_cf.c_str());
  }
  if (!fs::exists(master_cf)) {
    if (auto st = write_new_file(master_cf, instance_master_cf(daemon_dir, smtp_port), 0644); !st) return st;
    std::printf("postern: wrote %s\n", master_cf.c_str());
  }
  for (auto sub : {"data", "mail"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return make_error("create {}: {}", (dir / sub).string(), ec.message());
  }
  // The instance's own aliases(5), so local mail works without touching
  // /etc/aliases: the RFC 5321 postmaster and the bounce sender name reach
  // root (or, unprivileged, the invoking user).
  fs::path aliases = dir / "aliases";
  if (!fs::exists(aliases)) {
    std::string admin = root ? "root" : owner;
    std::string text = fmt::format(
        "# aliases(5) of this instance; rebuild with: postalias -c {0} {1}  (or newaliases)\n"
        "postmaster: {2}\n"
        "MAILER-DAEMON: postmaster\n",
        dir.string(), aliases.string(), admin);
    if (auto st = write_new_file(aliases, text, 0644); !st) return st;
    auto built = maps::build_aliases("hash:" + aliases.string());
    if (!built) return make_error("build {}: {}", aliases.string(), built.error().message);
    std::printf("postern: wrote %s and %s.db\n", aliases.c_str(), aliases.c_str());
  }
  return {};
}

Status set_permissions(const config::Config& cfg) {
  std::string owner = cfg.str("mail_owner"), group = cfg.str("setgid_group");
  queue::TreeOptions opt;
  auto hash = queue::HashConfig::from_params(cfg.str("hash_queue_names"), cfg.integer("hash_queue_depth"));
  if (!hash) return hash.take_error();
  fs::path qdir = cfg.str("queue_directory");
  if (security::running_as_root()) {
    if (!security::lookup_group(group)) {
      if (auto st = run_program({"groupadd", "--system", group}); !st || *st != 0)
        return make_error("groupadd {} failed", group);
      std::printf("postern: created group %s\n", group.c_str());
    }
    if (!security::lookup_user(owner)) {
      auto st = run_program({"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", qdir.string(),
                             "--shell", "/usr/sbin/nologin", "--comment", "Postern mail system", owner});
      if (!st || *st != 0) return make_error("useradd {} failed", owner);
      std::printf("postern: created user %s\n", owner.c_str());
    }
    auto u = security::lookup_user(owner);
    if (!u) return u.take_error();
    if (u->uid == 0) return make_error("mail_owner {} must not be root", owner);
    auto g = security::lookup_group(group);
    if (!g) return g.take_error();
    if (*g == u->gid) return make_error("setgid_group {} must not be the primary group of mail_owner", group);
    opt.mail_owner_uid = u->uid;
    opt.mail_owner_gid = u->gid;
    opt.setgid_group_gid = *g;
  }
  auto made = queue::create_queue_tree(qdir, *hash, opt);
  if (!made) return made.take_error();
  // Files left from earlier runs under another owner must be readable by
  // the daemons: hand everything below the mail_owner queues over.
  if (opt.mail_owner_uid) {
    for (const auto& spec : queue::kQueueLayout) {
      // maildrop files belong to the users who submitted them (pickup logs
      // their uid); only the directory itself is the mail system's.
      if (spec.owner != queue::OwnerClass::MailOwner || spec.name == queue::QueueName::Maildrop) continue;
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(qdir / std::string(to_string(spec.name)), ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_symlink()) continue;
        gid_t gid = spec.group == queue::GroupClass::SetgidGroup ? *opt.setgid_group_gid : *opt.mail_owner_gid;
        if (::lchown(it->path().c_str(), *opt.mail_owner_uid, gid) != 0)
          log::warning("chown {}: {}", it->path().string(), std::strerror(errno));
      }
    }
    // The setgid commands let local users drop mail and list the queue.
    fs::path cmd_dir = cfg.str("command_directory");
    for (auto name : {"postdrop", "postqueue"}) {
      fs::path p = cmd_dir / name;
      if (!fs::exists(p)) continue;
      if (::chown(p.c_str(), 0, *opt.setgid_group_gid) != 0 || ::chmod(p.c_str(), 02755) != 0)
        return sys_error("set-permissions {}", p.string());
    }
  }
  return {};
}

Status check_service_overrides(const config::Config& cfg, const config::MasterService& s) {
  config::Config probe = cfg;
  auto process = std::filesystem::path(s.command).filename().string();
  if (auto st = config::apply_service_overrides(probe, s.name, process, "0", s.overrides); !st)
    return make_error("{}, line {}: service {}: {}", s.file, s.line, s.name, st.error().message);
  return {};
}

std::vector<std::string> check_instance(const config::Config& cfg) {
  std::vector<std::string> problems;
  for (auto& w : cfg.warnings()) problems.push_back("warning: " + w);
  auto services = config::load_master_cf(cfg.config_dir());
  if (!services) {
    problems.push_back(services.error().message);
  } else {
    fs::path ddir = cfg.str("daemon_directory");
    for (auto& s : *services) {
      fs::path prog = s.command.find('/') != std::string::npos ? fs::path(s.command) : ddir / s.command;
      if (::access(prog.c_str(), X_OK) != 0)
        problems.push_back(fmt::format("{}, line {}: service {}: cannot execute {}", s.file, s.line, s.name,
                                       prog.string()));
      if (auto st = check_service_overrides(cfg, s); !st) problems.push_back(st.error().message);
    }
  }
  fs::path qdir = cfg.str("queue_directory");
  std::optional<uid_t> owner_uid;
  if (auto u = security::lookup_user(cfg.str("mail_owner")); u) {
    owner_uid = u->uid;
  } else {
    problems.push_back("mail_owner: " + u.error().message);
  }
  for (const auto& spec : queue::kQueueLayout) {
    fs::path p = qdir / std::string(to_string(spec.name));
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      problems.push_back(fmt::format("{}: missing (run `postern set-permissions`)", p.string()));
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      problems.push_back(fmt::format("{}: not a directory", p.string()));
      continue;
    }
    if ((st.st_mode & 07777) != spec.mode)
      problems.push_back(fmt::format("{}: mode {:04o}, want {:04o}", p.string(), st.st_mode & 07777, spec.mode));
    if (security::running_as_root() && owner_uid) {
      uid_t want = spec.owner == queue::OwnerClass::Root ? 0 : *owner_uid;
      if (st.st_uid != want)
        problems.push_back(fmt::format("{}: owner uid {}, want {}", p.string(), st.st_uid, want));
    }
  }
  return problems;
}

Result<int> run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "postern: fatal: execute %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return make_error("{} killed by signal {}", args[0], WTERMSIG(status));
}

}  // namespace postern::tool
