// postsuper - queue maintenance for the superuser (Postfix's postsuper(1)).
//
//   postsuper [-c config_dir] [-v] [-s] [-p]
//             [-d ID|ALL|- [queue]] [-h ID|ALL|- [queue]] [-H ID|ALL|- [queue]]
//             [-r ID|ALL|- [queue]]
//
//   -s  structure check and repair: a queue file that is not in the hash
//       subdirectory the current hash_queue_names/hash_queue_depth put it
//       in is moved there (so a depth change never strands mail); a short
//       queue ID whose inode part does not match the file's inode (a queue
//       restored from a backup) is renamed to a fresh ID for that inode,
//       with its bounce/defer/trace logs; names that are not queue files
//       are reported. When it renamed any file and queue IDs were named
//       on the same command line, postsuper stops there (exit 1) before any
//       -d, -h, -H or -r work: an ID given before the repair may now name
//       another message (Postfix refuses those too).
//   -p  purge temporary files ("tmp.*", left by a writer that crashed)
//       older than one hour from every queue directory, and message files
//       without the ready mark that have not changed for a day in maildrop,
//       incoming, active, deferred and hold (a writer that crashed before
//       its commit, as Postfix's -p).
//   Without any option, postsuper does -s and -p, as Postfix's does.
//   -d  delete messages; -h put them on hold (move to hold/); -H release
//       them (move hold/ -> deferred/ with the retry time set to now, then
//       wake qmgr with "D"); -r requeue: resubmit envelope and content
//       through cleanup (so current canonical/virtual/masquerading settings
//       apply again) with the pending recipients, then delete the original
//       once the new file is committed.
//   ID is one queue ID, ALL every message, and "-" reads IDs from standard
//   input (the first word of each line, as `postqueue -j | jq -r .queue_id`
//   or mailq output gives them: a trailing '*' or '!' is ignored). The
//   options may repeat. The optional queue name limits the operation;
//   defaults as Postfix: -d and -r hold, incoming, active, deferred;
//   -h incoming, active, deferred; -H hold.
//   Deleting (or requeueing) also removes the message's bounce, defer and
//   trace logs. A queue ID not found in any of the queues is looked for
//   once more, since qmgr may have moved it from one to another meanwhile.
// Order of work: -s, -p, -d, -h, -H, -r.
//
// Root only (like Postfix); after reading the configuration it drops to
// mail_owner, who owns the queue, so that every file and directory it
// creates has the right owner.
//
// Logs each message to the mail log and standard error ("ID: removed",
// "ID: placed on hold", "ID: released from hold", "ID: requeued as NEWID"),
// then a summary on standard error: "postsuper: Deleted: 3 messages",
// "Placed on hold: 2 messages", "Released from hold: 2 messages",
// "Requeued: 1 message". Exit status 0, or 1 when a file could not be
// removed or renamed (other than because it had gone meanwhile) or a
// requeue failed; the other messages are still worked on.
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// enable_long_queue_ids, mail_owner, cleanup_service_name,
// queue_service_name, ipc_timeout, syslog_name, syslog_facility,
// maillog_file.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/strings.h"
#include "config/config.h"
#include "ipc/trigger.h"
#include "log/log.h"
#include "postern/paths.h"
#include "queue/layout.h"
#include "queue/queue_id.h"
#include "queue/reader.h"
#include "queue/update.h"
#include "security/privileges.h"
#include "security/std_fds.h"
#include "submit/cleanup_client.h"

namespace fs = std::filesystem;
using namespace postern;
using queue::QueueName;

