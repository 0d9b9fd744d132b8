// build.cpp - see build.h: postmap/postalias/newaliases table builds.
//
// Reads no main.cf parameters itself; the commands pass default_database_type,
// myhostname and berkeley_db_create_buffer_size in BuildOptions.
#include "maps/build.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <variant>

#include "log/log.h"
#include "maps/alias_source.h"
#include "maps/source.h"

namespace postern::maps {
namespace {

// Runs a build with the source owner's effective ids, restoring root's ids
// (and supplementary groups) when it goes out of scope.
class EugidGuard {
 public:
  EugidGuard() = default;
  EugidGuard(const EugidGuard&) = delete;
  EugidGuard& operator=(const EugidGuard&) = delete;

  Status become(uid_t uid, gid_t gid) {
    saved_uid_ = ::geteuid();
    saved_gid_ = ::getegid();
    int n = ::getgroups(0, nullptr);
    if (n < 0) return sys_error("getgroups");
    saved_groups_.resize(static_cast<std::size_t>(n));
    if (n > 0 && ::getgroups(n, saved_groups_.data()) < 0) return sys_error("getgroups");
    active_ = true;
    if (::seteuid(0) < 0) return sys_error("seteuid(0)");
    if (::setgroups(1, &gid) < 0) return sys_error("setgroups({})", gid);
    if (::setegid(gid) < 0) return sys_error("setegid({})", gid);
    if (::seteuid(uid) < 0) return sys_error("seteuid({})", uid);
    return {};
  }

  ~EugidGuard() {
    if (!active_) return;
    // Failing to get root back would leave this process in a state nobody
    // expects; that is a bug worth stopping for.
    if (::seteuid(0) < 0 || ::setgroups(saved_groups_.size(), saved_groups_.data()) < 0 ||
        ::setegid(saved_gid_) < 0 || ::seteuid(saved_uid_) < 0)
      log::panic("cannot restore process privileges: {}", std::strerror(errno));
  }

 private:
  bool active_ = false;
  uid_t saved_uid_ = 0;
  gid_t saved_gid_ = 0;
  std::vector<gid_t> saved_groups_;
};

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) < 0) return "localhost";
  return buf;
}

struct Prepared {
  std::string type;
  std::string path;
  OpenOptions open;
};

Result<Prepared> prepare(std::string_view spec, const BuildOptions& opts, Access access,
                         const struct stat* src) {
  auto [type, path] = split_with_default(spec, opts.default_type);
  if (!is_supported_type(type)) return make_error("unsupported dictionary type: {}", type);
  if (!is_buildable_type(type))
    return make_error("unsupported dictionary type: {} does not support bulk-mode creation.", type);
  if (path.empty())
    return make_error("open dictionary: expecting \"type:name\" form instead of \"{}\"", spec);
  Prepared p{type, path, {}};
  p.open.access = access;
  p.open.fold_fix = opts.fold;
  p.open.nulls = opts.nulls;
  p.open.duplicates = opts.duplicates;
  p.open.log_warnings = opts.log_warnings;
  p.open.db_cache_size = opts.cache_size;
  p.open.lmdb_map_size = opts.lmdb_map_size;
  // Postfix: umask(022 | (~source_mode & 077)) around the create, so the
  // table is at most as readable as its source and never group/other writable.
  mode_t mask = 022;
  if (opts.inherit_permissions && src && S_ISREG(src->st_mode)) mask |= (~src->st_mode & 077);
  p.open.create_mode = static_cast<mode_t>(0644 & ~mask);
  return p;
}

void note(BuildReport& report, const BuildOptions& opts, std::string text) {
  if (opts.log_warnings) log::warning("{}", text);
  report.warnings.push_back(std::move(text));
}

// Reads `in` line by line and stores the entries produced by `parse`.
template <class Parse>
Status fill(Table& table, std::istream& in, const std::string& in_name, const BuildOptions& opts,
            BuildReport& report, Parse parse) {
  LineReader reader(in, in_name, [&](std::string w) {
    note(report, opts, std::move(w));
    ++report.skipped;
  });
  while (auto line = reader.next()) {
    std::string where = in_name + ", line " + std::to_string(line->first_line) + ": ";
    std::string key, value;
    std::string why = parse(line->text, key, value, [&](std::string w) { note(report, opts, where + w); });
    if (!why.empty()) {
      note(report, opts, where + why);
      ++report.skipped;
      continue;
    }
    if (key.empty() && value.empty()) continue;  // nothing on the line (aliases: no tokens)
    auto stored = table.update(key, value);
    if (!stored) return make_error("table {}: write error: {}", table.spec(), stored.error().message);
    if (*stored)
      ++report.stored;
    else
      ++report.skipped;
  }
  return {};
}

std::string parse_map_line(const std::string& text, std::string& key, std::string& value,
                           const std::function<void(std::string)>& extra) {
  ParsedEntry e = parse_key_value(text);
  if (auto* skip = std::get_if<SkipLine>(&e.result)) return skip->why;
  if (e.extra_warning) extra(*e.extra_warning);
  auto& kv = std::get<KeyValue>(e.result);
  key = std::move(kv.key);
  value = std::move(kv.value);
  return {};
}

