// agent.cpp - see agent.h.
#include "agent.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "deliver/biff.h"
#include "deliver/command.h"
#include "deliver/copy.h"
#include "deliver/queue_content.h"
#include "deliver/maildir.h"
#include "deliver/mbox.h"
#include "deliver/request_file.h"
#include "deliver/status_filter.h"
#include "deliver/status_line.h"
#include "deliver/worker.h"
#include "config/transport.h"
#include "ipc/client.h"
#include "log/log.h"
#include "maps/map_list.h"
#include "queue/layout.h"
#include "queue/queue_id.h"
#include "queue/reader.h"
#include "submit/cleanup_client.h"

namespace postern::local {

using deliver::ChildResult;
using deliver::credentials_of;
using deliver::Identity;
using deliver::kMaxChildPayload;
using deliver::Outcome;
using deliver::Task;
using deliver::WorkerPool;
namespace proto = ipc::proto;

// ---------------------------------------------------------------- settings

namespace {

std::vector<std::string> split_templates(std::string_view v) {
  // forward_path elements are separated by commas or white space.
  return str::split(v, ", \t\r\n");
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  auto& e = s.engine;
  e.recipient_delimiter = cfg.str("recipient_delimiter");
  e.myorigin = str::lower(cfg.str("myorigin"));
  for (const auto& d : cfg.list("mydestination")) {
    // Literal names only: tables and files are trivial-rewrite's business;
    // here they only decide whether an expansion is delivered in place or
    // resubmitted (which is correct either way, just slower).
    if (d.find_first_of(":/") == std::string::npos && !d.empty() && d[0] != '!') e.local_domains.push_back(str::lower(d));
  }
  e.local_domains.push_back(str::lower(cfg.str("myhostname")));
  e.local_domains.push_back("localhost");
  e.forward_path = split_templates(cfg.raw("forward_path").value_or(""));
  e.forward_filter = cfg.raw("forward_expansion_filter").value_or("");
  e.luser_relay = std::string(str::trim(cfg.raw("luser_relay").value_or("")));
  e.mailbox_transport = cfg.str("mailbox_transport");
  e.fallback_transport = cfg.str("fallback_transport");
  if (!e.mailbox_transport.empty())
    if (auto st = config::check_transport_nexthop(e.mailbox_transport, "mailbox_transport"); !st)
      return st.take_error();
  if (!e.fallback_transport.empty())
    if (auto st = config::check_transport_nexthop(e.fallback_transport, "fallback_transport"); !st)
      return st.take_error();
  auto ac = AllowList::parse(cfg.list("allow_mail_to_commands"));
  if (!ac) return make_error("allow_mail_to_commands: {}", ac.error().message);
  e.allow_commands = *ac;
  auto af = AllowList::parse(cfg.list("allow_mail_to_files"));
  if (!af) return make_error("allow_mail_to_files: {}", af.error().message);
  e.allow_files = *af;
  e.owner_request_special = cfg.boolean("owner_request_special");
  e.require_home_directory = cfg.boolean("require_home_directory");
  e.expand_owner_alias = cfg.boolean("expand_owner_alias");

  s.queue_dir = cfg.str("queue_directory");
  s.alias_maps = cfg.str("alias_maps");
  s.mailbox_transport_maps = cfg.str("mailbox_transport_maps");
  s.fallback_transport_maps = cfg.str("fallback_transport_maps");
  s.mail_spool_directory = cfg.str("mail_spool_directory");
  s.home_mailbox = cfg.str("home_mailbox");
  s.mailbox_command = std::string(str::trim(cfg.raw("mailbox_command").value_or("")));
  s.mailbox_command_maps = cfg.str("mailbox_command_maps");
  auto locks = deliver::LockMethods::parse(cfg.str("mailbox_delivery_lock"));
  if (!locks) return make_error("mailbox_delivery_lock: {}", locks.error().message);
  s.locks = *locks;
  s.lock_params.attempts = static_cast<int>(cfg.integer("deliver_lock_attempts"));
  s.lock_params.delay = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.time("deliver_lock_delay"));
  s.lock_params.stale = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.time("stale_lock_time"));
  if (auto st = cfg.check_mailbox_limit("mailbox_size_limit"); !st) return st.take_error();
  s.mailbox_size_limit = static_cast<std::uint64_t>(cfg.size("mailbox_size_limit"));
  s.strict_ownership = cfg.boolean("strict_mailbox_ownership");
  s.biff = cfg.boolean("biff");
  s.delivered_command = s.delivered_file = s.delivered_forward = false;
  for (const auto& w : cfg.list("prepend_delivered_header")) {
    auto l = str::lower(w);
    if (l == "command") s.delivered_command = true;
    else if (l == "file") s.delivered_file = true;
    else if (l == "forward") s.delivered_forward = true;
    else return make_error("prepend_delivered_header: unknown value \"{}\"", str::printable(w));
  }
  s.command_time_limit = cfg.time("command_time_limit");
  s.export_environment = cfg.list("export_environment");
  s.command_expansion_filter = cfg.raw("command_expansion_filter").value_or(
      std::string(deliver::kDefaultCommandExpansionFilter));
  s.command_execution_directory = std::string(str::trim(cfg.raw("command_execution_directory").value_or("")));
  s.execution_directory_filter = cfg.raw("execution_directory_expansion_filter").value_or("");
  auto shell = str::split(cfg.str("local_command_shell"), " \t");
  if (!shell.empty()) {
    s.shell = shell;
    s.shell.push_back("-c");
  }
  s.default_privs = cfg.str("default_privs");
  s.myhostname = cfg.str("myhostname");
  s.cleanup_socket = submit::cleanup_socket_path(s.queue_dir, cfg.str("cleanup_service_name"));
  auto autodetect = submit::smtputf8_autodetect(cfg, "forward");
  if (!autodetect) return autodetect.take_error();
  s.forward_flags = *autodetect;
  s.ipc_timeout = cfg.time("ipc_timeout");
  s.soft_bounce = cfg.boolean("soft_bounce");
  s.status_filter = cfg.str("local_delivery_status_filter");
  return s;
}

