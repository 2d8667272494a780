// Connection: one sqlite3 handle with its cache of prepared statements; Stmt, a
// borrowed statement that is reset when it goes out of scope; Tx, a write
// transaction on a connection. Every sqlite3_* result is checked where it is
// called: prepare and exec return Results, a failed bind surfaces at step().
//
// Thread-safety: a Connection is used by one thread at a time (SqliteStore
// lends it out); it is not itself synchronised.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tokend/common/result.hpp"

namespace tokend::store::sqlite {

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt() {
    if (s_) {
      // Both only repeat the last step's error (already handled by the
      // caller), or return SQLITE_OK: nothing left to check here.
      (void)sqlite3_reset(s_);
      (void)sqlite3_clear_bindings(s_);
    }
  }
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_), bind_rc_(o.bind_rc_) { o.s_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::int64_t v) { check(sqlite3_bind_int64(s_, i, v)); return *this; }
  Stmt& bind(int i, std::string_view v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_blob(int i, const void* p, int n) { check(sqlite3_bind_blob(s_, i, p, n, SQLITE_TRANSIENT)); return *this; }
  // Binds without SQLite copying the bytes (one allocation less on the hot
  // lookups). REQUIRES: p..p+n outlives this Stmt (which unbinds on
  // destruction).
  Stmt& bind_blob_static(int i, const void* p, int n) {
    check(sqlite3_bind_blob(s_, i, p, n, SQLITE_STATIC));
    return *this;
  }
  Stmt& bind_null(int i) { check(sqlite3_bind_null(s_, i)); return *this; }
  Stmt& bind(int i, std::optional<std::int64_t> v) { return v ? bind(i, *v) : bind_null(i); }

  // SQLITE_ROW or SQLITE_DONE; anything else is an error for the caller. A
  // bind that failed (an index out of range, a value over SQLite's length
  // limit, no memory) is returned here, without running the statement: so
  // every caller's check of step() also checks its binds, and a statement
  // never runs with a parameter silently left NULL.
  int step() {
    if (bind_rc_ != SQLITE_OK) return bind_rc_;
    return sqlite3_step(s_);
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  std::optional<std::int64_t> opt_int64(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(s_, col);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  // The bytes of a BLOB column, valid until the next step or reset.
  std::string_view blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
  }
  std::optional<std::string> opt_text(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return text(col);
  }
  // True when a bind failed (step() then returns its code).
  bool bind_failed() const { return bind_rc_ != SQLITE_OK; }

 private:
  // Keeps the first failure: the later binds may fail only because of it.
  void check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

class Connection {
 public:
  // Opens `path` (creating it) with the given pragmas applied.
  static Result<Connection*> open(const std::string& path, int busy_timeout_ms, const std::string& synchronous);
  ~Connection();

  // The cached statement for `sql`, prepared on first use.
  // Error "storage_error" when `sql` does not prepare (a bug or a corrupt file).
  Result<Stmt> prepare(const char* sql);

  // Runs one or more statements without results.
  Status exec(const char* sql);

  // The last error text of this handle, for the log.
  std::string last_error() const { return sqlite3_errmsg(db_); }
  sqlite3* handle() const { return db_; }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<const char*, sqlite3_stmt*> cache_;  // keyed by the SQL literal's address
};

// The storage error for a failed call on `c`: `what`, and SQLite's message
// (for the log).
inline Error db_error(Connection& c, std::string_view what) {
  return Error{ErrorCode::kStorageError, std::string(what) + ": " + c.last_error()};
}

// A write transaction: BEGIN IMMEDIATE takes the write lock up front, so two
// writers never deadlock upgrading read locks; rolled back unless committed.
class Tx {
 public:
  explicit Tx(Connection& c) : c_(c) {}
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  // Ok once the write lock is held; kStorageError otherwise (SQLITE_BUSY past
  // the busy timeout, an I/O error).
  Status begin() {
    auto s = c_.exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  // Ok once committed; kStorageError otherwise (the destructor rolls back).
  Status commit() {
    auto s = c_.exec("COMMIT");
    if (s) open_ = false;
    return s;
  }
  ~Tx() {
    // A failed ROLLBACK leaves the transaction open; the next user of the
    // connection ends it (SqliteStore's group commit checks autocommit).
    if (open_) (void)c_.exec("ROLLBACK");
  }

 private:
  Connection& c_;
  bool open_ = false;
};

}  // namespace tokend::store::sqlite
