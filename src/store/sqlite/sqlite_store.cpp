#include "tokend/store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "store/group_committer.hpp"
#include "store/sqlite/account_queries.hpp"
#include "store/sqlite/change_rows.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/connection_cache.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/throttle_queries.hpp"

namespace tokend::store::sqlite {

namespace {

const void* digest_ptr(const crypto::Sha256& d) { return d.data(); }
constexpr int kDigestLen = static_cast<int>(sizeof(crypto::Sha256));
// Bounds one group-commit transaction (and the latency of the first caller in it).
constexpr std::size_t kMaxGroup = 256;

}  // namespace

int SqliteStore::schema_version() { return sqlite::schema_version(); }

SqliteStore::SqliteStore(config::DatabaseConfig config)
    : config_(std::move(config)),
      connections_(std::make_unique<ConnectionCache>(config_)),
      committer_(std::make_unique<GroupCommitter>(
          [this](const std::vector<const NewToken*>& rows) { return commit_tokens(rows); }, kMaxGroup)) {}

// The committer (declared last) is destroyed first: it commits and calls back
// what is queued while the connections are still open.
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const config::DatabaseConfig& config) {
  std::error_code ec;
  const auto parent = std::filesystem::path(config.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Error{ErrorCode::kStorageError, "cannot create " + parent.string() + ": " + ec.message()};

  // The file holds password hashes and emails: create it readable by its
  // owner only (SQLite gives the -wal and -shm files the same permissions).
  if (const int fd = ::open(config.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  } else {
    return Error{ErrorCode::kStorageError, "cannot create " + config.path + ": " + std::strerror(errno)};
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(config));
  auto lease = store->connections_->lease();
  if (!lease) return lease.error();
  if (auto s = migrate(**lease); !s) return s.error();
  return store;
}

// ---------------------------------------------------------------- accounts

Result<User> SqliteStore::create_user(const NewUser& user) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  return AccountQueries(**lease).insert_user(user, now_ms());
}

Result<User> SqliteStore::find_user_by_username(std::string_view username) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  return AccountQueries(**lease).find_user_by_username(username);
}

Result<User> SqliteStore::find_user(std::int64_t id) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  return AccountQueries(**lease).find_user(id);
}

Result<std::vector<User>> SqliteStore::list_users() {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users ORDER BY username");
  if (!st) return st.error();
  std::vector<User> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_user(*st, 0));
  if (rc != SQLITE_DONE) return db_error(**lease, "listing users");
  return out;
}

Status SqliteStore::set_password_hash(std::int64_t user_id, const std::string& phc) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, phc).bind(2, now_ms()).bind(3, user_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "updating a password");
  if ((*lease)->changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return ok_status();
}

Status SqliteStore::revoke_sessions(std::int64_t user_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  std::vector<Change> changes;
  {
    auto st = c.prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
    if (!st) return st.error();
    st->bind(1, now).bind(2, user_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "revoking sessions");
  }
  if (c.changes() > 0) {
    if (auto s = record_change(c, Change{user_id, 0}, changes); !s) return s;
  }
  if (auto s = tx.commit(); !s) return s;
  announce(changes);
  return ok_status();
}

Status SqliteStore::set_disabled(std::int64_t user_id, bool disabled, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  {
    auto st = c.prepare("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(disabled ? 1 : 0)).bind(2, now).bind(3, user_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "disabling a user");
    if (c.changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  }
  if (disabled) {
    // Disabling kills everything the account holds, in the same transaction:
    // a disabled account must not keep a working token even if re-enabled.
    auto st = c.prepare(
        "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND (revoked_at IS NULL OR revoked_at > ?)");
    if (!st) return st.error();
    st->bind(1, now).bind(2, user_id).bind(3, now);
    if (st->step() != SQLITE_DONE) return db_error(c, "revoking tokens");
    auto ss = c.prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
    if (!ss) return ss.error();
    ss->bind(1, now).bind(2, user_id);
    if (ss->step() != SQLITE_DONE) return db_error(c, "revoking sessions");
  }
  // Enabling changes what is remembered of the account too (its state).
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{user_id, 0}, changes); !s) return s;
  if (auto s = tx.commit(); !s) return s;
  announce(changes);
  return ok_status();
}

Status SqliteStore::in_transaction(const TransactionBody& body) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  AccountQueries t(c);
  if (auto s = body(t); !s) return s;  // `tx` rolls back
  if (auto s = tx.commit(); !s) return s;
  announce(t.changes());
  return ok_status();
}

// ---------------------------------------------------------------- tokens

// Token inserts go through the group committer (store/group_committer.hpp):
// commit_tokens() below is how SQLite commits one group.
Result<TokenRecord> SqliteStore::insert_token(const NewToken& t) { return committer_->submit_and_wait(t); }

