// table_test.cpp - open_table() dispatch, inline:, static:, texthash:, unix:, proxy:.
#include "maps/table.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <sstream>

#include "config/proxy_settings.h"
#include "maps/test_support.h"
#include "maps/text_tables.h"

// Counts the name service's passwd lookups while a test asks for it, and
// otherwise passes them on: this test binary's definition takes the place
// of the C library's for the code under test.
namespace {
std::atomic<bool> g_count_passwd{false};
std::atomic<int> g_passwd_calls{0};
}  // namespace

extern "C" int getpwnam_r(const char* name, struct passwd* pw, char* buf, size_t len, struct passwd** out) {
  using Fn = int (*)(const char*, struct passwd*, char*, size_t, struct passwd**);
  static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "getpwnam_r"));
  if (g_count_passwd) ++g_passwd_calls;
  return real(name, pw, buf, len, out);
}

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;

std::string open_error(const std::string& spec, OpenOptions o = {}) {
  auto t = open_table(spec, quiet(o));
  return t.ok() ? "<opened>" : t.error().message;
}

TEST(OpenTable, SpecErrors) {
  EXPECT_EQ(open_error("foo:bar"), "unsupported dictionary type: foo");
  EXPECT_EQ(open_error("nis:mail.aliases"), "unsupported dictionary type: nis");
  EXPECT_EQ(open_error("/etc/aliases"),
            "open dictionary: expecting \"type:name\" form instead of \"/etc/aliases\"");
  EXPECT_EQ(open_error("static:"), "open dictionary: expecting \"type:name\" form instead of \"static:\"");
  EXPECT_EQ(open_error(":x"), "open dictionary: expecting \"type:name\" form instead of \":x\"");
  EXPECT_EQ(open_error("unix:foo"), "unknown table: unix:foo");
}

TEST(OpenTable, SupportedTypes) {
  const auto& t = supported_types();
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
  for (const char* type :
       {"btree", "cdb", "cidr", "hash", "inline", "lmdb", "pcre", "proxy", "regexp", "static", "texthash", "unix"})
    EXPECT_TRUE(is_supported_type(type)) << type;
  EXPECT_FALSE(is_supported_type("dbm"));
  for (const char* type : {"hash", "btree", "lmdb", "cdb"}) EXPECT_TRUE(is_buildable_type(type)) << type;
  EXPECT_FALSE(is_buildable_type("texthash"));
}

TEST(InlineTable, Syntax) {
  auto t = open_table("inline:{a=1, { b = two words }, C=3,a=last}", quiet());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(get(**t, "A"), "last");
  EXPECT_EQ(get(**t, "b"), "two words");
  EXPECT_EQ(get(**t, "c"), "3");
  EXPECT_EQ(get(**t, "d"), "<none>");
  EXPECT_TRUE((*t)->fixed());
  std::vector<std::string> keys;
  ASSERT_TRUE((*t)->for_each([&](std::string_view k, std::string_view) {
                    keys.emplace_back(k);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
  auto e = open_table("inline:{k=}", quiet());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(get(**e, "k"), "");
}

TEST(InlineTable, Errors) {
  EXPECT_EQ(open_error("inline:{a=1,b}"),
            "missing '=' after attribute name: \"inline:{a=1,b}\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{ a = 1 }"),
            "missing '=' after attribute name: \"inline:{ a = 1 }\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{}"), "bad syntax: \"inline:{}\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{a=1"), "bad syntax: \"inline:{a=1\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:a=1"), "bad syntax: \"inline:a=1\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{a=1}x"), "bad syntax: \"inline:{a=1}x\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{ }"), "empty table: \"inline:{ }\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{{a=1}x}"),
            "syntax error after '}' in \"{a=1}x\": \"inline:{{a=1}x}\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_error("inline:{{ }}"),
            "no key found; expected format: key = value: \"inline:{{ }}\"; need \"inline:{name=value...}\"");
  // An empty name is accepted, as in Postfix.
  auto empty_name = open_table("inline:{{=1}}", quiet());
  ASSERT_TRUE(empty_name.ok());
  EXPECT_EQ(get(**empty_name, ""), "1");
  OpenOptions w;
  w.access = Access::Rebuild;
  EXPECT_EQ(open_error("inline:{a=1}", w), "inline:{a=1} map requires O_RDONLY access mode");
}

