#include "tokend/store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "store/sqlite/connection.hpp"

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
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));


Error db_error(Connection& c, std::string_view what) {
  return Error{ErrorCode::kStorageError, std::string(what) + ": " + c.last_error()};
}

User read_user(const Stmt& s, int first) {
  User u;
  u.id = s.int64(first);
  u.username = s.text(first + 1);
  u.email = s.text(first + 2);
  u.display_name = s.text(first + 3);
  u.password_hash = s.text(first + 4);
  u.disabled = s.int64(first + 5) != 0;
  u.created_at = s.int64(first + 6);
  return u;
}

TokenRecord read_token(const Stmt& s, int first) {
  TokenRecord t;
  t.id = s.int64(first);
  t.user_id = s.int64(first + 1);
  t.name = s.text(first + 2);
  t.source = s.text(first + 3);
  t.created_at = s.int64(first + 4);
  t.expires_at = s.int64(first + 5);
  t.last_used_at = s.opt_int64(first + 6);
  t.revoked_at = s.opt_int64(first + 7);
  return t;
}

// A write transaction: BEGIN IMMEDIATE takes the write lock up front, so two
// writers never deadlock upgrading read locks; rolled back unless committed.
class Tx {
 public:
  explicit Tx(Connection& c) : c_(c) {}
  Status begin() {
    auto s = c_.exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  Status commit() {
    auto s = c_.exec("COMMIT");
    if (s) open_ = false;
    return s;
  }
  ~Tx() {
    if (open_) (void)c_.exec("ROLLBACK");
  }

 private:
  Connection& c_;
  bool open_ = false;
};

const void* digest_ptr(const crypto::Sha256& d) { return d.data(); }
constexpr int kDigestLen = static_cast<int>(sizeof(crypto::Sha256));

Result<User> insert_user(Connection& c, const NewUser& user, TimeMs now) {
  auto st = c.prepare(
      "INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, user.username).bind(2, user.email).bind(3, user.display_name).bind(4, user.password_hash);
  st->bind(5, now).bind(6, now);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return Error{ErrorCode::kConflict, "the username is taken"};
  if (rc != SQLITE_DONE) return db_error(c, "inserting a user");
  User u;
  u.id = c.last_insert_rowid();
  u.username = user.username;
  u.email = user.email;
  u.display_name = user.display_name;
  u.password_hash = user.password_hash;
  u.created_at = now;
  return u;
}

Result<User> find_user_by_username(Connection& c, std::string_view username) {
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at FROM users WHERE username = ?");
  if (!st) return st.error();
  st->bind(1, username);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a user");
  return read_user(*st, 0);
}

Result<User> find_user(Connection& c, std::int64_t id) {
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at FROM users WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a user");
  return read_user(*st, 0);
}

Result<std::vector<User>> find_users_by_email(Connection& c, std::string_view email) {
  // COLLATE NOCASE: ASCII case folding, on the users_email index.
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at FROM users "
      "WHERE email = ? COLLATE NOCASE ORDER BY id");
  if (!st) return st.error();
  st->bind(1, email);
  std::vector<User> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_user(*st, 0));
  if (rc != SQLITE_DONE) return db_error(c, "finding accounts by email");
  return out;
}

Status update_profile(Connection& c, std::int64_t user_id, const ProfileUpdate& p, TimeMs now) {
  auto st = c.prepare("UPDATE users SET username = ?, email = ?, display_name = ?, updated_at = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, p.username).bind(2, p.email).bind(3, p.display_name).bind(4, now).bind(5, user_id);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return Error{ErrorCode::kConflict, "the username is taken"};
  if (rc != SQLITE_DONE) return db_error(c, "updating a profile");
  if (c.changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return ok_status();
}

Link read_link(const Stmt& s) {
  Link l;
  l.provider = s.text(0);
  l.subject = s.text(1);
  l.user_id = s.int64(2);
  l.created_at = s.int64(3);
  return l;
}

Result<Link> find_link(Connection& c, std::string_view provider, std::string_view subject) {
  auto st = c.prepare("SELECT provider, subject, user_id, created_at FROM identities WHERE provider = ? AND subject = ?");
  if (!st) return st.error();
  st->bind(1, provider).bind(2, subject);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such link"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a linked identity");
  return read_link(*st);
}

Result<std::vector<Link>> list_links(Connection& c, std::int64_t user_id) {
  auto st = c.prepare(
      "SELECT provider, subject, user_id, created_at FROM identities WHERE user_id = ? ORDER BY provider, subject");
  if (!st) return st.error();
  st->bind(1, user_id);
  std::vector<Link> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_link(*st));
  if (rc != SQLITE_DONE) return db_error(c, "listing linked identities");
  return out;
}

