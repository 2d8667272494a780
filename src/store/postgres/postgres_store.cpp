#include "tokend/store/postgres/postgres_store.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "store/announce.hpp"
#include "store/group_committer.hpp"
#include "store/postgres/account_queries.hpp"
#include "store/postgres/connection_pool.hpp"
#include "store/postgres/feed_reader.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/sql_state.hpp"
#include "store/postgres/throttle_queries.hpp"

namespace tokend::store::postgres {

namespace {

// Bounds one group-commit transaction (and the latency of the first caller in it).
constexpr std::size_t kMaxGroup = 256;

// The advisory lock that serialises account writers (see in_transaction).
#define TOKEND_ACCOUNT_LOCK "7630367537457291"

#define TOKEND_TOKEN_COLUMNS "t.id, t.user_id, t.name, t.source, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.scopes"

// The advisory locks of the login throttle's transactions and of the
// maintenance run: their own keys, so neither waits for account writers.
#define TOKEND_THROTTLE_LOCK "7630367537457292"
#define TOKEND_MAINTENANCE_LOCK "7630367537457293"
const Query kLockThrottle{"lock_throttle", "SELECT pg_advisory_xact_lock(" TOKEND_THROTTLE_LOCK ")"};
const Query kTryMaintenance{"try_maintenance", "SELECT pg_try_advisory_lock(" TOKEND_MAINTENANCE_LOCK ")"};
const Query kEndMaintenance{"end_maintenance", "SELECT pg_advisory_unlock(" TOKEND_MAINTENANCE_LOCK ")"};
const Query kLockAccounts{"lock_accounts", "SELECT pg_advisory_xact_lock(" TOKEND_ACCOUNT_LOCK ")"};
// create_user outside a transaction takes the same lock, within its own
// statement (the CTE runs before the insert), so it cannot slip between a
// transaction body's reads and its commit either.
const Query kCreateUser{"create_user",
                        "WITH l AS (SELECT pg_advisory_xact_lock(" TOKEND_ACCOUNT_LOCK ")) "
                        "INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at, admin) "
                        "SELECT $1, $2, $3, $4, $5, $5, $6 FROM l RETURNING id"};
const Query kListUsers{"list_users",
                       "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users "
                       "ORDER BY username COLLATE \"C\""};
const Query kSetPassword{"set_password", "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3"};
const Query kSetDisabled{"set_disabled", "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3"};
const Query kRevokeUserTokens{"revoke_user_tokens",
                              "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND (revoked_at IS NULL OR revoked_at > $1)"};
const Query kRevokeUserSessions{"revoke_user_sessions",
                                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL"};
// The change-feed rows (store.hpp, Change). A write of one statement adds its
// row in a data-modifying CTE of that statement: atomic with it, no extra
// round trip, and no row when the write matched nothing. The `at` column
// defaults to the server's clock.
const Query kRecordUserChange{"record_user_change", "INSERT INTO changes (user_id) VALUES ($1)"};
const Query kRevokeSessionsFeed{"revoke_sessions_feed",
                                "WITH upd AS (UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL "
                                "RETURNING user_id), "
                                "ch AS (INSERT INTO changes (user_id) SELECT $2 WHERE EXISTS (SELECT 1 FROM upd)) "
                                "SELECT count(*) FROM upd"};
const Query kBegin{"begin", "BEGIN"};
const Query kCommit{"commit", "COMMIT"};
// One row: whether the account is there and enabled (0 or 1), and the new
// token's id (NULL when none was written).
// ON CONFLICT DO NOTHING: a duplicate digest writes no row and fails that
// row alone, without aborting the transaction the others share.
// Security: the account's row is share-locked and must be enabled, as in
// rotate_token (admin_queries.cpp). set_disabled updates that row before it
// revokes the account's tokens, so the two serialise: either this waits for
// the disable's commit, re-reads the row (READ COMMITTED), finds it disabled
// and writes nothing (kNotFound), or the disable waits for this commit and
// its token UPDATE, a statement started after it, revokes the new row too. A
// disabled account never keeps a token that works again after an enable.
// The casts: an INSERT ... SELECT does not type its parameters from the
// target columns (and $1 arrives as binary bytea).
// The change row (the new prefix, $8) rides in the same statement.
const Query kInsertToken{"insert_token",
                         "WITH u AS (SELECT id FROM users WHERE id = $2 AND NOT disabled FOR SHARE), "
                         "ins AS (INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at, scopes) "
                         "SELECT $1::bytea, u.id, $3::text, $4::text, $5::bigint, $6::bigint, $7::text FROM u "
                         "ON CONFLICT (digest) DO NOTHING RETURNING id), "
                         "ch AS (INSERT INTO changes (token_prefix) SELECT $8::bigint FROM ins) "
                         "SELECT (SELECT count(*) FROM u), (SELECT id FROM ins)"};
const Query kFindToken{"find_token",
                       "SELECT " TOKEND_TOKEN_COLUMNS ", "
                       // Not the password hash: the token path has no use for it.
                       "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at, u.admin "
                       "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = $1"};
const Query kListLive{"list_live",
                      "SELECT " TOKEND_TOKEN_COLUMNS " FROM tokens t "
                      "WHERE t.user_id = $1 AND (t.revoked_at IS NULL OR t.revoked_at > $2) AND t.expires_at > $2 "
                      "ORDER BY t.created_at DESC, t.id DESC"};
// Keyset paging on tokens_user (user_id, created_at).
const Query kListLivePage{"list_live_page",
                          "SELECT " TOKEND_TOKEN_COLUMNS " FROM tokens t "
                          "WHERE t.user_id = $1 AND (t.revoked_at IS NULL OR t.revoked_at > $2) AND t.expires_at > $2 "
                          "AND ($3 = 0 OR t.created_at < $4 OR (t.created_at = $4 AND t.id < $5)) "
                          "ORDER BY t.created_at DESC, t.id DESC LIMIT $6"};
const Query kCountLive{"count_live",
                       "SELECT count(*) FROM tokens WHERE user_id = $1 AND (revoked_at IS NULL OR revoked_at > $2) "
                       "AND expires_at > $2"};
const Query kRevokeToken{"revoke_token",
                         "WITH upd AS (UPDATE tokens SET revoked_at = $1 "
                         "WHERE id = $2 AND user_id = $3 AND (revoked_at IS NULL OR revoked_at > $1) AND expires_at > $1 "
                         "RETURNING user_id), "
                         "ch AS (INSERT INTO changes (user_id) SELECT user_id FROM upd) "
                         "SELECT count(*) FROM upd"};
// One statement for the whole batch; the latest time per token wins.
const Query kRecordUse{"record_use",
                       "UPDATE tokens t SET last_used_at = GREATEST(COALESCE(t.last_used_at, 0), u.at) "
                       "FROM (SELECT id, max(at) AS at FROM unnest($1::bigint[], $2::bigint[]) AS x(id, at) "
                       "GROUP BY id) u WHERE t.id = u.id"};
const Query kInsertSession{"insert_session",
                           "INSERT INTO sessions (digest, user_id, method, created_at, last_seen_at, expires_at) "
                           "VALUES ($1, $2, $3, $4, $4, $5) RETURNING id"};
const Query kFindSession{"find_session",
                         "SELECT s.id, s.user_id, s.method, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, "
                         "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at, u.admin "
                         "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = $1"};
const Query kTouchSession{"touch_session",
                          "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2"};
// The session's account comes from the statement that revokes it.
const Query kRevokeSession{"revoke_session",
                           "WITH upd AS (UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL "
                           "RETURNING user_id), "
                           "ch AS (INSERT INTO changes (user_id) SELECT user_id FROM upd) "
                           "SELECT user_id FROM upd"};
const Query kPing{"ping", "SELECT count(*) FROM schema_migrations"};
const Query kPurgeTokens{"purge_tokens", "DELETE FROM tokens WHERE expires_at < $1 OR revoked_at < $1"};
const Query kPurgeSessions{"purge_sessions", "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1"};
// Changes older than the retention ($1 ms) by the server's clock, which wrote
// them. seq order is time order but for the jitter of concurrent inserts, so
// the boundary is the first row young enough, found on the primary key from
// its oldest end: the cost is the rows deleted, with no index on `at` for
// every token insert to maintain.
const Query kPurgeChanges{"purge_changes",
                          "DELETE FROM changes WHERE seq < COALESCE("
                          "(SELECT seq FROM changes WHERE at >= (extract(epoch from clock_timestamp()) * 1000)::bigint - $1 "
                          "ORDER BY seq LIMIT 1), (SELECT max(seq) + 1 FROM changes))"};

Params token_params(const NewToken& t) {
  Params p;
  p.add_bytes(t.digest.data(), t.digest.size())
      .add(t.user_id)
      .add(t.name)
      .add(t.source)
      .add(std::int64_t{t.created_at})
      .add(std::int64_t{t.expires_at})
      .add(t.scopes)
      .add(static_cast<std::int64_t>(token_prefix(t.digest)));  // its int64 bit pattern
  return p;
}

TokenRecord token_record(const NewToken& t, std::int64_t id) {
  TokenRecord r;
  r.id = id;
  r.user_id = t.user_id;
  r.name = t.name;
  r.source = t.source;
  r.created_at = t.created_at;
  r.expires_at = t.expires_at;
  r.scopes = t.scopes;
  return r;
}

// The result of one kInsertToken row.
Result<TokenRecord> inserted_token(const NewToken& t, const Rows& rows) {
  if (rows.size() == 0 || rows.int64(0, 0) == 0) return Error{ErrorCode::kNotFound, "no such enabled account"};
  if (rows.is_null(0, 1)) return Error{ErrorCode::kConflict, "a token with this digest exists"};
  return token_record(t, rows.int64(0, 1));
}

Result<std::string> read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::kInvalidConfig, "database.password_file: cannot read " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string pw = ss.str();
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  if (pw.empty()) return Error{ErrorCode::kInvalidConfig, "database.password_file: " + path + " is empty"};
  return pw;
}

}  // namespace

int PostgresStore::schema_version() { return postgres::schema_version(); }

PostgresStore::PostgresStore(std::unique_ptr<ConnectionPool> pool)
    : pool_(std::move(pool)),
      feed_(std::make_unique<FeedReader>()),
      committer_(std::make_unique<GroupCommitter>(
          [this](const std::vector<const NewToken*>& rows) { return commit_tokens(rows); }, kMaxGroup)) {}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const config::DatabaseConfig& config) {
  ConnectSettings settings;
  settings.conninfo = config.url;
  settings.connect_timeout_ms = config.connect_timeout_ms;
  settings.statement_timeout_ms = config.statement_timeout_ms;
  {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(config.url.c_str(), &err);
    if (err != nullptr) PQfreemem(err);
    if (opts == nullptr) {
      return Error{ErrorCode::kInvalidConfig, "database.url: not a libpq connection URI or keyword string"};
    }
    PQconninfoFree(opts);
  }
  if (!config.password_file.empty()) {
    auto pw = read_password_file(config.password_file);
    if (!pw) return pw.error();
    settings.password = std::move(*pw);
  }
  auto pool = std::make_unique<ConnectionPool>(std::move(settings), config.pool_size,
                                               [](Connection& c) { return migrate(c); });
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(pool)));
  // One connection now: it migrates, and a schema newer than this binary
  // stops the start here. Unreachable is not fatal: the pool tries again on
  // each call (after its backoff), and ping() says "not ready" meanwhile.
  auto lease = store->pool_->lease();
  if (!lease) {
    if (!store->pool_->unreachable()) return lease.error();
    spdlog::warn("PostgreSQL not reachable yet; starting anyway, retrying on each call");
  }
  return store;
}

