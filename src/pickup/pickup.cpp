// pickup.cpp - scan maildrop, validate each file, submit it to cleanup. See pickup.h.
#include "pickup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>

#include "base/strings.h"
#include "drop_stream.h"
#include "ipc/status_call.h"
#include "log/log.h"
#include "mail/received.h"
#include "queue/reader.h"
#include "submit/cleanup_client.h"

namespace fs = std::filesystem;

namespace postern::pickup {

namespace {

// Content goes to cleanup in chunks of this size (well under kMaxContentChunk).
constexpr std::size_t kChunk = 64 * 1024;

std::string maildrop_name(const fs::path& path) { return "maildrop/" + path.filename().string(); }

void remove_entry(const fs::path& path, std::string_view why) {
  log::warning("{}: {}: removed", maildrop_name(path), why);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    log::warning("{}: cannot remove: {}", maildrop_name(path), std::strerror(errno));
}

// Keeps a refused file for the administrator (postcat corrupt/ID).
void move_to_corrupt(const Settings& s, const fs::path& path, const std::optional<queue::QueueId>& id,
                     std::string_view why) {
  if (!id) {
    remove_entry(path, why);
    return;
  }
  fs::path dest = queue::queue_path(s.queue_root, queue::QueueName::Corrupt, *id, s.hash);
  if (::rename(path.c_str(), dest.c_str()) == 0) {
    log::warning("{}: {}: moved to corrupt/{}", maildrop_name(path), why, id->str());
    return;
  }
  log::warning("{}: {}; cannot move it to corrupt/: {}: removed", maildrop_name(path), why, std::strerror(errno));
  ::unlink(path.c_str());
}

enum class Outcome { Submitted, Skipped, Refused };

// Postfix's CLEANUP_FLAG_BOUNCE: mail a local user submitted and cleanup
// refused (too large, a header check's REJECT, ...) goes back to its
// sender. The rejection is logged for every pending recipient in the
// bounce log of the maildrop file's ID, and the bounce service makes the
// non-delivery notice from the maildrop file itself, which still holds the
// content. The caller removes the file only when both steps worked.
asio::awaitable<Status> bounce_rejected(asio::io_context& io, const Settings& s, const queue::QueueId& id,
                                        const queue::QueueMessage& m, const submit::CleanupResult& r) {
  const auto timeout = std::chrono::duration_cast<ipc::AsyncDuration>(s.timeout);
  const std::string dsn = r.dsn.size() >= 5 && r.dsn[0] == '5' ? r.dsn : std::string("5.0.0");
  // At most kMaxBounceEntries recipients per append request.
  std::vector<std::string> encoded;
  for (const auto& rcpt : m.recipients)
    if (!rcpt.done)
      if (auto enc = queue::encode_recipient(rcpt.fields)) encoded.push_back(std::move(*enc));
  // No recipients in the file (sendmail -t finding none in the headers,
  // whose extraction is cleanup's): the notice still goes out, for the
  // recipient "unknown", as Postfix's cleanup makes it. Without an entry the
  // bounce service finds no log, answers "done", and the file was removed
  // with nobody told.
  if (encoded.empty())
    if (auto enc = queue::encode_recipient(queue::RecipientFields{.address = "unknown", .orig_rcpt = {}, .orcpt = {}, .notify = queue::kNotifyNone}))
      encoded.push_back(std::move(*enc));
  const std::string text = str::printable(r.reason, 1000);
  std::vector<ipc::proto::BounceEntry> entries;
  for (auto& e : encoded) entries.push_back({std::move(e), dsn, text, "none"});
  auto requests = ipc::proto::append_requests(id.str(), "failed", std::move(entries));  // named: GCC 12, co_await
  for (auto& req : requests)
    if (auto st = co_await ipc::status_call(io, s.bounce_socket, "bounce", std::move(req), timeout); !st)
      co_return st;
  ipc::proto::BounceRequest flush;
  flush.op = ipc::proto::BounceOp::Flush;
  flush.queue_name = "maildrop";
  flush.queue_id = id.str();
  co_return co_await ipc::status_call(io, s.bounce_socket, "bounce", std::move(flush), timeout);
}

asio::awaitable<Outcome> pickup_file(asio::io_context& io, const Settings& s, const queue::QueueEntry& e) {
  const fs::path& path = e.path;
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0) co_return Outcome::Skipped;  // gone: another pickup took it
  if (S_ISLNK(lst.st_mode)) {
    remove_entry(path, "refusing a symbolic link");
    co_return Outcome::Refused;
  }
  if (!S_ISREG(lst.st_mode)) {
    remove_entry(path, "refusing a file that is not a regular file");
    co_return Outcome::Refused;
  }
  queue::ReadOptions ro;  // require_ready: a file still being written is skipped
  auto rd = queue::QueueFileReader::open(path, ro);
  if (!rd) {
    const Error& err = rd.error();
    if (queue::is_not_ready(err)) {
      log::debug("{}: not ready yet", maildrop_name(path));
      co_return Outcome::Skipped;
    }
    if (queue::is_corrupt(err)) {
      move_to_corrupt(s, path, e.id, fmt::format("uid={}: {}", lst.st_uid, err.message));
      co_return Outcome::Refused;
    }
    if (err.sys_errno == ENOENT) co_return Outcome::Skipped;
    // postdrop makes its file readable for pickup (mode 0544) only with the
    // ready mark; until then pickup, which is not the writer, cannot open
    // it. That is a file still being written, not a problem to report.
    if (err.sys_errno == EACCES && !(lst.st_mode & S_IXUSR)) {
      log::debug("{}: not ready yet", maildrop_name(path));
      co_return Outcome::Skipped;
    }
    if (err.sys_errno == ELOOP || err.sys_errno == ENXIO) {  // swapped for a link or device meanwhile
      remove_entry(path, err.message);
      co_return Outcome::Refused;
    }
    log::warning("{}: {}", maildrop_name(path), err.message);
    co_return Outcome::Skipped;
  }
  // Facts about the file we actually opened, not the name.
  struct stat st {};
  if (::fstat(rd->fd(), &st) != 0) co_return Outcome::Skipped;
  if (st.st_nlink != 1) {
    move_to_corrupt(s, path, e.id, fmt::format("uid={}: file has {} links", st.st_uid, st.st_nlink));
    co_return Outcome::Refused;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    move_to_corrupt(s, path, e.id, fmt::format("uid={}: file is writable by group or others", st.st_uid));
    co_return Outcome::Refused;
  }
  const queue::QueueMessage& m = rd->message();

