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
      "SELECT id, username, email, display_name, password_hash, disabled, created_at FROM users ORDER BY username");
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
  auto st = (*lease)->prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
  if (!st) return st.error();
  st->bind(1, now).bind(2, user_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "revoking sessions");
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
    auto st = c.prepare("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
    if (!st) return st.error();
    st->bind(1, now).bind(2, user_id);
    if (st->step() != SQLITE_DONE) return db_error(c, "revoking tokens");
    auto ss = c.prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
    if (!ss) return ss.error();
    ss->bind(1, now).bind(2, user_id);
    if (ss->step() != SQLITE_DONE) return db_error(c, "revoking sessions");
  }
  return tx.commit();
}

Status SqliteStore::in_transaction(const TransactionBody& body) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  AccountQueries t(c);
  if (auto s = body(t); !s) return s;  // `tx` rolls back
  return tx.commit();
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
    // A group of one commits on its own (autocommit): no BEGIN/COMMIT round
    // trips when there is nobody to share the fsync with.
    Tx tx(c);
    if (group.size() > 1) {
      if (auto s = tx.begin(); !s) return fail_all(s.error());
    }
    for (const NewToken* row : group) {
      const NewToken& t = *row;
      auto st = c.prepare(
          "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at, scopes) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)");
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
      TokenRecord r;
      r.id = c.last_insert_rowid();
      r.user_id = t.user_id;
      r.name = t.name;
      r.source = t.source;
      r.created_at = t.created_at;
      r.expires_at = t.expires_at;
      r.scopes = t.scopes;
      results.emplace_back(std::move(r));
    }
    if (group.size() > 1) {
      if (auto s = tx.commit(); !s) return fail_all(s.error());
    }
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
      "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at, t.scopes "
      "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = ?");
  if (!st) return st.error();
  st->bind_blob_static(1, digest_ptr(digest), kDigestLen);  // `digest` outlives `st`
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such token"};
  if (rc != SQLITE_ROW) return db_error(**lease, "finding a token");
  TokenLookup l{read_token(*st, 0), read_user(*st, 8)};
  l.token.scopes = read_scopes(*st, 15);
  return l;
}

Result<std::vector<TokenRecord>> SqliteStore::list_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at, scopes FROM tokens "
      "WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC");
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
      "WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? "
      "AND (? = 0 OR created_at < ? OR (created_at = ? AND id < ?)) "
      "ORDER BY created_at DESC, id DESC LIMIT ?");
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
      "SELECT COUNT(*) FROM tokens WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  if (st->step() != SQLITE_ROW) return db_error(**lease, "counting tokens");
  return st->int64(0);
}

Status SqliteStore::revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) {
  auto lease = connections_->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?");
  if (!st) return st.error();
  st->bind(1, now).bind(2, token_id).bind(3, user_id).bind(4, now);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "revoking a token");
  if ((*lease)->changes() == 0) return Error{ErrorCode::kNotFound, "no such live token"};
  return ok_status();
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
      "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at "
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
  auto st = (*lease)->prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  if (!st) return st.error();
  st->bind(1, now_ms()).bind(2, session_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "revoking a session");
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
  return tx.commit();
}

}  // namespace tokend::store::sqlite