// ---------------------------------------------------------- helpers

namespace {

Identity identity_of(const Privs& p) { return Identity{p.uid, p.gid, p.name}; }

// Task kinds (deliver/worker.h): what a worker does for the backend.
constexpr std::string_view kTaskForward = "forward";  // read the first .forward candidate that exists
constexpr std::string_view kTaskInclude = "include";  // read an :include: file
constexpr std::string_view kTaskMaildir = "maildir";  // home_mailbox Maildir
constexpr std::string_view kTaskMbox = "mbox";        // home_mailbox or spool mbox
constexpr std::string_view kTaskFile = "file";        // /file or /dir/ from an alias or .forward
constexpr std::string_view kTaskHome = "home";        // stat the home directory (require_home_directory)

bool dir_is_sticky_public(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  return (st.st_mode & S_IWOTH) && (st.st_mode & S_ISVTX);
}

// The file behind a table, for its owner (alias commands run as that user).
std::optional<uid_t> table_owner(maps::Table& t) {
  std::string path = t.file_path();
  if (path.empty()) path = t.name();
  if (path.empty() || path[0] != '/') return std::nullopt;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_uid;
}

}  // namespace

// ---------------------------------------------------------- the backend

class SystemBackend final : public Backend {
 public:
  explicit SystemBackend(Settings& s)
      : s_(s),
        pool_([this](const Task& t, const queue::QueueFileReader* r) { return execute(t, r); },
              s.ipc_timeout) {}

  Status open_tables() {
    // No $1 in regexp/pcre results of the tables that name files and
    // commands: the sender's address must not choose them (Postfix opens
    // these "paranoid").
    maps::OpenOptions paranoid;
    paranoid.paranoid = true;
    auto ml = maps::MapList::open("alias_maps", s_.alias_maps, paranoid);
    if (!ml) return ml.take_error();
    aliases_ = std::move(*ml);
    owners_.clear();
    for (std::size_t i = 0; i < aliases_.size(); ++i) owners_.push_back(table_owner(aliases_.at(i)));
    auto mt = maps::MapList::open("mailbox_transport_maps", s_.mailbox_transport_maps);
    if (!mt) return mt.take_error();
    mailbox_transports_ = std::move(*mt);
    auto ft = maps::MapList::open("fallback_transport_maps", s_.fallback_transport_maps);
    if (!ft) return ft.take_error();
    fallback_transports_ = std::move(*ft);
    auto mc = maps::MapList::open("mailbox_command_maps", s_.mailbox_command_maps, paranoid);
    if (!mc) return mc.take_error();
    mailbox_commands_ = std::move(*mc);
    return {};
  }
  bool tables_changed() const {
    return aliases_.changed() || mailbox_transports_.changed() || fallback_transports_.changed() ||
           mailbox_commands_.changed();
  }

  // Per request.
  const queue::QueueFileReader* reader = nullptr;
  std::string queue_id;
  std::string delivered_to;        // frozen Delivered-To: the request recipient
  std::string original_recipient;  // X-Original-To
  queue::RecipientFields rcpt;     // for forwarding and handing on (ORCPT, NOTIFY)
  const proto::DeliveryRequest* request = nullptr;  // for handing on (nexthop, flags, times)

  bool is_local_domain(std::string_view domain) override {
    auto d = str::lower(domain);
    for (const auto& l : s_.engine.local_domains)
      if (l == d) return true;
    return false;
  }

  Result<std::optional<std::string>> lookup_alias(std::string_view key) override {
    last_owner_.reset();
    for (std::size_t i = 0; i < aliases_.size(); ++i) {
      auto v = aliases_.at(i).lookup(key);
      if (!v) {
        log::warning("alias_maps: {}: lookup of {}: {}", aliases_.at(i).spec(), str::printable(key), v.error().message);
        return v.take_error();
      }
      if (*v) {
        if (owners_[i] && *owners_[i] != 0) {
          if (auto u = security::lookup_uid(*owners_[i])) last_owner_ = Privs::of(*u);
        }
        return v;
      }
    }
    return std::optional<std::string>{};
  }
  std::optional<Privs> alias_owner() override { return last_owner_; }

