// The PostgresStore side of the change feed (store.hpp: set_change_listener,
// load_live_token_prefixes, read_changes), apart from postgres_store.cpp. The
// writes add their rows themselves (postgres_store.cpp, admin_queries.cpp,
// account_queries.cpp).
//
// Why the cursor is a transaction id and not the seq: several connections
// write here at once, and a transaction T1 may take its seq (say 7) before
// T2 takes 8 and yet commit after T2. A reader that saw 8 and then asked for
// "seq > 8" would never see 7. So each row also holds its transaction's id
// (xid, a 64-bit xid8 that never wraps), and a read returns every row with
// xid >= the cursor, and the next cursor is pg_snapshot_xmin() of the very
// snapshot that read them (one statement: one snapshot): the oldest
// transaction that was still running then. Every transaction with a smaller
// id had finished: its rows were visible to that read, or will never exist
// (rolled back). A transaction still running keeps an id >= the new cursor,
// so its rows are read next time; one that had not started (or had no id
// yet: an id is taken at the first write) gets a larger one. The price: the
// rows of transactions that were running at a read are read again at the next
// (the interface allows it: applying a change twice is harmless), and a
// transaction that stays open long (on any database of the cluster: ids are
// cluster-wide) holds the cursor back, so every read repeats the rows since.
#include <string>
#include <vector>

#include "store/announce.hpp"
#include "store/postgres/connection_pool.hpp"
#include "tokend/store/postgres/postgres_store.hpp"

namespace tokend::store::postgres {

namespace {

// Column 0 of every row: the cursor of this statement's snapshot (xid8 has
// no cast to bigint: through text; ids stay far below 2^63). One row with
// NULL changes when there are none.
const Query kReadChanges{"feed_read_changes",
                         "SELECT x.next, c.user_id, c.token_prefix FROM "
                         "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS next) x "
                         "LEFT JOIN LATERAL (SELECT seq, user_id, token_prefix FROM changes "
                         "WHERE xid >= $1::text::xid8) c ON true ORDER BY c.seq"};
// The same cursor, with the first 8 bytes of every live digest as the
// bigint of their bits (big-endian, as store::token_prefix reads them): one
// statement, so the prefixes and the cursor come from one snapshot, and only
// the 8 bytes leave the server, not the whole digest.
const Query kLivePrefixes{"feed_live_prefixes",
                          "SELECT x.next, t.p FROM "
                          "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS next) x "
                          "LEFT JOIN LATERAL (SELECT ('x' || encode(substring(digest from 1 for 8), 'hex'))::bit(64)::bigint "
                          "AS p FROM tokens WHERE (revoked_at IS NULL OR revoked_at > $1) AND expires_at > $1) t ON true"};

}  // namespace

void PostgresStore::set_change_listener(ChangeListener* listener) {
  listener_.store(listener, std::memory_order_release);
}

Result<TokenPrefixes> PostgresStore::load_live_token_prefixes(TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kLivePrefixes, Params().add(std::int64_t{now}));
  if (!r) return r.error();
  TokenPrefixes out;
  out.cursor.position = r->size() > 0 ? r->int64(0, 0) : 0;
  out.prefixes.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    if (r->is_null(i, 1)) continue;  // no live token: the cursor's row alone
    const auto v = static_cast<std::uint64_t>(r->int64(i, 1));
    out.prefixes.push_back(v == 0 ? 1 : v);  // as store::token_prefix maps an all-zero prefix
  }
  return out;
}

Result<ChangeBatch> PostgresStore::read_changes(ChangeCursor from) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kReadChanges, Params().add(from.position));
  if (!r) return r.error();
  ChangeBatch out;
  out.next = from;
  if (r->size() > 0) out.next.position = r->int64(0, 0);
  for (int i = 0; i < r->size(); ++i) {
    if (r->is_null(i, 1)) continue;  // no change: the cursor's row alone
    out.changes.push_back(Change{r->int64(i, 1), static_cast<std::uint64_t>(r->int64(i, 2))});
  }
  return out;
}

}  // namespace tokend::store::postgres