namespace {

[[noreturn]] void die(int status, const std::string& text) {
  log::write(log::Level::Fatal, text);
  log::flush();
  std::exit(status);
}

constexpr const char* kUsage =
    "usage: postsuper [-c config_dir] [-v] [-s] [-p] [-d ID|ALL|- [queue]] [-h ID|ALL|- [queue]] "
    "[-H ID|ALL|- [queue]] [-r ID|ALL|- [queue]]";

// Temporary files younger than this may belong to a writer still at work.
constexpr std::time_t kTempMaxAge = 3600;
// A queue file without the ready mark that has not changed for this long
// was left by a writer that died before its commit (Postfix's
// MAX_TEMP_AGE). Writers keep their file's time fresh as they write.
constexpr std::time_t kUnreadyMaxAge = 24 * 3600;

// Operations that failed for a reason other than a file gone meanwhile;
// any makes the exit status 1.
std::size_t g_failures = 0;

template <class... A>
void failure(fmt::format_string<A...> f, A&&... a) {
  log::warning(f, std::forward<A>(a)...);
  ++g_failures;
}

enum class Op { Delete, Hold, Release, Requeue };

struct Selection {
  bool all = false;
  std::set<std::string> ids;                // validated queue IDs
  std::optional<QueueName> only;  // queue named on the command line
};

struct Env {
  fs::path root;
  queue::HashConfig hash;
  queue::IdFormat id_format = queue::IdFormat::Short;
  fs::path cleanup_socket;
  fs::path qmgr_trigger;
  std::chrono::seconds timeout{3600};
  // Requeued mail is new mail to the filter as it is in Postfix (where
  // pickup adds them): main.cf's content_filter and receive_override_options.
  std::string content_filter;
  std::int64_t cleanup_flags = 0;
};

std::string plural(std::size_t n, std::string_view what) {
  return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
}

std::vector<QueueName> default_queues(Op op) {
  switch (op) {
    case Op::Delete:
    case Op::Requeue: return {QueueName::Hold, QueueName::Incoming, QueueName::Active, QueueName::Deferred};
    case Op::Hold: return {QueueName::Incoming, QueueName::Active, QueueName::Deferred};
    case Op::Release: return {QueueName::Hold};
  }
  return {};
}

std::vector<QueueName> queues_for(Op op, const Selection& sel) {
  if (sel.only) return {*sel.only};
  return default_queues(op);
}

// Adds one ID from the command line or standard input.
void add_id(Selection& sel, std::string_view word) {
  while (!word.empty() && (word.back() == '*' || word.back() == '!')) word.remove_suffix(1);
  auto id = queue::QueueId::parse(word);
  if (!id) {
    log::warning("invalid mail queue ID: {}", str::printable(word, 64));
    return;
  }
  sel.ids.insert(id->str());
}

void read_ids_from_stdin(Selection& sel) {
  std::string line;
  std::size_t lines = 0;
  while (std::getline(std::cin, line)) {
    if (++lines > 10'000'000) die(EX_DATAERR, "too many queue IDs on standard input");
    auto words = str::split(line, " \t\r");
    if (words.empty()) continue;
    // mailq output: skip the header, the recipients and the footer lines.
    const std::string& w = words[0];
    if (w.empty() || w[0] == '-' || w[0] == '(' || line[0] == ' ') continue;
    add_id(sel, w);
  }
}

// What became of one message file an operation went for.
enum class Fate { Done, Gone, Failed };

// Calls f(queue, id, path) for every message in `queues` that the
// selection names. f returns its Fate; a message that was Gone (the file
// went meanwhile) is looked for in the next queue, and
// a named ID found nowhere is looked for once more, because qmgr may have
// moved it between the queues while they were searched (Postfix's
// postsuper does the same).
// Calls f(entry) for every queue file of `q`; a queue that cannot be read
// is a failure (one that does not exist is empty).
template <class F>
void scan_queue(const Env& env, QueueName q, F&& f) {
  queue::QueueScanner scanner(env.root, q, env.hash);
  for (;;) {
    auto next = scanner.next();
    if (!next) {
      if (next.error().sys_errno != ENOENT) failure("scan {}: {}", queue::to_string(q), next.error().message);
      return;
    }
    if (!*next) return;
    f(**next);
  }
}

template <class F>
void for_each_selected(const Env& env, const std::vector<QueueName>& queues, const Selection& sel, F&& f) {
  if (sel.all) {
    for (auto q : queues) scan_queue(env, q, [&](const queue::QueueEntry& e) { f(q, e.id, e.path); });
    return;
  }
  for (const auto& text : sel.ids) {
    auto id = queue::QueueId::parse(text);
    if (!id) continue;
    bool found = false;
    for (int attempt = 0; attempt < 2 && !found; ++attempt)
      for (auto q : queues)
        if (auto path = queue::find_in_queue(env.root, q, *id); path && f(q, *id, *path) != Fate::Gone) {
          found = true;
          break;
        }
  }
}

std::vector<QueueName> without(std::vector<QueueName> queues, QueueName q) {
  std::erase(queues, q);
  return queues;
}

void remove_logs(const Env& env, const queue::QueueId& id) {
  for (auto q : {QueueName::Bounce, QueueName::Defer, QueueName::Trace}) {
    if (auto p = queue::find_in_queue(env.root, q, id))
      if (::unlink(p->c_str()) != 0 && errno != ENOENT) failure("remove {}: {}", p->string(), std::strerror(errno));
  }
}

Fate remove_message(const Env& env, const queue::QueueId& id, const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Fate::Gone;
    failure("remove {}: {}", path.string(), std::strerror(errno));
    return Fate::Failed;
  }
  remove_logs(env, id);
  return Fate::Done;
}

