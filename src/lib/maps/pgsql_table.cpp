// pgsql_table.cpp - pgsql:/path/to/file.cf, Postfix's pgsql_table(5), for
// PostgreSQL servers.
//
// The parameter file (sql_common.h) names the servers (`hosts`), the
// account (`user`, `password`), the database (`dbname`) and the query (or
// the legacy `select_function`, `select_field`/`table`/`where_field`).
// Each lookup runs the expanded query and takes every field of every row
// (NULLs skipped), through result_format, joined with ','.
//
// Servers: `hosts` lists postgresql:// connection URIs, unix:/directory (of
// the server's socket, as libpq wants it), inet:host[:port] or host[:port],
// tried in random order. A server that fails is not tried again for
// `retry_interval` (60 s); the connection is closed after `idle_interval`
// (60 s) without a lookup. Connects time out after kConnectTimeout; on TCP
// a server that stops acknowledging is given up after kIoTimeout
// (tcp_user_timeout), and the server cancels a statement that runs longer
// than that (statement_timeout).
//
// The client library (libpq.so.5) is loaded when the first pgsql: table is
// opened (dl_library.h).
#include <libpq-fe.h>

#include <algorithm>
#include <random>

#include "base/strings.h"
#include "log/log.h"
#include "maps/dl_library.h"
#include "maps/internal.h"
#include "maps/source.h"
#include "maps/sql_common.h"

namespace postern::maps::detail {
namespace {

constexpr const char* kConnectTimeout = "10";  // seconds
constexpr const char* kIoTimeout = "30000";    // milliseconds

struct PgApi {
  PGconn* (*connectdb_params)(const char* const*, const char* const*, int) = nullptr;
  ConnStatusType (*status)(const PGconn*) = nullptr;
  char* (*error_message)(const PGconn*) = nullptr;
  void (*finish)(PGconn*) = nullptr;
  PGresult* (*exec)(PGconn*, const char*) = nullptr;
  ExecStatusType (*result_status)(const PGresult*) = nullptr;
  char* (*result_error)(const PGresult*) = nullptr;
  int (*ntuples)(const PGresult*) = nullptr;
  int (*nfields)(const PGresult*) = nullptr;
  char* (*getvalue)(const PGresult*, int, int) = nullptr;
  int (*getisnull)(const PGresult*, int, int) = nullptr;
  int (*getlength)(const PGresult*, int, int) = nullptr;
  void (*clear)(PGresult*) = nullptr;
  size_t (*escape)(PGconn*, char*, const char*, size_t, int*) = nullptr;
  std::string error;
};

const PgApi& pg_api() {
  static const PgApi api = [] {
    PgApi a;
    DlLibrary lib("libpq.so.5", "the PostgreSQL client library");
    lib.bind(a.connectdb_params, "PQconnectdbParams");
    lib.bind(a.status, "PQstatus");
    lib.bind(a.error_message, "PQerrorMessage");
    lib.bind(a.finish, "PQfinish");
    lib.bind(a.exec, "PQexec");
    lib.bind(a.result_status, "PQresultStatus");
    lib.bind(a.result_error, "PQresultErrorMessage");
    lib.bind(a.ntuples, "PQntuples");
    lib.bind(a.nfields, "PQnfields");
    lib.bind(a.getvalue, "PQgetvalue");
    lib.bind(a.getisnull, "PQgetisnull");
    lib.bind(a.getlength, "PQgetlength");
    lib.bind(a.clear, "PQclear");
    lib.bind(a.escape, "PQescapeStringConn");
    a.error = lib.error();
    return a;
  }();
  return api;
}

// libpq's messages end with a newline.
std::string pg_text(const char* s) { return std::string(str::trim(s ? s : "")); }

struct PgHost {
  std::string uri;         // postgresql://...
  std::string host, port;  // host: a name, an address or a socket directory
  std::string text() const { return !uri.empty() ? uri : host + (port.empty() ? "" : ":" + port); }
};

Result<PgHost> parse_host(std::string_view text) {
  PgHost h;
  if (text.starts_with("postgresql://") || text.starts_with("postgres://")) {
    h.uri = std::string(text);
    return h;
  }
  if (text.starts_with("unix:")) {
    h.host = std::string(text.substr(5));
    if (h.host.empty() || h.host.front() != '/') return make_error("\"{}\": expected unix:/directory", str::printable(text, 200));
    return h;
  }
  if (text.starts_with("inet:")) text.remove_prefix(5);
  auto mh = MysqlHost::parse(text);  // the same host[:port] forms
  if (!mh || !mh->socket.empty()) return make_error("\"{}\": expected host[:port]", str::printable(text, 200));
  h.host = mh->host;
  if (mh->port) h.port = std::to_string(mh->port);
  return h;
}

struct Settings {
  std::vector<PgHost> hosts;
  std::string user, password, dbname;
  std::chrono::seconds idle_interval{60}, retry_interval{60};
};

class PgsqlTable final : public Table {
 public:
  using Clock = std::chrono::steady_clock;
  PgsqlTable(std::string name, Settings s, sql::Common common, OpenOptions o)
      : Table("pgsql", std::move(name), std::move(o)),
        s_(std::move(s)),
        common_(std::move(common)),
        servers_(s_.hosts.size(), s_.retry_interval) {
    std::shuffle(s_.hosts.begin(), s_.hosts.end(), std::mt19937(std::random_device{}()));
  }
  ~PgsqlTable() override { disconnect(); }
  bool fixed() const override { return true; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    std::string key = fixed_key(raw);
    if (key.empty()) return std::optional<std::string>();
    auto ok = common_.eligible(key);
    if (!ok) return ok.take_error();
    if (!*ok) return std::optional<std::string>();
    if (conn_ && Clock::now() - last_used_ > s_.idle_interval) disconnect();
    for (int attempt = 0;; ++attempt) {
      const bool kept = conn_ != nullptr;
      if (!conn_) {
        if (auto c = connect(); !c) return c.take_error();
      }
      auto r = query(key);
      // A failed statement on a connection that is no longer good: the
      // server closed it (restart, idle timeout). Once more on a new one.
      if (!r && pg_api().status(conn_) != CONNECTION_OK) {
        disconnect();
        if (kept && attempt == 0) continue;
        return r;
      }
      last_used_ = Clock::now();
      return r;
    }
  }

