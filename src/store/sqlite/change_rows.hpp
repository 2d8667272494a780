// The rows of the change feed (store.hpp, Change) on SQLite: record_change()
// adds one to the `changes` table (migration 5) inside the caller's write
// transaction, and keeps it in `pending` for the store's ChangeListener, told
// once that transaction has committed.
//
// Thread-safety: as its Connection: one thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "store/sqlite/connection.hpp"
#include "tokend/common/time.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store::sqlite {

// The uint64 prefix as SQLite's INTEGER (the same 64 bits), and back.
inline std::int64_t prefix_to_db(std::uint64_t p) { return static_cast<std::int64_t>(p); }
inline std::uint64_t prefix_from_db(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// Inserts `change` at now_ms() and appends it to `pending`.
// REQUIRES: a write transaction is open on `c` (the change commits or rolls
// back with the write it describes).
inline Status record_change(Connection& c, const Change& change, std::vector<Change>& pending) {
  auto st = c.prepare("INSERT INTO changes (at, user_id, token_prefix) VALUES (?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, now_ms()).bind(2, change.user_id).bind(3, prefix_to_db(change.token_prefix));
  if (st->step() != SQLITE_DONE) return db_error(c, "recording a change");
  pending.push_back(change);
  return ok_status();
}

}  // namespace tokend::store::sqlite