// rename() that never replaces a file; creates a missing hash directory.
Status move_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
    return sys_error("rename {} to {}", from.string(), to.string());
  return {};
}

std::size_t do_delete(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  for_each_selected(env, queues_for(Op::Delete, sel), sel,
                    [&](QueueName, const queue::QueueId& id, const fs::path& path) {
                      Fate fate = remove_message(env, id, path);
                      if (fate != Fate::Done) return fate;
                      log::info("{}: removed", id.str());
                      ++n;
                      return fate;
                    });
  return n;
}

// Moves a message from where it was found to `to`.
Fate move_message(const fs::path& from, const fs::path& to) {
  auto st = move_file(from, to);
  if (st) return Fate::Done;
  if (st.error().sys_errno == ENOENT) return Fate::Gone;
  failure("{}", st.error().message);
  return Fate::Failed;
}

std::size_t do_hold(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  for_each_selected(env, without(queues_for(Op::Hold, sel), QueueName::Hold), sel,
                    [&](QueueName, const queue::QueueId& id, const fs::path& path) {
                      Fate fate = move_message(path, queue::queue_path(env.root, QueueName::Hold, id, env.hash));
                      if (fate != Fate::Done) return fate;
                      log::info("{}: placed on hold", id.str());
                      ++n;
                      return fate;
                    });
  return n;
}