std::string parse_alias_line(const std::string& text, std::string& key, std::string& value,
                             const std::function<void(std::string)>&) {
  auto r = parse_alias_entry(text);
  if (auto* rej = std::get_if<AliasReject>(&r)) return rej->why;  // empty: line without tokens
  auto& e = std::get<AliasEntry>(r);
  key = std::move(e.name);
  value = std::move(e.value);
  return {};
}

// The sendmail and NIS signatures postalias appends.
Status add_alias_signatures(Table& table, bool incremental, const BuildOptions& opts) {
  if (incremental) table.set_duplicates(Duplicates::Replace);
  if (auto r = table.update("@", "@"); !r)
    return make_error("table {}: write error: {}", table.spec(), r.error().message);
  if (!opts.nis_entries) return {};
  // Must be written without trailing null and without folding: NIS clients
  // look these names up verbatim.
  table.set_nulls(NullMode::Without);
  table.set_fold_fix(false);
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010ld", static_cast<long>(std::time(nullptr)));
  if (auto r = table.update("YP_LAST_MODIFIED", stamp); !r)
    return make_error("table {}: write error: {}", table.spec(), r.error().message);
  std::string host = opts.myhostname.empty() ? hostname() : opts.myhostname;
  if (auto r = table.update("YP_MASTER_NAME", host); !r)
    return make_error("table {}: write error: {}", table.spec(), r.error().message);
  return {};
}

enum class Kind { Map, Aliases };

Result<BuildReport> build(Kind kind, std::string_view spec, const BuildOptions& opts) {
  auto [type, path] = split_with_default(spec, opts.default_type);
  auto src = SourceFile::open(path);
  if (!src) return src.take_error();
  const struct stat& st = (*src)->st();
  auto prep = prepare(spec, opts, Access::Rebuild, &st);
  if (!prep) return prep.take_error();
  EugidGuard ids;
  if (opts.as_source_owner && ::getuid() == 0 && (st.st_uid != ::geteuid() || st.st_gid != ::getegid()))
    if (auto s = ids.become(st.st_uid, st.st_gid); !s) return s.take_error();
  auto table = open_table(prep->type, prep->path, prep->open);
  if (!table) return table.take_error();
  BuildReport report;
  report.db_path = (*table)->file_path();
  Status s = kind == Kind::Map ? fill(**table, (*src)->stream(), path, opts, report, parse_map_line)
                               : fill(**table, (*src)->stream(), path, opts, report, parse_alias_line);
  if (!s) return s.take_error();
  if (int e = (*src)->read_errno()) {
    errno = e;
    return sys_error("read {}", path);
  }
  if (kind == Kind::Aliases)
    if (auto a = add_alias_signatures(**table, false, opts); !a) return a.take_error();
  for (const auto& w : (*table)->warnings()) report.warnings.push_back(w);
  if (auto c = (*table)->commit(); !c) return c.take_error();
  return report;
}

Result<BuildReport> update(Kind kind, std::string_view spec, std::istream& in, std::string_view in_name,
                           const BuildOptions& opts) {
  auto prep = prepare(spec, opts, Access::Update, nullptr);
  if (!prep) return prep.take_error();
  auto table = open_table(prep->type, prep->path, prep->open);
  if (!table) return table.take_error();
  BuildReport report;
  report.db_path = (*table)->file_path();
  std::string name(in_name);
  Status s = kind == Kind::Map ? fill(**table, in, name, opts, report, parse_map_line)
                               : fill(**table, in, name, opts, report, parse_alias_line);
  if (!s) return s.take_error();
  if (in.bad()) return make_error("read error on {}", in_name);
  if (kind == Kind::Aliases)
    if (auto a = add_alias_signatures(**table, true, opts); !a) return a.take_error();
  for (const auto& w : (*table)->warnings()) report.warnings.push_back(w);
  if (auto c = (*table)->commit(); !c) return c.take_error();
  return report;
}

}  // namespace

std::pair<std::string, std::string> split_with_default(std::string_view spec, std::string_view default_type) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos) return {std::string(default_type), std::string(spec)};
  return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

Result<BuildReport> build_map(std::string_view spec, const BuildOptions& opts) {
  return build(Kind::Map, spec, opts);
}

Result<BuildReport> update_map(std::string_view spec, std::istream& in, std::string_view in_name,
                               const BuildOptions& opts) {
  return update(Kind::Map, spec, in, in_name, opts);
}

Result<BuildReport> build_aliases(std::string_view spec, const BuildOptions& opts) {
  return build(Kind::Aliases, spec, opts);
}

Result<BuildReport> update_aliases(std::string_view spec, std::istream& in, std::string_view in_name,
                                   const BuildOptions& opts) {
  return update(Kind::Aliases, spec, in, in_name, opts);
}

Status rebuild_alias_database(std::string_view alias_database, const BuildOptions& opts) {
  for (const auto& spec : split_braced(alias_database)) {
    auto r = build_aliases(spec, opts);
    if (!r) return r.take_error();
  }
  return {};
}

}  // namespace postern::maps
