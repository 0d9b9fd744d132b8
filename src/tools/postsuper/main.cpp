// postsuper - queue maintenance for the superuser (Postfix's postsuper(1)).
//
//   postsuper [-psSv] [-c config_dir] [-d ID] [-e ID] [-f ID] [-h ID]
//             [-H ID] [-r ID] [queue ...]
//
//   -s  structure check and repair: a queue file that is not in the hash
//       subdirectory the current hash_queue_names/hash_queue_depth put it
//       in is moved there (so a depth change never strands mail); a short
//       queue ID whose inode part does not match the file's inode (a queue
//       restored from a backup) is renamed to a fresh ID for that inode,
//       with its bounce/defer/trace logs, and so is a long ID while
//       enable_long_queue_ids is off (back to short names, as Postfix);
//       names that are not queue files are reported. When it renamed any
//       file and queue IDs were named on the same command line, postsuper
//       stops there (exit 1) before any other work: an ID given before the
//       repair may now name another message (Postfix refuses those too).
//   -S  -s, and long IDs must match their file's inode too.
//   -p  purge temporary files ("tmp.*", left by a writer that crashed)
//       older than one hour from every queue directory, and message files
//       without the ready mark that have not changed for a day in maildrop,
//       incoming, active, deferred and hold (a writer that crashed before
//       its commit, as Postfix's -p).
//   Without any option, postsuper does -s and -p, as Postfix's does.
//   -d  delete messages, with their bounce/defer/trace logs ("-d ALL" with
//       the default queues also empties the log directories); -e force
//       expiration (the expire mark, queue/update.h: qmgr returns the
//       message to its sender at its next attempt); -f the same, and a held
//       message is released; -h put on hold (move to hold/); -H release
//       (hold/ -> deferred/, due now, then wake qmgr with "D"); -r requeue:
//       resubmit envelope and content through cleanup (so current
//       canonical/virtual/masquerading settings apply again) with the
//       pending recipients, then delete the original once the new file is
//       committed.
//   ID is one queue ID, ALL (upper case) every message, and "-" reads IDs
//   from standard input (the first word of each line, as `postqueue -j |
//   jq -r .queue_id` or mailq output gives them: a trailing '*', '!' or '#'
//   is ignored). The options may repeat; getopt rules, so flags cluster
//   (-sp). The trailing operands name the queues every operation works on
//   (Postfix's [directory ...]); defaults: -d maildrop, hold, incoming,
//   active, deferred; -e, -f and -r hold, incoming, active, deferred; -h
//   incoming, active, deferred; -H hold. Mail in maildrop/ has not been
//   through cleanup: only -d touches it. A queue ID not found in any of
//   the queues is looked for once more, since qmgr may have moved it from
//   one to another meanwhile.
// Order of work: -s, -p, -d, -e/-f, -h, -H, -r.
//
// Root only (like Postfix); after reading the configuration it drops to
// mail_owner, who owns the queue, so that every file and directory it
// creates has the right owner.
//
// Logs each message named by ID to the mail log and standard error ("ID:
// removed", "ID: expired", "ID: placed on hold", "ID: released from hold",
// "ID: requeued as NEWID"; ALL gives only the count, as Postfix), then one
// summary line for each operation asked for, zero included, in Postfix's
// order: "Requeued: 1 message", "Deleted: 3 messages", "Force-expired: 0
// messages", "Placed on hold: 2 messages", "Released from hold: 2
// messages". Exit status 0, or 1 for bad usage or configuration, when not
// root, or when a file could not be removed or renamed (other than because
// it had gone meanwhile) or a requeue failed; the other messages are still
// worked on.
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// enable_long_queue_ids, mail_owner, cleanup_service_name,
// queue_service_name, ipc_timeout, syslog_name, syslog_facility,
// maillog_file.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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
#include "queue/queue_file.h"
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
    "usage: postsuper [-psSv] [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] "
    "[-f queue_id (expire and/or un-hold)] [-h queue_id (hold)] [-H queue_id (un-hold)] "
    "[-r queue_id (requeue)] [queue...]";

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

enum class Op { Delete, Expire, ExpireRelease, Hold, Release, Requeue };

