// The PostgresStore side of the change feed (store.hpp: set_change_listener,
// load_live_token_prefixes, read_changes), apart from postgres_store.cpp. The
// writes add their rows themselves (postgres_store.cpp, admin_queries.cpp,
// account_queries.cpp).
//
// Why the cursor is a transaction id and not the seq: several connections
// write here at once, and a transaction T1 may take its seq (say 7) before
// T2 takes 8 and yet commit after T2. A reader that saw 8 and then asked for
// "seq > 8" would never see 7. So each row also holds its transaction's id
// (xid, a 64-bit xid8 that never wraps), and the cursor is the snapshot of
// the read that made it (one statement: one snapshot), as two parts:
// pg_snapshot_xmax (the first id not given out yet) and pg_snapshot_xip (the
// ids still running). The next read returns the rows with xid >= that xmax
// or xid in that list. Every transaction with a smaller id that is not in
// the list had finished at the snapshot: its rows were visible to that read,
// or will never exist (rolled back). One in the list is read again (its
// rows, once it commits) until it has finished; one that had not started
// (or had no id yet: an id is taken at the first write) gets an id >= xmax.
// So no row is missed and none is read twice, and a transaction left open
// anywhere on the cluster (ids are cluster-wide; think of another
// application's idle-in-transaction session) costs one id in the list, not
// a re-read of every row since it began (an earlier cursor, the snapshot's
// xmin, did that).
//
// Both run on the feed's own connection (feed_reader.hpp), not a pooled one.
//
// A cursor whose xmax is beyond the server's current one cannot come from
// this database's history (restored from a dump, or another cluster): the
// read returns kConflict and the reader reloads.
#include <string>
#include <vector>

#include "store/announce.hpp"
#include "store/postgres/connection_pool.hpp"
#include "store/postgres/feed_reader.hpp"
#include "tokend/store/postgres/postgres_store.hpp"

namespace tokend::store::postgres {

namespace {

// The cursor of a statement's snapshot, in the row where column 0 is not
// NULL (exactly one): xmax as bigint (xid8 has no cast to bigint: through
// text; ids stay far below 2^63) and xip as a bigint array's text.
#define TOKEND_FEED_SNAPSHOT                                                   \
  "WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s) "             \
  "SELECT pg_snapshot_xmax(s)::text::bigint, "                                 \
  "ARRAY(SELECT v::text::bigint FROM pg_snapshot_xip(s) AS v ORDER BY 1)::text"
// The cursor's row and every change after $1 (xmax) and $2 (xip), in seq
// order, in one statement: one snapshot.
const Query kReadChanges{"feed_read_changes_xip",
                         TOKEND_FEED_SNAPSHOT ", NULL::bigint, NULL::bigint, NULL::bigint FROM snap "
                         "UNION ALL SELECT NULL, NULL, seq, user_id, token_prefix FROM changes "
                         "WHERE xid >= $1::text::xid8 OR xid = ANY($2::text::xid8[]) "
                         "ORDER BY 3 NULLS FIRST"};
// The cursor's row and the first 8 bytes of every live digest as the bigint
// of their bits (big-endian, as store::token_prefix reads them): one
// statement, so the prefixes and the cursor come from one snapshot, and only
// the 8 bytes leave the server, not the whole digest.
const Query kLivePrefixes{"feed_live_prefixes_xip",
                          TOKEND_FEED_SNAPSHOT ", NULL::bigint FROM snap "
                          "UNION ALL SELECT NULL, NULL, "
                          "('x' || encode(substring(digest from 1 for 8), 'hex'))::bit(64)::bigint "
                          "FROM tokens WHERE (revoked_at IS NULL OR revoked_at > $1) AND expires_at > $1"};
#undef TOKEND_FEED_SNAPSHOT

// "{1,2,3}" (a bigint array's text) as numbers.
std::vector<std::int64_t> parse_ids(const std::string& text) {
  std::vector<std::int64_t> out;
  std::int64_t v = 0;
  bool in = false;
  for (char ch : text) {
    if (ch >= '0' && ch <= '9') {
      v = v * 10 + (ch - '0');
      in = true;
    } else if (in) {
      out.push_back(v);
      v = 0;
      in = false;
    }
  }
  if (in) out.push_back(v);
  return out;
}

std::string ids_text(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

// The cursor of the snapshot row of `r` (the row whose column 0 is set).
Result<ChangeCursor> snapshot_cursor(const Rows& r) {
  for (int i = 0; i < r.size(); ++i) {
    if (r.is_null(i, 0)) continue;
    ChangeCursor c;
    c.position = r.int64(i, 0);
    c.in_progress = parse_ids(r.text(i, 1));
    return c;
  }
  return Error{ErrorCode::kStorageError, "PostgreSQL: the change feed's snapshot row is missing"};
}

}  // namespace

void PostgresStore::set_change_listener(ChangeListener* listener) {
  listener_.store(listener, std::memory_order_release);
}

Result<TokenPrefixes> PostgresStore::load_live_token_prefixes(TimeMs now) {
  auto r = feed_->exec(*pool_, kLivePrefixes, Params().add(std::int64_t{now}));
  if (!r) return r.error();
  TokenPrefixes out;
  auto cursor = snapshot_cursor(*r);
  if (!cursor) return cursor.error();
  out.cursor = std::move(*cursor);
  out.prefixes.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    if (!r->is_null(i, 0)) continue;  // the cursor's row
    const auto v = static_cast<std::uint64_t>(r->int64(i, 2));
    out.prefixes.push_back(v == 0 ? 1 : v);  // as store::token_prefix maps an all-zero prefix
  }
  return out;
}

Result<ChangeBatch> PostgresStore::read_changes(ChangeCursor from) {
  auto r = feed_->exec(*pool_, kReadChanges, Params().add(from.position).add(ids_text(from.in_progress)));
  if (!r) return r.error();
  auto cursor = snapshot_cursor(*r);
  if (!cursor) return cursor.error();
  if (from.position > cursor->position) {
    // Ids this server has not given out yet: the cursor is from another
    // history of the database (restored from a dump, another cluster), and
    // changes to come could take ids below it.
    return Error{ErrorCode::kConflict, "the change feed's cursor (" + std::to_string(from.position) +
                                           ") is beyond the server's next transaction id (" +
                                           std::to_string(cursor->position) + "): the database was replaced; reload"};
  }
  ChangeBatch out;
  out.next = std::move(*cursor);
  for (int i = 0; i < r->size(); ++i) {
    if (!r->is_null(i, 0)) continue;  // the cursor's row
    out.changes.push_back(Change{r->int64(i, 3), static_cast<std::uint64_t>(r->int64(i, 4))});
  }
  return out;
}

}  // namespace tokend::store::postgres