void SqliteStore::insert_token_async(const NewToken& t, InsertTokenDone done) { committer_->submit(t, std::move(done)); }

void SqliteStore::wait_idle() { committer_->wait_idle(); }

std::vector<Result<TokenRecord>> SqliteStore::commit_tokens(const std::vector<const NewToken*>& group) {
  std::vector<Result<TokenRecord>> results;
  results.reserve(group.size());
  auto fail_all = [&](const Error& e) {
    results.assign(group.size(), e);
  };
  [&] {
    auto lease = connections_->lease();
    if (!lease) return fail_all(lease.error());
    Connection& c = **lease;
    // A transaction still open here is one a failed ROLLBACK left behind
    // (SQLITE_FULL or an I/O error during the last group): end it, or this
    // group and every later one would fail on BEGIN ("within a transaction")
    // or, worse, join its rows to it.
    if (!sqlite3_get_autocommit(c.handle())) (void)c.exec("ROLLBACK");
    // Always a transaction, even for a group of one: each row comes with its
    // change row (the new prefix), committed together or not at all.
    Tx tx(c);
    if (auto s = tx.begin(); !s) return fail_all(s.error());
    std::vector<Change> changes;
    changes.reserve(group.size());
    for (const NewToken* row : group) {
      const NewToken& t = *row;
      // Security: the row is written only while its account exists and is
      // enabled, checked by the INSERT itself under the write lock. A
      // set_disabled racing this insert either committed first (no row: the
      // caller hears kNotFound) or comes after and revokes the new row: a
      // disabled account never keeps a token that works again once enabled.
      auto st = c.prepare(
          "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at, scopes) "
          "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 FROM users WHERE id = ?2 AND disabled = 0");
      if (!st) return fail_all(st.error());
      st->bind_blob(1, digest_ptr(t.digest), kDigestLen).bind(2, t.user_id).bind(3, t.name).bind(4, t.source);
      st->bind(5, t.created_at).bind(6, t.expires_at);
      if (t.scopes) st->bind(7, *t.scopes); else st->bind_null(7);
      if (const int rc = st->step(); rc != SQLITE_DONE) {
        const Error e = db_error(c, "inserting a token");
        // A constraint failure (a duplicate digest) fails its own row and
        // leaves the transaction open for the others. Anything else
        // (SQLITE_FULL, an I/O error, SQLITE_BUSY past busy_timeout_ms, no
        // memory) may have rolled back the statement or the whole
        // transaction, and SQLite's advice is a ROLLBACK either way: fail the
        // whole group and let `tx` roll it back, so that no caller hears 200
        // for a row of a transaction in doubt.
        // A failed bind never ran the statement: that row alone fails too.
        const bool row_only =
            ((rc & 0xff) == SQLITE_CONSTRAINT || st->bind_failed()) && !sqlite3_get_autocommit(c.handle());
        if (!row_only || group.size() == 1) return fail_all(e);
        results.emplace_back(e);
        continue;
      }
      if (c.changes() == 0) {
        results.emplace_back(Error{ErrorCode::kNotFound, "no such enabled account"});
        continue;
      }
      TokenRecord r;
      r.id = c.last_insert_rowid();  // before the change row's insert moves it
      // Its change row: one cached statement stepped in this process, no
      // round trip, so one per token costs what one multi-row INSERT would.
      const Change added{0, token_prefix(t.digest)};
      if (auto s = record_change(c, added, changes); !s) return fail_all(s.error());
      r.user_id = t.user_id;
      r.name = t.name;
      r.source = t.source;
      r.created_at = t.created_at;
      r.expires_at = t.expires_at;
      r.scopes = t.scopes;
      results.emplace_back(std::move(r));
    }
    if (auto s = tx.commit(); !s) return fail_all(s.error());
    // Before the GroupCommitter calls anyone back: a client that validates
    // its new token at once on this instance finds its prefix known.
    announce(changes);
  }();
  return results;
}

Result<TokenLookup> SqliteStore::find_token(const crypto::Sha256& digest) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT t.id, t.user_id, t.name, t.source, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, "
      // Not the password hash: the token path has no use for it (and copying
      // it was an allocation per validation).
      "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at, u.admin, t.scopes "
      "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = ?");
  if (!st) return st.error();
  st->bind_blob_static(1, digest_ptr(digest), kDigestLen);  // `digest` outlives `st`
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such token"};
  if (rc != SQLITE_ROW) return db_error(**lease, "finding a token");
  TokenLookup l{read_token(*st, 0), read_user(*st, 8)};
  l.token.scopes = read_scopes(*st, 16);
  return l;
}