// ---------------------------------------------------------------- accounts

Result<User> PostgresStore::create_user(const NewUser& user) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  const TimeMs now = now_ms();
  auto r = (*lease)->exec(kCreateUser, Params()
                                           .add(user.username)
                                           .add(user.email)
                                           .add(user.display_name)
                                           .add(user.password_hash)
                                           .add(std::int64_t{now})
                                           .add(user.admin));
  if (!r) {
    if ((*lease)->sqlstate() == kUniqueViolation) return Error{ErrorCode::kConflict, "the username is taken"};
    return r.error();
  }
  User u;
  u.id = r->int64(0, 0);
  u.username = user.username;
  u.email = user.email;
  u.display_name = user.display_name;
  u.password_hash = user.password_hash;
  u.created_at = now;
  u.admin = user.admin;
  return u;
}

Result<User> PostgresStore::find_user_by_username(std::string_view username) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  return AccountQueries(**lease).find_user_by_username(username);
}

Result<User> PostgresStore::find_user(std::int64_t id) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  return AccountQueries(**lease).find_user(id);
}

Result<std::vector<User>> PostgresStore::list_users() {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kListUsers);
  if (!r) return r.error();
  std::vector<User> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_user(*r, i, 0));
  return out;
}

Status PostgresStore::set_password_hash(std::int64_t user_id, const std::string& phc) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kSetPassword, Params().add(phc).add(std::int64_t{now_ms()}).add(user_id));
  if (!r) return r.error();
  if (r->affected() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return ok_status();
}

