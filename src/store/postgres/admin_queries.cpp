// The PostgresStore methods behind the admin API and CLI (store.hpp: set_admin,
// list_users_page, revoke_any_token, list_all_live_tokens,
// list_live_sessions, end_session) and token rotation (rotate_token), apart
// from postgres_store.cpp. The same semantics as src/store/sqlite/admin_queries.cpp;
// the conformance suite runs both.
#include <string>

#include "store/announce.hpp"
#include "store/postgres/account_queries.hpp"
#include "store/postgres/connection_pool.hpp"
#include "tokend/store/like_pattern.hpp"
#include "tokend/store/postgres/postgres_store.hpp"

namespace tokend::store::postgres {

namespace {

#define TOKEND_ADMIN_TOKEN_COLUMNS \
  "t.id, t.user_id, t.name, t.source, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.scopes"
#define TOKEND_ADMIN_SESSION_COLUMNS "id, user_id, method, created_at, last_seen_at, expires_at, revoked_at"

// Each write adds its change-feed row in a CTE of the same statement (see
// postgres_store.cpp): atomic, no extra round trip, none when nothing matched.
const Query kSetAdmin{"admin_set_admin",
                      "WITH upd AS (UPDATE users SET admin = $1, updated_at = $2 WHERE id = $3 RETURNING id), "
                      "ch AS (INSERT INTO changes (user_id) SELECT id FROM upd) "
                      "SELECT count(*) FROM upd"};
// ILIKE: the search ignores case, as SQLite's LIKE does for ASCII.
const Query kUsersPage{"admin_users_page",
                       "SELECT id, username, email, display_name, '', disabled, created_at, admin FROM users "
                       "WHERE id > $1 AND ($2::text = '' OR username ILIKE $3 ESCAPE '\\' "
                       "OR email ILIKE $3 ESCAPE '\\') ORDER BY id LIMIT $4"};
// One statement: found and revoked atomically (two admins: one 204, one 404).
// A token in a rotation's grace period (revoked_at in the future) is live:
// revoking ends it now.
const Query kRevokeAny{"admin_revoke_any",
                       "WITH upd AS (UPDATE tokens t SET revoked_at = $1 WHERE t.id = $2 "
                       "AND (t.revoked_at IS NULL OR t.revoked_at > $1) AND t.expires_at > $1 "
                       "RETURNING " TOKEND_ADMIN_TOKEN_COLUMNS "), "
                       "ch AS (INSERT INTO changes (user_id) SELECT user_id FROM upd) "
                       "SELECT * FROM upd"};
const Query kAllLive{"admin_all_live",
                     "SELECT " TOKEND_ADMIN_TOKEN_COLUMNS " FROM tokens t "
                     "WHERE ($1::bigint = 0 OR t.user_id = $1::bigint) "
                     "AND (t.revoked_at IS NULL OR t.revoked_at > $2) AND t.expires_at > $2 "
                     "ORDER BY t.created_at DESC, t.id DESC LIMIT $3"};
const Query kLiveSessions{"admin_live_sessions",
                          "SELECT " TOKEND_ADMIN_SESSION_COLUMNS " FROM sessions "
                          "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 "
                          "ORDER BY created_at DESC, id DESC"};
const Query kEndSession{"admin_end_session",
                        "WITH upd AS (UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL "
                        "AND expires_at > $1 RETURNING " TOKEND_ADMIN_SESSION_COLUMNS "), "
                        "ch AS (INSERT INTO changes (user_id) SELECT user_id FROM upd) "
                        "SELECT * FROM upd"};
const Query kRotateBegin{"rotate_begin", "BEGIN"};
// Security: the account's row, share-locked first. set_disabled updates that
// row before it revokes the account's tokens, so the two serialise: either
// this sees the account disabled (and rotates nothing), or the disable waits
// for this commit, and its token UPDATE (a statement started after it) also
// revokes the new token. Without it, the new row, not yet committed when the
// disable's UPDATE began, would escape it and work again after an enable.
const Query kRotateUser{"rotate_lock_user", "SELECT 1 FROM users WHERE id = $1 AND NOT disabled FOR SHARE"};
const Query kRotateCommit{"rotate_commit", "COMMIT"};
// One change row says both: the old token ends (forget the account's) and a
// new prefix exists.
const Query kRotateChange{"rotate_change", "INSERT INTO changes (user_id, token_prefix) VALUES ($1, $2)"};
// The row lock this UPDATE takes makes a concurrent rotation of the same
// token wait; it then re-reads the row (READ COMMITTED), finds revoked_at set
// and matches nothing: two rotations never both succeed.
const Query kRotateEnd{"rotate_end_old",
                       "UPDATE tokens SET revoked_at = $1 "
                       "WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $4 "
                       "RETURNING name, source, expires_at, scopes"};
const Query kRotateInsert{"rotate_insert",
                          "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at, scopes) "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING RETURNING id"};

SessionRecord read_session(const Rows& r, int row) {
  SessionRecord s;
  s.id = r.int64(row, 0);
  s.user_id = r.int64(row, 1);
  s.method = r.text(row, 2);
  s.created_at = r.int64(row, 3);
  s.last_seen_at = r.int64(row, 4);
  s.expires_at = r.int64(row, 5);
  s.revoked = !r.is_null(row, 6);
  return s;
}

}  // namespace

Status PostgresStore::set_admin(std::int64_t user_id, bool admin, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kSetAdmin, Params().add(admin).add(std::int64_t{now}).add(user_id));
  if (!r) return r.error();
  if (r->int64(0, 0) == 0) return Error{ErrorCode::kNotFound, "no such user"};
  announce(listener_, {Change{user_id, 0}});
  return ok_status();
}

Result<std::vector<User>> PostgresStore::list_users_page(const UserQuery& q) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  const std::string pattern = like_contains_pattern(q.search);
  auto r = (*lease)->exec(kUsersPage, Params()
                                          .add(q.after_id)
                                          .add(std::string_view(q.search))
                                          .add(std::string_view(pattern))
                                          .add(static_cast<std::int64_t>(q.limit)));
  if (!r) return r.error();
  std::vector<User> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_user(*r, i, 0));  // password_hash selected as ''
  return out;
}

