// SqliteStore's export_contents() and import_contents() (tokend db copy).
#include <string>

#include "store/digest_hex.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/connection_cache.hpp"
#include "store/sqlite/rows.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"

namespace tokend::store::sqlite {

Result<DatabaseContents> SqliteStore::export_contents() {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // One read transaction: one snapshot of every table (WAL).
  if (auto s = c.exec("BEGIN"); !s) return s.error();
  DatabaseContents out;
  auto done = [&](Status s) -> Result<DatabaseContents> {
    (void)c.exec(s ? "COMMIT" : "ROLLBACK");
    if (!s) return s.error();
    return std::move(out);
  };
  auto read = [&]() -> Status {
    int rc;
    {
      auto st = c.prepare(
          "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users ORDER BY id");
      if (!st) return st.error();
      while ((rc = st->step()) == SQLITE_ROW) out.users.push_back(read_user(*st, 0));
      if (rc != SQLITE_DONE) return db_error(c, "exporting users");
    }
    {
      auto st = c.prepare("SELECT provider, subject, user_id, created_at FROM identities ORDER BY user_id, provider, subject");
      if (!st) return st.error();
      while ((rc = st->step()) == SQLITE_ROW) out.links.push_back(Link{st->text(0), st->text(1), st->int64(2), st->int64(3)});
      if (rc != SQLITE_DONE) return db_error(c, "exporting links");
    }
    {
      auto st = c.prepare(
          "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes, hex(digest) "
          "FROM tokens ORDER BY id");
      if (!st) return st.error();
      while ((rc = st->step()) == SQLITE_ROW) {
        ExportedToken t;
        t.token = read_token(*st, 0);
        t.token.scopes = read_scopes(*st, 8);
        auto d = digest_from_hex(st->text(9));
        if (!d) return Error{ErrorCode::kStorageError, "token " + std::to_string(t.token.id) + " has a malformed digest"};
        t.digest = *d;
        out.tokens.push_back(std::move(t));
      }
      if (rc != SQLITE_DONE) return db_error(c, "exporting tokens");
    }
    {
      auto st = c.prepare(
          "SELECT id, user_id, method, created_at, last_seen_at, expires_at, revoked_at, hex(digest) "
          "FROM sessions ORDER BY id");
      if (!st) return st.error();
      while ((rc = st->step()) == SQLITE_ROW) {
        ExportedSession s;
        s.session.id = st->int64(0);
        s.session.user_id = st->int64(1);
        s.session.method = st->text(2);
        s.session.created_at = st->int64(3);
        s.session.last_seen_at = st->int64(4);
        s.session.expires_at = st->int64(5);
        s.revoked_at = st->opt_int64(6);
        s.session.revoked = s.revoked_at.has_value();
        auto d = digest_from_hex(st->text(7));
        if (!d) return Error{ErrorCode::kStorageError, "session " + std::to_string(s.session.id) + " has a malformed digest"};
        s.digest = *d;
        out.sessions.push_back(std::move(s));
      }
      if (rc != SQLITE_DONE) return db_error(c, "exporting sessions");
    }
    return ok_status();
  };
  return done(read());
}

Status SqliteStore::import_contents(const DatabaseContents& in) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  {
    auto st = c.prepare(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM identities) + (SELECT COUNT(*) FROM tokens) + "
        "(SELECT COUNT(*) FROM sessions)");
    if (!st) return st.error();
    if (st->step() != SQLITE_ROW) return db_error(c, "checking that the database is empty");
    if (st->int64(0) != 0) return Error{ErrorCode::kConflict, "the target database is not empty"};
  }
  for (const User& u : in.users) {
    auto st = c.prepare(
        "INSERT INTO users (id, username, email, display_name, password_hash, disabled, created_at, updated_at, admin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, u.id).bind(2, u.username).bind(3, u.email).bind(4, u.display_name).bind(5, u.password_hash);
    st->bind(6, std::int64_t{u.disabled ? 1 : 0}).bind(7, u.created_at).bind(8, u.created_at);
    st->bind(9, std::int64_t{u.admin ? 1 : 0});
    if (st->step() != SQLITE_DONE) return db_error(c, "importing a user");
  }
  for (const Link& l : in.links) {
    auto st = c.prepare("INSERT INTO identities (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, l.provider).bind(2, l.subject).bind(3, l.user_id).bind(4, l.created_at);
    if (st->step() != SQLITE_DONE) return db_error(c, "importing a link");
  }
  for (const ExportedToken& e : in.tokens) {
    const TokenRecord& t = e.token;
    auto st = c.prepare(
        "INSERT INTO tokens (id, digest, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, t.id).bind_blob(2, e.digest.data(), static_cast<int>(e.digest.size())).bind(3, t.user_id);
    st->bind(4, t.name).bind(5, t.source).bind(6, t.created_at).bind(7, t.expires_at);
    if (t.last_used_at) st->bind(8, *t.last_used_at); else st->bind_null(8);
    if (t.revoked_at) st->bind(9, *t.revoked_at); else st->bind_null(9);
    if (t.scopes) st->bind(10, *t.scopes); else st->bind_null(10);
    if (st->step() != SQLITE_DONE) return db_error(c, "importing a token");
  }
  for (const ExportedSession& e : in.sessions) {
    const SessionRecord& s = e.session;
    auto st = c.prepare(
        "INSERT INTO sessions (id, digest, user_id, method, created_at, last_seen_at, expires_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, s.id).bind_blob(2, e.digest.data(), static_cast<int>(e.digest.size())).bind(3, s.user_id);
    st->bind(4, s.method).bind(5, s.created_at).bind(6, s.last_seen_at).bind(7, s.expires_at);
    if (e.revoked_at) st->bind(8, *e.revoked_at); else st->bind_null(8);
    if (st->step() != SQLITE_DONE) return db_error(c, "importing a session");
  }
  return tx.commit();
}

}  // namespace tokend::store::sqlite