Status PostgresStore::set_disabled(std::int64_t user_id, bool disabled, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  // An open transaction left by a failure is rolled back when the lease ends.
  if (auto s = c.exec(kBegin); !s) return s.error();
  auto r = c.exec(kSetDisabled, Params().add(disabled).add(std::int64_t{now}).add(user_id));
  if (!r) return r.error();
  if (r->affected() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  if (disabled) {
    // Disabling kills everything the account holds, in the same transaction:
    // a disabled account must not keep a working token even if re-enabled.
    if (auto t = c.exec(kRevokeUserTokens, Params().add(std::int64_t{now}).add(user_id)); !t) return t.error();
    if (auto s = c.exec(kRevokeUserSessions, Params().add(std::int64_t{now}).add(user_id)); !s) return s.error();
  }
  // Enabling changes what is remembered of the account too (its state).
  if (auto s = c.exec(kRecordUserChange, Params().add(user_id)); !s) return s.error();
  if (auto s = c.exec(kCommit); !s) return s.error();
  announce(listener_, {Change{user_id, 0}});
  return ok_status();
}

Status PostgresStore::revoke_sessions(std::int64_t user_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kRevokeSessionsFeed, Params().add(std::int64_t{now}).add(user_id));
  if (!r) return r.error();
  if (r->int64(0, 0) > 0) announce(listener_, {Change{user_id, 0}});
  return ok_status();
}

