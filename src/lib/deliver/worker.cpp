// worker.cpp - see worker.h.
#include "deliver/worker.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "security/privileges.h"

namespace postern::deliver {

Credentials credentials_of(const Identity& id) {
  Credentials c{id.uid, id.gid, {}};
  int n = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  if (!id.name.empty() && ::getgrouplist(id.name.c_str(), id.gid, groups.data(), &n) < 0 && n > 64) {
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(id.name.c_str(), id.gid, groups.data(), &n) < 0) n = 0;
  }
  if (!id.name.empty() && n > 0) {
    groups.resize(static_cast<std::size_t>(n));
    c.groups = std::move(groups);
  }
  return c;
}

namespace {

constexpr ipc::FrameLimits kLimits{.max_payload = kMaxChildPayload + 64 * 1024};

// Sends one byte with `fd` attached (none when fd < 0).
bool send_fd(int sock, int fd) {
  char byte = fd >= 0 ? 'F' : 'N';
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Receives what send_fd() sent: 1 and the descriptor (or none), 0 at end of
// file, -1 on error or anything unexpected (any descriptor that came with
// it is closed).
int recv_fd(int sock, UniqueFd& out) {
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  std::vector<int> got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      got.push_back(fd);
    }
  }
  bool ok = n == 1 && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) &&
            ((byte == 'F' && got.size() == 1) || (byte == 'N' && got.empty()));
  if (!ok) {
    for (int fd : got) ::close(fd);
    return -1;
  }
  out = got.empty() ? UniqueFd() : UniqueFd(got[0]);
  return 1;
}

// A worker keeps its channels and the log (a file opened for appending, or
// the syslog datagram socket); everything else it inherited from the agent
// (the master's status pipe, the listening socket, qmgr's connection, the
// current queue file, the event loop's descriptors) is closed.
void close_inherited(int keep1, int keep2) {
  std::vector<int> close_these;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long v = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || v < 3) continue;
      int fd = static_cast<int>(v);
      if (fd == self || fd == keep1 || fd == keep2) continue;
      struct stat st {};
      if (::fstat(fd, &st) != 0) continue;
      if (S_ISREG(st.st_mode)) {
        int fl = ::fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_APPEND) && (fl & O_ACCMODE) != O_RDONLY) continue;
      } else if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM) continue;
      }
      close_these.push_back(fd);
    }
    ::closedir(d);
  }
  for (int fd : close_these) ::close(fd);
}

// Becomes `c` for good; false (errno set) when any step fails.
bool drop_to(const Credentials& c) {
  std::vector<gid_t> groups = c.groups.empty() ? std::vector<gid_t>{c.gid} : c.groups;
  if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(c.gid) != 0 || ::setuid(c.uid) != 0) return false;
  if (c.uid != 0 && ::setuid(0) == 0) {
    errno = EPERM;
    return false;
  }
  return true;
}

[[noreturn]] void worker_main(const std::optional<Credentials>& as, UniqueFd ctl_fd, UniqueFd fds,
                              const WorkerPool::Executor& execute, std::chrono::seconds time_limit,
                              const std::string& agent) {
  // The agent's handlers would write to its (closed) signal pipe.
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  close_inherited(ctl_fd.get(), fds.get());
  // A worker runs as a mailbox owner: it keeps the agent's log file and
  // never opens maillog_file's path itself (a file it created there would
  // be the user's, and root's processes would append to it).
  log::stop_following_rotation();
  std::optional<Outcome> broken;
  pid_t parent = ::getppid();
  // The agent works as mail_owner with root as its real uid
  // (security::work_as_mail_owner()); the worker takes root back only to
  // become `as` for good, or, without `as`, to be root (local's mailbox in
  // a root-owned spool), never mail_owner with a way back.
  if (security::can_regain_root()) {
    static const Credentials kRoot{0, 0, {0}};
    if (!security::regain_root() || !drop_to(as ? *as : kRoot))
      broken = Outcome::deferred("4.3.0", std::string("cannot change privileges: ") + std::strerror(errno));
  }
  // The death signal is reset by the identity change, so it is set after it.
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  auto ctl = ipc::Client::adopt(std::move(ctl_fd), agent + " agent", kLimits);
  if (!ctl) ::_exit(1);
  for (;;) {
    UniqueFd qfd;
    int r = recv_fd(fds.get(), qfd);
    if (r <= 0) break;
    auto task = ctl->receive<Task>(time_limit);
    if (!task) break;
    ChildResult res;
    if (broken) {
      res.outcome = *broken;
    } else {
      std::optional<queue::QueueFileReader> reader;
      std::optional<Outcome> failed;
      if (qfd) {
        // The agent walked and checked every record of this very file
        // before sending the task (a command must never get a message cut
        // short by a bad record); reading it here still checks each record
        // it returns, so walking the whole content again would only repeat
        // that work on every delivery.
        queue::ReadOptions ro;
        ro.verify_content = false;
        ro.max_recipients = 0;  // the task names its recipient
        auto rd = queue::QueueFileReader::open_fd(std::move(qfd), task->queue_id, ro);
        if (rd) reader = std::move(*rd);
        else failed = Outcome::deferred("4.3.0", "cannot read queue file: " + rd.error().message);
      }
      if (failed) {
        res.outcome = *failed;
      } else {
        try {
          res = execute(*task, reader ? &*reader : nullptr);
        } catch (const std::exception& ex) {
          res.outcome = Outcome::deferred("4.3.0", std::string("internal error: ") + ex.what());
        } catch (...) {
          res.outcome = Outcome::deferred("4.3.0", "internal error");
        }
      }
    }
    TaskResult out;
    out.dsn = res.outcome.dsn;
    out.sys_errno = res.outcome.sys_errno > 0 && res.outcome.sys_errno < 4096 ? res.outcome.sys_errno : 0;
    out.text = res.outcome.text.substr(0, 8192);
    if (res.payload.size() > kMaxChildPayload + 64) {
      out.dsn = "5.3.5";
      out.text = "file is too large";
    } else {
      out.payload = std::move(res.payload);
    }
    log::flush();
    if (!ctl->send(out, time_limit)) break;
  }
  log::flush();
  ::_exit(0);
}

}  // namespace

