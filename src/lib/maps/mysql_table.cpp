// mysql_table.cpp - mysql:/path/to/file.cf, Postfix's mysql_table(5), for
// MySQL and MariaDB servers.
//
// The parameter file (sql_common.h) names the servers (`hosts`), the
// account (`user`, `password`), the database (`dbname`) and the query. Each
// lookup runs the expanded query and takes every field of every row (NULLs
// skipped), through result_format, joined with ','.
//
// Servers: `hosts` lists unix:/socket, inet:host[:port] or host[:port]
// (default localhost, which the client library takes as its default UNIX
// socket). They are tried in random order, sockets before TCP. A server that
// fails is not tried again for `retry_interval` (60 s); when every server
// has failed, lookups fail at once until one is due again. The connection is
// kept between lookups and closed after `idle_interval` (60 s) without one.
// Connects time out after kConnectTimeout, reads and writes after
// kIoTimeout: a server that stops answering holds the caller no longer.
//
// `option_file` and `option_group` (default client) select my.cnf
// settings, `require_result_set` (default yes) whether a statement without a
// result set (a stored procedure that selects nothing) is an error or "not
// found". A stored procedure that returns more than one result set is an
// error, as in Postfix. `tls_cert_file`, `tls_key_file`, `tls_CAfile`,
// `tls_CApath` and `tls_ciphers` turn TLS on (the client library's
// mysql_ssl_set()), `tls_verify_cert` checks the server's name.
//
// The client library (libmariadb.so.3, Debian's MySQL/MariaDB client) is
// loaded when the first mysql: table is opened (dl_library.h).
#include <mysql.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <random>

#include "base/strings.h"
#include "base/dl_library.h"
#include "maps/internal.h"
#include "maps/sql_server.h"

namespace postern::maps::detail {
namespace {

constexpr unsigned kConnectTimeout = 10;  // seconds
constexpr unsigned kIoTimeout = 30;       // seconds, each read or write

struct MysqlApi {
  MYSQL* (*init)(MYSQL*) = nullptr;
  int (*options)(MYSQL*, enum mysql_option, const void*) = nullptr;
  my_bool (*ssl_set)(MYSQL*, const char*, const char*, const char*, const char*, const char*) = nullptr;
  MYSQL* (*real_connect)(MYSQL*, const char*, const char*, const char*, const char*, unsigned, const char*,
                         unsigned long) = nullptr;
  void (*close)(MYSQL*) = nullptr;
  int (*real_query)(MYSQL*, const char*, unsigned long) = nullptr;
  MYSQL_RES* (*store_result)(MYSQL*) = nullptr;
  MYSQL_RES* (*use_result)(MYSQL*) = nullptr;
  unsigned (*field_count)(MYSQL*) = nullptr;
  unsigned (*num_fields)(MYSQL_RES*) = nullptr;
  MYSQL_ROW (*fetch_row)(MYSQL_RES*) = nullptr;
  unsigned long* (*fetch_lengths)(MYSQL_RES*) = nullptr;
  void (*free_result)(MYSQL_RES*) = nullptr;
  int (*next_result)(MYSQL*) = nullptr;
  const char* (*error)(MYSQL*) = nullptr;
  unsigned (*error_number)(MYSQL*) = nullptr;
  unsigned long (*escape)(MYSQL*, char*, const char*, unsigned long) = nullptr;
  std::string load_error;  // non-empty: the library could not be loaded
};

const MysqlApi& mysql_api() {
  static const MysqlApi api = [] {
    MysqlApi a;
    DlLibrary lib("libmariadb.so.3", "the MySQL client library");
    lib.bind(a.init, "mysql_init");
    lib.bind(a.options, "mysql_options");
    lib.bind(a.ssl_set, "mysql_ssl_set");
    lib.bind(a.real_connect, "mysql_real_connect");
    lib.bind(a.close, "mysql_close");
    lib.bind(a.real_query, "mysql_real_query");
    lib.bind(a.store_result, "mysql_store_result");
    lib.bind(a.use_result, "mysql_use_result");
    lib.bind(a.field_count, "mysql_field_count");
    lib.bind(a.num_fields, "mysql_num_fields");
    lib.bind(a.fetch_row, "mysql_fetch_row");
    lib.bind(a.fetch_lengths, "mysql_fetch_lengths");
    lib.bind(a.free_result, "mysql_free_result");
    lib.bind(a.next_result, "mysql_next_result");
    lib.bind(a.error, "mysql_error");
    lib.bind(a.error_number, "mysql_errno");
    lib.bind(a.escape, "mysql_real_escape_string");
    a.load_error = lib.error();
    return a;
  }();
  return api;
}

}  // namespace

// One entry of `hosts` (public for the unit test through internal.h).
Result<MysqlHost> MysqlHost::parse(std::string_view text) {
  MysqlHost h;
  if (text.starts_with("unix:")) {
    h.socket = std::string(text.substr(5));
    if (h.socket.empty()) return make_error("\"{}\": no socket path", str::printable(text, 200));
    return h;
  }
  if (text.starts_with("inet:")) text.remove_prefix(5);
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return make_error("\"{}\": missing ']'", str::printable(text, 200));
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return make_error("\"{}\": expected [host]:port", str::printable(text, 200));
      port = text.substr(close + 2);
    }
  } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos)
      return make_error("\"{}\": write an IPv6 address as [address]:port", str::printable(text, 200));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return make_error("\"{}\": no host name", str::printable(text, 200));
  h.host = std::string(host);
  if (!port.empty() || text.ends_with(':')) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
      return make_error("\"{}\": bad port", str::printable(text, 200));
    h.port = p;
  }
  return h;
}

