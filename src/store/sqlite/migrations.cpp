#include "store/sqlite/migrations.hpp"

#include <spdlog/spdlog.h>

#include <iterator>
#include <string>

namespace tokend::store::sqlite {

namespace {

// Versioned migrations: entry i brings the schema from version i to i+1.
// Never edit a released entry; append a new one.
constexpr const char* kMigrations[] = {
    // 1: accounts, linked identities, tokens, sessions.
    R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  email         TEXT NOT NULL DEFAULT '',
  display_name  TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL DEFAULT '',
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX users_email ON users (email COLLATE NOCASE);
CREATE TABLE identities (
  provider   TEXT NOT NULL,
  subject    TEXT NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE TABLE tokens (
  id           INTEGER PRIMARY KEY,
  digest       BLOB NOT NULL UNIQUE,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  source       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id, created_at);
CREATE TABLE sessions (
  id           INTEGER PRIMARY KEY,
  digest       BLOB NOT NULL UNIQUE,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  method       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);
)sql",
    // 2: token scopes, space-separated; NULL for the rows before (read as the
    // configured defaults, token/scopes.hpp).
    R"sql(
ALTER TABLE tokens ADD COLUMN scopes TEXT;
)sql",
    // 3: the login throttle, shared by every instance on this database: one
    // row per attempt and key (auth/throttle.hpp), in flight or a failure.
    R"sql(
CREATE TABLE throttle_attempts (
  id        INTEGER PRIMARY KEY,
  key       TEXT NOT NULL,
  at        INTEGER NOT NULL,
  in_flight INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX throttle_attempts_key ON throttle_attempts (key, at);
CREATE INDEX throttle_attempts_at ON throttle_attempts (at);
)sql",
    // 4: the admin role (docs/operations.md, "Administrators"): granted with
    // `tokend user grant-admin`, or at each LDAP login by admin_group.
    R"sql(
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5: the change feed (store.hpp, Change): one row per write that can make
    // a validation cache's answer wrong, in the write's own transaction.
    // AUTOINCREMENT: a seq is never reused, even after purge() deleted the
    // newest rows, and SQLite has one writer, so seq order is commit order (a
    // reader's "seq > cursor" misses nothing). token_prefix is the uint64 of
    // store::token_prefix() stored as its int64 bit pattern; 0 is "none", as
    // is user_id 0.
    R"sql(
CREATE TABLE changes (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  at           INTEGER NOT NULL,
  user_id      INTEGER NOT NULL DEFAULT 0,
  token_prefix INTEGER NOT NULL DEFAULT 0
);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

}  // namespace

int schema_version() { return kSchemaVersion; }

Status migrate(Connection& c) {
  Tx tx(c);
  if (auto s = tx.begin(); !s) return Error{ErrorCode::kStorageError, "cannot lock the database: " + s.error().message};
  if (auto s = c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)"); !s) return s.error();
  int version = 0;
  {
    auto st = c.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!st) return st.error();
    if (st->step() != SQLITE_ROW) return db_error(c, "reading the schema version");
    version = static_cast<int>(st->int64(0));
  }
  if (version > kSchemaVersion) {
    return Error{ErrorCode::kStorageError, "the database has schema version " + std::to_string(version) +
                                      ", newer than this tokend understands (" + std::to_string(kSchemaVersion) + ")"};
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    if (auto s = c.exec(kMigrations[v]); !s) {
      return Error{ErrorCode::kStorageError, "migration " + std::to_string(v + 1) + " failed: " + s.error().message};
    }
    auto st = c.prepare("INSERT INTO schema_migrations (version) VALUES (?)");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(v + 1));
    if (st->step() != SQLITE_DONE) return db_error(c, "recording the migration");
    spdlog::info("database migrated to schema version {}", v + 1);
  }
  return tx.commit();
}

}  // namespace tokend::store::sqlite