// Writers are serialised with one transaction-scoped advisory lock, taken
// first in every body (and by create_user): two bodies never interleave, as
// the interface promises, and each statement after the lock (READ COMMITTED,
// a fresh snapshot per statement) sees everything committed before it, across
// every instance sharing the database. SERIALIZABLE would also be correct,
// but it aborts conflicting bodies at COMMIT and would have to re-run them,
// and a body is a std::function with its own effects to undo; the login
// paths that use in_transaction are short and rare next to token traffic,
// which never takes this lock.
Status PostgresStore::in_transaction(const TransactionBody& body) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  if (auto s = c.exec(kBegin); !s) return s.error();
  if (auto s = c.exec(kLockAccounts); !s) return s.error();
  AccountQueries t(c);
  // On an error (returned or thrown) the lease's end rolls back.
  if (auto s = body(t); !s) return s;
  if (auto s = c.exec(kCommit); !s) return s.error();
  announce(listener_, t.changes());
  return ok_status();
}

// ---------------------------------------------------------------- tokens

Result<TokenRecord> PostgresStore::insert_token(const NewToken& t) { return committer_->submit_and_wait(t); }

void PostgresStore::insert_token_async(const NewToken& t, InsertTokenDone done) {
  committer_->submit(t, std::move(done));
}

void PostgresStore::wait_idle() { committer_->wait_idle(); }

