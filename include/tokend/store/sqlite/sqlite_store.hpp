// SqliteStore: the embedded default Store, one SQLite file in WAL mode.
//
// Its parts, one file pair each under src/store/sqlite/ (and src/store/):
// - ConnectionCache: each thread keeps its own connection to this store, with
//   its prepared statements, so the hot paths (token lookup, token insert)
//   prepare nothing per request and take no global lock: readers run in
//   parallel under WAL, writers queue on SQLite's lock with a busy timeout.
//   The cache is a member of the store: no globals, no thread_local.
// - GroupCommitter (src/store/, no SQLite in its interface): token inserts are
//   group-committed by one committer thread: the rows queued while it commits
//   are written together in the next transaction, with one fsync
//   (commit_tokens() is the SQLite part); a second thread calls the callers
//   back while the next group commits.
// - migrations: schema changes are versioned migrations applied at open().
// - AccountQueries: the account primitives, also the Transaction of
//   in_transaction(); this file keeps the token, session and maintenance
//   queries.
//
// Change feed: every write listed in store.hpp (Change) adds its row to the
// `changes` table in its own transaction (change_rows.hpp) and tells the
// listener after the COMMIT (feed_queries.cpp: reading the feed). A token
// insert refuses a disabled (or unknown) account in the INSERT itself
// (kNotFound), so a concurrent set_disabled either comes first or revokes the
// new row.
//
// Durability: insert_token returns, and insert_token_async calls back, only
// after the COMMIT holding the row; with synchronous=full (the default) that
// includes the fsync, so a token that got a 200 survives kill -9 and power loss
// (unless the kernel's fsync returned success for data it then dropped: ext4
// aborting its journal mid-fsync, docs/operations.md).
//
// Thread-safety: all Store methods are safe from any number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store {
class GroupCommitter;
}  // namespace tokend::store

namespace tokend::store::sqlite {

class ConnectionCache;


class SqliteStore final : public Store {
 public:
  // Opens (creating the file and its folder when missing) and migrates the
  // database. Error "storage_error" when the file cannot be opened, is not a
  // tokend database, or was written by a newer tokend (schema too new).
  static Result<std::unique_ptr<SqliteStore>> open(const config::DatabaseConfig& config);
  ~SqliteStore() override;

  // The schema version this binary writes.
  static int schema_version();

  Result<User> create_user(const NewUser& user) override;
  Result<User> find_user_by_username(std::string_view username) override;
  Result<User> find_user(std::int64_t id) override;
  Result<std::vector<User>> list_users() override;
  Status set_password_hash(std::int64_t user_id, const std::string& phc) override;
  Status set_disabled(std::int64_t user_id, bool disabled, TimeMs now) override;
  Status revoke_sessions(std::int64_t user_id, TimeMs now) override;
  Status set_admin(std::int64_t user_id, bool admin, TimeMs now) override;
  Result<std::vector<User>> list_users_page(const UserQuery& query) override;
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
  Result<TokenRecord> revoke_any_token(std::int64_t token_id, TimeMs now) override;
  Result<std::vector<TokenRecord>> list_all_live_tokens(std::int64_t user_id, TimeMs now,
                                                        std::size_t limit) override;
  Result<TokenRecord> rotate_token(std::int64_t user_id, std::int64_t token_id, const crypto::Sha256& digest,
                                   TimeMs now, TimeMs old_ends_at) override;
  Status record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) override;

  Result<SessionRecord> insert_session(const NewSession& session) override;
  Result<SessionLookup> find_session(const crypto::Sha256& digest) override;
  Status touch_session(std::int64_t session_id, TimeMs now) override;
  Status revoke_session(std::int64_t session_id) override;
  Result<std::vector<SessionRecord>> list_live_sessions(std::int64_t user_id, TimeMs now) override;
  Result<SessionRecord> end_session(std::int64_t session_id, TimeMs now) override;

  Status in_throttle_transaction(const ThrottleBody& body) override;

  Result<DatabaseContents> export_contents() override;
  Status import_contents(const DatabaseContents& contents) override;

  // The change feed: see store.hpp. The listener is an atomic pointer: it
  // may be set (or cleared) at any time, and a commit tells the listener set
  // when it committed.
  void set_change_listener(ChangeListener* listener) override;
  Result<TokenPrefixes> load_live_token_prefixes(TimeMs now) override;
  Result<ChangeBatch> read_changes(ChangeCursor from) override;

  Status ping() override;
  Status purge(TimeMs cutoff) override;

 private:
  // Hands committed `changes` to the listener, if any and if not empty.
  void announce(const std::vector<Change>& changes);

  explicit SqliteStore(config::DatabaseConfig config);
  // How SQLite commits one group of token rows (GroupCommitter::CommitBatch).
  std::vector<Result<TokenRecord>> commit_tokens(const std::vector<const NewToken*>& group);

  config::DatabaseConfig config_;
  std::atomic<ChangeListener*> listener_{nullptr};
  std::mutex throttle_mu_;  // orders this process's throttle transactions (in_throttle_transaction)
  std::unique_ptr<ConnectionCache> connections_;  // this store's per-thread connections
  std::unique_ptr<GroupCommitter> committer_;     // last: destroyed first, while the connections are open
};

}  // namespace tokend::store::sqlite