Status insert_link(Connection& c, const Link& l) {
  auto st = c.prepare("INSERT INTO identities (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, l.provider).bind(2, l.subject).bind(3, l.user_id).bind(4, l.created_at);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Error{ErrorCode::kConflict, "the identity is linked already"};
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_DONE) return db_error(c, "linking an identity");
  return ok_status();
}

// The account primitives on the connection of one open transaction.
class SqliteTransaction final : public Transaction {
 public:
  explicit SqliteTransaction(Connection& c) : c_(c) {}
  Result<User> find_user(std::int64_t id) override { return sqlite::find_user(c_, id); }
  Result<User> find_user_by_username(std::string_view username) override {
    return sqlite::find_user_by_username(c_, username);
  }
  Result<std::vector<User>> find_users_by_email(std::string_view email) override {
    return sqlite::find_users_by_email(c_, email);
  }
  Result<User> insert_user(const NewUser& user, TimeMs now) override { return sqlite::insert_user(c_, user, now); }
  Status update_profile(std::int64_t user_id, const ProfileUpdate& profile, TimeMs now) override {
    return sqlite::update_profile(c_, user_id, profile, now);
  }
  Result<Link> find_link(std::string_view provider, std::string_view subject) override {
    return sqlite::find_link(c_, provider, subject);
  }
  Result<std::vector<Link>> list_links(std::int64_t user_id) override { return sqlite::list_links(c_, user_id); }
  Status insert_link(const Link& link) override { return sqlite::insert_link(c_, link); }

 private:
  Connection& c_;
};

}  // namespace

// Per-thread connections. Every thread that uses a store keeps one connection
// to it in a thread_local cache, so the hot paths take no lock to get a
// connection (a mutex-guarded pool would be a global lock on every token
// validation). Entries are keyed by the store's process-unique id, never by its
// address (a new store may reuse a freed one's address). A store that is
// destroyed leaves its connections in other threads' caches: they are closed
// when that thread next misses its cache (see evict_dead_connections) or exits.
namespace {

std::atomic<std::uint64_t> g_next_store_id{1};
std::mutex g_live_mu;
std::unordered_set<std::uint64_t> g_live_stores;  // ids of stores not yet destroyed

struct ThreadConnection {
  std::uint64_t store_id = 0;
  std::unique_ptr<Connection> conn;
  bool in_use = false;  // lent to a Lease of this thread right now
};
thread_local std::vector<std::unique_ptr<ThreadConnection>> t_connections;

void evict_dead_connections() {
  std::lock_guard lock(g_live_mu);
  std::erase_if(t_connections, [](const std::unique_ptr<ThreadConnection>& e) {
    return !e->in_use && !g_live_stores.contains(e->store_id);
  });
}

}  // namespace

class SqliteStore::Lease {
 public:
  // A connection of this thread's cache (marked in use until the lease ends).
  explicit Lease(ThreadConnection* cached) : cached_(cached), conn_(cached->conn.get()) { cached->in_use = true; }
  // A connection of the shared pool (given back when the lease ends).
  Lease(SqliteStore* store, std::unique_ptr<Connection> c) : store_(store), owned_(std::move(c)), conn_(owned_.get()) {}
  Lease(Lease&& o) noexcept
      : store_(o.store_), cached_(std::exchange(o.cached_, nullptr)), owned_(std::move(o.owned_)), conn_(o.conn_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (cached_) cached_->in_use = false;
    if (owned_) store_->give_back(std::move(owned_));
  }
  Connection& operator*() { return *conn_; }
  Connection* operator->() { return conn_; }

