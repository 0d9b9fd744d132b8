// layout.h - the queue_directory tree: names, modes, owners, hashed paths.
//
// queue_directory holds one subdirectory per queue or service area:
//
//   maildrop  0730 mail_owner:setgid_group  postdrop drops local submissions
//   public    0710 mail_owner:setgid_group  public service sockets
//   private   0700 mail_owner               private service sockets
//   pid       0755 root                     master's lock and pid files
//   incoming active deferred hold corrupt saved     0700 mail_owner  queue files
//   bounce defer trace                              0700 mail_owner  per-message logs
//   flush                                           0700 mail_owner  fast-flush logs
//
// The table kQueueLayout is the single source for these facts: `postern
// check` and `postern set-permissions` compare the tree against it, and
// create_queue_tree() builds it.
//
// Hashing (Postfix's hash_queue_names and hash_queue_depth): for a hashed
// queue Q and depth 2, the file for ID 3F2A1C0D2 lives at Q/3/F/3F2A1C0D2;
// the subdirectory names are the first `depth` characters of the ID's hash
// part (queue_id.h), so they are single upper-case hex digits.
//
// The scanner walks a queue including any hash subdirectories it finds (the
// configured depth may have changed since the files were written), yields
// valid IDs, and reports other names instead of failing on them.
//
// Parameters (read by the caller and passed in): queue_directory,
// hash_queue_names, hash_queue_depth. Logs nothing.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "queue/queue_id.h"

namespace postern::queue {

enum class QueueName {
  Maildrop,
  Incoming,
  Active,
  Deferred,
  Hold,
  Corrupt,
  Bounce,
  Defer,
  Trace,
  Flush,
  Saved,
  Public,
  Private,
  Pid,
  Recycle,
};

inline constexpr std::size_t kQueueNameCount = 15;

std::string_view to_string(QueueName q);
// Exact, case-sensitive match of a directory name ("deferred").
Result<QueueName> parse_queue_name(std::string_view s);

// Who owns a directory; the caller maps these to uids/gids.
enum class OwnerClass { Root, MailOwner };
enum class GroupClass { Default, SetgidGroup };  // Default: the owner's primary group

struct QueueDirSpec {
  QueueName name;
  mode_t mode;
  OwnerClass owner;
  GroupClass group;
  bool holds_queue_ids;  // entries are named by queue ID (scanner applies)
  std::string_view description;
};

// One entry per QueueName, in enum order.
extern const std::array<QueueDirSpec, kQueueNameCount> kQueueLayout;
const QueueDirSpec& spec(QueueName q);

// queue_directory itself: root-owned, 0755 (like Postfix), so that only the
// subdirectory modes above decide who may enter what.
inline constexpr mode_t kQueueRootMode = 0755;

// Which queues are hashed and how deep.
struct HashConfig {
  static constexpr int kMaxDepth = static_cast<int>(QueueId::kHashPartLength);
  std::uint32_t hashed = 0;  // bit (1 << QueueName) set: hashed
  int depth = 1;

  // Postfix's defaults: hash_queue_names = deferred, defer; depth 1.
  static HashConfig defaults();
  // From hash_queue_names (comma/space list of queue names) and
  // hash_queue_depth (1..5).
  static Result<HashConfig> from_params(std::string_view names, std::int64_t depth);

  bool is_hashed(QueueName q) const { return (hashed >> static_cast<unsigned>(q)) & 1u; }
  void set_hashed(QueueName q, bool on = true);
};

// queue_directory/Q[/c1[/c2...]]: the directory that holds `id` in `q`.
std::filesystem::path queue_dir_for(const std::filesystem::path& root, QueueName q, const QueueId& id,
                                    const HashConfig& hash);
// queue_directory/Q[/c1...]/ID.
std::filesystem::path queue_path(const std::filesystem::path& root, QueueName q, const QueueId& id,
                                 const HashConfig& hash);

// Finds the file for `id` in `q` whatever depth it was hashed with (flat
// first, then depth 1..5). nullopt when it is not there (or not a regular
// file).
std::optional<std::filesystem::path> find_in_queue(const std::filesystem::path& root, QueueName q,
                                                   const QueueId& id);

struct TreeOptions {
  // Create every hash subdirectory of hashed queues up front (16^depth per
  // level), so that unprivileged writers never need to create directories.
  bool create_hash_dirs = true;
  // chmod existing directories to the table's mode too (not just new ones).
  bool fix_modes = true;
  // When set, chown every directory per the table (needs root). When unset
  // the caller does ownership itself (see kQueueLayout).
  std::optional<uid_t> mail_owner_uid;
  std::optional<gid_t> mail_owner_gid;  // group for GroupClass::Default
  std::optional<gid_t> setgid_group_gid;
};

// Creates queue_directory and every subdirectory in kQueueLayout with its
// mode (independent of umask). Refuses to follow symbolic links. Returns the
// paths it created.
Result<std::vector<std::filesystem::path>> create_queue_tree(const std::filesystem::path& root,
                                                             const HashConfig& hash,
                                                             const TreeOptions& options = {});

// One thing found while scanning a queue.
struct QueueEntry {
  QueueId id;
  std::filesystem::path path;
  bool misplaced = false;  // not where queue_path() with the current HashConfig puts it
};

// Names that are not queue files, reported rather than fatal.
struct ScanIssue {
  enum class Kind {
    Junk,        // not a queue ID and not ours: left alone, reported
    Temporary,   // a writer's temporary file (tmp.*), normal while a writer runs
    NotRegular,  // a valid ID name that is not a regular file
    Unreadable,  // a subdirectory that could not be opened
  };
  Kind kind;
  std::filesystem::path path;
  std::string reason;
};

// Iterates over every queue file of one queue, walking hash subdirectories
// (single hex digit names, up to 5 levels) depth first. Not thread-safe.
class QueueScanner {
 public:
  static constexpr std::size_t kMaxIssuesKept = 1000;

  QueueScanner(std::filesystem::path root, QueueName q, HashConfig hash);
  ~QueueScanner();
  QueueScanner(QueueScanner&&) noexcept;
  QueueScanner& operator=(QueueScanner&&) noexcept;

  // The next entry, nullopt at the end, or an error when the queue
  // directory itself cannot be read.
  Result<std::optional<QueueEntry>> next();

  // Issues seen so far (the first kMaxIssuesKept; issue_count() counts all).
  const std::vector<ScanIssue>& issues() const { return issues_; }
  std::size_t issue_count() const { return issue_count_; }

 private:
  struct Level;
  void report(ScanIssue::Kind kind, std::filesystem::path path, std::string reason);
  std::filesystem::path root_;
  QueueName queue_;
  HashConfig hash_;
  std::vector<std::unique_ptr<Level>> stack_;
  bool started_ = false;
  std::vector<ScanIssue> issues_;
  std::size_t issue_count_ = 0;
};

// Prefix of a writer's temporary file names; never a valid queue ID.
inline constexpr std::string_view kTempPrefix = "tmp.";

}  // namespace postern::queue