TEST(StaticTable, ValueForEveryKey) {
  auto t = open_table("static:OK", quiet());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(get(**t, "anything"), "OK");
  EXPECT_EQ(get(**t, ""), "OK");
  auto s = open_table("static:{ a b }", quiet());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(get(**s, "x"), "a b");
  EXPECT_EQ(open_error("static:{ a b"), "bad static:name syntax: missing '}' in \"{ a b\"");
  EXPECT_EQ(open_error("static:{a}b"), "bad static:name syntax: syntax error after '}' in \"{a}b\"");
}

TEST(TexthashTable, ReadsPostmapSourceFormat) {
  std::istringstream in("Foo bar\nmulti a\n  b\nbad\nfoo dup\n");
  auto t = parse_texthash_table("th", in, quiet());
  EXPECT_EQ(get(*t, "FOO"), "bar");
  EXPECT_EQ(get(*t, "multi"), "a  b");
  EXPECT_TRUE(t->fixed());
  std::vector<std::string> want = {"th, line 4: expected format: key whitespace value",
                                   "th, line 5: duplicate entry: \"foo\""};
  EXPECT_EQ(t->warnings(), want);
  OpenOptions r;
  r.duplicates = Duplicates::Replace;
  std::istringstream in2("k 1\nk 2\n");
  EXPECT_EQ(get(*parse_texthash_table("th", in2, quiet(r)), "k"), "2");
}

TEST(TexthashTable, FromFile) {
  testing::TempDir dir;
  testing::write_file(dir.path("t"), "a 1\n");
  auto t = open_table("texthash:" + dir.path("t"), quiet());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(get(**t, "a"), "1");
  EXPECT_FALSE((*t)->changed());
  testing::write_file(dir.path("t2"), "a 2\n");
  std::filesystem::rename(dir.path("t2"), dir.path("t"));
  EXPECT_TRUE((*t)->changed());
  EXPECT_EQ(open_error("texthash:" + dir.path("none")),
            "open " + dir.path("none") + ": No such file or directory");
}

TEST(UnixTable, PasswdAndGroup) {
  auto t = open_table("unix:passwd.byname", quiet());
  ASSERT_TRUE(t.ok());
  struct passwd* pw = ::getpwuid(0);
  ASSERT_NE(pw, nullptr);
  std::string want = std::string(pw->pw_name) + ":" + pw->pw_passwd + ":0:" + std::to_string(pw->pw_gid) +
                     ":" + pw->pw_gecos + ":" + pw->pw_dir + ":" + pw->pw_shell;
  std::string upper = pw->pw_name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(get(**t, upper), want);
  EXPECT_EQ(get(**t, "no-such-user-postern"), "<none>");
  EXPECT_EQ(get(**t, ""), "<none>");
  auto g = open_table("unix:group.byname", quiet());
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(get(**g, "root").rfind("root:", 0), 0u);
  EXPECT_EQ(get(**g, "no-such-group-postern"), "<none>");
}

TEST(UnixTable, UnknownNamesAreNotAskedAgainWithinASecond) {
  auto t = open_table("unix:passwd.byname", quiet());
  ASSERT_TRUE(t.ok());
  struct passwd* pw = ::getpwuid(0);
  ASSERT_NE(pw, nullptr);
  std::string root = pw->pw_name;
  g_passwd_calls = 0;
  g_count_passwd = true;
  EXPECT_EQ(get(**t, "no-such-user-postern@example.com"), "<none>");
  EXPECT_EQ(get(**t, "No-Such-User-Postern@Example.COM"), "<none>");
  EXPECT_EQ(g_passwd_calls, 1);
  // Found entries are asked for every time.
  EXPECT_EQ(get(**t, root).rfind(root + ":", 0), 0u);
  EXPECT_EQ(get(**t, root).rfind(root + ":", 0), 0u);
  EXPECT_EQ(g_passwd_calls, 3);
  g_count_passwd = false;
}