// One group: BEGIN, one INSERT per row and COMMIT in one pipeline, so the
// group costs one round trip and one WAL flush, however many rows it holds.
// A row with a taken digest fails alone (ON CONFLICT DO NOTHING). Any other
// statement error aborts PostgreSQL's transaction for every row: then each
// row is tried again on its own, so one bad row (a user deleted meanwhile)
// fails only itself. A lost connection or a failed COMMIT fails the whole
// group: no caller hears "committed" for a row in doubt.
std::vector<Result<TokenRecord>> PostgresStore::commit_tokens(const std::vector<const NewToken*>& group) {
  std::vector<Result<TokenRecord>> results;
  results.reserve(group.size());
  auto lease = pool_->lease();
  if (!lease) {
    results.assign(group.size(), lease.error());
    return results;
  }
  Connection& c = **lease;
  // The committed rows' changes, told to the listener before this returns,
  // i.e. before the GroupCommitter calls anyone back: a client that
  // validates its new token at once on this instance finds its prefix known.
  std::vector<Change> changes;
  auto committed = [&]() {
    changes.clear();
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (results[i]) changes.push_back(Change{0, token_prefix(group[i]->digest)});
    }
    announce(listener_, changes);
  };
  auto one = [&](const NewToken& t) -> Result<TokenRecord> {
    auto r = c.exec(kInsertToken, token_params(t));  // autocommit: the row and its change, atomically
    if (!r) return r.error();
    return inserted_token(t, *r);
  };
  if (group.size() == 1) {
    results.push_back(one(*group[0]));
    committed();
    return results;
  }
  for (const Query* q : {&kBegin, &kInsertToken, &kCommit}) {
    if (auto s = c.prepare(*q); !s) {
      results.assign(group.size(), s.error());
      return results;
    }
  }
  std::vector<Connection::Step> steps;
  steps.reserve(group.size() + 2);
  steps.push_back({&kBegin, Params()});
  for (const NewToken* row : group) steps.push_back({&kInsertToken, token_params(*row)});
  steps.push_back({&kCommit, Params()});
  auto sent = c.pipeline(steps);
  if (!sent) {
    results.assign(group.size(), sent.error());
    return results;
  }
  const auto& out = *sent;
  bool statement_failed = false;
  for (std::size_t i = 1; i + 1 < out.size(); ++i) statement_failed = statement_failed || !out[i].ok();
  if (!out.front().ok() || !out.back().ok() || statement_failed) {
    // COMMIT of an aborted transaction answers ROLLBACK (COMMAND_OK), so the
    // rows' own results decide.
    if (c.broken() || !out.front().ok() || (!statement_failed && !out.back().ok())) {
      const Error e = !out.front().ok() ? out.front().error()
                                        : (!out.back().ok() ? out.back().error()
                                                            : Error{ErrorCode::kStorageError, "connection lost"});
      results.assign(group.size(), e);
      return results;
    }
    if (c.in_transaction()) (void)c.exec_simple("ROLLBACK");
    for (const NewToken* row : group) results.push_back(one(*row));
    committed();
    return results;
  }
  for (std::size_t i = 0; i < group.size(); ++i) results.push_back(inserted_token(*group[i], *out[i + 1]));
  committed();
  return results;
}

Result<TokenLookup> PostgresStore::find_token(const crypto::Sha256& digest) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kFindToken, Params().add_bytes(digest.data(), digest.size()));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such token"};
  return TokenLookup{read_token(*r, 0), read_user(*r, 0, 9)};
}

Result<std::vector<TokenRecord>> PostgresStore::list_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kListLive, Params().add(user_id).add(std::int64_t{now}));
  if (!r) return r.error();
  std::vector<TokenRecord> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_token(*r, i));
  return out;
}

Result<std::vector<TokenRecord>> PostgresStore::list_live_tokens_page(std::int64_t user_id, TimeMs now,
                                                                      std::size_t limit,
                                                                      const std::optional<TokenPosition>& after) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  const TimeMs at = after ? after->created_at : 0;
  auto r = (*lease)->exec(kListLivePage, Params()
                                             .add(user_id)
                                             .add(std::int64_t{now})
                                             .add(std::int64_t{after ? 1 : 0})
                                             .add(std::int64_t{at})
                                             .add(after ? after->id : std::int64_t{0})
                                             .add(static_cast<std::int64_t>(limit)));
  if (!r) return r.error();
  std::vector<TokenRecord> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_token(*r, i));
  return out;
}

Result<std::int64_t> PostgresStore::count_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kCountLive, Params().add(user_id).add(std::int64_t{now}));
  if (!r) return r.error();
  return r->int64(0, 0);
}

Status PostgresStore::revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kRevokeToken, Params().add(std::int64_t{now}).add(token_id).add(user_id));
  if (!r) return r.error();
  if (r->int64(0, 0) == 0) return Error{ErrorCode::kNotFound, "no such live token"};
  announce(listener_, {Change{user_id, 0}});
  return ok_status();
}

Status PostgresStore::record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) {
  if (uses.empty()) return ok_status();
  std::string ids = "{";
  std::string ats = "{";
  for (const auto& [id, at] : uses) {
    if (ids.size() > 1) {
      ids += ',';
      ats += ',';
    }
    ids += std::to_string(id);
    ats += std::to_string(at);
  }
  ids += '}';
  ats += '}';
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kRecordUse, Params().add(ids).add(ats));
  if (!r) return r.error();
  return ok_status();
}

// ---------------------------------------------------------------- sessions

Result<SessionRecord> PostgresStore::insert_session(const NewSession& s) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kInsertSession, Params()
                                              .add_bytes(s.digest.data(), s.digest.size())
                                              .add(s.user_id)
                                              .add(s.method)
                                              .add(std::int64_t{s.created_at})
                                              .add(std::int64_t{s.expires_at}));
  if (!r) return r.error();
  SessionRecord rec;
  rec.id = r->int64(0, 0);
  rec.user_id = s.user_id;
  rec.method = s.method;
  rec.created_at = s.created_at;
  rec.last_seen_at = s.created_at;
  rec.expires_at = s.expires_at;
  return rec;
}