namespace {

// What only MySQL has; the rest is sql::ServerParams.
struct Settings {
  std::vector<MysqlHost> hosts;
  std::string option_file, option_group;
  bool require_result_set = true;
  // TLS: any file or the cipher list set turns it on (mysql_ssl_set());
  // tls_verify_cert checks the server's name against its certificate.
  std::string tls_cert, tls_key, tls_ca_file, tls_ca_path, tls_ciphers;
  std::optional<bool> tls_verify;
  bool tls() const {
    return !tls_cert.empty() || !tls_key.empty() || !tls_ca_file.empty() || !tls_ca_path.empty() ||
           !tls_ciphers.empty();
  }
};

class MysqlTable final : public sql::ServerTable {
 public:
  MysqlTable(std::string name, sql::ServerParams::Opened opened, Settings s, OpenOptions o)
      : ServerTable("mysql", std::move(name), "MySQL", std::move(opened.common), s.hosts.size(), opened.server,
                    std::move(o)),
        server_(std::move(opened.server)),
        s_(std::move(s)) {
    // Random order, sockets first (Postfix's plmysql_init_hosts()).
    std::shuffle(s_.hosts.begin(), s_.hosts.end(), std::mt19937(std::random_device{}()));
    std::stable_partition(s_.hosts.begin(), s_.hosts.end(), [](const MysqlHost& h) { return !h.socket.empty(); });
  }
  ~MysqlTable() override { disconnect(); }

 private:
  bool connected() const override { return conn_ != nullptr; }
  bool connection_lost() const override { return broken_; }
  std::string server_text(std::size_t i) const override { return s_.hosts[i].text(); }

