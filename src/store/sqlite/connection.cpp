#include "store/sqlite/connection.hpp"

#include <string>

namespace tokend::store::sqlite {

Result<Connection*> Connection::open(const std::string& path, int busy_timeout_ms, const std::string& synchronous) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error{ErrorCode::kStorageError, "cannot open database " + path + ": " + msg};
  }
  auto* c = new Connection(db);
  if (sqlite3_busy_timeout(db, busy_timeout_ms) != SQLITE_OK || sqlite3_extended_result_codes(db, 1) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    delete c;
    return Error{ErrorCode::kStorageError, "cannot configure database " + path + ": " + msg};
  }
  const std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=" +
                              std::string(synchronous == "normal" ? "NORMAL" : "FULL") + ";";
  if (auto s = c->exec(pragmas.c_str()); !s) {
    delete c;
    return s.error();
  }
  return c;
}

Connection::~Connection() {
  // finalize only repeats a statement's last error, already handled. With
  // every statement finalized, close cannot be refused (SQLITE_BUSY).
  for (auto& [_, s] : cache_) (void)sqlite3_finalize(s);
  (void)sqlite3_close(db_);
}

Result<Stmt> Connection::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      return Error{ErrorCode::kStorageError, std::string("prepare failed: ") + sqlite3_errmsg(db_)};
    }
    it = cache_.emplace(sql, s).first;
  }
  return Stmt(db_, it->second);
}

Status Connection::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Error{ErrorCode::kStorageError, msg};
  }
  return ok_status();
}

}  // namespace tokend::store::sqlite
