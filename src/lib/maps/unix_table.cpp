// unix_table.cpp - unix:passwd.byname and unix:group.byname (the system databases).
//
// Results have the /etc/passwd and /etc/group line shapes Postfix returns:
//   passwd.byname: name:passwd:uid:gid:gecos:dir:shell
//   group.byname:  name:passwd:gid:member,member
// Keys are folded with fold_fix, as Postfix does. "Not found" is only
// reported when the name service answered; a failing name service is a
// table error, so that mail is deferred rather than bounced. A "not found"
// is remembered for a second (maps/miss_cache.h says why).
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "maps/internal.h"
#include "maps/miss_cache.h"

namespace postern::maps {
namespace {

enum class Which { Passwd, Group };

class UnixTable final : public Table {
 public:
  UnixTable(std::string name, Which which, OpenOptions o)
      : Table("unix", std::move(name), std::move(o)), which_(which) {}
  bool fixed() const override { return true; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    std::string key = fixed_key(raw);
    if (key.empty() || misses_.recent(key)) return std::optional<std::string>();
    auto r = which_ == Which::Passwd ? lookup_passwd(key) : lookup_group(key);
    if (r && !r->has_value()) misses_.add(key);
    return r;
  }

 private:
  // getpwnam_r/getgrnam_r want a caller buffer; grow it on ERANGE, within
  // reason. One buffer per thread, kept: a recipient check costs no 16 KiB
  // allocation and zero-fill.
  template <class Fn>
  static int with_buffer(Fn fn) {
    thread_local std::vector<char> buf(16384);
    for (;;) {
      int rc = fn(buf.data(), buf.size());
      if (rc != ERANGE || buf.size() >= (1u << 24)) return rc;
      buf.resize(buf.size() * 4);
    }
  }

  static bool absent(int rc) {
    // glibc returns 0 with a null result for "no such entry"; some modules
    // report ENOENT or ESRCH instead.
    return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
  }

  Result<std::optional<std::string>> lookup_passwd(const std::string& key) {
    struct passwd pw {};
    struct passwd* res = nullptr;
    int rc = with_buffer([&](char* b, std::size_t n) { return ::getpwnam_r(key.c_str(), &pw, b, n, &res); });
    if (res)
      return std::optional<std::string>(
          fmt::format("{}:{}:{}:{}:{}:{}:{}", pw.pw_name, pw.pw_passwd, static_cast<long>(pw.pw_uid),
                      static_cast<long>(pw.pw_gid), pw.pw_gecos, pw.pw_dir, pw.pw_shell));
    if (!absent(rc)) return make_error("cannot access UNIX password database: {}", std::strerror(rc));
    return std::optional<std::string>();
  }

  Result<std::optional<std::string>> lookup_group(const std::string& key) {
    struct group gr {};
    struct group* res = nullptr;
    int rc = with_buffer([&](char* b, std::size_t n) { return ::getgrnam_r(key.c_str(), &gr, b, n, &res); });
    if (res) {
      std::string out = fmt::format("{}:{}:{}:", gr.gr_name, gr.gr_passwd, static_cast<long>(gr.gr_gid));
      for (char** m = gr.gr_mem; m && *m; ++m) {
        if (m != gr.gr_mem) out += ',';
        out += *m;
      }
      return std::optional<std::string>(std::move(out));
    }
    if (!absent(rc)) return make_error("cannot access UNIX group database: {}", std::strerror(rc));
    return std::optional<std::string>();
  }

  Which which_;
  MissCache misses_;
};

}  // namespace

namespace detail {

Result<std::unique_ptr<Table>> open_unix(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("unix", name, o); !s) return s.take_error();
  Which which;
  if (name == "passwd.byname")
    which = Which::Passwd;
  else if (name == "group.byname")
    which = Which::Group;
  else
    return make_error("unknown table: unix:{}", name);
  return std::unique_ptr<Table>(new UnixTable(std::string(name), which, o));
}

}  // namespace detail
}  // namespace postern::maps