 private:
  Status connect() {
    const PgApi& api = pg_api();
    std::string errors;
    const auto now = Clock::now();
    for (std::size_t i : servers_.due(now)) {
      const PgHost& h = s_.hosts[i];
      std::vector<const char*> keys, values;
      auto add = [&](const char* k, const std::string& v) {
        if (v.empty()) return;
        keys.push_back(k);
        values.push_back(v.c_str());
      };
      // A URI goes in as dbname with expand_dbname: its settings win over
      // the ones after it only where it has them.
      add("dbname", h.uri);
      add("host", h.host);
      add("port", h.port);
      if (h.uri.empty()) add("dbname", s_.dbname);
      add("user", s_.user);
      add("password", s_.password);
      const std::string connect_timeout = kConnectTimeout, io = kIoTimeout;
      const std::string statement = std::string("-c statement_timeout=") + kIoTimeout;
      add("connect_timeout", connect_timeout);
      add("tcp_user_timeout", io);
      add("options", statement);
      keys.push_back(nullptr);
      values.push_back(nullptr);
      PGconn* c = api.connectdb_params(keys.data(), values.data(), h.uri.empty() ? 0 : 1);
      if (c && api.status(c) == CONNECTION_OK) {
        conn_ = c;
        last_used_ = now;
        return {};
      }
      std::string why = c ? pg_text(api.error_message(c)) : "out of memory";
      if (c) api.finish(c);
      servers_.failed(i, now);
      log::warning("{}: cannot connect to PostgreSQL server {}: {}", spec(), h.text(), why);
      if (!errors.empty()) errors += "; ";
      errors += h.text() + ": " + why;
    }
    if (errors.empty()) return servers_.none_due();
    return make_error("cannot connect to a PostgreSQL server: {}", errors);
  }