Result<TokenRecord> PostgresStore::revoke_any_token(std::int64_t token_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kRevokeAny, Params().add(std::int64_t{now}).add(token_id));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such live token"};
  TokenRecord t = read_token(*r, 0);
  t.revoked_at.reset();  // as it was before
  announce(listener_, {Change{t.user_id, 0}});
  return t;
}

Result<std::vector<TokenRecord>> PostgresStore::list_all_live_tokens(std::int64_t user_id, TimeMs now,
                                                                     std::size_t limit) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kAllLive,
                          Params().add(user_id).add(std::int64_t{now}).add(static_cast<std::int64_t>(limit)));
  if (!r) return r.error();
  std::vector<TokenRecord> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_token(*r, i));
  return out;
}

Result<std::vector<SessionRecord>> PostgresStore::list_live_sessions(std::int64_t user_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kLiveSessions, Params().add(user_id).add(std::int64_t{now}));
  if (!r) return r.error();
  std::vector<SessionRecord> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_session(*r, i));
  return out;
}

Result<SessionRecord> PostgresStore::end_session(std::int64_t session_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kEndSession, Params().add(std::int64_t{now}).add(session_id));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such live session"};
  SessionRecord s = read_session(*r, 0);
  s.revoked = false;  // as it was before
  announce(listener_, {Change{s.user_id, 0}});
  return s;
}

Result<TokenRecord> PostgresStore::rotate_token(std::int64_t user_id, std::int64_t token_id,
                                                const crypto::Sha256& digest, TimeMs now, TimeMs old_ends_at) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // An open transaction left by a failure is rolled back when the lease ends.
  if (auto s = c.exec(kRotateBegin); !s) return s.error();
  auto account = c.exec(kRotateUser, Params().add(user_id));
  if (!account) return account.error();
  if (account->size() == 0) return Error{ErrorCode::kNotFound, "no such token to rotate (account disabled)"};
  auto old = c.exec(kRotateEnd,
                    Params().add(std::int64_t{old_ends_at}).add(token_id).add(user_id).add(std::int64_t{now}));
  if (!old) return old.error();
  if (old->size() == 0) return Error{ErrorCode::kNotFound, "no such token to rotate"};
  TokenRecord r;
  r.user_id = user_id;
  r.name = old->text(0, 0);
  r.source = old->text(0, 1);
  r.expires_at = old->int64(0, 2);
  r.scopes = old->opt_text(0, 3);
  r.created_at = now;
  auto ins = c.exec(kRotateInsert, Params()
                                       .add_bytes(digest.data(), digest.size())
                                       .add(user_id)
                                       .add(std::string_view(r.name))
                                       .add(std::string_view(r.source))
                                       .add(std::int64_t{now})
                                       .add(std::int64_t{r.expires_at})
                                       .add(r.scopes));
  if (!ins) return ins.error();
  if (ins->size() == 0) return Error{ErrorCode::kConflict, "a token with this digest exists"};
  r.id = ins->int64(0, 0);
  const Change change{user_id, token_prefix(digest)};
  if (auto s = c.exec(kRotateChange, Params().add(user_id).add(static_cast<std::int64_t>(change.token_prefix))); !s) {
    return s.error();
  }
  if (auto s = c.exec(kRotateCommit); !s) return s.error();
  announce(listener_, {change});
  return r;
}

}  // namespace tokend::store::postgres