std::size_t do_release(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  std::vector<QueueName> queues = queues_for(Op::Release, sel);
  if (std::find(queues.begin(), queues.end(), QueueName::Hold) == queues.end()) return 0;
  for_each_selected(env, {QueueName::Hold}, sel, [&](QueueName, const queue::QueueId& id, const fs::path& path) {
    fs::path to = queue::queue_path(env.root, QueueName::Deferred, id, env.hash);
    if (Fate fate = move_message(path, to); fate != Fate::Done) return fate;
    // The modification time of a deferred file is its next retry time.
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    if (::utimensat(AT_FDCWD, to.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0)
      log::warning("set time of {}: {}", to.string(), std::strerror(errno));
    log::info("{}: released from hold", id.str());
    ++n;
    return Fate::Done;
  });
  return n;
}

// The envelope cleanup needs to recreate the message, from the old file.
submit::CleanupEnvelope envelope_of(const queue::QueueMessage& m) {
  submit::CleanupEnvelope env;
  env.sender = m.sender;
  env.arrival_time = m.arrival_sec;
  auto copy = [&](std::string_view name, std::optional<std::string>& to, std::size_t max) {
    if (auto v = m.attribute(name); v && !v->empty() && v->size() <= max) to = std::string(*v);
  };
  copy(queue::attr::kClientName, env.client_name, submit::kMaxAttributeLength);
  copy(queue::attr::kClientAddress, env.client_addr, submit::kMaxAttributeLength);
  copy(queue::attr::kClientPort, env.client_port, 16);
  copy(queue::attr::kHeloName, env.helo, submit::kMaxAttributeLength);
  copy(queue::attr::kProtocol, env.protocol, 64);
  copy(queue::attr::kSaslMethod, env.sasl_method, 64);
  copy(queue::attr::kSaslUsername, env.sasl_username, submit::kMaxAttributeLength);
  if (m.encoding == queue::BodyEncoding::EightBit) env.body = "8BITMIME";
  if (m.encoding == queue::BodyEncoding::SevenBit) env.body = "7BIT";
  if (m.smtputf8) env.smtputf8 = true;
  if (!m.dsn_envid.empty() && m.dsn_envid.size() <= 512) env.envid = m.dsn_envid;
  if (m.dsn_ret == queue::DsnRet::Full) env.ret = "FULL";
  if (m.dsn_ret == queue::DsnRet::Headers) env.ret = "HDRS";
  return env;
}

// Resubmits one message; the new queue ID, or an Error (original kept).
Result<std::string> requeue_one(const Env& env, const fs::path& path) {
  queue::ReadOptions ro{.require_ready = true, .verify_content = true};
  auto reader = queue::QueueFileReader::open(path, ro);
  if (!reader) return reader.take_error();
  const auto& m = reader->message();
  if (m.pending_recipients() == 0) return make_error("no pending recipients");
  auto c = submit::BlockingCleanupClient::open(env.cleanup_socket, env.cleanup_flags, "postsuper", env.timeout);
  if (!c) return c.take_error();
  auto result_error = [&](Status st) -> Error {
    auto r = c->finish();
    if (r && !r->ok()) return make_error("cleanup: {} {} {}", r->status, r->dsn, r->reason);
    return st.ok() ? make_error("cleanup failed") : st.take_error();
  };
  submit::CleanupEnvelope ce = envelope_of(m);
  if (!env.content_filter.empty()) ce.content_filter = env.content_filter;
  if (auto st = c->envelope(ce); !st) return result_error(std::move(st));
  for (const auto& r : m.recipients) {
    if (r.done) continue;
    submit::CleanupRecipient rc;
    rc.address = r.fields.address;
    if (!r.fields.orcpt.empty()) rc.orcpt = r.fields.orcpt;
    rc.notify = r.fields.notify;
    if (!r.fields.orig_rcpt.empty()) rc.orig_rcpt = r.fields.orig_rcpt;
    if (auto st = c->recipient(rc); !st) return result_error(std::move(st));
  }
  auto content = reader->content();
  queue::ContentPiece piece;
  std::string chunk;
  for (;;) {
    auto more = content.next(piece);
    if (!more) return more.take_error();
    if (!*more) break;
    chunk.append(piece.data);
    if (piece.complete) chunk.push_back('\n');
    if (chunk.size() >= submit::kMaxContentChunk) {
      if (auto st = c->content(chunk); !st) return result_error(std::move(st));
      chunk.clear();
    }
  }
  if (!chunk.empty())
    if (auto st = c->content(chunk); !st) return result_error(std::move(st));
  auto r = c->finish();
  if (!r) return r.take_error();
  if (!r->ok()) return make_error("cleanup: {} {} {}", r->status, r->dsn, r->reason);
  return r->queue_id;
}

std::size_t do_requeue(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  // Collect first: new files land in incoming/, which may be one of the
  // queues being walked, and must not be requeued again.
  struct Item {
    queue::QueueId id;
    QueueName queue;
    fs::path path;
  };
  std::vector<Item> todo;
  for_each_selected(env, queues_for(Op::Requeue, sel), sel,
                    [&](QueueName q, const queue::QueueId& id, const fs::path& path) {
                      todo.push_back({id, q, path});
                      return Fate::Done;
                    });
  for (const auto& [id, q, path] : todo) {
    // Claim the file first, by moving it to hold/, where qmgr never looks:
    // if qmgr takes it (deferred/ to active/) meanwhile, the claim fails,
    // instead of the original being delivered beside its requeued copy.
    // A file without the ready mark is still being written (cleanup in
    // incoming/): not ours to move.
    if (auto ready = queue::is_ready(path); !ready || !*ready) {
      log::warning("{}: cannot requeue: not a complete queue file", id.str());
      continue;
    }
    fs::path claimed = path;
    if (q != QueueName::Hold) {
      claimed = queue::queue_path(env.root, QueueName::Hold, id, env.hash);
      if (auto st = move_file(path, claimed); !st) {
        if (st.error().sys_errno == ENOENT)
          log::warning("{}: not requeued: it left the {} queue meanwhile", id.str(), queue::to_string(q));
        else
          failure("{}: not requeued: {}", id.str(), st.error().message);
        continue;
      }
    }
    auto new_id = requeue_one(env, claimed);
    if (!new_id) {
      failure("{}: cannot requeue: {}", id.str(), new_id.error().message);
      // Back where qmgr will see it. Not to active/, which qmgr reads only
      // when it starts: a message claimed from there goes to deferred/,
      // due now, and qmgr is woken for it.
      if (claimed != path) {
        QueueName back = q == QueueName::Active ? QueueName::Deferred : q;
        fs::path to = back == q ? path : queue::queue_path(env.root, back, id, env.hash);
        // The modification time of a deferred file is its next retry time.
        struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
        if (back == QueueName::Deferred && ::utimensat(AT_FDCWD, claimed.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0)
          log::warning("set time of {}: {}", claimed.string(), std::strerror(errno));
        if (auto st = move_file(claimed, to); !st)
          failure("{}: {}", id.str(), st.error().message);
        else if (back != q)
          (void)ipc::trigger(env.qmgr_trigger.string(), std::string(1, ipc::kTriggerScanDeferred));
      }
      continue;
    }
    (void)remove_message(env, id, claimed);
    log::info("{}: requeued as {}", id.str(), *new_id);
    ++n;
  }
  if (n > 0) (void)ipc::trigger(env.qmgr_trigger.string(), std::string(1, ipc::kTriggerScanIncoming));
  return n;
}

// ---- -s --------------------------------------------------------------------

struct CheckStats {
  std::size_t moved = 0;
  std::size_t renamed = 0;
  std::size_t junk = 0;
};

void check_structure(const Env& env, CheckStats& stats) {
  for (const auto& spec : queue::kQueueLayout) {
    if (!spec.holds_queue_ids) continue;
    QueueName q = spec.name;
    bool is_log = q == QueueName::Bounce || q == QueueName::Defer || q == QueueName::Trace || q == QueueName::Flush;
    if (q == QueueName::Flush) continue;  // named by destination, not by queue ID
    // Collect, then repair: renaming while the scanner walks the same
    // directory could make it see a file twice.
    std::vector<queue::QueueEntry> entries;
    queue::QueueScanner scanner(env.root, q, env.hash);
    for (;;) {
      auto next = scanner.next();
      if (!next || !*next) break;
      struct stat st {};
      bool inode_ok = true;
      if (!is_log && q != QueueName::Maildrop && !(*next)->id.is_long() &&
          ::lstat((*next)->path.c_str(), &st) == 0 && st.st_ino != (*next)->id.inode())
        inode_ok = false;
      if ((*next)->misplaced || !inode_ok) entries.push_back(std::move(**next));
    }
    for (const auto& issue : scanner.issues()) {
      if (issue.kind == queue::ScanIssue::Kind::Temporary) continue;
      log::warning("{}: {}", issue.path.string(), issue.reason);
      ++stats.junk;
    }
    for (auto& e : entries) {
      struct stat st {};
      if (::lstat(e.path.c_str(), &st) != 0) continue;
      queue::QueueId id = e.id;
      if (!is_log && q != QueueName::Maildrop && !id.is_long() && st.st_ino != id.inode()) {
        // A file restored from elsewhere: give it the name its inode implies,
        // keeping the microseconds (so it hashes where it did). The new
        // name depends on nothing else, and the logs move before the
        // message file, so a run that was interrupted half-way is completed
        // by the next one, as in Postfix.
        auto fresh = queue::QueueId::make(queue::IdFormat::Short, 0, id.microseconds(), st.st_ino);
        if (!fresh) continue;
        bool logs_moved = true;
        for (auto lq : {QueueName::Bounce, QueueName::Defer, QueueName::Trace})
          if (auto lp = queue::find_in_queue(env.root, lq, id))
            if (auto r = move_file(*lp, queue::queue_path(env.root, lq, *fresh, env.hash)); !r) {
              failure("{}", r.error().message);
              logs_moved = false;
            }
        if (!logs_moved) continue;
        fs::path to = queue::queue_path(env.root, q, *fresh, env.hash);
        if (auto r = move_file(e.path, to); !r) {
          failure("{}", r.error().message);
          continue;
        }
        log::warning("{}: renamed to match inode number: {}", id.str(), fresh->str());
        ++stats.renamed;
        continue;
      }
      fs::path to = queue::queue_path(env.root, q, id, env.hash);
      if (auto r = move_file(e.path, to); !r) {
        failure("{}", r.error().message);
        continue;
      }
      log::info("{}: moved to {}", id.str(), fs::relative(to, env.root).string());
      ++stats.moved;
    }
  }
}

// ---- -p --------------------------------------------------------------------

// Message files without the ready mark, unchanged for kUnreadyMaxAge, in
// the queues writers commit into: what a writer (postdrop, cleanup, qmgr
// between taking the mark off a finished file and recycling it) left when
// it died. recycle/ is not among them: its files are unready by design.
std::size_t purge_unready(const Env& env) {
  std::size_t n = 0;
  const std::time_t now = std::time(nullptr);
  for (auto q : {QueueName::Maildrop, QueueName::Incoming, QueueName::Active, QueueName::Deferred, QueueName::Hold}) {
    scan_queue(env, q, [&](const queue::QueueEntry& e) {
      struct stat st {};
      if (::lstat(e.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || queue::is_ready_mode(st.st_mode)) return;
      if (now - st.st_mtime <= kUnreadyMaxAge) return;
      if (::unlink(e.path.c_str()) != 0) {
        if (errno != ENOENT) failure("remove {}: {}", e.path.string(), std::strerror(errno));
        return;
      }
      log::info("{}: removed incomplete queue file from {} (unchanged for a day)", e.id.str(), queue::to_string(q));
      ++n;
    });
  }
  return n;
}

std::size_t purge_temporary(const Env& env) {
  std::size_t n = 0;
  std::time_t now = std::time(nullptr);
  for (const auto& spec : queue::kQueueLayout) {
    if (!spec.holds_queue_ids) continue;
    fs::path dir = env.root / queue::to_string(spec.name);
    std::error_code ec;
    // Writers create their temporary file at the top of the queue
    // directory; walk one level of hash subdirectories too, for safety.
    std::vector<fs::path> dirs{dir};
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      auto name = it->path().filename().string();
      if (name.size() == 1 && std::isxdigit(static_cast<unsigned char>(name[0])) && it->is_directory(ec))
        dirs.push_back(it->path());
    }
    for (const auto& d : dirs) {
      for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        auto name = it->path().filename().string();
        if (!name.starts_with(queue::kTempPrefix)) continue;
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (now - st.st_mtime < kTempMaxAge) continue;
        if (::unlink(it->path().c_str()) == 0) {
          log::info("removed temporary file {}", fs::relative(it->path(), env.root).string());
          ++n;
        } else if (errno != ENOENT) {
          failure("remove {}: {}", it->path().string(), std::strerror(errno));
        }
      }
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything is opened (security/std_fds.h).
  if (!security::open_standard_descriptors()) return EX_OSERR;
  log::init("postsuper", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  ::signal(SIGPIPE, SIG_IGN);
  if (::getuid() != 0) die(EX_NOPERM, "use of this command is reserved for the superuser");

  const char* env_dir = std::getenv("MAIL_CONFIG");
  fs::path config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  bool structure = false, purge = false;
  std::vector<std::pair<Op, Selection>> ops;
  int verbose = 0;
  bool stdin_used = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() < 2 || a[0] != '-') die(EX_USAGE, kUsage);
    auto value = [&]() -> std::string_view {
      if (a.size() > 2) return a.substr(2);
      if (i + 1 >= argc) die(EX_USAGE, kUsage);
      return argv[++i];
    };
    char opt = a[1];
    if (a.size() > 2 && (opt == 's' || opt == 'p' || opt == 'v')) die(EX_USAGE, kUsage);
    switch (opt) {
      case 'c': config_dir = std::string(value()); break;
      case 'v': log::set_verbose(++verbose); break;
      case 's': structure = true; break;
      case 'p': purge = true; break;
      case 'd':
      case 'h':
      case 'H':
      case 'r': {
        Op op = opt == 'd' ? Op::Delete : opt == 'h' ? Op::Hold : opt == 'H' ? Op::Release : Op::Requeue;
        Selection sel;
        std::string_view v = value();
        if (v == "ALL") {
          sel.all = true;
        } else if (v == "-") {
          if (stdin_used) die(EX_USAGE, "standard input can be read only once");
          stdin_used = true;
          read_ids_from_stdin(sel);
        } else {
          add_id(sel, v);
        }
        // An optional queue name follows.
        if (i + 1 < argc && argv[i + 1][0] != '-') {
          auto q = queue::parse_queue_name(argv[i + 1]);
          bool allowed = q && (*q == QueueName::Hold || *q == QueueName::Incoming || *q == QueueName::Active ||
                               *q == QueueName::Deferred || *q == QueueName::Maildrop);
          if (!allowed) die(EX_USAGE, fmt::format("invalid queue name: {}", str::printable(argv[i + 1], 64)));
          // Mail in maildrop/ is still the submitter's file, not yet read by
          // pickup and cleanup: holding or requeueing it would let it skip
          // cleanup (Postfix's postsuper leaves that queue alone too).
          if (*q == QueueName::Maildrop && (op == Op::Hold || op == Op::Requeue))
            die(EX_USAGE, fmt::format("-{} does not apply to the maildrop queue", opt));
          sel.only = *q;
          ++i;
        }
        ops.emplace_back(op, std::move(sel));
        break;
      }
      default: die(EX_USAGE, kUsage);
    }
  }
  // Plain "postsuper" is Postfix's default maintenance: -s and -p.
  if (!structure && !purge && ops.empty()) structure = purge = true;

  auto cfg = config::Config::load(config_dir);
  if (!cfg) die(EX_CONFIG, cfg.error().message);
  // Per-message lines go to the mail log as well as to stderr.
  log::init("postsuper", log::Settings{.syslog_name = cfg->str("syslog_name"),
                                       .facility = cfg->str("syslog_facility"),
                                       .maillog_file = cfg->str("maillog_file"),
                                       .mirror_stderr = true});
  Env env;
  env.root = cfg->str("queue_directory");
  std::string names;
  for (const auto& n : cfg->list("hash_queue_names")) names += n + ",";
  auto hash = queue::HashConfig::from_params(names, cfg->integer("hash_queue_depth"));
  if (!hash) die(EX_CONFIG, hash.error().message);
  env.hash = *hash;
  env.id_format = queue::id_format(cfg->boolean("enable_long_queue_ids"));
  env.cleanup_socket = submit::cleanup_socket_path(env.root, cfg->str("cleanup_service_name"));
  env.qmgr_trigger = env.root / "public" / cfg->str("queue_service_name");
  env.timeout = cfg->time("ipc_timeout");
  // Postfix's requeue goes through pickup: the sendmail class.
  auto rs = submit::receiving_settings(*cfg, "sendmail");
  if (!rs) die(EX_CONFIG, rs.error().message);
  env.content_filter = std::move(rs->content_filter);
  env.cleanup_flags = rs->cleanup_flags;

  // The queue belongs to mail_owner: work as that user, so that renamed
  // files and new hash directories keep the right owner.
  auto owner = security::lookup_user(cfg->str("mail_owner"));
  if (!owner) die(EX_CONFIG, fmt::format("mail_owner: {}", owner.error().message));
  if (::chdir(env.root.c_str()) != 0) die(EX_CONFIG, fmt::format("chdir {}: {}", env.root.string(), std::strerror(errno)));
  if (auto st = security::drop_privileges(*owner); !st) die(EX_SOFTWARE, st.error().message);
  ::umask(077);

  if (structure) {
    CheckStats cs;
    check_structure(env, cs);
    if (cs.moved) log::info("Moved to the right subdirectory: {}", plural(cs.moved, "file"));
    if (cs.renamed) log::info("Renamed to match inode number: {}", plural(cs.renamed, "message"));
    if (cs.junk) log::info("Not queue files (left alone): {}", plural(cs.junk, "file"));
    if (cs.renamed) {
      log::warning("QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS");
      // A queue ID the administrator gave may have named a message before
      // the repair and name another (or none) now.
      bool by_id = std::any_of(ops.begin(), ops.end(), [](const auto& o) { return !o.second.all; });
      if (by_id) {
        log::error("QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS");
        die(1, "CHECK YOUR QUEUE IDS AND RE-ISSUE THE COMMAND");
      }
    }
  }
  if (purge) {
    std::size_t n = purge_temporary(env);
    if (n) log::info("Deleted: {}", plural(n, "temporary file"));
    std::size_t m = purge_unready(env);
    if (m) log::info("Deleted: {}", plural(m, "incomplete queue file"));
  }
  std::size_t deleted = 0, held = 0, released = 0, requeued = 0;
  for (Op want : {Op::Delete, Op::Hold, Op::Release, Op::Requeue}) {
    for (const auto& [op, sel] : ops) {
      if (op != want) continue;
      switch (op) {
        case Op::Delete: deleted += do_delete(env, sel); break;
        case Op::Hold: held += do_hold(env, sel); break;
        case Op::Release: released += do_release(env, sel); break;
        case Op::Requeue: requeued += do_requeue(env, sel); break;
      }
    }
  }
  if (released > 0) (void)ipc::trigger(env.qmgr_trigger.string(), std::string(1, ipc::kTriggerScanDeferred));
  if (deleted) log::info("Deleted: {}", plural(deleted, "message"));
  if (held) log::info("Placed on hold: {}", plural(held, "message"));
  if (released) log::info("Released from hold: {}", plural(released, "message"));
  if (requeued) log::info("Requeued: {}", plural(requeued, "message"));
  if (g_failures) log::error("{} failed (see above)", plural(g_failures, "operation"));
  log::flush();
  return g_failures ? 1 : 0;
}