// What one kind of operation (-d, -e, -f, -h, -H, -r) was asked to do. The
// queues are the command line's trailing operands, shared by every
// operation as in Postfix, or the operation's defaults.
struct Selection {
  bool requested = false;
  bool all = false;
  std::set<std::string> ids;  // validated queue IDs
  std::vector<QueueName> queues;
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

bool is_log_queue(QueueName q) {
  return q == QueueName::Bounce || q == QueueName::Defer || q == QueueName::Trace || q == QueueName::Flush;
}

// Postfix's defaults. Deletion includes maildrop/ (mail not yet picked up
// is still mail), and "-d ALL" empties the log directories too.
std::vector<QueueName> default_queues(Op op, bool all) {
  switch (op) {
    case Op::Delete:
      if (all)
        return {QueueName::Maildrop, QueueName::Incoming, QueueName::Active, QueueName::Deferred, QueueName::Hold,
                QueueName::Defer,    QueueName::Bounce,   QueueName::Trace,  QueueName::Flush};
      return {QueueName::Maildrop, QueueName::Hold, QueueName::Incoming, QueueName::Active, QueueName::Deferred};
    case Op::Expire:
    case Op::ExpireRelease:
    case Op::Requeue: return {QueueName::Hold, QueueName::Incoming, QueueName::Active, QueueName::Deferred};
    case Op::Hold: return {QueueName::Incoming, QueueName::Active, QueueName::Deferred};
    case Op::Release: return {QueueName::Hold};
  }
  return {};
}

// The queues an operation works on, of those selected. Mail in maildrop/
// has not been through pickup and cleanup: it can be deleted, but not held,
// expired or requeued (Postfix leaves it alone too). Log directories hold
// no messages; only "-d ALL" empties them.
std::vector<QueueName> applicable(Op op, const Selection& sel) {
  std::vector<QueueName> out;
  for (auto q : sel.queues) {
    bool ok = !is_log_queue(q) || (op == Op::Delete && sel.all);
    if (q == QueueName::Maildrop && op != Op::Delete) ok = false;
    if (op == Op::Hold && q == QueueName::Hold) ok = false;
    if (op == Op::Release && q != QueueName::Hold) ok = false;
    if (ok) out.push_back(q);
  }
  return out;
}

// Adds one ID from the command line or standard input.
void add_id(Selection& sel, std::string_view word) {
  while (!word.empty() && (word.back() == '*' || word.back() == '!' || word.back() == '#')) word.remove_suffix(1);
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
    if (++lines > 10'000'000) die(1, "too many queue IDs on standard input");
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

// Removes every regular file under a log directory and its hash
// subdirectories ("-d ALL"): the logs of messages that are all gone, and
// the flush service's per-destination lists, which name them.
void empty_log_dir(const Env& env, QueueName q) {
  std::error_code ec;
  std::vector<fs::path> dirs{env.root / queue::to_string(q)};
  for (std::size_t i = 0; i < dirs.size() && i < 1 + 16 + 256; ++i) {
    for (auto it = fs::directory_iterator(dirs[i], ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0) continue;
      auto name = it->path().filename().string();
      if (S_ISDIR(st.st_mode)) {
        if (name.size() == 1 && std::isxdigit(static_cast<unsigned char>(name[0]))) dirs.push_back(it->path());
        continue;
      }
      if (S_ISREG(st.st_mode) && ::unlink(it->path().c_str()) != 0 && errno != ENOENT)
        failure("remove {}: {}", it->path().string(), std::strerror(errno));
    }
  }
}

// Per-message lines ("ID: removed") are for operations by queue ID; "ALL"
// reports only the count, as Postfix's postsuper does.
template <class... A>
void per_message(const Selection& sel, fmt::format_string<A...> f, A&&... a) {
  if (!sel.all) log::info(f, std::forward<A>(a)...);
}

std::size_t do_delete(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  std::vector<QueueName> queues = applicable(Op::Delete, sel);
  std::vector<QueueName> messages;
  for (auto q : queues)
    if (!is_log_queue(q)) messages.push_back(q);
  for_each_selected(env, messages, sel, [&](QueueName, const queue::QueueId& id, const fs::path& path) {
    Fate fate = remove_message(env, id, path);
    if (fate != Fate::Done) return fate;
    per_message(sel, "{}: removed", id.str());
    ++n;
    return fate;
  });
  if (sel.all)
    for (auto q : queues)
      if (is_log_queue(q)) empty_log_dir(env, q);
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
  for_each_selected(env, applicable(Op::Hold, sel), sel, [&](QueueName, const queue::QueueId& id, const fs::path& path) {
    Fate fate = move_message(path, queue::queue_path(env.root, QueueName::Hold, id, env.hash));
    if (fate != Fate::Done) return fate;
    per_message(sel, "{}: placed on hold", id.str());
    ++n;
    return fate;
  });
  return n;
}

// hold/ -> deferred/, due now (the modification time of a deferred file is
// its next retry time).
Fate release_message(const Env& env, const Selection& sel, const queue::QueueId& id, const fs::path& path) {
  fs::path to = queue::queue_path(env.root, QueueName::Deferred, id, env.hash);
  if (Fate fate = move_message(path, to); fate != Fate::Done) return fate;
  struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  if (::utimensat(AT_FDCWD, to.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0)
    log::warning("set time of {}: {}", to.string(), std::strerror(errno));
  per_message(sel, "{}: released from hold", id.str());
  return Fate::Done;
}

std::size_t do_release(const Env& env, const Selection& sel) {
  std::size_t n = 0;
  for_each_selected(env, applicable(Op::Release, sel), sel,
                    [&](QueueName, const queue::QueueId& id, const fs::path& path) {
                      Fate fate = release_message(env, sel, id, path);
                      if (fate == Fate::Done) ++n;
                      return fate;
                    });
  return n;
}

struct ExpireCounts {
  std::size_t expired = 0;
  std::size_t released = 0;
};

// -e and -f (Postfix 3.5's forced expiration): set the expire mark
// (queue/update.h); qmgr returns the message to its sender at its next
// delivery attempt instead of trying it. -f also releases a held message
// (due now), which -e leaves on hold. A message that has the mark already
// is not counted again; one still being written is left alone.
ExpireCounts do_expire(const Env& env, const Selection& sel, bool release) {
  ExpireCounts c;
  for_each_selected(env, applicable(release ? Op::ExpireRelease : Op::Expire, sel), sel,
                    [&](QueueName q, const queue::QueueId& id, const fs::path& path) {
                      auto marked = queue::set_expire_mark(path);
                      if (!marked) {
                        if (marked.error().sys_errno == ENOENT) return Fate::Gone;
                        // Still being written (cleanup in incoming/): not ours.
                        if (queue::is_not_ready(marked.error())) {
                          if (!sel.all) log::warning("{}: not expired: not a complete queue file", id.str());
                          return Fate::Done;
                        }
                        failure("{}: not expired: {}", id.str(), marked.error().message);
                        return Fate::Failed;
                      }
                      if (*marked) {
                        per_message(sel, "{}: expired", id.str());
                        ++c.expired;
                      }
                      if (release && q == QueueName::Hold) {
                        Fate fate = release_message(env, sel, id, path);
                        if (fate == Fate::Done) ++c.released;
                        return fate == Fate::Gone ? Fate::Done : fate;
                      }
                      return Fate::Done;
                    });
  return c;
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
  // The pending recipients in slices (for_each_recipient_slice(): one pass
  // over the file), so that a list of any length is never in memory at once.
  constexpr std::size_t kSlice = 4096;
  queue::ReadOptions ro{.require_ready = true, .verify_content = true, .max_recipients = kSlice,
                        .pending_only = true};
  auto reader = queue::QueueFileReader::open(path, ro);
  if (!reader) return reader.take_error();
  const auto& m = reader->message();
  if (m.recipients.empty() && m.more_recipients_at == 0) return make_error("no pending recipients");
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
  auto send_recipients = [&](const std::vector<queue::Recipient>& list) -> Result<bool> {
    for (const auto& r : list) {
      if (r.done) continue;
      submit::CleanupRecipient rc;
      rc.address = r.fields.address;
      if (!r.fields.orcpt.empty()) rc.orcpt = r.fields.orcpt;
      rc.notify = r.fields.notify;
      if (!r.fields.orig_rcpt.empty()) rc.orig_rcpt = r.fields.orig_rcpt;
      if (auto st = c->recipient(rc); !st) return st.take_error();
    }
    return true;
  };
  if (auto st = queue::for_each_recipient_slice(*reader, kSlice, true, send_recipients); !st)
    return result_error(std::move(st));
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
  for_each_selected(env, applicable(Op::Requeue, sel), sel,
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
    per_message(sel, "{}: requeued as {}", id.str(), *new_id);
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

// The name a message file should have, or nullopt when its name is right:
// a short ID whose inode part is not the file's inode (a queue restored
// from a backup or another machine), a long ID while long IDs are off
// (Postfix's migration back to short names), and with -S a long ID whose
// inode part is wrong. The new name keeps the old time parts (so it hashes
// where it did) and depends on nothing else, so a run that was interrupted
// half-way is completed by the next one.
std::optional<queue::QueueId> wanted_id(const Env& env, const queue::QueueId& id, ino_t inode, bool strict) {
  auto named = [&](queue::IdFormat format, std::int64_t sec) -> std::optional<queue::QueueId> {
    auto fresh = queue::QueueId::make(format, sec, id.microseconds(), inode);
    if (!fresh) return std::nullopt;
    return *fresh;
  };
  if (!id.is_long()) return id.inode() == inode ? std::nullopt : named(queue::IdFormat::Short, 0);
  if (env.id_format == queue::IdFormat::Short) return named(queue::IdFormat::Short, 0);
  if (!strict || id.inode() == inode) return std::nullopt;
  auto sec = id.seconds();
  return sec ? named(queue::IdFormat::Long, *sec) : std::nullopt;
}

void check_structure(const Env& env, bool strict, CheckStats& stats) {
  for (const auto& spec : queue::kQueueLayout) {
    if (!spec.holds_queue_ids) continue;
    QueueName q = spec.name;
    if (q == QueueName::Flush) continue;  // named by destination, not by queue ID
    // Names of log files follow their messages; maildrop files are named
    // by postdrop before cleanup has seen them, and never renamed.
    const bool check_names = !is_log_queue(q) && q != QueueName::Maildrop;
    // Collect, then repair: renaming while the scanner walks the same
    // directory could make it see a file twice.
    std::vector<queue::QueueEntry> entries;
    queue::QueueScanner scanner(env.root, q, env.hash);
    for (;;) {
      auto next = scanner.next();
      if (!next || !*next) break;
      struct stat st {};
      bool name_ok = true;
      if (check_names && ::lstat((*next)->path.c_str(), &st) == 0 && wanted_id(env, (*next)->id, st.st_ino, strict))
        name_ok = false;
      if ((*next)->misplaced || !name_ok) entries.push_back(std::move(**next));
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
      if (auto fresh = check_names ? wanted_id(env, id, st.st_ino, strict) : std::nullopt) {
        // The logs move before the message file, so that an interrupted
        // run leaves a message whose old name still finds them.
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
  if (!security::open_standard_descriptors()) return 1;
  log::init("postsuper", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  ::signal(SIGPIPE, SIG_IGN);
  if (::getuid() != 0) die(1, "use of this command is reserved for the superuser");

  const char* env_dir = std::getenv("MAIL_CONFIG");
  fs::path config_dir = (env_dir && *env_dir) ? env_dir : paths::kConfigDir;
  bool structure = false, strict = false, purge = false;
  // Indexed by Op.
  std::array<Selection, 6> sels;
  int verbose = 0;
  bool stdin_used = false;
  int ch;
  // '+': options end at the first operand (the queue names), as with
  // Postfix's GETOPT; clustered flags (-sp) work.
  while ((ch = ::getopt(argc, argv, "+c:d:e:f:h:H:pr:sSv")) != -1) {
    switch (ch) {
      case 'c': config_dir = optarg; break;
      case 'v': log::set_verbose(++verbose); break;
      case 'S': strict = true; [[fallthrough]];
      case 's': structure = true; break;
      case 'p': purge = true; break;
      case 'd':
      case 'e':
      case 'f':
      case 'h':
      case 'H':
      case 'r': {
        Op op = ch == 'd' ? Op::Delete : ch == 'e' ? Op::Expire : ch == 'f' ? Op::ExpireRelease
              : ch == 'h' ? Op::Hold : ch == 'H' ? Op::Release : Op::Requeue;
        Selection& sel = sels[static_cast<std::size_t>(op)];
        sel.requested = true;
        std::string_view v = optarg;
        // "ALL" only in upper case, as a safety measure (Postfix's rule);
        // with it, IDs given to the same option do not matter.
        if (v == "ALL") {
          sel.all = true;
        } else if (v == "-") {
          if (stdin_used) die(1, "standard input can be read only once");
          stdin_used = true;
          read_ids_from_stdin(sel);
        } else {
          add_id(sel, v);
        }
        break;
      }
      default: die(1, kUsage);
    }
  }
  // The operands: queue names for every operation (Postfix's [directory ...]).
  std::vector<QueueName> named;
  for (int i = optind; i < argc; ++i) {
    auto q = queue::parse_queue_name(argv[i]);
    bool known = q && (*q == QueueName::Maildrop || *q == QueueName::Incoming || *q == QueueName::Active ||
                       *q == QueueName::Deferred || *q == QueueName::Hold || is_log_queue(*q));
    if (!known) die(1, fmt::format("invalid directory name: {}", str::printable(argv[i], 64)));
    if (std::find(named.begin(), named.end(), *q) == named.end()) named.push_back(*q);
  }
  bool any_op = false;
  for (std::size_t i = 0; i < sels.size(); ++i) {
    Selection& sel = sels[i];
    if (!sel.requested) continue;
    any_op = true;
    Op op = static_cast<Op>(i);
    sel.queues = named.empty() ? default_queues(op, sel.all) : named;
    // Named explicitly, maildrop/ would be skipped without a word by these.
    if (op != Op::Delete && std::find(named.begin(), named.end(), QueueName::Maildrop) != named.end())
      log::warning("mail in the maildrop queue has not been through pickup and cleanup yet: "
                   "it cannot be {}",
                   op == Op::Hold ? "placed on hold" : op == Op::Release ? "released" : op == Op::Requeue
                                                                               ? "requeued"
                                                                               : "expired");
  }
  // Plain "postsuper" is Postfix's default maintenance: -s and -p.
  if (!structure && !purge && !any_op) structure = purge = true;

  auto cfg = config::Config::load(config_dir);
  if (!cfg) die(1, cfg.error().message);
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
  if (!hash) die(1, hash.error().message);
  env.hash = *hash;
  env.id_format = queue::id_format(cfg->boolean("enable_long_queue_ids"));
  env.cleanup_socket = submit::cleanup_socket_path(env.root, cfg->str("cleanup_service_name"));
  env.qmgr_trigger = env.root / "public" / cfg->str("queue_service_name");
  env.timeout = cfg->time("ipc_timeout");
  // Postfix's requeue goes through pickup: the sendmail class.
  auto rs = submit::receiving_settings(*cfg, "sendmail");
  if (!rs) die(1, rs.error().message);
  env.content_filter = std::move(rs->content_filter);
  env.cleanup_flags = rs->cleanup_flags;

  // The queue belongs to mail_owner: work as that user, so that renamed
  // files and new hash directories keep the right owner.
  auto owner = security::lookup_user(cfg->str("mail_owner"));
  if (!owner) die(1, fmt::format("mail_owner: {}", owner.error().message));
  if (::chdir(env.root.c_str()) != 0) die(1, fmt::format("chdir {}: {}", env.root.string(), std::strerror(errno)));
  if (auto st = security::drop_privileges(*owner); !st) die(1, st.error().message);
  ::umask(077);

  if (structure) {
    CheckStats cs;
    check_structure(env, strict, cs);
    if (cs.moved) log::info("Moved to the right subdirectory: {}", plural(cs.moved, "file"));
    if (cs.renamed) log::info("Renamed to match inode number: {}", plural(cs.renamed, "message"));
    if (cs.junk) log::info("Not queue files (left alone): {}", plural(cs.junk, "file"));
    if (cs.renamed) {
      log::warning("QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS");
      // A queue ID the administrator gave may have named a message before
      // the repair and name another (or none) now.
      bool by_id = std::any_of(sels.begin(), sels.end(), [](const Selection& s) { return s.requested && !s.all; });
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
  auto sel = [&](Op op) -> const Selection& { return sels[static_cast<std::size_t>(op)]; };
  std::size_t deleted = 0, expired = 0, held = 0, released = 0, requeued = 0;
  if (sel(Op::Delete).requested) deleted = do_delete(env, sel(Op::Delete));
  for (Op op : {Op::Expire, Op::ExpireRelease}) {
    if (!sel(op).requested) continue;
    auto c = do_expire(env, sel(op), op == Op::ExpireRelease);
    expired += c.expired;
    released += c.released;
  }
  if (sel(Op::Hold).requested) held = do_hold(env, sel(Op::Hold));
  if (sel(Op::Release).requested) released += do_release(env, sel(Op::Release));
  if (sel(Op::Requeue).requested) requeued = do_requeue(env, sel(Op::Requeue));
  if (released > 0) (void)ipc::trigger(env.qmgr_trigger.string(), std::string(1, ipc::kTriggerScanDeferred));
  // Postfix 3.5 and later: one line for each operation asked for, also
  // when it found nothing, in this order.
  if (sel(Op::Requeue).requested) log::info("Requeued: {}", plural(requeued, "message"));
  if (sel(Op::Delete).requested) log::info("Deleted: {}", plural(deleted, "message"));
  if (sel(Op::Expire).requested || sel(Op::ExpireRelease).requested)
    log::info("Force-expired: {}", plural(expired, "message"));
  if (sel(Op::Hold).requested) log::info("Placed on hold: {}", plural(held, "message"));
  if (sel(Op::Release).requested || sel(Op::ExpireRelease).requested)
    log::info("Released from hold: {}", plural(released, "message"));
  if (g_failures) log::error("{} failed (see above)", plural(g_failures, "operation"));
  log::flush();
  return g_failures ? 1 : 0;
}
