// PostgresStore: the Store on a PostgreSQL (15 or later) database, which
// several tokend instances behind a load balancer can share.
//
// Its parts, under src/store/postgres/:
// - Connection: one libpq connection, prepared statements, every wait bounded
//   (connect_timeout_ms to connect, statement_timeout_ms per statement, also
//   enforced by the server).
// - ConnectionPool: at most database.pool_size connections, opened lazily:
//   open() succeeds while PostgreSQL is down, the first connection runs the
//   migrations, and while the server is known to be down every call fails at
//   once (short backoff) instead of waiting a full connect timeout. Broken
//   connections (server restart, terminated backend) are dropped and
//   replaced.
// - migrations: the SQLite schema's numbered list, mirrored, applied under a
//   PostgreSQL advisory lock so instances starting together take turns.
// - AccountQueries: the account primitives, also the Transaction of
//   in_transaction().
// - FeedReader: the change feed's own connection, outside the pool (one
//   more than pool_size).
// - GroupCommitter (src/store/): token inserts of concurrent requests are
//   sent in one pipeline and committed in one transaction.
//
// Change feed: every write listed in store.hpp (Change) adds its row to the
// `changes` table in its own transaction (mostly a CTE of the write's one
// statement) and tells the listener after the COMMIT; readers follow
// transaction ids (feed_queries.cpp). A token insert share-locks its account's
// row and refuses a disabled (or unknown) account (kNotFound), as rotation
// does, so a concurrent set_disabled either comes first or revokes the row.
//
// Durability: insert_token returns, and insert_token_async calls back, only
// after the COMMIT holding the row has returned; with PostgreSQL's default
// synchronous_commit = on that COMMIT waited for the WAL flush (and, with
// synchronous replication configured, for the standby).
//
// Errors: every failure is kStorageError with a message for the log naming
// host, port and database, never the password or the connection string.
//
// Thread-safety: all Store methods are safe from any number of threads.
#pragma once

#include <atomic>
#include <memory>

#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store {
class GroupCommitter;
}  // namespace tokend::store

namespace tokend::store::postgres {

class ConnectionPool;
class FeedReader;

class PostgresStore final : public Store {
 public:
  // Builds the store and tries one connection. It does not fail when
  // PostgreSQL is unreachable (the store connects, and migrates, later, and
  // ping() reports it meanwhile). Error kInvalidConfig when database.url
  // cannot be parsed or database.password_file cannot be read; kStorageError
  // when the database answers but its schema is newer than this binary's, or
  // a migration fails.
  static Result<std::unique_ptr<PostgresStore>> open(const config::DatabaseConfig& config);
  ~PostgresStore() override;

  // The schema version this binary writes.
  static int schema_version();

  Result<User> create_user(const NewUser& user) override;
  Result<User> find_user_by_username(std::string_view username) override;
  Result<User> find_user(std::int64_t id) override;
  Result<std::vector<User>> list_users() override;
  Status set_password_hash(std::int64_t user_id, const std::string& phc) override;
  Status set_disabled(std::int64_t user_id, bool disabled, TimeMs now) override;
  Status revoke_sessions(std::int64_t user_id, TimeMs now) override;
  Status in_transaction(const TransactionBody& body) override;

  Result<TokenRecord> insert_token(const NewToken& token) override;
  void insert_token_async(const NewToken& token, InsertTokenDone done) override;
  void wait_idle() override;
  Result<TokenLookup> find_token(const crypto::Sha256& digest) override;
  Result<std::vector<TokenRecord>> list_live_tokens(std::int64_t user_id, TimeMs now) override;
  Result<std::vector<TokenRecord>> list_live_tokens_page(std::int64_t user_id, TimeMs now, std::size_t limit,
                                                         const std::optional<TokenPosition>& after) override;
  Result<std::int64_t> count_live_tokens(std::int64_t user_id, TimeMs now) override;
  Status revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) override;
  Status record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) override;
  Result<TokenRecord> rotate_token(std::int64_t user_id, std::int64_t token_id, const crypto::Sha256& digest,
                                   TimeMs now, TimeMs old_ends_at) override;
  // Admin (src/store/postgres/admin_queries.cpp).
  Status set_admin(std::int64_t user_id, bool admin, TimeMs now) override;
  Result<std::vector<User>> list_users_page(const UserQuery& query) override;
  Result<TokenRecord> revoke_any_token(std::int64_t token_id, TimeMs now) override;
  Result<std::vector<TokenRecord>> list_all_live_tokens(std::int64_t user_id, TimeMs now, std::size_t limit) override;
  Result<std::vector<SessionRecord>> list_live_sessions(std::int64_t user_id, TimeMs now) override;
  Result<SessionRecord> end_session(std::int64_t session_id, TimeMs now) override;

  Result<SessionRecord> insert_session(const NewSession& session) override;
  Result<SessionLookup> find_session(const crypto::Sha256& digest) override;
  Status touch_session(std::int64_t session_id, TimeMs now) override;
  Status revoke_session(std::int64_t session_id) override;

  // Ok when a pooled connection answers a query on the migrated database;
  // kStorageError (fast while PostgreSQL is known down) otherwise.
  Result<DatabaseContents> export_contents() override;
  Status import_contents(const DatabaseContents& contents) override;

  // The change feed: see store.hpp and feed_queries.cpp. The listener is an
  // atomic pointer, as on SQLite. read_changes and load_live_token_prefixes
  // run on a connection of their own, one more than database.pool_size,
  // so that a saturated pool does not delay them.
  void set_change_listener(ChangeListener* listener) override;
  Result<TokenPrefixes> load_live_token_prefixes(TimeMs now) override;
  Result<ChangeBatch> read_changes(ChangeCursor from) override;

  Status ping() override;
  Status purge(TimeMs cutoff) override;
  // Holds pg_try_advisory_lock on a dedicated key (on one pooled connection)
  // around `body`; false when another session holds it. With pool_size 1 the
  // body runs without it (it needs a connection of its own, and maintenance
  // is safe to repeat).
  Result<bool> run_maintenance(const MaintenanceBody& body) override;
  // BEGIN, then pg_advisory_xact_lock on the throttle's key, then `body`.
  Status in_throttle_transaction(const ThrottleBody& body) override;

 private:
  explicit PostgresStore(std::unique_ptr<ConnectionPool> pool);
  std::vector<Result<TokenRecord>> commit_tokens(const std::vector<const NewToken*>& group);

  std::atomic<ChangeListener*> listener_{nullptr};
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<FeedReader> feed_;  // the change feed's own connection (feed_reader.hpp)
  std::unique_ptr<GroupCommitter> committer_;  // last: destroyed first, while the pool is open
};

}  // namespace tokend::store::postgres
