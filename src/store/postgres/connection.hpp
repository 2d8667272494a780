// Connection: one libpq connection of the PostgreSQL store, with its prepared
// statements, and every wait on the server bounded.
//
// - Connecting uses libpq's non-blocking API (PQconnectStartParams +
//   PQconnectPoll) under our own deadline, connect_timeout_ms, which covers
//   TCP, TLS and authentication (libpq's own connect_timeout counts whole
//   seconds and at least two).
// - Every statement is sent asynchronously and its answer awaited with poll()
//   until statement_timeout_ms plus a grace period: PostgreSQL cancels a slow
//   statement itself (statement_timeout, set at connect), and a server that
//   stops answering altogether (a dead host, a frozen process) cannot hang a
//   worker thread: the connection is then closed and marked broken.
// - A statement (Query) is prepared once per connection, by name, the first
//   time it runs there.
// - Error messages never hold the password (redacted) nor the connection
//   string; they name host, port and database at most.
//
// Thread-safety: none; a Connection is used by one thread at a time (the
// pool lends it out).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tokend/common/result.hpp"

namespace tokend::store::postgres {

// How to reach the database (from config::DatabaseConfig).
struct ConnectSettings {
  std::string conninfo;       // a libpq URI or keyword string
  std::string password;       // from database.password_file; empty: libpq's own (URL, PGPASSFILE)
  int connect_timeout_ms = 5000;
  int statement_timeout_ms = 5000;
};

// A statement prepared by name on each connection. `name` is unique per SQL.
struct Query {
  const char* name;
  const char* sql;
};

// Positional parameters ($1, $2, ...), sent in text format except bytes.
class Params {
 public:
  Params& add(std::string_view text);
  Params& add(std::int64_t v);
  Params& add(bool v);
  Params& add_null();
  Params& add_bytes(const void* data, std::size_t size);  // bytea, binary format
  template <typename T>
  Params& add(const std::optional<T>& v) {
    return v ? add(*v) : add_null();
  }
  int size() const { return static_cast<int>(values_.size()); }

 private:
  friend class Connection;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
};

// The rows of one statement's answer (text format).
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return r_ ? PQntuples(r_.get()) : 0; }
  // Rows changed by an INSERT/UPDATE/DELETE.
  std::int64_t affected() const;
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const { return PQgetvalue(r_.get(), row, col); }
  std::int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const { return PQgetvalue(r_.get(), row, col)[0] == 't'; }
  std::optional<std::int64_t> opt_int64(int row, int col) const;
  std::optional<std::string> opt_text(int row, int col) const;

 private:
  std::shared_ptr<PGresult> r_;
};

class Connection final {
 public:
  // Connects within settings.connect_timeout_ms and sets statement_timeout.
  // Error kStorageError ("cannot connect to PostgreSQL at host:port/db: ...")
  // when the server is unreachable, refuses, or the deadline passes.
  static Result<std::unique_ptr<Connection>> open(const ConnectSettings& settings);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `q` (prepared here on first use) with `params`. Error kStorageError
  // with the server's message; sqlstate() then holds the SQLSTATE ("23505"
  // for a unique violation), "" when the connection failed.
  Result<Rows> exec(const Query& q, const Params& params = {});
  // Runs `sql` (one or more statements, no parameters) with the simple
  // protocol: BEGIN, COMMIT, migrations.
  Status exec_simple(const std::string& sql, int timeout_ms = 0);
  // Makes sure `q` is prepared on this connection.
  Status prepare(const Query& q);
  // Sends every statement of `batch` in one pipeline (one round trip) and
  // returns one result per statement, in order. Used by the group commit.
  // REQUIRES: every Query of `batch` was prepared (prepare()).
  struct Step {
    const Query* query;
    Params params;
  };
  Result<std::vector<Result<Rows>>> pipeline(const std::vector<Step>& batch);

  const std::string& sqlstate() const { return sqlstate_; }
  // Whether the connection is unusable (lost, timed out, closed): the pool
  // drops it instead of lending it again.
  bool broken() const { return broken_ || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }
  // Whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;
  // The password replaced in `text` (defensive: libpq never puts it there).
  std::string redact(std::string text) const;
  int statement_timeout_ms() const { return statement_timeout_ms_; }
  // "host:port/db" of this connection, for log lines.
  std::string where() const { return where_; }

 private:
  Connection(PGconn* conn, std::string password, int statement_timeout_ms);
  // Waits for and collects every result of the command sent last; returns
  // the last one (or the first error). Marks the connection broken on a
  // timeout or a lost connection.
  Result<Rows> collect(std::chrono::steady_clock::time_point deadline, const char* what);
  // Waits for one result (nullptr: the command's results are over).
  Result<PGresult*> next_result(std::chrono::steady_clock::time_point deadline, const char* what);
  Error fail(const char* what, const std::string& detail);
  std::chrono::steady_clock::time_point deadline(int timeout_ms = 0) const;

  PGconn* conn_ = nullptr;
  std::string password_;
  int statement_timeout_ms_ = 0;
  bool broken_ = false;
  std::string sqlstate_;
  std::string where_;
  std::unordered_set<std::string> prepared_;
};

}  // namespace tokend::store::postgres
