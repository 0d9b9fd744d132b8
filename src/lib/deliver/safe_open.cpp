// safe_open.cpp - careful open-or-create of mailbox files (see safe_open.h).
//
// Reads no parameters. Logs a warning when a new file cannot be chowned.
#include "deliver/safe_open.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"

namespace postern::deliver {

namespace {

constexpr int kOpenFlags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;

Outcome refuse(const SafeOpenOptions& o, std::string text, int err) {
  return Outcome::from_dsn(o.default_dsn, std::move(text), err);
}

Outcome system_failure(const SafeOpenOptions& o, std::string_view what, int err) {
  return Outcome::from_errno(err, o.default_dsn, fmt::format("{}: {}", what, std::strerror(err)));
}

// The result of trying to open an existing file: a file, a refusal, or
// "does not exist" (so that the caller may create it).
struct ExistResult {
  std::optional<OpenedFile> file;
  std::optional<Outcome> failure;
  bool missing = false;
};

ExistResult open_existing(const std::filesystem::path& path, const SafeOpenOptions& o) {
  ExistResult r;
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) < 0) {
    if (errno == ENOENT) {
      r.missing = true;
    } else {
      r.failure = system_failure(o, "cannot open file", errno);
    }
    return r;
  }
  if (S_ISLNK(lst.st_mode)) {
    r.failure = refuse(o, "file is a symbolic link", ELOOP);
    return r;
  }
  if (S_ISDIR(lst.st_mode)) {
    r.failure = refuse(o, "file is a directory", EISDIR);
    return r;
  }
  bool regular = S_ISREG(lst.st_mode);
  if (!regular && !(o.allow_special && (S_ISCHR(lst.st_mode) || S_ISFIFO(lst.st_mode)))) {
    r.failure = refuse(o, "file is not a regular file", EPERM);
    return r;
  }
  // O_NONBLOCK: a FIFO without reader must not hang the delivery agent.
  int fd = ::open(path.c_str(), kOpenFlags | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      r.missing = true;  // removed since lstat(); the caller may create it
    } else if (err == ELOOP) {
      r.failure = refuse(o, "file is a symbolic link", ELOOP);
    } else {
      r.failure = system_failure(o, "cannot open file", err);
    }
    return r;
  }
  OpenedFile f;
  f.fd.reset(fd);
  f.path = path;
  if (::fstat(fd, &f.st) < 0) {
    r.failure = system_failure(o, "cannot fstat open file", errno);
    return r;
  }
  // Same object as the one lstat() examined? If not, someone replaced it in
  // between (or we followed a link that appeared): refuse, try again later.
  if (f.st.st_dev != lst.st_dev || f.st.st_ino != lst.st_ino || f.st.st_mode != lst.st_mode ||
      f.st.st_nlink != lst.st_nlink) {
    r.failure = Outcome::deferred("4.2.0", "file status changed unexpectedly", EAGAIN);
    return r;
  }
  if (regular && f.st.st_nlink != 1) {
    r.failure =
        refuse(o, fmt::format("file has {} hard links", static_cast<unsigned long>(f.st.st_nlink)), EPERM);
    return r;
  }
  if (o.required_owner && f.st.st_uid != *o.required_owner) {
    r.failure = Outcome::deferred(
        "4.2.0", fmt::format("destination {} is not owned by recipient", path.string()), EPERM);
    return r;
  }
  if (regular) {
    // Blocking mode again for ordinary files (O_NONBLOCK is meaningless there,
    // but keep the descriptor in the state writers expect).
    int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  r.file = std::move(f);
  return r;
}

enum class CreateStatus { Created, Exists, Failed };

CreateStatus create_new(const std::filesystem::path& path, const SafeOpenOptions& o, OpenedFile& out,
                        std::optional<Outcome>& failure) {
  int fd = ::open(path.c_str(), kOpenFlags | O_CREAT | O_EXCL, o.mode);
  if (fd < 0) {
    if (errno == EEXIST) return CreateStatus::Exists;
    failure = system_failure(o, "cannot create file exclusively", errno);
    return CreateStatus::Failed;
  }
  out.fd.reset(fd);
  out.path = path;
  out.created = true;
  if (o.chown_uid || o.chown_gid) {
    uid_t uid = o.chown_uid ? *o.chown_uid : static_cast<uid_t>(-1);
    gid_t gid = o.chown_gid ? *o.chown_gid : static_cast<gid_t>(-1);
    // Like Postfix: warn, but do not delete the file - another process may
    // already have opened it.
    if (::fchown(fd, uid, gid) < 0)
      log::warning("{}: cannot change file ownership: {}", path.string(), std::strerror(errno));
  }
  if (::fstat(fd, &out.st) < 0) {
    failure = system_failure(o, "cannot fstat new file", errno);
    return CreateStatus::Failed;
  }
  return CreateStatus::Created;
}

}  // namespace

Attempt<OpenedFile> safe_open_append(const std::filesystem::path& path, const SafeOpenOptions& options) {
  if (path.empty()) return Outcome::from_dsn(options.default_dsn, "empty file name", EINVAL);
  ExistResult r = open_existing(path, options);
  if (r.file) return std::move(*r.file);
  if (r.failure) return std::move(*r.failure);
  if (!options.create)
    return Outcome::from_errno(ENOENT, options.default_dsn, "cannot open file: No such file or directory");

  OpenedFile f;
  std::optional<Outcome> failure;
  switch (create_new(path, options, f, failure)) {
    case CreateStatus::Created:
      return f;
    case CreateStatus::Failed:
      return std::move(*failure);
    case CreateStatus::Exists:
      break;
  }
  // Lost a race with another creator: the file exists now, check it like any
  // existing file (once; a second disappearance is not normal).
  r = open_existing(path, options);
  if (r.file) return std::move(*r.file);
  if (r.failure) return std::move(*r.failure);
  return Outcome::deferred("4.2.0", "file status changed unexpectedly", EAGAIN);
}

}  // namespace postern::deliver
