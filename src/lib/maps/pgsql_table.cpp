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
#include "base/dl_library.h"
#include "maps/internal.h"
#include "maps/sql_server.h"

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

class PgsqlTable final : public sql::ServerTable {
 public:
  PgsqlTable(std::string name, sql::ServerParams::Opened opened, std::vector<PgHost> hosts, OpenOptions o)
      : ServerTable("pgsql", std::move(name), "PostgreSQL", std::move(opened.common), hosts.size(), opened.server,
                    std::move(o)),
        server_(std::move(opened.server)),
        hosts_(std::move(hosts)) {
    std::shuffle(hosts_.begin(), hosts_.end(), std::mt19937(std::random_device{}()));
  }
  ~PgsqlTable() override { disconnect(); }

 private:
  bool connected() const override { return conn_ != nullptr; }
  bool connection_lost() const override { return conn_ && pg_api().status(conn_) != CONNECTION_OK; }
  std::string server_text(std::size_t i) const override { return hosts_[i].text(); }

  Status connect_to(std::size_t i) override {
    const PgApi& api = pg_api();
    const PgHost& h = hosts_[i];
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
    if (h.uri.empty()) add("dbname", server_.dbname);
    add("user", server_.user);
    add("password", server_.password);
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
      return {};
    }
    std::string why = c ? pg_text(api.error_message(c)) : "out of memory";
    if (c) api.finish(c);
    return make_error("{}", why);
  }

  void disconnect() override {
    if (conn_) pg_api().finish(conn_);
    conn_ = nullptr;
  }

  Result<std::optional<std::string>> query(const std::string& key) override {
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

  sql::ServerParams server_;
  std::vector<PgHost> hosts_;
  PGconn* conn_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Table>> open_pgsql(std::string_view name, const OpenOptions& o) {
  // Postfix's select_function: SELECT f('%s'), below query, above the
  // select_field/table/where_field form.
  auto opened = sql::ServerParams::open("pgsql", name, o, "select_function");
  if (!opened) return opened.take_error();
  std::vector<PgHost> hosts;
  for (const auto& word : opened->server.hosts) {
    auto h = parse_host(word);
    if (!h) return make_error("pgsql:{}: hosts: {}", name, h.error().message);
    hosts.push_back(std::move(*h));
  }
  if (const PgApi& api = pg_api(); !api.error.empty()) return make_error("pgsql:{}: {}", name, api.error);
  return std::unique_ptr<Table>(new PgsqlTable(std::string(name), std::move(*opened), std::move(hosts), o));
}

}  // namespace postern::maps::detail