  Status connect_to(std::size_t i) override {
    const MysqlApi& api = mysql_api();
    const MysqlHost& h = s_.hosts[i];
    MYSQL* m = api.init(nullptr);
    if (!m) return make_error("mysql_init: out of memory");
    unsigned connect_timeout = kConnectTimeout, io_timeout = kIoTimeout;
    api.options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    api.options(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    api.options(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    if (!s_.option_file.empty()) api.options(m, MYSQL_READ_DEFAULT_FILE, s_.option_file.c_str());
    if (!s_.option_group.empty()) api.options(m, MYSQL_READ_DEFAULT_GROUP, s_.option_group.c_str());
    if (s_.tls()) {
      auto opt = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
      api.ssl_set(m, opt(s_.tls_key), opt(s_.tls_cert), opt(s_.tls_ca_file), opt(s_.tls_ca_path),
                  opt(s_.tls_ciphers));
    }
    if (s_.tls_verify) {
      my_bool verify = *s_.tls_verify ? 1 : 0;
      api.options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    const char* host = h.socket.empty() ? h.host.c_str() : nullptr;
    const char* sock = h.socket.empty() ? nullptr : h.socket.c_str();
    if (api.real_connect(m, host, server_.user.empty() ? nullptr : server_.user.c_str(), server_.password.c_str(),
                         server_.dbname.empty() ? nullptr : server_.dbname.c_str(), h.port, sock,
                         CLIENT_MULTI_RESULTS)) {
      conn_ = m;
      broken_ = false;
      return {};
    }
    std::string why = api.error(m);
    api.close(m);
    return make_error("{}", why);
  }

  void disconnect() override {
    if (conn_) mysql_api().close(conn_);
    conn_ = nullptr;
  }

  Result<std::optional<std::string>> query(const std::string& key) override {
    const MysqlApi& api = mysql_api();
    broken_ = false;
    sql::Quote quote = [&](std::string_view s) {
      std::string out(s.size() * 2 + 1, '\0');
      out.resize(api.escape(conn_, out.data(), s.data(), static_cast<unsigned long>(s.size())));
      return out;
    };
    auto q = sql::expand_query(common_.query, key, quote);
    if (!q) return std::optional<std::string>();
    if (api.real_query(conn_, q->data(), static_cast<unsigned long>(q->size())) != 0) {
      // The server went away (CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
      // CR_SERVER_LOST_EXTENDED); other errors leave the connection usable.
      unsigned e = api.error_number(conn_);
      broken_ = e == 2006 || e == 2013 || e == 2055;
      return make_error("query failed: {}", api.error(conn_));
    }
    // Rows are read one at a time (mysql_use_result), so that an answer
    // larger than sql::kMaxResult is refused before it is all in memory
    // (mysql_free_result() reads and drops the rest, one row at a time).
    MYSQL_RES* res = api.use_result(conn_);
    if (!res) {
      if (api.field_count(conn_) != 0) {
        broken_ = true;
        return make_error("cannot read the result: {}", api.error(conn_));
      }
      drain();
      if (s_.require_result_set) return make_error("query returned no result set (require_result_set = yes)");
      return std::optional<std::string>();
    }
    sql::Common::Results results(common_, key);
    Status st;
    const unsigned fields = api.num_fields(res);
    while (MYSQL_ROW row = api.fetch_row(res)) {
      unsigned long* lengths = api.fetch_lengths(res);
      for (unsigned j = 0; j < fields && st; ++j) {
        if (!row[j]) continue;  // NULL
        st = results.add(std::string_view(row[j], lengths ? lengths[j] : std::strlen(row[j])));
      }
      if (!st) break;
    }
    if (st && api.error_number(conn_) != 0) {
      broken_ = true;
      st = make_error("cannot read the result: {}", api.error(conn_));
    }
    api.free_result(res);
    if (!st) return st.take_error();
    // A stored procedure ends with a status result; a second result set
    // is refused, as Postfix refuses it.
    if (!drain()) return make_error("query returned more than one result set");
    return results.take();
  }

  // Reads the results after the first; false when one of them has rows.
  bool drain() {
    const MysqlApi& api = mysql_api();
    bool only_status = true;
    int rc;
    while ((rc = api.next_result(conn_)) == 0) {
      if (MYSQL_RES* more = api.store_result(conn_)) {
        only_status = false;
        api.free_result(more);
      }
    }
    if (rc > 0) broken_ = true;
    return only_status;
  }

  sql::ServerParams server_;
  Settings s_;
  MYSQL* conn_ = nullptr;
  bool broken_ = false;  // the last error left the connection unusable
};

}  // namespace

std::string MysqlHost::text() const {
  if (!socket.empty()) return "unix:" + socket;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port ? "inet:" + h + ":" + std::to_string(port) : "inet:" + h;
}

Result<std::unique_ptr<Table>> open_mysql(std::string_view name, const OpenOptions& o) {
  auto opened = sql::ServerParams::open("mysql", name, o);
  if (!opened) return opened.take_error();
  const sql::Params& params = opened->params;
  Settings s;
  for (const auto& word : opened->server.hosts) {
    auto h = MysqlHost::parse(word);
    if (!h) return make_error("mysql:{}: hosts: {}", name, h.error().message);
    s.hosts.push_back(std::move(*h));
  }
  s.option_file = params.get("option_file");
  s.option_group = params.get("option_group", "client");
  auto rrs = params.boolean("require_result_set", "yes");
  if (!rrs) return rrs.take_error();
  s.require_result_set = *rrs;
  s.tls_cert = params.get("tls_cert_file");
  s.tls_key = params.get("tls_key_file");
  s.tls_ca_file = params.get("tls_CAfile");
  s.tls_ca_path = params.get("tls_CApath");
  s.tls_ciphers = params.get("tls_ciphers");
  if (params.has("tls_verify_cert")) {
    auto v = params.boolean("tls_verify_cert", "no");
    if (!v) return v.take_error();
    s.tls_verify = *v;
  }
  if (const MysqlApi& api = mysql_api(); !api.load_error.empty())
    return make_error("mysql:{}: {}", name, api.load_error);
  return std::unique_ptr<Table>(new MysqlTable(std::string(name), std::move(*opened), std::move(s), o));
}

}  // namespace postern::maps::detail