 private:
  SqliteStore* store_ = nullptr;
  ThreadConnection* cached_ = nullptr;
  std::unique_ptr<Connection> owned_;
  Connection* conn_ = nullptr;
};

int SqliteStore::schema_version() { return kSchemaVersion; }

SqliteStore::SqliteStore(config::DatabaseConfig config) : config_(std::move(config)), id_(g_next_store_id++) {
  std::lock_guard lock(g_live_mu);
  g_live_stores.insert(id_);
}

SqliteStore::~SqliteStore() {
  {
    // Commits what is queued, calls it back, and ends the committer thread
    // (which closes its connection on the way out).
    std::lock_guard lock(commit_mu_);
    stopping_ = true;
    commit_cv_.notify_all();
  }
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard lock(g_live_mu);
    g_live_stores.erase(id_);
  }
  // The common case (tests, the CLI): the thread that used the store is the
  // one destroying it; close its connection now rather than at its next miss.
  evict_dead_connections();
}

Result<std::unique_ptr<Connection>> SqliteStore::connect() {
  auto c = Connection::open(config_.path, config_.busy_timeout_ms, config_.synchronous);
  if (!c) return c.error();
  return std::unique_ptr<Connection>(*c);
}

Result<SqliteStore::Lease> SqliteStore::lease() {
  for (auto& e : t_connections) {
    if (e->store_id == id_) {
      if (!e->in_use) return Lease(e.get());
      // Nested use on one thread: a second connection from the pool.
      {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
          auto c = std::move(idle_.back());
          idle_.pop_back();
          return Lease(this, std::move(c));
        }
      }
      auto c = connect();
      if (!c) return c.error();
      return Lease(this, std::move(*c));
    }
  }
  evict_dead_connections();
  auto c = connect();
  if (!c) return c.error();
  auto e = std::make_unique<ThreadConnection>();
  e->store_id = id_;
  e->conn = std::move(*c);
  t_connections.push_back(std::move(e));
  return Lease(t_connections.back().get());
}

void SqliteStore::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(c));
}

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
  auto lease = store->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
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
  if (auto s = tx.commit(); !s) return s.error();
  return store;
}

// ---------------------------------------------------------------- accounts

Result<User> SqliteStore::create_user(const NewUser& user) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  return insert_user(**lease, user, now_ms());
}

Result<User> SqliteStore::find_user_by_username(std::string_view username) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  return sqlite::find_user_by_username(**lease, username);
}

Result<User> SqliteStore::find_user(std::int64_t id) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  return sqlite::find_user(**lease, id);
}

Result<std::vector<User>> SqliteStore::list_users() {
  auto lease = this->lease();
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
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, phc).bind(2, now_ms()).bind(3, user_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "updating a password");
  if ((*lease)->changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return ok_status();
}

Status SqliteStore::revoke_sessions(std::int64_t user_id, TimeMs now) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
  if (!st) return st.error();
  st->bind(1, now).bind(2, user_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "revoking sessions");
  return ok_status();
}

Status SqliteStore::set_disabled(std::int64_t user_id, bool disabled, TimeMs now) {
  auto lease = this->lease();
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
  auto lease = this->lease();
  if (!lease) return lease.error();
  Connection& c = **lease;
  Tx tx(c);
  if (auto s = tx.begin(); !s) return s;
  SqliteTransaction t(c);
  if (auto s = body(t); !s) return s;  // `tx` rolls back
  return tx.commit();
}

// ---------------------------------------------------------------- tokens

// Group commit, after LevelDB's DBImpl::Write but with a thread of its own:
// every caller queues its row; the committer thread takes the rows queued so
// far, inserts them in one transaction and commits once (one WAL fsync for the
// group instead of one per token), then calls every caller back. Rows queued
// meanwhile form the next group, so the busier the server, the bigger the
// groups. No caller hears back before the COMMIT of the transaction holding its
// row. The callers' threads are free meanwhile: a worker thread is not held for
// an fsync, so the number of tokens sharing one is bounded by the number of
// requests in flight, not by the number of workers.
namespace {
// Bounds one transaction (and the latency of the first caller in it).
constexpr std::size_t kMaxGroup = 256;
}  // namespace

