// sqlite_table.cpp - sqlite:/path/to/file.cf, Postfix's sqlite_table(5).
//
// The parameter file (sql_common.h) names the database (`dbpath`) and the
// query. The database is opened read-only when the table is opened, before
// a daemon drops privileges or enters its chroot. Each lookup runs the
// expanded query and takes the first column of every row (NULLs skipped),
// through result_format, joined with ','. Keys are folded like every
// fixed-string table's (the table takes the partial keys of address
// searches, as Postfix's does).
//
// Errors of the database (a query that does not compile, a locked or
// damaged file) are lookup errors: the caller defers. A writer holding the
// database locked is waited for up to kBusyMillis.
//
// SQLite is loaded when the first sqlite: table is opened (dl_library.h).
#include <sqlite3.h>

#include "base/strings.h"
#include "base/dl_library.h"
#include "maps/internal.h"
#include "maps/sql_common.h"

namespace postern::maps::detail {
namespace {

constexpr int kBusyMillis = 1000;

struct SqliteApi {
  int (*open_v2)(const char*, sqlite3**, int, const char*) = nullptr;
  int (*close_v2)(sqlite3*) = nullptr;
  int (*busy_timeout)(sqlite3*, int) = nullptr;
  int (*prepare_v2)(sqlite3*, const char*, int, sqlite3_stmt**, const char**) = nullptr;
  int (*step)(sqlite3_stmt*) = nullptr;
  int (*finalize)(sqlite3_stmt*) = nullptr;
  const unsigned char* (*column_text)(sqlite3_stmt*, int) = nullptr;
  int (*column_bytes)(sqlite3_stmt*, int) = nullptr;
  const char* (*errmsg)(sqlite3*) = nullptr;
  char* (*mprintf)(const char*, ...) = nullptr;
  void (*free)(void*) = nullptr;
  std::string error;  // non-empty: the library could not be loaded
};

const SqliteApi& sqlite_api() {
  static const SqliteApi api = [] {
    SqliteApi a;
    DlLibrary lib("libsqlite3.so.0", "SQLite");
    lib.bind(a.open_v2, "sqlite3_open_v2");
    lib.bind(a.close_v2, "sqlite3_close_v2");
    lib.bind(a.busy_timeout, "sqlite3_busy_timeout");
    lib.bind(a.prepare_v2, "sqlite3_prepare_v2");
    lib.bind(a.step, "sqlite3_step");
    lib.bind(a.finalize, "sqlite3_finalize");
    lib.bind(a.column_text, "sqlite3_column_text");
    lib.bind(a.column_bytes, "sqlite3_column_bytes");
    lib.bind(a.errmsg, "sqlite3_errmsg");
    lib.bind(a.mprintf, "sqlite3_mprintf");
    lib.bind(a.free, "sqlite3_free");
    a.error = lib.error();
    return a;
  }();
  return api;
}

class SqliteTable final : public Table {
 public:
  SqliteTable(std::string name, sqlite3* db, sql::Common common, OpenOptions o)
      : Table("sqlite", std::move(name), std::move(o)), db_(db), common_(std::move(common)) {}
  ~SqliteTable() override { sqlite_api().close_v2(db_); }
  bool fixed() const override { return true; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    const SqliteApi& api = sqlite_api();
    std::string key = fixed_key(raw);
    if (key.empty()) return std::optional<std::string>();
    auto ok = common_.eligible(key);
    if (!ok) return ok.take_error();
    if (!*ok) return std::optional<std::string>();
    // SQLite's own quoting: %q doubles every single quote.
    sql::Quote quote = [&api](std::string_view s) {
      std::string in(s);
      char* q = api.mprintf("%q", in.c_str());
      std::string out = q ? q : "";
      api.free(q);
      return out;
    };
    auto query = sql::expand_query(common_.query, key, quote);
    if (!query) return std::optional<std::string>();
    sqlite3_stmt* stmt = nullptr;
    if (api.prepare_v2(db_, query->c_str(), static_cast<int>(query->size() + 1), &stmt, nullptr) != SQLITE_OK)
      return make_error("SQL prepare failed: {}", api.errmsg(db_));
    struct Finalize {
      const SqliteApi& api;
      sqlite3_stmt* s;
      ~Finalize() { api.finalize(s); }
    } fin{api, stmt};
    sql::Common::Results results(common_, key);
    for (;;) {
      int rc = api.step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return make_error("SQL step failed: {}", api.errmsg(db_));
      const unsigned char* text = api.column_text(stmt, 0);
      if (!text) continue;  // NULL
      std::string_view value(reinterpret_cast<const char*>(text), static_cast<std::size_t>(api.column_bytes(stmt, 0)));
      if (auto s = results.add(value); !s) return s.take_error();
    }
    return results.take();
  }

 private:
  sqlite3* db_;
  sql::Common common_;
};

}  // namespace

Result<std::unique_ptr<Table>> open_sqlite(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("sqlite", name, o); !s) return s.take_error();
  if (name.front() != '/' && name.front() != '.')
    return make_error(
        "sqlite:{}: name a parameter file by its path (Postern does not read sqlite parameters from main.cf)",
        str::printable(name, 200));
  auto params = sql::Params::read("sqlite", std::string(name));
  if (!params) return params.take_error();
  auto common = sql::Common::from(*params, o);
  if (!common) return common.take_error();
  std::string dbpath = params->get("dbpath");
  if (dbpath.empty()) return make_error("sqlite:{}: dbpath is not set", name);
  const SqliteApi& api = sqlite_api();
  if (!api.error.empty()) return make_error("sqlite:{}: {}", name, api.error);
  sqlite3* db = nullptr;
  int rc = api.open_v2(dbpath.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? api.errmsg(db) : "out of memory";
    api.close_v2(db);
    return make_error("sqlite:{}: cannot open database {}: {}", name, dbpath, why);
  }
  api.busy_timeout(db, kBusyMillis);
  return std::unique_ptr<Table>(new SqliteTable(std::string(name), db, std::move(*common), o));
}

}  // namespace postern::maps::detail