  Privs default_privs() override {
    Privs p{s_.default_privs, 65534, 65534, "/", ""};
    // Never fall back to root: an unknown default_privs user gets a uid
    // nobody has.
    if (auto u = security::lookup_user(s_.default_privs); u && u->uid != 0) p = Privs::of(*u);
    p.fallback = true;
    return p;
  }

  Result<std::optional<security::UserInfo>> lookup_user(std::string_view name) override {
    // getpwnam() sees a C string: "bob\0x" must not become "bob".
    if (name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos)
      return std::optional<security::UserInfo>{};
    errno = 0;
    auto u = security::lookup_user(name);
    if (u) return std::optional<security::UserInfo>{std::move(*u)};
    // lookup_user() does not tell "no such user" from a broken NSS: treat
    // an errno other than "not found" values as a temporary failure.
    int e = u.error().sys_errno;
    if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM) return std::optional<security::UserInfo>{};
    return u.take_error();
  }
  Result<std::optional<std::string>> lookup_transport(TransportTable table, std::string_view user) override {
    maps::MapList& ml = table == TransportTable::Mailbox ? mailbox_transports_ : fallback_transports_;
    // Table errors are logged by the list (naming the parameter).
    auto v = ml.lookup(user);
    if (!v || !*v) return v;
    return std::optional<std::string>{std::string(str::trim(**v))};
  }

  // Postfix's deliver_pass(): this one address, on the same queue file, to
  // the agent behind private/TRANSPORT; its answer is the verdict, and its
  // status line the log's.
  Passed pass(const DeliveryInfo& d, const std::string& service) override {
    if (auto st = config::check_transport_nexthop(service, "mail transport"); !st) {
      log::warning("{}: {}", queue_id, st.error().message);
      return {Outcome::deferred("4.3.5", "mail system configuration error"), false};
    }
    const auto colon = service.find(':');
    if (!s_.service_name.empty() && service.substr(0, colon) == s_.service_name) {
      log::warning("{}: mail transport \"{}\" is this local service: it would hand the mail back to itself",
                   queue_id, str::printable(service, 200));
      return {Outcome::deferred("4.3.5", "mail system configuration error"), false};
    }
    proto::DeliveryRequest rq;
    rq.queue_name = request->queue_name;
    rq.queue_id = request->queue_id;
    rq.nexthop = colon == std::string::npos || colon + 1 == service.size() ? request->nexthop
                                                                           : service.substr(colon + 1);
    rq.flags = request->flags;
    rq.arrival_usec = request->arrival_usec;
    rq.active_usec = request->active_usec;
    queue::RecipientFields r = rcpt;
    r.address = d.address;
    r.orig_rcpt = original_recipient;
    auto enc = queue::encode_recipient(r);
    if (!enc) return {Outcome::bounced("5.1.3", "bad address: " + enc.error().message), false};
    rq.recipients.push_back(std::move(*enc));
    const std::string transport = service.substr(0, colon);
    const auto socket = s_.queue_dir / "private" / transport;
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s_.ipc_timeout);
    auto c = ipc::Client::connect(socket.string(), timeout);
    auto rep = c ? c->call<proto::DeliveryReply>(rq, timeout) : Result<proto::DeliveryReply>(c.take_error());
    if (!rep || rep->dsn.size() != 1) {
      log::warning("{}: connect to transport private/{}: {}", queue_id, transport,
                   rep ? "wrong number of results" : rep.error().message);
      return {Outcome::deferred("4.3.0", "mail transport unavailable"), false};
    }
    return {Outcome::from_dsn(rep->dsn[0], rep->text[0]), true};
  }

  Result<std::optional<security::UserInfo>> lookup_uid(uid_t uid) override {
    auto u = security::lookup_uid(uid);
    if (u) return std::optional<security::UserInfo>{std::move(*u)};
    return std::optional<security::UserInfo>{};
  }

  deliver::Attempt<std::optional<std::string>> read_forward(const security::UserInfo& user,
                                                            const std::vector<std::string>& paths) override {
    if (paths.empty()) return std::optional<std::string>{};
    // Fast path: most users have no .forward. When every candidate is
    // plainly absent (lstat ENOENT/ENOTDIR, which the user would see too),
    // skip asking the user's worker to read it; any other answer (a file,
    // EACCES on a root-squashed home) takes the careful path below.
    bool any_maybe = false;
    for (const auto& p : paths) {
      struct stat st {};
      if (::lstat(p.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR)) {
        any_maybe = true;
        break;
      }
    }
    if (!any_maybe) return std::optional<std::string>{};
    Task t = task(kTaskForward);
    t.paths = paths;
    t.user_uid = user.uid;
    auto r = pool_.run(identity_of(Privs::of(user)), t, -1);
    if (!r.outcome.is_sent()) return r.outcome;
    if (r.payload.empty() || r.payload[0] != '1') return std::optional<std::string>{};
    return std::optional<std::string>{r.payload.substr(1)};
  }

  std::optional<Outcome> check_home(const security::UserInfo& user) override {
    // As the user: root may see what the user cannot (a root-squashed or
    // unmounted NFS home).
    Task t = task(kTaskHome);
    t.paths = {user.home};
    auto r = pool_.run(identity_of(Privs::of(user)), t, -1);
    if (!r.outcome.is_sent()) return r.outcome;
    return std::nullopt;
  }

  deliver::Attempt<IncludeFile> read_include(const std::string& path, const std::optional<Privs>& as) override {
    if (as) return read_include_as(path, identity_of(*as), false);
    // No rights chosen yet: look with root's eyes (the root worker), as
    // Postfix's stat_as() as root. A root-owned file is read there; any
    // other is read again as its owner, whose rights its entries get, so
    // that its owner cannot make root read what they cannot.
    auto first = read_include_as(path, std::nullopt, true);
    if (!first || first->owner == 0) return first;
    auto owner = lookup_uid(first->owner);
    if (!owner || !*owner)
      return Outcome::deferred("4.3.5", fmt::format(":include:{}: cannot find the file owner's user name for uid {}",
                                                    path, static_cast<unsigned long>(first->owner)));
    auto second = read_include_as(path, identity_of(Privs::of(**owner)), false);
    if (second && second->owner != first->owner)
      return Outcome::deferred("4.3.0", fmt::format(":include:{}: file changed owner while being read", path));
    return second;
  }

  // One read of an :include: file by a worker: as `as`, or as root (or
  // the agent's own user when not root) for nullopt. `unless_foreign`:
  // read the text only when root owns the file; otherwise say whose it is.
  deliver::Attempt<IncludeFile> read_include_as(const std::string& path, const std::optional<Identity>& as,
                                                bool unless_foreign) {
    Task t = task(kTaskInclude);
    t.paths = {path};
    t.flag = unless_foreign;
    auto r = pool_.run(as, t, -1);
    if (!r.outcome.is_sent()) return r.outcome;
    auto nl = r.payload.find('\n');
    if (nl == std::string::npos) return Outcome::deferred("4.3.0", "include file: malformed result");
    IncludeFile f;
    try {
      f.owner = static_cast<uid_t>(std::stoul(r.payload.substr(0, nl)));
    } catch (...) {
      return Outcome::deferred("4.3.0", "include file: malformed result");
    }
    f.text = r.payload.substr(nl + 1);
    return f;
  }

  Outcome deliver_mailbox(const DeliveryInfo& d, const security::UserInfo& user) override {
    auto privs = Privs::of(user);
    // mailbox_command_maps before mailbox_command, as in Postfix: the
    // user's own command, run exactly like mailbox_command.
    if (!mailbox_commands_.empty()) {
      auto cmd = mailbox_commands_.lookup(user.name);  // errors logged by the list
      if (!cmd) return Outcome::deferred("4.3.0", "mailbox_command_maps lookup failure");
      if (*cmd && !str::trim(**cmd).empty()) {
        if (user.uid == 0) privs = default_privs();
        return run_command(d, std::string(str::trim(**cmd)), privs, s_.delivered_command, &user);
      }
    }
    if (!s_.mailbox_command.empty()) {
      if (user.uid == 0) privs = default_privs();
      return run_command(d, s_.mailbox_command, privs, s_.delivered_command, &user);
    }
    // prepend_delivered_header's "file" covers mailboxes too, as in Postfix.
    Task t = content_task(kTaskMbox, d, s_.delivered_file);
    t.user_name = user.name;
    t.user_uid = user.uid;
    t.user_gid = user.gid;
    if (!s_.home_mailbox.empty()) {
      std::string path = user.home + "/" + s_.home_mailbox;
      if (path.back() == '/') t.kind = kTaskMaildir;
      t.paths = {path};
      return pool_.run(identity_of(privs), t, reader->fd()).outcome;
    }
    // A spool directory ending in '/' holds Maildirs, written as the user
    // (Postfix: the administrator creates the top-level directory).
    if (!s_.mail_spool_directory.empty() && s_.mail_spool_directory.back() == '/') {
      t.kind = kTaskMaildir;
      t.paths = {s_.mail_spool_directory + user.name + "/"};
      return pool_.run(identity_of(privs), t, reader->fd()).outcome;
    }
    t.paths = {s_.mail_spool_directory + "/" + user.name};
    // A world-writable sticky spool lets the user create the mailbox and
    // its lock; otherwise (2775 root:mail) creation needs root (agent.h).
    std::optional<Identity> as;
    if (dir_is_sticky_public(s_.mail_spool_directory) || !security::can_regain_root()) {
      as = identity_of(privs);
    } else if (struct stat sst {}; ::stat(s_.mail_spool_directory.c_str(), &sst) == 0 && (sst.st_mode & S_IWGRP) &&
               !(sst.st_mode & S_IWOTH)) {
      // A group-writable spool (Debian's 2775 root:mail): a new mailbox
      // gets the spool's group, as Postfix creates it with that egid.
      t.user_gid = sst.st_gid;
    }
    return pool_.run(as, t, reader->fd()).outcome;
  }

  Outcome deliver_file(const DeliveryInfo& d, const std::string& path, const Privs& as, Origin) override {
    Task t = content_task(kTaskFile, d, s_.delivered_file);
    t.paths = {path};
    return pool_.run(identity_of(as), t, reader->fd()).outcome;
  }

  Outcome deliver_command(const DeliveryInfo& d, const std::string& command, const Privs& as, Origin) override {
    return run_command(d, command, as, s_.delivered_command, d.user ? &*d.user : nullptr);
  }

  Outcome forward(const std::string& sender, const std::vector<std::string>& addresses) override {
    auto c = submit::BlockingCleanupClient::open(s_.cleanup_socket, s_.forward_flags, "local", s_.ipc_timeout);
    if (!c) return Outcome::deferred("4.3.0", "cannot forward: " + c.error().message);
    submit::CleanupEnvelope env;
    env.sender = sender;
    const auto& m = reader->message();
    // RFC 3461 section 6.2, as Postfix's alias.c: a mailing list (an
    // owner- alias replaced the sender) is a new message whose ENVID, RET
    // and ORCPT are not the original's; an alias or .forward passes them on.
    const bool list = sender != m.sender;
    if (!list && !m.dsn_envid.empty()) env.envid = m.dsn_envid;
    if (!list && m.dsn_ret) env.ret = *m.dsn_ret == queue::DsnRet::Full ? "FULL" : "HDRS";
    if (auto st = c->envelope(env); !st) return forward_failure(*c, st.error());
    for (const auto& address : addresses) {
      submit::CleanupRecipient rc;
      rc.address = address;
      if (!list && !rcpt.orcpt.empty()) rc.orcpt = rcpt.orcpt;
      // Members of an expansion get NOTIFY without SUCCESS: the recipient
      // that was expanded reports "expanded" once (Agent::handle()); only
      // the request recipient itself, forwarded as it is, keeps it.
      auto notify = rcpt.notify;
      if (!str::iequals(address, rcpt.address) && (notify & queue::kNotifySuccess)) {
        notify &= ~queue::kNotifySuccess;
        if (notify == 0) notify = queue::kNotifyNever;
      }
      rc.notify = static_cast<std::int64_t>(notify);
      if (auto st = c->recipient(rc); !st) return forward_failure(*c, st.error());
    }
    deliver::CopyOptions co;
    co.delivered_to = s_.delivered_forward;
    deliver::Envelope e;
    e.sender = sender;
    e.delivered_to = delivered_to;
    auto content = deliver::queue_content(*reader);
    deliver::MessageFormatter f(e, co, content);
    std::string chunk;
    for (;;) {
      auto more = f.next(chunk);
      if (!more) return deliver::read_error_outcome(more.error());
      if (!*more) break;
      if (auto st = c->content(chunk); !st) return forward_failure(*c, st.error());
    }
    auto res = c->finish();
    if (!res) return Outcome::deferred("4.3.0", "cannot forward: " + res.error().message);
    if (!res->ok()) return Outcome::from_dsn(res->dsn, "cannot forward: " + res->reason);
    log::info("{}: forwarded as {}", queue_id, res->queue_id);
    return Outcome::sent("forwarded as " + res->queue_id);
  }

 private:
  static Outcome forward_failure(submit::BlockingCleanupClient& c, const Error& e) {
    auto res = c.finish();
    if (res && !res->ok()) return Outcome::from_dsn(res->dsn, "cannot forward: " + res->reason);
    return Outcome::deferred("4.3.0", "cannot forward: " + e.message);
  }

  // Reads a whole (small) file; an Outcome when it could not.
  static std::optional<Outcome> read_bounded(int fd, const std::string& path, std::string& text) {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return Outcome::deferred("4.3.0", fmt::format("cannot read {}: {}", path, std::strerror(errno)), errno);
      if (n == 0) return std::nullopt;
      if (text.size() + static_cast<std::size_t>(n) > kMaxChildPayload - 64)
        return Outcome::bounced("5.3.5", fmt::format("file {} is too large", path));
      text.append(buf, static_cast<std::size_t>(n));
    }
  }

  Task task(std::string_view kind) const {
    Task t;
    t.kind = std::string(kind);
    t.queue_id = queue_id;
    return t;
  }

  // A task that copies the message: the envelope goes along.
  Task content_task(std::string_view kind, const DeliveryInfo& d, bool delivered) const {
    Task t = task(kind);
    t.sender = d.sender;
    t.original_recipient = original_recipient;
    if (delivered) t.delivered_to = delivered_to;
    return t;
  }

  // Runs in the worker, as the identity the task was given to.
  ChildResult execute(const Task& t, const queue::QueueFileReader* r) {
    const bool needs_content = t.kind == kTaskMaildir || t.kind == kTaskMbox || t.kind == kTaskFile;
    if (t.paths.empty() || (needs_content && !r)) return {Outcome::deferred("4.3.0", "malformed delivery task"), {}};
    deliver::Envelope env{t.sender, t.original_recipient, t.delivered_to};
    const std::string& path = t.paths[0];
    if (t.kind == kTaskForward) return read_forward_file(t.paths, static_cast<uid_t>(t.user_uid));
    if (t.kind == kTaskInclude) return read_include_file(path, t.flag);
    if (t.kind == kTaskHome) return {stat_home(path), {}};
    if (t.kind == kTaskMaildir) return {maildir(path, env, *r), {}};
    if (t.kind == kTaskMbox) {
      security::UserInfo user;
      user.name = t.user_name;
      user.uid = static_cast<uid_t>(t.user_uid);
      user.gid = static_cast<gid_t>(t.user_gid);
      return {mbox(path, env, user, s_.lock_params, false, *r), {}};
    }
    if (t.kind == kTaskFile) return {file(path, env, *r), {}};
    return {Outcome::deferred("4.3.0", "unknown delivery task " + str::printable(t.kind, 32)), {}};
  }

  // Runs in the worker, as the user. Postfix's dotforward.c: the first
  // forward_path file that exists (lstat) is the user's .forward, and the
  // search stops there. A symbolic link, a file someone else owns (other
  // than root) or a world-writable one is not used, with a warning, and
  // the mail goes to the mailbox, as it does when no file exists; a
  // later forward_path entry is not a fallback for a broken first one.
  static ChildResult read_forward_file(const std::vector<std::string>& paths, uid_t uid) {
    const ChildResult none{Outcome::sent("none"), "0"};
    for (const auto& p : paths) {
      struct stat before {};
      if (::lstat(p.c_str(), &before) != 0) continue;
      if (!S_ISREG(before.st_mode)) {
        log::warning("file {} is not a regular file", p);
        return none;
      }
      if (before.st_uid != uid && before.st_uid != 0) {
        log::warning("file {} has bad owner uid {}", p, static_cast<long>(before.st_uid));
        return none;
      }
      if (before.st_mode & S_IWOTH) {
        log::warning("file {} is world writable", p);
        return none;
      }
      UniqueFd fd(::open(p.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if (!fd || ::fstat(fd.get(), &st) != 0) {
        log::warning("cannot open file {}: {}", p, std::strerror(errno));
        return none;
      }
      // Replaced between the look and the open: use nothing rather than a
      // file that was not checked.
      if (st.st_dev != before.st_dev || st.st_ino != before.st_ino || !S_ISREG(st.st_mode) ||
          (st.st_uid != uid && st.st_uid != 0) || (st.st_mode & S_IWOTH)) {
        log::warning("file {} changed while being opened", p);
        return none;
      }
      std::string text;
      if (auto o = read_bounded(fd.get(), p, text)) return {*o, {}};
      return {Outcome::sent("found"), "1" + text};
    }
    return none;
  }

  static Outcome stat_home(const std::string& home) {
    struct stat st {};
    if (::stat(home.c_str(), &st) != 0) {
      int err = errno;
      return Outcome::deferred("4.3.0", fmt::format("cannot access home directory {}: {}", home, std::strerror(err)),
                               err);
    }
    return Outcome::sent("home directory found");
  }

  // Runs in a worker. As in Postfix, a file that is missing, not a
  // regular file, world-writable or unreadable is a configuration error
  // that bounces (5.3.5), except a shortage of the system's own resources.
  static ChildResult read_include_file(const std::string& path, bool unless_foreign) {
    auto failed = [&](const char* what) {
      const int err = errno;
      std::string text = fmt::format("{} include file {}: {}", what, path, std::strerror(err));
      log::warning("{}", text);
      if (err == EMFILE || err == ENFILE || err == ENOMEM || err == EIO || err == EINTR)
        return ChildResult{Outcome::deferred("4.3.0", std::move(text), err), {}};
      return ChildResult{Outcome::bounced("5.3.5", "mail system configuration error: " + text, err), {}};
    };
    // Looked at before it is opened, so that a device is never opened (the
    // root worker reads these too); a symbolic link is allowed, as in Postfix.
    struct stat before {};
    if (::stat(path.c_str(), &before) != 0) return failed("cannot look up");
    if (!S_ISREG(before.st_mode))
      return {Outcome::bounced("5.3.5", fmt::format("include file {} is not a regular file", path)), {}};
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return failed("cannot open");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != before.st_dev ||
        st.st_ino != before.st_ino)
      return {Outcome::deferred("4.3.0", fmt::format("include file {} changed while being opened", path)), {}};
    if (st.st_mode & S_IWOTH)
      return {Outcome::bounced("5.3.5", fmt::format("include file {} is world writable", path)), {}};
    if (unless_foreign && st.st_uid != 0) return {Outcome::sent("owner"), std::to_string(st.st_uid) + "\n"};
    std::string text;
    if (auto o = read_bounded(fd.get(), path, text)) return {*o, {}};
    return {Outcome::sent("read"), std::to_string(st.st_uid) + "\n" + text};
  }

  Outcome maildir(const std::string& path, const deliver::Envelope& env, const queue::QueueFileReader& r) {
    deliver::MaildirOptions mo;
    mo.size_limit = s_.mailbox_size_limit;
    mo.hostname = s_.myhostname;
    auto content = deliver::queue_content(r);
    auto o = deliver::deliver_maildir(path, env, content, mo);
    if (o.is_sent()) o.text = "delivered to maildir";
    return o;
  }

  Outcome mbox(const std::string& path, const deliver::Envelope& env, const security::UserInfo& user,
               const deliver::LockParams& lp, bool may_fail, const queue::QueueFileReader& r) {
    deliver::MboxTarget t;
    t.path = path;
    if (s_.strict_ownership) t.open.required_owner = user.uid;
    if (::geteuid() == 0) {
      t.open.chown_uid = user.uid;
      t.open.chown_gid = user.gid;
    }
    t.locks = s_.locks;
    t.lock_params = lp;
    t.lock_params.dotlock_may_fail = may_fail;
    deliver::MboxOptions mo;
    mo.size_limit = s_.mailbox_size_limit;
    std::uint64_t start = 0;
    mo.start_out = &start;
    auto content = deliver::queue_content(r);
    auto o = deliver::deliver_mbox(t, env, content, mo);
    if (!o.is_sent()) o.prepend("cannot update mailbox " + path + " for user " + user.name + ". ");
    else if (s_.biff) deliver::notify_biff(user.name, start);
    return o;
  }

  // An alias or .forward "/file" (mbox format, any file the identity may
  // append to) or "/dir/" (Maildir).
  Outcome file(const std::string& path, const deliver::Envelope& env, const queue::QueueFileReader& r) {
    if (path.back() == '/') {
      deliver::MaildirOptions mo;
      mo.size_limit = s_.mailbox_size_limit;
      mo.hostname = s_.myhostname;
      mo.copy.delivered_to = !env.delivered_to.empty();
      auto content = deliver::queue_content(r);
      return deliver::deliver_maildir(path, env, content, mo);
    }
    deliver::MboxTarget t;
    t.path = path;
    t.open.allow_special = true;
    t.locks = s_.locks;
    t.lock_params = s_.lock_params;
    t.lock_params.dotlock_may_fail = true;
    deliver::MboxOptions mo;
    mo.size_limit = s_.mailbox_size_limit;
    mo.copy.delivered_to = !env.delivered_to.empty();
    auto content = deliver::queue_content(r);
    auto o = deliver::deliver_mbox(t, env, content, mo);
    if (o.is_sent()) o.text = "delivered to file: " + path;
    else o.prepend("cannot append message to file " + path + ": ");
    return o;
  }

  Outcome run_command(const DeliveryInfo& d, const std::string& command, const Privs& as, bool delivered,
                      const security::UserInfo* user) {
    deliver::CommandOptions o;
    if (security::can_regain_root()) o.run_as = credentials_of(identity_of(as));
    o.export_environment = s_.export_environment;
    o.time_limit = std::chrono::duration_cast<std::chrono::milliseconds>(s_.command_time_limit);
    o.file_size_limit = s_.mailbox_size_limit;
    o.description = command;
    // Postfix's local/command.c: LOGNAME and USER name the recipient (the
    // alias name for an alias command); HOME and SHELL are those of whose
    // rights the command has, unset for default_privs.
    deliver::LocalCommandEnv env;
    env.home = user ? user->home : as.fallback ? std::string() : as.home;
    env.shell = user ? user->shell : as.fallback ? std::string() : as.shell;
    env.logname = !d.base.empty() ? d.base : user ? user->name : as.name;
    if (!s_.command_execution_directory.empty()) {
      auto dir = expand_local(s_.command_execution_directory, local_vars(d, env.home, env.shell),
                              s_.execution_directory_filter);
      if (!dir) {
        log::warning("bad parameter value syntax for command_execution_directory: {}: {}",
                     str::printable(s_.command_execution_directory), dir.error().message);
        return Outcome::deferred("4.3.5", "mail system configuration error");
      }
      // Empty ($home of an alias command under default_privs): the root.
      o.working_directory = dir->text.empty() ? "/" : dir->text;
    } else {
      const std::string& home = user ? user->home : as.home;
      struct stat st {};
      o.working_directory = (!home.empty() && ::stat(home.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ? home : "/";
    }
    env.sender = d.sender;
    env.recipient = d.address;
    env.local = d.local;
    env.domain = d.domain;
    env.extension = d.extension;
    env.original_recipient = original_recipient;
    const auto& m = reader->message();
    auto attr = [&](std::string_view n) { return std::string(m.attribute(n).value_or("")); };
    env.client_hostname = attr(queue::attr::kClientName);
    env.client_address = attr(queue::attr::kClientAddress);
    env.client_helo = attr(queue::attr::kHeloName);
    env.client_protocol = attr(queue::attr::kProtocol);
    env.sasl_method = attr(queue::attr::kSaslMethod);
    env.sasl_sender = attr(queue::attr::kSaslSender);
    env.sasl_username = attr(queue::attr::kSaslUsername);
    o.environment = deliver::local_command_environment(env, s_.command_expansion_filter);
    deliver::CopyOptions co = deliver::CopyOptions::command();
    co.delivered_to = delivered;
    deliver::Envelope e;
    e.sender = d.sender;
    e.original_recipient = original_recipient;
    e.delivered_to = delivered_to;
    auto content = deliver::queue_content(*reader);
    deliver::MessageFormatter f(e, co, content);
    auto r = deliver::run_shell_command(command, o, deliver::formatted_input(f), s_.shell);
    return r.outcome;
  }

  Settings& s_;
  WorkerPool pool_;
  maps::MapList aliases_;
  maps::MapList mailbox_transports_;   // mailbox_transport_maps
  maps::MapList fallback_transports_;  // fallback_transport_maps
  maps::MapList mailbox_commands_;     // mailbox_command_maps
  std::vector<std::optional<uid_t>> owners_;
  std::optional<Privs> last_owner_;
};

// ---------------------------------------------------------- the agent

struct Agent::Impl {
  Settings settings;
  SystemBackend backend{settings};
  Engine engine{settings.engine, backend};
  std::unique_ptr<deliver::StatusFilter> status_filter;  // null: none
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(Settings settings) {
  // Postfix refuses this too: alias commands and files would run as root.
  if (auto u = security::lookup_user(settings.default_privs); u && u->uid == 0)
    return make_error("default_privs: {} has uid 0; deliveries must not run as root", settings.default_privs);
  auto impl = std::make_unique<Impl>();
  impl->settings = std::move(settings);
  if (auto st = impl->backend.open_tables(); !st) return st.take_error();
  auto filter = deliver::StatusFilter::open("local_delivery_status_filter", impl->settings.status_filter);
  if (!filter) return filter.take_error();
  impl->status_filter = std::move(*filter);
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

bool Agent::tables_changed() const { return impl_->backend.tables_changed(); }

proto::DeliveryReply Agent::handle(const proto::DeliveryRequest& req) {
  const std::int64_t start = deliver::now_usec();
  proto::DeliveryReply reply;
  const bool soft_bounce = impl_->settings.soft_bounce;
  // local_delivery_status_filter: the same outcome for the log and qmgr.
  auto filtered = [&](const Outcome& o) { return deliver::filter_status(impl_->status_filter.get(), o, req.queue_id); };
  auto answer = [&](const Outcome& original) {
    const Outcome o = filtered(original);
    reply.dsn.push_back(deliver::report_outcome(o, soft_bounce).dsn);
    reply.text.push_back(str::printable(o.text, 1000));
    reply.relay.push_back(impl_->settings.relay());
  };
  std::vector<queue::RecipientFields> rcpts;
  for (const auto& r : req.recipients) {
    auto d = queue::decode_recipient(r);
    rcpts.push_back(d ? std::move(*d) : queue::RecipientFields{});
  }
  auto log_line = [&](const std::string& to, const std::string& orig, const Outcome& original) {
    const Outcome o = filtered(original);
    deliver::StatusLine sl;
    sl.queue_id = req.queue_id;
    sl.recipient = to;
    sl.orig_recipient = orig;
    sl.relay = impl_->settings.relay();
    sl.arrival_usec = req.arrival_usec;
    sl.active_usec = req.active_usec;
    sl.agent_start_usec = start;
    sl.connected_usec = start;
    sl.done_usec = deliver::now_usec();
    auto rep = deliver::report_outcome(o, soft_bounce);
    sl.dsn = rep.dsn;
    sl.status = rep.status;
    sl.text = o.text;
    log::info("{}", deliver::format_status_line(sl));
  };
  auto all = [&](const Outcome& o) {
    for (const auto& r : rcpts) {
      log_line(r.address, r.orig_rcpt, o);
      answer(o);
    }
    return reply;
  };

  // Every content record checked before any delivery starts (a command or
  // file must not get a message cut short half-way; the worker relies on
  // it), the loop headers read (deliver/request_file.h).
  auto file = deliver::open_request_file(impl_->settings.queue_dir, req.queue_name, req.queue_id);
  if (!file) return all(file.failure());
  const queue::QueueFileReader* reader = &file->reader;
  const std::vector<std::string>& loop_headers = file->delivered_to;
  auto& b = impl_->backend;
  b.reader = reader;
  b.queue_id = req.queue_id;
  b.request = &req;
  const std::string sender = reader->message().sender;
  for (const auto& r : rcpts) {
    b.rcpt = r;
    b.delivered_to = r.address;
    b.original_recipient = r.orig_rcpt.empty() ? r.address : r.orig_rcpt;
    auto res = impl_->engine.deliver(r.address, sender, loop_headers);
    for (const auto& l : res.leaves)
      if (!l.logged) log_line(l.to, b.original_recipient, l.outcome);
    if (res.leaves.empty()) log_line(r.address, b.original_recipient, res.outcome);
    answer(res.outcome);
    if (res.expanded) {
      if (!reply.action) reply.action.emplace(rcpts.size(), std::string(proto::kSuccessDelivered));
      (*reply.action)[reply.dsn.size() - 1] = std::string(proto::kSuccessExpanded);
    }
  }
  b.reader = nullptr;
  b.request = nullptr;
  return reply;
}

}  // namespace postern::local