Result<std::vector<TokenRecord>> SqliteStore::list_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes FROM tokens "
      "WHERE user_id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2) AND expires_at > ?2 "
      "ORDER BY created_at DESC, id DESC");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    out.push_back(read_token(*st, 0));
    out.back().scopes = read_scopes(*st, 8);
  }
  if (rc != SQLITE_DONE) return db_error(**lease, "listing tokens");
  return out;
}

Result<std::vector<TokenRecord>> SqliteStore::list_live_tokens_page(std::int64_t user_id, TimeMs now,
                                                                    std::size_t limit,
                                                                    const std::optional<TokenPosition>& after) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  // Keyset paging on the tokens_user index (user_id, created_at): each page
  // costs its own size, however deep it is.
  auto st = (*lease)->prepare(
      "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes FROM tokens "
      "WHERE user_id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2) AND expires_at > ?2 "
      "AND (?3 = 0 OR created_at < ?4 OR (created_at = ?5 AND id < ?6)) "
      "ORDER BY created_at DESC, id DESC LIMIT ?7");
  if (!st) return st.error();
  const TimeMs at = after ? after->created_at : 0;
  st->bind(1, user_id).bind(2, now).bind(3, std::int64_t{after ? 1 : 0}).bind(4, at).bind(5, at)
      .bind(6, after ? after->id : std::int64_t{0}).bind(7, static_cast<std::int64_t>(limit));
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    out.push_back(read_token(*st, 0));
    out.back().scopes = read_scopes(*st, 8);
  }
  if (rc != SQLITE_DONE) return db_error(**lease, "listing tokens");
  return out;
}

Result<std::int64_t> SqliteStore::count_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT COUNT(*) FROM tokens WHERE user_id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2) "
      "AND expires_at > ?2");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  if (st->step() != SQLITE_ROW) return db_error(**lease, "counting tokens");
  return st->int64(0);
}

Status SqliteStore::revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  {
    auto st = c.prepare(
        "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND user_id = ?3 AND (revoked_at IS NULL OR revoked_at > ?1) "
        "AND expires_at > ?1");
    if (!st) return st.error();
    st->bind(1, now).bind(2, token_id).bind(3, user_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "revoking a token");
  }
  if (c.changes() == 0) return Error{ErrorCode::kNotFound, "no such live token"};
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{user_id, 0}, changes); !s) return s;
  if (auto s = tx.commit(); !s) return s;
  announce(changes);
  return ok_status();
}

Result<TokenRecord> SqliteStore::rotate_token(std::int64_t user_id, std::int64_t token_id,
                                              const crypto::Sha256& digest, TimeMs now, TimeMs old_ends_at) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // BEGIN IMMEDIATE: the write lock is taken before the old row is read, so a
  // second rotation of the same token waits and then finds it ending.
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s.error();
  TokenRecord r;
  {
    auto st = c.prepare(
        "SELECT name, source, expires_at, scopes FROM tokens "
        "WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3");
    if (!st) return st.error();
    st->bind(1, token_id).bind(2, user_id).bind(3, now);
    const int rc = st->step();
    if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such token to rotate"};
    if (rc != SQLITE_ROW) return db_error(c, "reading a token to rotate");
    r.name = st->text(0);
    r.source = st->text(1);
    r.expires_at = st->int64(2);
    r.scopes = read_scopes(*st, 3);
  }
  {
    auto st = c.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, old_ends_at).bind(2, token_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "ending a rotated token");
  }
  {
    auto st = c.prepare(
        "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at, scopes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind_blob(1, digest_ptr(digest), kDigestLen).bind(2, user_id).bind(3, r.name).bind(4, r.source);
    st->bind(5, now).bind(6, r.expires_at);
    if (r.scopes) st->bind(7, *r.scopes); else st->bind_null(7);
    if (st->step() != SQLITE_DONE) return db_error(c, "inserting a rotated token");
    r.id = c.last_insert_rowid();
  }
  // One row says both: the old token ends (forget the account's) and a new
  // prefix exists.
  std::vector<Change> changes;
  if (auto s = record_change(c, Change{user_id, token_prefix(digest)}, changes); !s) return s.error();
  if (auto s = tx.commit(); !s) return s.error();
  announce(changes);
  r.user_id = user_id;
  r.created_at = now;
  return r;
}

