// SqliteStore: the embedded default Store, one SQLite file in WAL mode.
//
// Each thread keeps its own connection (cached per thread and store), and every
// connection keeps its prepared statements, so the hot paths (token lookup,
// token insert) prepare nothing per request and take no global lock: readers
// run in parallel under WAL, writers queue on SQLite's lock with a busy timeout.
// Token inserts are group-committed by one committer thread: the rows queued
// while it commits are written together in the next transaction, with one fsync
// (see insert_token_async in the .cpp).
// Schema changes are versioned migrations applied at open().
//
// Durability: insert_token returns, and insert_token_async calls back, only
// after the COMMIT holding the row; with synchronous=full (the default) that
// includes the fsync, so a token that got a 200 survives kill -9 and power loss.
//
// Thread-safety: all Store methods are safe from any number of threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

struct sqlite3;

namespace tokend::store::sqlite {

class Connection;

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

  Result<SessionRecord> insert_session(const NewSession& session) override;
  Result<SessionLookup> find_session(const crypto::Sha256& digest) override;
  Status touch_session(std::int64_t session_id, TimeMs now) override;
  Status revoke_session(std::int64_t session_id) override;

  Status ping() override;
  Status purge(TimeMs cutoff) override;

 private:
  class Lease;
  explicit SqliteStore(config::DatabaseConfig config);
  Result<std::unique_ptr<Connection>> connect();
  Result<Lease> lease();
  void give_back(std::unique_ptr<Connection> c);
  struct PendingToken {
    NewToken token;
    InsertTokenDone done;
  };
  void run_committer();
  std::vector<Result<TokenRecord>> commit_tokens(const std::vector<PendingToken>& group);

  config::DatabaseConfig config_;
  const std::uint64_t id_;  // process-unique: the key of the per-thread connection caches
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // for a thread that needs a second connection
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;  // rows queued, or stopping
  std::condition_variable idle_cv_;    // queue empty and no group in flight
  std::deque<PendingToken> commit_queue_;
  bool committing_ = false;  // a group is being committed and called back
  bool stopping_ = false;
  std::thread committer_;    // started by the first insert
  std::atomic<std::thread::id> committer_id_{};  // its id, to refuse waiting on itself
};

}  // namespace tokend::store::sqlite