Result<TokenRecord> SqliteStore::insert_token(const NewToken& t) {
  // From a callback on the committer thread this would wait for itself.
  if (std::this_thread::get_id() == committer_id_.load()) {
    return Error{ErrorCode::kStorageError, "insert_token called from a token insert callback"};
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<TokenRecord>> out;
  insert_token_async(t, [&](Result<TokenRecord> r) {
    // Notified under the lock: `cv` lives on this stack and is gone as soon
    // as the waiter sees its result.
    std::lock_guard lock(mu);
    out.emplace(std::move(r));
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

void SqliteStore::insert_token_async(const NewToken& t, InsertTokenDone done) {
  {
    std::lock_guard lock(commit_mu_);
    if (!stopping_) {
      if (!committer_.joinable()) {
        committer_ = std::thread([this] { run_committer(); });
        committer_id_.store(committer_.get_id());
      }
      commit_queue_.push_back(PendingToken{t, std::move(done)});
      commit_cv_.notify_one();
      return;
    }
  }
  done(Error{ErrorCode::kStorageError, "the store is closing"});  // outside the lock: it may call back into the store
}

void SqliteStore::wait_idle() {
  if (std::this_thread::get_id() == committer_id_.load()) return;  // from a callback: it would wait for itself
  std::unique_lock lock(commit_mu_);
  idle_cv_.wait(lock, [&] { return commit_queue_.empty() && !committing_; });
}

void SqliteStore::run_committer() {
  std::unique_lock lock(commit_mu_);
  for (;;) {
    commit_cv_.wait(lock, [&] { return stopping_ || !commit_queue_.empty(); });
    if (commit_queue_.empty()) return;  // stopping, and everything was committed
    const std::size_t n = std::min(commit_queue_.size(), kMaxGroup);
    std::vector<PendingToken> group;
    group.reserve(n);
    for (std::size_t i = 0; i < n; ++i) group.push_back(std::move(commit_queue_[i]));
    commit_queue_.erase(commit_queue_.begin(), commit_queue_.begin() + static_cast<std::ptrdiff_t>(n));
    committing_ = true;
    lock.unlock();
    std::vector<Result<TokenRecord>> results;
    try {
      results = commit_tokens(group);
    } catch (const std::exception& e) {
      // Out of memory and the like: every caller must still hear back, or its
      // request would hang.
      results.assign(group.size(), Error{ErrorCode::kStorageError, std::string("inserting a token: ") + e.what()});
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      // A callback that throws must not end this thread (the process would
      // terminate) nor keep the others of its group from hearing back.
      try {
        group[i].done(std::move(results[i]));
      } catch (const std::exception& e) {
        spdlog::error("a token insert callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("a token insert callback threw a non-standard exception");
      }
    }
    group.clear();  // the callbacks' captures go before the store reports idle
    lock.lock();
    committing_ = false;
    if (commit_queue_.empty()) idle_cv_.notify_all();
  }
}

std::vector<Result<TokenRecord>> SqliteStore::commit_tokens(const std::vector<PendingToken>& group) {
  std::vector<Result<TokenRecord>> results;
  results.reserve(group.size());
  auto fail_all = [&](const Error& e) {
    results.assign(group.size(), e);
  };
  [&] {
    auto lease = this->lease();
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
    for (const PendingToken& p : group) {
      const NewToken& t = p.token;
      auto st = c.prepare(
          "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)");
      if (!st) return fail_all(st.error());
      st->bind_blob(1, digest_ptr(t.digest), kDigestLen).bind(2, t.user_id).bind(3, t.name).bind(4, t.source);
      st->bind(5, t.created_at).bind(6, t.expires_at);
      if (const int rc = st->step(); rc != SQLITE_DONE) {
        const Error e = db_error(c, "inserting a token");
        // A constraint failure (a duplicate digest) fails its own row and
        // leaves the transaction open for the others. Anything else
        // (SQLITE_FULL, an I/O error, SQLITE_BUSY past busy_timeout_ms, no
        // memory) may have rolled back the statement or the whole
        // transaction, and SQLite's advice is a ROLLBACK either way: fail the
        // whole group and let `tx` roll it back, so that no caller hears 200
        // for a row of a transaction in doubt.
        const bool row_only = (rc & 0xff) == SQLITE_CONSTRAINT && !sqlite3_get_autocommit(c.handle());
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
      results.emplace_back(std::move(r));
    }
    if (group.size() > 1) {
      if (auto s = tx.commit(); !s) return fail_all(s.error());
    }
  }();
  return results;
}

Result<TokenLookup> SqliteStore::find_token(const crypto::Sha256& digest) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT t.id, t.user_id, t.name, t.source, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, "
      // Not the password hash: the token path has no use for it (and copying
      // it was an allocation per validation).
      "u.id, u.username, u.email, u.display_name, '', u.disabled, u.created_at "
      "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = ?");
  if (!st) return st.error();
  st->bind_blob_static(1, digest_ptr(digest), kDigestLen);  // `digest` outlives `st`
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such token"};
  if (rc != SQLITE_ROW) return db_error(**lease, "finding a token");
  return TokenLookup{read_token(*st, 0), read_user(*st, 8)};
}

Result<std::vector<TokenRecord>> SqliteStore::list_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at FROM tokens "
      "WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_token(*st, 0));
  if (rc != SQLITE_DONE) return db_error(**lease, "listing tokens");
  return out;
}

Result<std::vector<TokenRecord>> SqliteStore::list_live_tokens_page(std::int64_t user_id, TimeMs now,
                                                                    std::size_t limit,
                                                                    const std::optional<TokenPosition>& after) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  // Keyset paging on the tokens_user index (user_id, created_at): each page
  // costs its own size, however deep it is.
  auto st = (*lease)->prepare(
      "SELECT id, user_id, name, source, created_at, expires_at, last_used_at, revoked_at FROM tokens "
      "WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? "
      "AND (? = 0 OR created_at < ? OR (created_at = ? AND id < ?)) "
      "ORDER BY created_at DESC, id DESC LIMIT ?");
  if (!st) return st.error();
  const TimeMs at = after ? after->created_at : 0;
  st->bind(1, user_id).bind(2, now).bind(3, std::int64_t{after ? 1 : 0}).bind(4, at).bind(5, at)
      .bind(6, after ? after->id : std::int64_t{0}).bind(7, static_cast<std::int64_t>(limit));
  std::vector<TokenRecord> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_token(*st, 0));
  if (rc != SQLITE_DONE) return db_error(**lease, "listing tokens");
  return out;
}

Result<std::int64_t> SqliteStore::count_live_tokens(std::int64_t user_id, TimeMs now) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare(
      "SELECT COUNT(*) FROM tokens WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?");
  if (!st) return st.error();
  st->bind(1, user_id).bind(2, now);
  if (st->step() != SQLITE_ROW) return db_error(**lease, "counting tokens");
  return st->int64(0);
}

Status SqliteStore::revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) {
  auto lease = this->lease();
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
  auto lease = this->lease();
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
  auto lease = this->lease();
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
  auto lease = this->lease();
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
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, now).bind(2, session_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "touching a session");
  return ok_status();
}

Status SqliteStore::revoke_session(std::int64_t session_id) {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  if (!st) return st.error();
  st->bind(1, now_ms()).bind(2, session_id);
  if (st->step() != SQLITE_DONE) return db_error(**lease, "revoking a session");
  return ok_status();
}

// ---------------------------------------------------------------- maintenance

Status SqliteStore::ping() {
  auto lease = this->lease();
  if (!lease) return lease.error();
  auto st = (*lease)->prepare("SELECT COUNT(*) FROM schema_migrations");
  if (!st) return st.error();
  if (st->step() != SQLITE_ROW) return db_error(**lease, "ping");
  return ok_status();
}

Status SqliteStore::purge(TimeMs cutoff) {
  auto lease = this->lease();
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