Status SqliteStore::record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) {
  if (uses.empty()) return ok_status();
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  for (const auto& [id, at] : uses) {
    auto st = c.prepare("UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, at).bind(2, id);
    if (st->step() != SQLITE_DONE) return db_error(c, "recording token use");
  }
  return tx.commit();
}

// ---------------------------------------------------------------- sessions

Result<SessionRecord> SqliteStore::insert_session(const NewSession& s) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  auto st = c.prepare(
      "INSERT INTO sessions (digest, user_id, method, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)");
  if (!st) return st.error();
  st->bind_blob(1, digest_ptr(s.digest), kDigestLen).bind(2, s.user_id).bind(3, s.method);
  st->bind(4, s.created_at).bind(5, s.created_at).bind(6, s.expires_at);
  if (st->step() != SQLITE_DONE) return db_error(c, "inserting a session");
  SessionRecord r;
  r.id = c.last_insert_rowid();
  r.user_id = s.user_id;
  r.method = s.method;
  r.created_at = s.created_at;
  r.last_seen_at = s.created_at;
  r.expires_at = s.expires_at;
  return r;
}

Result<SessionLookup> SqliteStore::find_session(const crypto::Sha256& digest) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT s.id, s.user_id, s.method, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, "
      "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at, u.admin "
      "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?");
  if (!st) return st.error();
  st->bind_blob_static(1, digest_ptr(digest), kDigestLen);  // `digest` outlives `st`
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such session"};
  if (rc != SQLITE_ROW) return db_error(**lease, "finding a session");
  SessionLookup l;
  l.session.id = st->int64(0);
  l.session.user_id = st->int64(1);
  l.session.method = st->text(2);
  l.session.created_at = st->int64(3);
  l.session.last_seen_at = st->int64(4);
  l.session.expires_at = st->int64(5);
  l.session.revoked = st->opt_int64(6).has_value();
  l.user = read_user(*st, 7);
  return l;
}

Status SqliteStore::touch_session(std::int64_t session_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, now).bind(2, session_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "touching a session");
  return ok_status();
}

Status SqliteStore::revoke_session(std::int64_t session_id) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  std::vector<Change> changes;
  {
    // RETURNING: the session's account, read by the statement that revokes.
    auto st = c.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING user_id");
    if (!st) return st.error();
    st->bind(1, now_ms()).bind(2, session_id);
    const int rc = st->step();
    if (rc == SQLITE_ROW) {
      const std::int64_t user_id = st->int64(0);
      if (st->step() != SQLITE_DONE) return db_error(c, "revoking a session");
      if (auto s = record_change(c, Change{user_id, 0}, changes); !s) return s;
    } else if (rc != SQLITE_DONE) {
      return db_error(c, "revoking a session");
    }
  }
  if (auto s = tx.commit(); !s) return s;
  announce(changes);
  return ok_status();
}

// ---------------------------------------------------------------- login throttle

Status SqliteStore::in_throttle_transaction(const ThrottleBody& body) {
  // The threads of this process queue here, in order, rather than on
  // SQLite's busy handler, which polls with growing sleeps and can starve one
  // thread past busy_timeout_ms while the others keep taking the lock (every
  // login takes it twice). Other processes still queue on the busy handler.
  std::lock_guard order(throttle_mu_);
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // BEGIN IMMEDIATE: the write lock, taken before the first count, is what
  // makes count-then-insert one step for every process on this file.
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  ThrottleQueries t(c);
  if (auto s = body(t); !s) return s;  // `tx` rolls back
  return tx.commit();
}

// ---------------------------------------------------------------- maintenance

Status SqliteStore::ping() {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("SELECT COUNT(*) FROM schema_migrations");
  if (!st) return st.error();
  if (st->step() != SQLITE_ROW) return db_error(**lease, "ping");
  return ok_status();
}

Status SqliteStore::purge(TimeMs cutoff) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  auto st = c.prepare("DELETE FROM tokens WHERE expires_at < ? OR revoked_at < ?");
  if (!st) return st.error();
  st->bind(1, cutoff).bind(2, cutoff);
  if (st->step() != SQLITE_DONE) return db_error(c, "purging tokens");
  auto ss = c.prepare("DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?");
  if (!ss) return ss.error();
  ss->bind(1, cutoff).bind(2, cutoff);
  if (ss->step() != SQLITE_DONE) return db_error(c, "purging sessions");
  // Changes past the feed's retention. seq order is time order here (one
  // writer), so the boundary is the first row young enough, found by walking
  // the primary key from its oldest end: the cost is the rows deleted, with
  // no index on `at` for every token insert to maintain.
  auto sc = c.prepare(
      "DELETE FROM changes WHERE seq < COALESCE((SELECT seq FROM changes WHERE at >= ?1 ORDER BY seq LIMIT 1), "
      "(SELECT MAX(seq) + 1 FROM changes))");
  if (!sc) return sc.error();
  sc->bind(1, now_ms() - kChangeRetentionMs);
  if (sc->step() != SQLITE_DONE) return db_error(c, "purging changes");
  return tx.commit();
}

}  // namespace tokend::store::sqlite
