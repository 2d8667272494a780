// The SqliteStore methods behind the admin API and CLI (store.hpp: set_admin,
// list_users_page, revoke_any_token, list_all_live_tokens,
// list_live_sessions, end_session), apart from sqlite_store.cpp.
#include <string>

#include "store/sqlite/change_rows.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/connection_cache.hpp"
#include "store/sqlite/rows.hpp"
#include "tokend/store/like_pattern.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"

namespace tokend::store::sqlite {

namespace {

// Macros, not constants: Connection::prepare caches statements by the address
// of their SQL literal, so every statement must be one literal.
#define TOKEND_TOKEN_COLUMNS "id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes"
#define TOKEND_SESSION_COLUMNS "id, user_id, method, created_at, last_seen_at, expires_at, revoked_at"

SessionRecord read_session(const Stmt& s) {
  SessionRecord r;
  r.id = s.int64(0);
  r.user_id = s.int64(1);
  r.method = s.text(2);
  r.created_at = s.int64(3);
  r.last_seen_at = s.int64(4);
  r.expires_at = s.int64(5);
  r.revoked = s.opt_int64(6).has_value();
  return r;
}

}  // namespace

Status SqliteStore::set_admin(std::int64_t user_id, bool admin, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  {
    auto st = c.prepare("UPDATE users SET admin = ?, updated_at = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, std::int64_t{admin ? 1 : 0}).bind(2, now).bind(3, user_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "setting the admin role");
  }
  if (c.changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{user_id, 0}, changes); !s) return s;
  if (auto s = tx.commit(); !s) return s;
  announce(changes);
  return ok_status();
}

Result<std::vector<User>> SqliteStore::list_users_page(const UserQuery& q) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  // SQLite's LIKE ignores ASCII case by default (PRAGMA case_sensitive_like
  // is never set), as UserQuery documents.
  auto st = (*lease)->prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users "
      "WHERE id > ? AND (? = '' OR username LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\') "
      "ORDER BY id LIMIT ?");
  if (!st) return st.error();
  const std::string pattern = like_contains_pattern(q.search);
  st->bind(1, q.after_id).bind(2, q.search).bind(3, pattern).bind(4, pattern);
  st->bind(5, static_cast<std::int64_t>(q.limit));
  std::vector<User> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    out.push_back(read_user(*st, 0));
    // The admin listing shows accounts, never their password hashes.
    out.back().password_hash.clear();
  }
  if (rc != SQLITE_DONE) return db_error(**lease, "listing users");
  return out;
}

Result<TokenRecord> SqliteStore::revoke_any_token(std::int64_t token_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s.error();
  TokenRecord t;
  {
    // One statement: the row is found and revoked atomically, so two admins
    // revoking the same token get one 204 and one 404.
    auto st = c.prepare("UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND (revoked_at IS NULL OR revoked_at > ?1) "
                        "AND expires_at > ?1 "
                        "RETURNING " TOKEND_TOKEN_COLUMNS);
    if (!st) return st.error();
    st->bind(1, now).bind(2, token_id);  // a token in a rotation's grace period is live: ended now
    const int rc = st->step();
    if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such live token"};
    if (rc != SQLITE_ROW) return db_error(c, "revoking a token");
    t = read_token(*st, 0);
    t.scopes = read_scopes(*st, 8);
    t.revoked_at.reset();  // as it was before
    if (st->step() != SQLITE_DONE) return db_error(c, "revoking a token");
  }
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{t.user_id, 0}, changes); !s) return s.error();
  if (auto s = tx.commit(); !s) return s.error();
  announce(changes);
  return t;
}

Result<std::vector<TokenRecord>> SqliteStore::list_all_live_tokens(std::int64_t user_id, TimeMs now,
                                                                   std::size_t limit) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("SELECT " TOKEND_TOKEN_COLUMNS
                              " FROM tokens WHERE (?1 = 0 OR user_id = ?1) AND (revoked_at IS NULL OR revoked_at > ?2) AND expires_at > ?2 "
                              "ORDER BY created_at DESC, id DESC LIMIT ?3");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now).bind(3, static_cast<std::int64_t>(limit));
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    out.push_back(read_token(*st, 0));
    out.back().scopes = read_scopes(*st, 8);
  }
  if (rc != SQLITE_DONE) return db_error(**lease, "listing tokens");
  return out;
}

Result<std::vector<SessionRecord>> SqliteStore::list_live_sessions(std::int64_t user_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("SELECT " TOKEND_SESSION_COLUMNS
                              " FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? "
                              "ORDER BY created_at DESC, id DESC");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  std::vector<SessionRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_session(*st));
  if (rc != SQLITE_DONE) return db_error(**lease, "listing sessions");
  return out;
}

Result<SessionRecord> SqliteStore::end_session(std::int64_t session_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s.error();
  SessionRecord r;
  {
    auto st = c.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ? "
                        "RETURNING " TOKEND_SESSION_COLUMNS);
    if (!st) return st.error();
    st->bind(1, now).bind(2, session_id).bind(3, now);
    const int rc = st->step();
    if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such live session"};
    if (rc != SQLITE_ROW) return db_error(c, "ending a session");
    r = read_session(*st);
    r.revoked = false;  // as it was before
    if (st->step() != SQLITE_DONE) return db_error(c, "ending a session");
  }
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{r.user_id, 0}, changes); !s) return s.error();
  if (auto s = tx.commit(); !s) return s.error();
  announce(changes);
  return r;
}

}  // namespace tokend::store::sqlite