Result<SessionLookup> PostgresStore::find_session(const crypto::Sha256& digest) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kFindSession, Params().add_bytes(digest.data(), digest.size()));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such session"};
  SessionLookup l;
  l.session.id = r->int64(0, 0);
  l.session.user_id = r->int64(0, 1);
  l.session.method = r->text(0, 2);
  l.session.created_at = r->int64(0, 3);
  l.session.last_seen_at = r->int64(0, 4);
  l.session.expires_at = r->int64(0, 5);
  l.session.revoked = !r->is_null(0, 6);
  l.user = read_user(*r, 0, 7);
  return l;
}

Status PostgresStore::touch_session(std::int64_t session_id, TimeMs now) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kTouchSession, Params().add(std::int64_t{now}).add(session_id));
  if (!r) return r.error();
  return ok_status();
}

Status PostgresStore::revoke_session(std::int64_t session_id) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto r = (*lease)->exec(kRevokeSession, Params().add(std::int64_t{now_ms()}).add(session_id));
  if (!r) return r.error();
  if (r->size() > 0) announce(listener_, {Change{r->int64(0, 0), 0}});  // none: revoked already, or no such session
  return ok_status();
}

// ---------------------------------------------------------------- maintenance

Status PostgresStore::ping() {
  // Twice at most: a pooled connection that went stale (a restart) fails the
  // first try and is dropped with the other idle ones; the second try opens
  // a fresh one, so ping() says what the server does now.
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_->lease();
    if (!lease) return lease.error();
    auto r = (*lease)->exec(kPing);
    if (r) return ok_status();
    if (attempt > 0 || !lease->reused() || !(*lease)->broken()) return r.error();
  }
}

Status PostgresStore::purge(TimeMs cutoff) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  if (auto s = c.exec(kBegin); !s) return s.error();
  if (auto r = c.exec(kPurgeTokens, Params().add(std::int64_t{cutoff})); !r) return r.error();
  if (auto r = c.exec(kPurgeSessions, Params().add(std::int64_t{cutoff})); !r) return r.error();
  if (auto r = c.exec(kPurgeChanges, Params().add(std::int64_t{kChangeRetentionMs})); !r) return r.error();
  if (auto s = c.exec(kCommit); !s) return s.error();
  return ok_status();
}

// ---------------------------------------------------------------- login throttle

// One advisory lock for every throttle transaction of every instance: a body
// counts a key's rows and inserts its own before any other body can count
// them (READ COMMITTED: each statement after the lock sees everything
// committed before it). Throttle bodies are a few indexed statements.
Status PostgresStore::in_throttle_transaction(const ThrottleBody& body) {
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  if (auto s = c.exec(kBegin); !s) return s.error();
  if (auto s = c.exec(kLockThrottle); !s) return s.error();
  ThrottleQueries t(c);
  // On an error (returned or thrown) the lease's end rolls back.
  if (auto s = body(t); !s) return s;
  if (auto s = c.exec(kCommit); !s) return s.error();
  return ok_status();
}

// ---------------------------------------------------------------- maintenance

Result<bool> PostgresStore::run_maintenance(const MaintenanceBody& body) {
  if (pool_->size() < 2) {
    body();
    return true;
  }
  auto lease = pool_->lease();
  if (!lease) return lease.error();
  auto got = (*lease)->exec(kTryMaintenance);
  if (!got) return got.error();
  if (!got->boolean(0, 0)) return false;
  // A session lock: released here, or when the connection closes (a crash).
  // Should the unlock fail, the lock would stay with the session, and a
  // pooled connection lives as long as the process: every other instance
  // would skip maintenance from then on. So the connection is closed
  // instead, which ends the session and its locks. (In practice the unlock
  // fails only with a lost connection, whose session ended already, or on a
  // timeout, which marks the connection broken; the test terminates the
  // backend during the body. A failure that leaves the session open cannot
  // be provoked from outside, so closing on any failure is the safe rule.)
  struct Unlock {
    ConnectionPool::Lease& lease;
    ~Unlock() {
      if (auto r = lease->exec(kEndMaintenance); !r) {
        spdlog::warn("cannot release the maintenance lock, closing its connection: {}", r.error().message);
        lease.discard();
      }
    }
  } unlock{*lease};
  body();
  return true;
}

}  // namespace tokend::store::postgres