WorkerPool::WorkerPool(Executor execute, std::chrono::seconds time_limit, std::size_t max_workers, std::string agent)
    : execute_(std::move(execute)),
      time_limit_(time_limit),
      agent_(std::move(agent)),
      max_workers_(max_workers ? max_workers : 1) {}

WorkerPool::~WorkerPool() {
  while (!workers_.empty()) forget(workers_.size() - 1);
}

void WorkerPool::forget(std::size_t index) {
  Worker w = std::move(workers_[index]);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(index));
  w.ctl.reset();
  w.fds.reset();
  if (w.pid > 0) {
    // Idle workers exit at end of file; one that is stuck or broken must
    // not keep us waiting.
    ::kill(w.pid, SIGKILL);
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

WorkerPool::Worker* WorkerPool::find_or_start(const std::optional<Identity>& as, const std::string& key,
                                              std::string& why) {
  for (auto& w : workers_)
    if (w.key == key) return &w;
  if (workers_.size() >= max_workers_) {
    std::size_t oldest = 0;
    for (std::size_t i = 1; i < workers_.size(); ++i)
      if (workers_[i].last_use < workers_[oldest].last_use) oldest = i;
    forget(oldest);
  }
  std::optional<Credentials> creds;
  if (as && security::can_regain_root()) creds = credentials_of(*as);
  int ctl[2], fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
    why = std::string("cannot create socket pair: ") + std::strerror(errno);
    return nullptr;
  }
  UniqueFd ctl_parent(ctl[0]), ctl_child(ctl[1]);
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    why = std::string("cannot create socket pair: ") + std::strerror(errno);
    return nullptr;
  }
  UniqueFd fds_parent(fds[0]), fds_child(fds[1]);
  log::flush();
  pid_t pid = ::fork();
  if (pid < 0) {
    why = std::string("cannot fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    ctl_parent.reset();
    fds_parent.reset();
    // The other workers' channels are closed by close_inherited().
    worker_main(creds, std::move(ctl_child), std::move(fds_child), execute_, time_limit_, agent_);
  }
  auto client = ipc::Client::adopt(std::move(ctl_parent), agent_ + " worker", kLimits);
  if (!client) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    why = client.error().message;
    return nullptr;
  }
  Worker w;
  w.key = key;
  w.pid = pid;
  w.ctl = std::move(*client);
  w.fds = std::move(fds_parent);
  workers_.push_back(std::move(w));
  return &workers_.back();
}

ChildResult WorkerPool::run(const std::optional<Identity>& as, const Task& task, int queue_fd) {
  auto failed = [](std::string why) { return ChildResult{Outcome::deferred("4.3.0", std::move(why)), {}}; };
  // A task that cannot be encoded (over a field's bound) is refused here,
  // before any worker is involved.
  if (auto enc = ipc::encode(task); !enc) return failed("cannot hand over delivery task: " + enc.error().message);
  std::string key = "self";
  if (as && security::can_regain_root()) key = std::to_string(as->uid) + ":" + std::to_string(as->gid) + ":" + as->name;
  // A worker that died while idle (or was killed) fails the send: the task
  // never reached it, so one more worker may try.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string why;
    Worker* w = find_or_start(as, key, why);
    if (!w) {
      log::warning("cannot start delivery process: {}", why);
      return failed("cannot start delivery process: " + why);
    }
    w->last_use = ++clock_;
    auto index = static_cast<std::size_t>(w - workers_.data());
    // The task goes first: the worker sleeps in recv_fd() and then reads
    // the task, which is then already there. In the other order the worker
    // woke for the descriptor and went to sleep again until the task came,
    // one more context switch per delivery.
    if (!w->ctl->send(task, time_limit_) || !send_fd(w->fds.get(), queue_fd)) {
      forget(index);
      continue;
    }
    auto reply = w->ctl->receive<TaskResult>(time_limit_);
    if (!reply) {
      log::warning("delivery process {} failed: {}", static_cast<long>(w->pid), reply.error().message);
      forget(index);
      return failed("delivery process failed");
    }
    ChildResult r;
    r.outcome = Outcome::from_dsn(reply->dsn, std::move(reply->text), static_cast<int>(reply->sys_errno));
    r.payload = std::move(reply->payload);
    return r;
  }
  return failed("delivery process failed");
}

}  // namespace postern::deliver
