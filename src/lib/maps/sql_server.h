// sql_server.h - what the tables on database servers (mysql:, pgsql:) share
// beyond sql_common.h: the parameter file's server settings, the lookup
// with its connection handling, and the choice of server.
//
// A lookup folds the key (these are fixed-string tables, as in Postfix),
// applies the domain filter, closes a connection unused for idle_interval,
// connects when needed (the servers in their order, skipping those that
// failed within retry_interval, logging each failure) and runs the query.
// A query that fails because the server closed a kept connection (a
// restart, its idle timeout) is tried once more on a new connection.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maps/sql_common.h"
#include "maps/table.h"

namespace postern::maps::sql {

// The parameters every server table has.
struct ServerParams {
  std::vector<std::string> hosts;  // the words of `hosts` (default localhost)
  std::string user, password, dbname;
  std::chrono::seconds idle_interval{60}, retry_interval{60};

  // Reads the parameter file of `type:name` (refusing Postfix's main.cf
  // form and write access), its common part and the server settings.
  // `function_query`: see Common::from().
  struct Opened;
  static Result<Opened> open(std::string_view type, std::string_view name, const OpenOptions& o,
                             std::string_view function_query_param = "");
};

struct ServerParams::Opened {
  Params params;
  Common common;
  ServerParams server;
};

class ServerTable : public Table {
 public:
  using Clock = std::chrono::steady_clock;
  // `product` names the server kind in messages ("MySQL").
  ServerTable(std::string type, std::string name, std::string product, Common common, std::size_t servers,
              const ServerParams& p, OpenOptions o);
  bool fixed() const override { return true; }
  Result<std::optional<std::string>> lookup(std::string_view raw) final;

 protected:
  virtual bool connected() const = 0;
  // Connects to server `i`; on failure says why.
  virtual Status connect_to(std::size_t i) = 0;
  virtual std::string server_text(std::size_t i) const = 0;
  virtual void disconnect() = 0;
  // Runs the query for `key` (already folded and eligible).
  virtual Result<std::optional<std::string>> query(const std::string& key) = 0;
  // After query(): the connection cannot be used again.
  virtual bool connection_lost() const = 0;

  Common common_;

 private:
  Status connect();

  std::string product_;
  Servers servers_;
  std::chrono::seconds idle_interval_;
  Clock::time_point last_used_{};
};

}  // namespace postern::maps::sql
