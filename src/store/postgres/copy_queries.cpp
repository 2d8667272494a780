// PostgresStore's export_contents() and import_contents() (tokend db copy).
#include <string>

#include "store/digest_hex.hpp"
#include "store/postgres/account_queries.hpp"
#include "store/postgres/connection_pool.hpp"
#include "tokend/store/postgres/postgres_store.hpp"

namespace tokend::store::postgres {

namespace {

const Query kBeginSnapshot{"copy_begin_snapshot", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
const Query kBeginWrite{"copy_begin", "BEGIN"};
const Query kEnd{"copy_commit", "COMMIT"};
const Query kUsers{"copy_users",
                   "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users ORDER BY id"};
const Query kLinks{"copy_links",
                   "SELECT provider, subject, user_id, created_at FROM identities "
                   "ORDER BY user_id, provider COLLATE \"C\", subject COLLATE \"C\""};
const Query kTokens{"copy_tokens",
                    "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes, "
                    "encode(digest, 'hex') FROM tokens ORDER BY id"};
const Query kSessions{"copy_sessions",
                      "SELECT id, user_id, method, created_at, last_seen_at, expires_at, revoked_at, "
                      "encode(digest, 'hex') FROM sessions ORDER BY id"};
// The same lock as the account writers (postgres_store.cpp), so nothing is
// created between the emptiness check and the commit.
const Query kLock{"copy_lock", "SELECT pg_advisory_xact_lock(7630367537457291)"};
const Query kCount{"copy_count",
                   "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM identities) + "
                   "(SELECT count(*) FROM tokens) + (SELECT count(*) FROM sessions)"};
const Query kInsertUser{"copy_insert_user",
                        "INSERT INTO users (id, username, email, display_name, password_hash, disabled, created_at, "
                        "updated_at, admin) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"};
const Query kInsertLink{"copy_insert_link",
                        "INSERT INTO identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)"};
const Query kInsertToken{"copy_insert_token",
                         "INSERT INTO tokens (id, digest, user_id, name, source, created_at, expires_at, last_used_at, "
                         "revoked_at, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};
const Query kInsertSession{"copy_insert_session",
                           "INSERT INTO sessions (id, digest, user_id, method, created_at, last_seen_at, expires_at, "
                           "revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};
// Rows inserted with their ids leave the identity sequences behind: move
// each past its table's highest id, so new rows do not collide.
const Query kSequences{"copy_sequences",
                       "SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE((SELECT max(id) FROM users), 0) + 1, false), "
                       "setval(pg_get_serial_sequence('tokens', 'id'), COALESCE((SELECT max(id) FROM tokens), 0) + 1, false), "
                       "setval(pg_get_serial_sequence('sessions', 'id'), COALESCE((SELECT max(id) FROM sessions), 0) + 1, false)"};

}  // namespace

Result<DatabaseContents> PostgresStore::export_contents() {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // One snapshot for every table; the lease's end rolls back on an error.
  if (auto s = c.exec(kBeginSnapshot); !s) return s.error();
  DatabaseContents out;
  auto users = c.exec(kUsers);
  if (!users) return users.error();
  for (int i = 0; i < users->size(); ++i) out.users.push_back(read_user(*users, i, 0));
  auto links = c.exec(kLinks);
  if (!links) return links.error();
  for (int i = 0; i < links->size(); ++i) {
    out.links.push_back(Link{links->text(i, 0), links->text(i, 1), links->int64(i, 2), links->int64(i, 3)});
  }
  auto tokens = c.exec(kTokens);
  if (!tokens) return tokens.error();
  for (int i = 0; i < tokens->size(); ++i) {
    ExportedToken t;
    t.token.id = tokens->int64(i, 0);
    t.token.user_id = tokens->int64(i, 1);
    t.token.name = tokens->text(i, 2);
    t.token.source = tokens->text(i, 3);
    t.token.created_at = tokens->int64(i, 4);
    t.token.expires_at = tokens->int64(i, 5);
    t.token.last_used_at = tokens->opt_int64(i, 6);
    t.token.revoked_at = tokens->opt_int64(i, 7);
    t.token.scopes = tokens->opt_text(i, 8);
    auto d = digest_from_hex(tokens->text(i, 9));
    if (!d) return Error{ErrorCode::kStorageError, "token " + std::to_string(t.token.id) + " has a malformed digest"};
    t.digest = *d;
    out.tokens.push_back(std::move(t));
  }
  auto sessions = c.exec(kSessions);
  if (!sessions) return sessions.error();
  for (int i = 0; i < sessions->size(); ++i) {
    ExportedSession s;
    s.session.id = sessions->int64(i, 0);
    s.session.user_id = sessions->int64(i, 1);
    s.session.method = sessions->text(i, 2);
    s.session.created_at = sessions->int64(i, 3);
    s.session.last_seen_at = sessions->int64(i, 4);
    s.session.expires_at = sessions->int64(i, 5);
    s.revoked_at = sessions->opt_int64(i, 6);
    s.session.revoked = s.revoked_at.has_value();
    auto d = digest_from_hex(sessions->text(i, 7));
    if (!d) return Error{ErrorCode::kStorageError, "session " + std::to_string(s.session.id) + " has a malformed digest"};
    s.digest = *d;
    out.sessions.push_back(std::move(s));
  }
  if (auto s = c.exec(kEnd); !s) return s.error();
  return out;
}

Status PostgresStore::import_contents(const DatabaseContents& in) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // One transaction: all or nothing. The lease's end rolls back on an error.
  if (auto s = c.exec(kBeginWrite); !s) return s.error();
  if (auto s = c.exec(kLock); !s) return s.error();
  auto count = c.exec(kCount);
  if (!count) return count.error();
  if (count->int64(0, 0) != 0) return Error{ErrorCode::kConflict, "the target database is not empty"};
  for (const User& u : in.users) {
    auto r = c.exec(kInsertUser, Params()
                                     .add(u.id)
                                     .add(u.username)
                                     .add(u.email)
                                     .add(u.display_name)
                                     .add(u.password_hash)
                                     .add(u.disabled)
                                     .add(std::int64_t{u.created_at})
                                     .add(u.admin));
    if (!r) return r.error();
  }
  for (const Link& l : in.links) {
    auto r = c.exec(kInsertLink, Params().add(l.provider).add(l.subject).add(l.user_id).add(std::int64_t{l.created_at}));
    if (!r) return r.error();
  }
  for (const ExportedToken& e : in.tokens) {
    const TokenRecord& t = e.token;
    auto r = c.exec(kInsertToken, Params()
                                      .add(t.id)
                                      .add_bytes(e.digest.data(), e.digest.size())
                                      .add(t.user_id)
                                      .add(t.name)
                                      .add(t.source)
                                      .add(std::int64_t{t.created_at})
                                      .add(std::int64_t{t.expires_at})
                                      .add(t.last_used_at)
                                      .add(t.revoked_at)
                                      .add(t.scopes));
    if (!r) return r.error();
  }
  for (const ExportedSession& e : in.sessions) {
    const SessionRecord& s = e.session;
    auto r = c.exec(kInsertSession, Params()
                                        .add(s.id)
                                        .add_bytes(e.digest.data(), e.digest.size())
                                        .add(s.user_id)
                                        .add(s.method)
                                        .add(std::int64_t{s.created_at})
                                        .add(std::int64_t{s.last_seen_at})
                                        .add(std::int64_t{s.expires_at})
                                        .add(e.revoked_at));
    if (!r) return r.error();
  }
  if (auto r = c.exec(kSequences); !r) return r.error();
  if (auto s = c.exec(kEnd); !s) return s.error();
  return ok_status();
}

}  // namespace tokend::store::postgres