  void disconnect() {
    if (conn_) pg_api().finish(conn_);
    conn_ = nullptr;
  }

  Result<std::optional<std::string>> query(const std::string& key) {
    const PgApi& api = pg_api();
    std::string quote_error;
    sql::Quote quote = [&](std::string_view s) {
      std::string out(s.size() * 2 + 1, '\0');
      int err = 0;
      out.resize(api.escape(conn_, out.data(), s.data(), s.size(), &err));
      if (err && quote_error.empty()) quote_error = pg_text(api.error_message(conn_));
      return out;
    };
    auto q = sql::expand_query(common_.query, key, quote);
    // A key that is not valid in the connection's encoding cannot be asked
    // for; Postfix also reports it as an error.
    if (!quote_error.empty()) return make_error("cannot quote the key: {}", quote_error);
    if (!q) return std::optional<std::string>();
    PGresult* res = api.exec(conn_, q->c_str());
    if (!res) return make_error("query failed: {}", pg_text(api.error_message(conn_)));
    struct Clear {
      const PgApi& api;
      PGresult* r;
      ~Clear() { api.clear(r); }
    } clear{api, res};
    ExecStatusType st = api.result_status(res);
    if (st == PGRES_COMMAND_OK) return std::optional<std::string>();  // no result set: nothing found
    if (st != PGRES_TUPLES_OK) return make_error("query failed: {}", pg_text(api.result_error(res)));
    sql::Common::Results results(common_, key);
    const int rows = api.ntuples(res), fields = api.nfields(res);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < fields; ++j) {
        if (api.getisnull(res, i, j)) continue;
        std::string_view v(api.getvalue(res, i, j), static_cast<std::size_t>(api.getlength(res, i, j)));
        if (auto a = results.add(v); !a) return a.take_error();
      }
    return results.take();
  }

  Settings s_;
  sql::Common common_;
  sql::Servers servers_;
  PGconn* conn_ = nullptr;
  Clock::time_point last_used_{};
};

}  // namespace

Result<std::unique_ptr<Table>> open_pgsql(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("pgsql", name, o); !s) return s.take_error();
  if (name.front() != '/' && name.front() != '.')
    return make_error(
        "pgsql:{}: name a parameter file by its path (Postern does not read pgsql parameters from main.cf)",
        str::printable(name, 200));
  auto params = sql::Params::read("pgsql", std::string(name));
  if (!params) return params.take_error();
  // Postfix's select_function: SELECT f('%s'), below query, above the
  // select_field/table/where_field form.
  std::string function = params->get("select_function");
  auto common = sql::Common::from(*params, o, function.empty() ? "" : "SELECT " + function + "('%s')");
  if (!common) return common.take_error();
  Settings s;
  for (const auto& word : split_braced(params->get("hosts", "localhost"))) {
    auto h = parse_host(word);
    if (!h) return make_error("pgsql:{}: hosts: {}", name, h.error().message);
    s.hosts.push_back(std::move(*h));
  }
  if (s.hosts.empty()) return make_error("pgsql:{}: hosts is empty", name);
  s.user = params->get("user");
  s.password = params->get("password");
  s.dbname = params->get("dbname");
  auto idle = params->seconds("idle_interval", "60");
  if (!idle) return idle.take_error();
  auto retry = params->seconds("retry_interval", "60");
  if (!retry) return retry.take_error();
  s.idle_interval = *idle;
  s.retry_interval = *retry;
  if (const PgApi& api = pg_api(); !api.error.empty()) return make_error("pgsql:{}: {}", name, api.error);
  return std::unique_ptr<Table>(new PgsqlTable(std::string(name), std::move(s), std::move(*common), o));
}

}  // namespace postern::maps::detail