TEST(ProxyTable, OpensTheInnerTableReadOnly) {
  auto t = open_table("proxy:inline:{a=b}", quiet());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ((*t)->type(), "proxy");
  EXPECT_EQ((*t)->name(), "inline:{a=b}");
  EXPECT_EQ(get(**t, "A"), "b");
  EXPECT_TRUE((*t)->fixed());
  OpenOptions w;
  w.access = Access::Update;
  EXPECT_EQ(open_error("proxy:hash:/x", w),
            "proxy:hash:/x: write access is not supported (Postern has no proxywrite service)");
  EXPECT_EQ(open_error("proxy:proxy:static:x"), "proxy:proxy:static:x: nested proxy tables are not allowed");
  EXPECT_EQ(open_error("proxy:foo:x"), "unsupported dictionary type: foo");
}

TEST(ProxyTable, ProxyReadMapsApprovesTablesNamedWithTheProxyPrefix) {
  using config::approved_proxy_tables;
  using Set = std::set<std::string, std::less<>>;
  EXPECT_EQ(approved_proxy_tables("proxy:unix:passwd.byname hash:/etc/aliases, proxy:proxy:inline:{a=b, c=d}"),
            (Set{"unix:passwd.byname", "inline:{a=b, c=d}"}));
  EXPECT_EQ(approved_proxy_tables("proxy: proxy:nocolon localhost $x"), Set{});
}

TEST(ProxyTable, ADaemonOpensOnlyApprovedTables) {
  // What the server skeleton sets for an unchrooted daemon: in-process, but
  // only what proxy_read_maps lists (as through proxymap).
  auto saved = config::proxy_settings();
  config::proxy_settings().configured = true;
  config::proxy_settings().approved = {"inline:{a=b}"};
  EXPECT_TRUE(open_table("proxy:inline:{a=b}", quiet()).ok());
  EXPECT_EQ(open_error("proxy:inline:{a=c}"),
            "proxy:inline:{a=c}: proxymap service is not configured for table \"inline:{a=c}\" (list "
            "proxy:inline:{a=c} in proxy_read_maps)");
  // Chrooted: through the service; none here, so the open fails and says so.
  config::proxy_settings().socket = "/nonexistent/private/proxymap";
  config::proxy_settings().timeout = std::chrono::milliseconds(500);
  auto e = open_error("proxy:inline:{a=b}");
  EXPECT_EQ(e.rfind("proxy:inline:{a=b}: proxymap service (/nonexistent/private/proxymap): ", 0), 0u) << e;
  config::proxy_settings() = saved;
}

TEST(ParanoidTables, OpenProxyTablesDirectlyAndRefuseUnauthenticatedOnes) {
  // Security-sensitive tables never come through proxymap (whose answers a
  // mail_owner process could forge), even where a daemon would have to use
  // the service: the inner table is opened in the process itself.
  auto saved = config::proxy_settings();
  config::proxy_settings().configured = true;
  config::proxy_settings().approved = {};
  config::proxy_settings().socket = "/nonexistent/private/proxymap";
  OpenOptions o = quiet();
  o.paranoid = true;
  auto t = open_table("proxy:inline:{a=b}", o);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ((*t)->type(), "inline");
  EXPECT_EQ(get(**t, "a"), "b");
  // Inside a union too.
  auto u = open_table("unionmap:{proxy:inline:{a=b}, static:c}", o);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(get(**u, "a"), "b,c");
  config::proxy_settings() = saved;
  // Nothing authenticates a tcp: or socketmap: server.
  EXPECT_EQ(open_error("tcp:127.0.0.1:9", o), "tcp:127.0.0.1:9 map is not allowed for security-sensitive data");
  EXPECT_EQ(open_error("socketmap:inet:127.0.0.1:9:virtual", o),
            "socketmap:inet:127.0.0.1:9:virtual map is not allowed for security-sensitive data");
  EXPECT_EQ(open_error("unionmap:{static:x, tcp:127.0.0.1:9}", o),
            "unionmap:{static:x, tcp:127.0.0.1:9}: tcp:127.0.0.1:9 map is not allowed for security-sensitive data");
  EXPECT_TRUE(open_table("tcp:127.0.0.1:9", quiet()).ok());
}

}  // namespace
}  // namespace postern::maps
