// The SqliteStore side of the change feed (store.hpp: set_change_listener,
// load_live_token_prefixes, read_changes), apart from sqlite_store.cpp. The
// writes record their rows with change_rows.hpp.
#include <string>
#include <vector>

#include "store/announce.hpp"
#include "store/sqlite/change_rows.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/connection_cache.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"

namespace tokend::store::sqlite {

namespace {

// A read transaction: BEGIN (deferred) takes no lock; the WAL snapshot is
// fixed by the first read and kept until COMMIT, so every read in between
// sees one state of the file.
class ReadTx {
 public:
  explicit ReadTx(Connection& c) : c_(c) {}
  ReadTx(const ReadTx&) = delete;
  ReadTx& operator=(const ReadTx&) = delete;
  Status begin() {
    auto s = c_.exec("BEGIN");
    open_ = s.ok();
    return s;
  }
  ~ReadTx() {
    if (open_) (void)c_.exec("COMMIT");
  }

 private:
  Connection& c_;
  bool open_ = false;
};

}  // namespace

void SqliteStore::set_change_listener(ChangeListener* listener) { listener_.store(listener, std::memory_order_release); }

void SqliteStore::announce(const std::vector<Change>& changes) { store::announce(listener_, changes); }

Result<TokenPrefixes> SqliteStore::load_live_token_prefixes(TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // If a transaction a failed ROLLBACK left open is still there, end it: the
  // snapshot must be this call's.
  if (!sqlite3_get_autocommit(c.handle())) (void)c.exec("ROLLBACK");
  ReadTx tx(c);
  if (auto s = tx.begin(); !s) return s.error();
  TokenPrefixes out;
  {
    // The cursor first: it fixes the snapshot the prefixes are read in.
    auto st = c.prepare("SELECT COALESCE(MAX(seq), 0) FROM changes");
    if (!st) return st.error();
    if (st->step() != SQLITE_ROW) return db_error(c, "reading the change feed's position");
    out.cursor.position = st->int64(0);
  }
  {
    // Only the 8 bytes a prefix needs leave the page.
    auto st = c.prepare(
        "SELECT substr(digest, 1, 8) FROM tokens WHERE (revoked_at IS NULL OR revoked_at > ?1) AND expires_at > ?1");
    if (!st) return st.error();
    st->bind(1, now);
    int rc;
    while ((rc = st->step()) == SQLITE_ROW) {
      const std::string_view bytes = st->blob(0);
      crypto::Sha256 d{};
      for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i) d[i] = static_cast<std::uint8_t>(bytes[i]);
      out.prefixes.push_back(token_prefix(d));
    }
    if (rc != SQLITE_DONE) return db_error(c, "reading token prefixes");
  }
  return out;
}

Result<ChangeBatch> SqliteStore::read_changes(ChangeCursor from) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // One statement is one snapshot. seq order is commit order (one writer,
  // AUTOINCREMENT): a row above the cursor that is not visible yet belongs to
  // a transaction that has not committed, and every later seq to one after it.
  auto st = c.prepare("SELECT seq, user_id, token_prefix FROM changes WHERE seq > ? ORDER BY seq");
  if (!st) return st.error();
  st->bind(1, from.position);
  ChangeBatch out;
  out.next = from;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    out.next.position = st->int64(0);
    out.changes.push_back(Change{st->int64(1), prefix_from_db(st->int64(2))});
  }
  if (rc != SQLITE_DONE) return db_error(c, "reading changes");
  if (out.changes.empty() && from.position > 0) {
    // A cursor beyond every seq ever given out comes from another file (this
    // one was replaced or restored under the server): every change to come
    // would have a seq at or below it and be missed without a word. The
    // highest seq given out is in sqlite_sequence (AUTOINCREMENT never reuses
    // one, even once purge() deleted the rows); MAX(seq) when that has no row
    // (a file whose sqlite_sequence was emptied). When rows came back, some
    // seq is above the cursor already.
    auto top = c.prepare(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0), "
        "COALESCE((SELECT MAX(seq) FROM changes), 0))");
    if (!top) return top.error();
    if (top->step() != SQLITE_ROW) return db_error(c, "reading the change feed's last position");
    const std::int64_t last = top->int64(0);
    if (from.position > last) {
      return Error{ErrorCode::kConflict, "the change feed's cursor (" + std::to_string(from.position) +
                                             ") is beyond its last position (" + std::to_string(last) +
                                             "): the database was replaced; reload"};
    }
  }
  return out;
}

}  // namespace tokend::store::sqlite