  std::int64_t flags = submit::cleanup_flag::kLocalSubmission | s.cleanup_flags;
  if (m.attribute("extract_recipients").value_or("") == "yes") flags |= submit::cleanup_flag::kExtractRecipients;
  auto client = co_await submit::CleanupClient::open(io, s.cleanup_socket, flags, "pickup", s.timeout);
  if (!client) {
    log::warning("{}: uid={} from=<{}>: cleanup service unavailable: {}; will retry", maildrop_name(path),
                 st.st_uid, m.sender, client.error().message);
    co_return Outcome::Skipped;
  }
  const std::string id = client->queue_id();
  log::info("{}: uid={} from=<{}>", id, st.st_uid, m.sender);

  submit::CleanupEnvelope env;
  env.sender = m.sender;
  if (auto fn = m.attribute("full_name"); fn && !fn->empty())
    env.full_name = std::string(fn->substr(0, submit::kMaxAttributeLength));
  env.protocol = m.attribute("submit_protocol").value_or("") == "esmtp" ? "ESMTP" : "local";
  if (m.encoding == queue::BodyEncoding::EightBit) env.body = "8BITMIME";
  else if (m.encoding == queue::BodyEncoding::SevenBit) env.body = "7BIT";
  if (!m.dsn_envid.empty()) env.envid = m.dsn_envid;
  if (m.dsn_ret) env.ret = *m.dsn_ret == queue::DsnRet::Full ? "FULL" : "HDRS";
  env.arrival_time = m.arrival_sec;
  if (!s.content_filter.empty()) env.content_filter = s.content_filter;
  if (auto n = m.attribute(postdrop::kAttrExtractNotify))
    if (auto bits = postdrop::parse_extract_notify(*n)) env.extract_notify = *bits;

  // Send everything; on a failure finish() returns the early verdict or an error.
  bool sent = static_cast<bool>(co_await client->envelope(env));
  for (std::size_t i = 0; sent && i < m.recipients.size(); ++i) {
    const auto& r = m.recipients[i];
    if (r.done) continue;
    submit::CleanupRecipient cr;
    cr.address = r.fields.address;
    if (!r.fields.orcpt.empty()) cr.orcpt = r.fields.orcpt;
    cr.notify = r.fields.notify;
    sent = static_cast<bool>(co_await client->recipient(cr));
  }
  // Who submitted it, for whoever reads the message: Postfix's
  // "Received: by HOST (Postfix, from userid N)", the uid being the file's
  // owner (postdrop runs as the submitting user), never anything the file
  // itself says.
  std::string buf = mail::build_local_received(s.myhostname, s.mail_name, st.st_uid, id,
                                               static_cast<std::time_t>(m.arrival_sec > 0 ? m.arrival_sec
                                                                                          : std::time(nullptr)));
  buf.push_back('\n');
  auto cursor = rd->content();
  queue::ContentPiece piece;
  std::optional<Error> read_error;
  bool first = true;
  while (sent) {
    auto more = cursor.next(piece);
    if (!more) {
      read_error = more.take_error();
      break;
    }
    if (!*more) break;
    // A first line that starts with white space would continue our
    // Received: header: an empty line first makes it the body's.
    if (first && mail::continues_header(piece.data)) buf.push_back('\n');
    first = false;
    buf.append(piece.data);
    if (piece.complete) buf.push_back('\n');
    if (buf.size() >= kChunk) {
      sent = static_cast<bool>(co_await client->content(buf));
      buf.clear();
    }
  }
  if (read_error) {
    // Destroying the client aborts the submission; cleanup removes its file.
    move_to_corrupt(s, path, e.id, fmt::format("uid={}: {}", st.st_uid, read_error->message));
    co_return Outcome::Refused;
  }
  if (sent && !buf.empty()) co_await client->content(buf);
  auto result = co_await client->finish();
  if (!result) {
    log::warning("{}: uid={} from=<{}>: no answer from cleanup: {}; will retry", maildrop_name(path), st.st_uid,
                 m.sender, result.error().message);
    co_return Outcome::Skipped;
  }
  if (!result->ok()) {
    std::string reply = fmt::format("{} {} {}", result->status, result->dsn, result->reason);
    if (result->status >= 500 && s.soft_bounce) {
      log::warning("{}: uid={} from=<{}>: rejected by cleanup: {}; kept (soft_bounce)", maildrop_name(path),
                   st.st_uid, m.sender, reply);
      co_return Outcome::Skipped;
    }
    if (result->status >= 500) {
      log::info("{}: uid={} from=<{}>: rejected by cleanup: {}", maildrop_name(path), st.st_uid, m.sender, reply);
      Status bounced = co_await bounce_rejected(io, s, e.id, m, *result);
      if (!bounced) {
        // Never lose it: kept for the administrator instead.
        move_to_corrupt(s, path, e.id, fmt::format("uid={} from=<{}>: rejected by cleanup: {}; cannot bounce: {}",
                                                   st.st_uid, m.sender, reply, bounced.error().message));
        co_return Outcome::Refused;
      }
      if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        log::warning("{}: cannot remove after its bounce: {}", maildrop_name(path), std::strerror(errno));
      co_return Outcome::Refused;
    }
    log::warning("{}: uid={} from=<{}>: cleanup failed: {}; will retry", maildrop_name(path), st.st_uid, m.sender,
                 reply);
    co_return Outcome::Skipped;
  }
  // Only now is the message cleanup's responsibility.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    log::warning("{}: cannot remove after submission as {}: {}", maildrop_name(path), id, std::strerror(errno));
  co_return Outcome::Submitted;
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_root = cfg.str("queue_directory");
  s.cleanup_socket = submit::cleanup_socket_path(s.queue_root, cfg.str("cleanup_service_name"));
  std::string names;
  for (const auto& n : cfg.list("hash_queue_names")) names += n + ",";
  auto hash = queue::HashConfig::from_params(names, cfg.integer("hash_queue_depth"));
  if (!hash) return hash.take_error();
  s.hash = *hash;
  s.timeout = cfg.time("ipc_timeout");
  s.bounce_socket = s.queue_root / "private" / cfg.str("bounce_service_name");
  s.soft_bounce = cfg.boolean("soft_bounce");
  s.myhostname = cfg.str("myhostname");
  s.mail_name = cfg.str("mail_name");
  auto rs = submit::receiving_settings(cfg, "sendmail");
  if (!rs) return rs.take_error();
  s.content_filter = std::move(rs->content_filter);
  s.cleanup_flags = rs->cleanup_flags;
  return s;
}

asio::awaitable<ScanStats> scan_maildrop(asio::io_context& io, const Settings& s) {
  ScanStats stats;
  queue::QueueScanner scanner(s.queue_root, queue::QueueName::Maildrop, s.hash);
  for (;;) {
    auto next = scanner.next();
    if (!next) {
      log::warning("scan maildrop: {}", next.error().message);
      break;
    }
    if (!*next) break;
    switch (co_await pickup_file(io, s, **next)) {
      case Outcome::Submitted: ++stats.submitted; break;
      case Outcome::Skipped: ++stats.skipped; break;
      case Outcome::Refused: ++stats.refused; break;
    }
  }
  // Names that are not queue files: links and stray regular files are
  // removed (nothing but postdrop should create files here); writers'
  // temporary files and directories are left alone.
  for (const auto& issue : scanner.issues()) {
    if (issue.kind == queue::ScanIssue::Kind::Temporary || issue.kind == queue::ScanIssue::Kind::Unreadable) continue;
    struct stat lst {};
    if (::lstat(issue.path.c_str(), &lst) != 0) continue;
    if (S_ISLNK(lst.st_mode)) {
      remove_entry(issue.path, "refusing a symbolic link");
      ++stats.refused;
    } else if (S_ISREG(lst.st_mode) || S_ISFIFO(lst.st_mode) || S_ISSOCK(lst.st_mode)) {
      remove_entry(issue.path, issue.kind == queue::ScanIssue::Kind::Junk ? "name is not a queue ID"
                                                                          : "not a regular file");
      ++stats.refused;
    } else {
      log::warning("{}: {}", maildrop_name(issue.path), issue.reason);
    }
  }
  co_return stats;
}

}  // namespace postern::pickup
