// Store: everything tokend keeps (accounts, linked external identities, tokens,
// browser sessions) behind one interface. The embedded default is SQLite
// (src/store/sqlite/); a PostgreSQL backend for several instances behind a load
// balancer implements the same interface, and tests/unit/store/ runs one
// conformance suite against every backend.
//
// Secrets never reach the store in plaintext: tokens and session ids arrive as
// SHA-256 digests, passwords as argon2id PHC strings.
//
// Thread-safety: implementations must be safe to call from many worker threads
// at once. Calls block on disk I/O: never call them from an I/O thread.
// Primitives only, no policy: the rules built on them (which account an external
// login gets, what a live token is) live once in the services above the store,
// so no backend can get them wrong.
//
// Errors: every method returns an Error{ErrorCode::kStorageError, ...} when the
// database fails; the message is for the log, not for clients. "Not found" is
// always ErrorCode::kNotFound; kConflict only for a row that would break a
// uniqueness rule.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/crypto/crypto.hpp"

namespace tokend::store {

struct User {
  std::int64_t id = 0;
  std::string username;      // normalised: trimmed, lower-case
  std::string email;
  std::string display_name;
  std::string password_hash; // argon2id PHC string; empty when the account has no password
  bool disabled = false;
  TimeMs created_at = 0;
  // The admin role (the /api/admin/ routes). Set with set_admin(); for LDAP
  // logins refreshed at each login from the method's admin_group.
  bool admin = false;
};

struct NewUser {
  std::string username;  // REQUIRES: normalised
  std::string email;
  std::string display_name;
  std::string password_hash;
  bool admin = false;
};

// One page of accounts (list_users_page), in id order.
struct UserQuery {
  // Accounts whose username or email contains this text, ASCII case ignored;
  // every character is literal (`%`, `_` and `\` match only themselves).
  // Empty: every account.
  std::string search;
  std::int64_t after_id = 0;  // only ids above this one (the last id of the previous page)
  std::size_t limit = 100;    // REQUIRES: >= 1
};

// An external identity (provider, subject) linked to a local account.
struct Link {
  std::string provider;  // authenticator name
  std::string subject;   // stable id at the provider
  std::int64_t user_id = 0;
  TimeMs created_at = 0;
};

// What an external login refreshes on its linked account.
struct ProfileUpdate {
  std::string username;  // REQUIRES: normalised
  std::string email;
  std::string display_name;
};

struct TokenRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string name;
  std::string source;    // userpass, ldap, a provider name, session
  TimeMs created_at = 0;
  TimeMs expires_at = kNever;
  std::optional<TimeMs> last_used_at;
  // When the token stops (or stopped) working. Usually the moment it was
  // revoked; a rotation with a grace period sets a time in the future, and
  // the token is live until then (token_live()).
  std::optional<TimeMs> revoked_at;
  // Space-separated scope names; nullopt (NULL): "the configured defaults"
  // (token/scopes.hpp).
  std::optional<std::string> scopes;
};

// The one definition of a live token row (the account's state aside): not
// revoked by `now` and not expired at `now`. Backends' queries say the same in
// SQL: (revoked_at IS NULL OR revoked_at > now) AND expires_at > now.
inline bool token_live(const TokenRecord& t, TimeMs now) {
  return (!t.revoked_at || *t.revoked_at > now) && t.expires_at > now;
}

// Where a page of tokens ends: the last token's created_at and id.
struct TokenPosition {
  TimeMs created_at = 0;
  std::int64_t id = 0;
};

struct NewToken {
  crypto::Sha256 digest{};
  std::int64_t user_id = 0;
  std::string name;
  std::string source;
  TimeMs created_at = 0;
  TimeMs expires_at = kNever;
  std::optional<std::string> scopes;  // as TokenRecord::scopes
};

// The user of a token or session lookup comes without its password_hash
// (empty): those paths never check a password.
struct TokenLookup {
  TokenRecord token;
  User user;
};

struct SessionRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string method;    // the authenticator that signed the person in
  TimeMs created_at = 0;
  TimeMs last_seen_at = 0;
  TimeMs expires_at = 0; // absolute timeout
  bool revoked = false;
};

struct NewSession {
  crypto::Sha256 digest{};
  std::int64_t user_id = 0;
  std::string method;
  TimeMs created_at = 0;
  TimeMs expires_at = 0;
};

struct SessionLookup {
  SessionRecord session;
  User user;
};

// Everything a database holds, as `tokend db copy` moves it from one backend
// to another: every row with its id, digests and times, and the password
// hashes.
struct ExportedToken {
  crypto::Sha256 digest{};
  TokenRecord token;
};
struct ExportedSession {
  crypto::Sha256 digest{};
  SessionRecord session;
  std::optional<TimeMs> revoked_at;  // session.revoked says only whether
};
struct DatabaseContents {
  std::vector<User> users;  // with password_hash
  std::vector<Link> links;
  std::vector<ExportedToken> tokens;
  std::vector<ExportedSession> sessions;
};

// ---- the change feed (token/validation_cache.hpp)
//
// Every write that can make a remembered answer wrong records a Change in the
// same transaction, in a table every instance reads (Store::read_changes), and
// hands it, once committed, to this process's ChangeListener: a validation
// cache in this process forgets at once (no window), one in another process
// within its poll interval.
struct Change {
  // Non-zero: what is remembered of this account (its tokens, its sessions,
  // its profile and role) may be wrong now: forget it. Recorded by
  // revoke_token, revoke_any_token, rotate_token, set_disabled, set_admin,
  // revoke_sessions, revoke_session, end_session, Transaction::update_profile
  // (only when username, email or display name differ).
  std::int64_t user_id = 0;
  // Non-zero: a token with this digest prefix was added (insert_token,
  // insert_token_async, rotate_token; not import_contents, which fills an
  // empty database for processes started after it): the first 8 bytes of
  // its SHA-256 digest, big-endian (token_prefix()). Zero when none.
  // A write records one row per call, never one per token it touches
  // (set_disabled revoking 1,000 tokens is one change of its user_id), and
  // nothing when it fails or changes nothing.
  std::uint64_t token_prefix = 0;
};

// The first 8 bytes of a token digest, big-endian; never 0 (a digest whose
// first 8 bytes are zero maps to 1, so that 0 can mean "none").
inline std::uint64_t token_prefix(const crypto::Sha256& digest) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v == 0 ? 1 : v;
}

// Where a reader of the feed is: opaque to everyone but the backend that made
// it. SQLite: `position` is the last change's sequence number, and
// `in_progress` is unused (empty). PostgreSQL: `position` is the xmax of the
// snapshot of the last read (the first transaction id not yet given out
// then), and `in_progress` the ids of the transactions still running at that
// snapshot (its xip list, at most one per server connection): the next read
// returns the rows of transactions >= position and of those in in_progress.
struct ChangeCursor {
  std::int64_t position = 0;
  std::vector<std::int64_t> in_progress;  // PostgreSQL only
};

struct ChangeBatch {
  // The changes committed after the cursor was made, oldest first (SQLite:
  // in commit order; PostgreSQL: in seq order within one batch, and a change
  // of a transaction that was running at the last read comes in a later
  // batch than changes with a larger seq). Neither backend repeats a change
  // today, but the interface allows it: applying a change twice must be
  // harmless.
  std::vector<Change> changes;
  ChangeCursor next;  // where to read from next time
};

// The prefixes of every token that is live at `now`, and the cursor of the
// same snapshot: reading the feed from it misses nothing committed after it.
struct TokenPrefixes {
  std::vector<std::uint64_t> prefixes;
  ChangeCursor cursor;
};

// Told of changes this process committed, right after the commit returns
// (before the call that made them returns), on the thread that committed.
// Must not block and must not call the Store.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  virtual void on_committed(const std::vector<Change>& changes) = 0;
};

// The account primitives that must see one consistent database: a Store runs
// them inside one transaction (Store::in_transaction). No policy lives here:
// which account an external identity gets is the login service's rule
// (auth/login_service.hpp), written once against these calls.
//
// Thread-safety: a Transaction belongs to the thread running the body it was
// passed to, and only for that call.
class Transaction {
 public:
  virtual ~Transaction() = default;

  // The user. Error kNotFound when there is none.
  virtual Result<User> find_user(std::int64_t id) = 0;
  // The user. Error kNotFound when there is none. REQUIRES: username normalised.
  virtual Result<User> find_user_by_username(std::string_view username) = 0;
  // Every account whose email equals `email`, ASCII case ignored, in id order;
  // empty when none does. REQUIRES: email not empty.
  virtual Result<std::vector<User>> find_users_by_email(std::string_view email) = 0;
  // The new user, created at `now` (and disabled false). Error kConflict when
  // the username is taken.
  virtual Result<User> insert_user(const NewUser& user, TimeMs now) = 0;
  // Sets username, email and display name of `user_id`. Records a Change only
  // when one of the three differs from the stored value (every external login
  // calls this, mostly with the profile the account has). Error kConflict when
  // the username is another account's, kNotFound when there is no such user.
  virtual Status update_profile(std::int64_t user_id, const ProfileUpdate& profile, TimeMs now) = 0;

  // The link of (provider, subject). Error kNotFound when there is none.
  virtual Result<Link> find_link(std::string_view provider, std::string_view subject) = 0;
  // The links of `user_id`, every provider; empty when there are none.
  virtual Result<std::vector<Link>> list_links(std::int64_t user_id) = 0;
  // Records `link`. Error kConflict when (provider, subject) is linked already,
  // kNotFound when there is no such user.
  virtual Status insert_link(const Link& link) = 0;
};

// One key's rows in the login throttle's window (ThrottleTransaction::count).
struct ThrottleCount {
  int failures = 0;   // settled failures
  int in_flight = 0;  // attempts admitted and not settled yet
};

// One key of the login throttle with its failures in a window
// (ThrottleTransaction::list_keys).
struct ThrottleKeyCount {
  std::string key;
  int failures = 0;
};

// The login throttle's rows (auth/throttle.hpp): one row per attempt and key,
// either in flight (admitted, not settled) or a settled failure, with its time.
// Primitives only: the limits, windows and what they mean live once in
// LoginThrottle. A Store runs them inside one throttle transaction
// (Store::in_throttle_transaction), serialised against every other throttle
// transaction on the same database, from every process: that is what makes
// "count, then admit" one step across instances.
//
// Keys are opaque strings of at most a few hundred bytes.
//
// Thread-safety: as Transaction.
class ThrottleTransaction {
 public:
  virtual ~ThrottleTransaction() = default;

  // The failures and attempts in flight of `key` whose time is after `since`.
  virtual Result<ThrottleCount> count(std::string_view key, TimeMs since) = 0;
  // The time of the n-th newest failure of `key` after `since` (n >= 1).
  // Error kNotFound when there are fewer than n.
  virtual Result<TimeMs> nth_newest_failure(std::string_view key, TimeMs since, int n) = 0;
  // Inserts a row for `key` at `at`, in flight or a settled failure; returns
  // its id (unique in the database, never reused while the row exists).
  virtual Result<std::int64_t> insert(std::string_view key, TimeMs at, bool in_flight) = 0;
  // Turns the in-flight row `id` into a failure at `at`. Ok (nothing done)
  // when the row is gone (unlocked, purged).
  virtual Status settle(std::int64_t id, TimeMs at) = 0;
  // Moves the row `id` to `key`. Ok (nothing done) when the row is gone.
  virtual Status move(std::int64_t id, std::string_view key) = 0;
  // Deletes the row `id`. Ok when it was gone already.
  virtual Status erase(std::int64_t id) = 0;
  // Deletes every settled failure of `key` (not its attempts in flight);
  // returns how many.
  virtual Result<std::int64_t> clear_failures(std::string_view key) = 0;
  // Deletes the failures of `key` but its newest `keep` (keep >= 0).
  virtual Status trim(std::string_view key, int keep) = 0;
  // How many distinct keys have rows. Reads every row: see rows_upper_bound().
  virtual Result<std::int64_t> count_keys() = 0;
  // An upper bound on the number of rows, hence on count_keys(), that costs
  // two primary-key lookups: max(id) - min(id) + 1 (row ids are distinct
  // integers), 0 when there are no rows.
  virtual Result<std::int64_t> rows_upper_bound() = 0;
  // Deletes the rows (in flight or not) whose time is at or before `cutoff`.
  virtual Status erase_before(TimeMs cutoff) = 0;
  // Deletes every row of the `n` keys whose newest row is oldest.
  virtual Status erase_oldest_keys(std::int64_t n) = 0;
  // Every key with failures after `since`, with their number, by key.
  virtual Result<std::vector<ThrottleKeyCount>> list_keys(TimeMs since) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- accounts
  // The new user. Error kConflict when the username is taken.
  virtual Result<User> create_user(const NewUser& user) = 0;
  // The user. Error kNotFound when there is none. REQUIRES: username normalised.
  virtual Result<User> find_user_by_username(std::string_view username) = 0;
  // The user. Error kNotFound when there is none.
  virtual Result<User> find_user(std::int64_t id) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // Error kNotFound when there is no such user.
  virtual Status set_password_hash(std::int64_t user_id, const std::string& phc) = 0;
  // Disabling also revokes every token and session of the account, at once
  // (tokens in a rotation's grace period included).
  // Error kNotFound when there is no such user.
  virtual Status set_disabled(std::int64_t user_id, bool disabled, TimeMs now) = 0;
  // Ends every browser session of the account (after a password change).
  virtual Status revoke_sessions(std::int64_t user_id, TimeMs now) = 0;
  // Grants (true) or withdraws (false) the admin role. Tokens and sessions
  // are untouched: they carry the role of their account at each use.
  // Error kNotFound when there is no such user.
  virtual Status set_admin(std::int64_t user_id, bool admin, TimeMs now) = 0;
  // At most query.limit accounts matching query.search with an id above
  // query.after_id, in ascending id order; empty past the last page. The
  // search is a substring match on username and email (see UserQuery), with
  // the text escaped for the backend's LIKE (store/like_pattern.hpp).
  virtual Result<std::vector<User>> list_users_page(const UserQuery& query) = 0;
  // Runs `body` inside one write transaction and commits when it returns ok;
  // rolls back when it returns an error (which is returned) or throws. Writers
  // are serialised: two bodies never interleave, so a body's reads stay true
  // until it commits. Returns ok once committed; kStorageError when the
  // transaction cannot begin or commit. `body` must not call this Store (only
  // `tx`), nor start another transaction.
  using TransactionBody = std::function<Status(Transaction& tx)>;
  virtual Status in_transaction(const TransactionBody& body) = 0;

  // ---- tokens
  // The stored record (with its id). The digest must be new. Returns once the
  // row is durable (committed).
  virtual Result<TokenRecord> insert_token(const NewToken& token) = 0;
  // Like insert_token, but returns at once and calls `done` with the result
  // once the row is committed (or failed), on a thread of the store's choosing
  // (possibly this one, before returning). `done` must not block and must not
  // throw: it hands the result on (e.g. posts the answer to its connection);
  // it must not call insert_token() or wait_idle() (a backend that calls back
  // on its own thread would wait for itself).
  // This lets a backend commit the rows of many concurrent requests together
  // without holding a thread per waiting request. The default runs
  // insert_token() here.
  using InsertTokenDone = std::function<void(Result<TokenRecord>)>;
  virtual void insert_token_async(const NewToken& token, InsertTokenDone done) { done(insert_token(token)); }
  // Returns when every insert_token_async() callback has returned. Call before
  // destroying what those callbacks refer to (the HTTP server at shutdown).
  virtual void wait_idle() {}
  // The token and its owner, in whatever state (the caller checks revoked,
  // expired and disabled). Error kNotFound when no token has this digest.
  virtual Result<TokenLookup> find_token(const crypto::Sha256& digest) = 0;
  // The user's tokens live at `now` (token_live(): a token in a rotation's
  // grace period is live), newest first.
  virtual Result<std::vector<TokenRecord>> list_live_tokens(std::int64_t user_id, TimeMs now) = 0;
  // One page of list_live_tokens(), in the same order (created_at, then id,
  // both descending): at most `limit` tokens, those after `after` (the last
  // token of the previous page) when given. The default filters the whole
  // list; backends answer with one indexed query.
  virtual Result<std::vector<TokenRecord>> list_live_tokens_page(std::int64_t user_id, TimeMs now, std::size_t limit,
                                                                 const std::optional<TokenPosition>& after) {
    auto all = list_live_tokens(user_id, now);
    if (!all) return all.error();
    std::vector<TokenRecord> out;
    for (auto& t : *all) {
      if (out.size() >= limit) break;
      if (after && !(t.created_at < after->created_at || (t.created_at == after->created_at && t.id < after->id))) continue;
      out.push_back(std::move(t));
    }
    return out;
  }
  // How many tokens of `user_id` are live at `now`.
  virtual Result<std::int64_t> count_live_tokens(std::int64_t user_id, TimeMs now) {
    auto all = list_live_tokens(user_id, now);
    if (!all) return all.error();
    return static_cast<std::int64_t>(all->size());
  }
  // Ok when a live token `token_id` of `user_id` was revoked (a token in a
  // rotation's grace period stops at once). Error kNotFound
  // when the user has no such live token (someone else's id tells nothing
  // more).
  virtual Status revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) = 0;
  // Revokes the live token `token_id`, whoever owns it (the admin API and
  // CLI): the record as it was before (revoked_at unset, its owner in
  // user_id). Error kNotFound when no live token has this id (unknown,
  // revoked or expired at `now`).
  virtual Result<TokenRecord> revoke_any_token(std::int64_t token_id, TimeMs now) = 0;
  // Every token that is neither revoked nor expired at `now`, of every
  // account (user_id 0) or of one, newest first (created_at, then id, both
  // descending), at most `limit`. For `tokend token list`.
  virtual Result<std::vector<TokenRecord>> list_all_live_tokens(std::int64_t user_id, TimeMs now,
                                                                std::size_t limit) = 0;
  // Rotation, atomically: when `token_id` is a live token of `user_id` not
  // already ending (revoked_at NULL; a token in a rotation's grace period
  // cannot be rotated again), sets its revoked_at to `old_ends_at` (>= now)
  // and inserts a new token with `digest`, created at `now`, with the old
  // one's name, source, scopes and expires_at; returns the new record. Two
  // rotations of one token never both succeed. Error kNotFound when there is
  // no such token (revoked, in grace, expired, someone else's, unknown).
  virtual Result<TokenRecord> rotate_token(std::int64_t user_id, std::int64_t token_id,
                                           const crypto::Sha256& digest, TimeMs now, TimeMs old_ends_at) = 0;
  // Records last-use times in one transaction (batched by TokenService).
  virtual Status record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) = 0;

  // ---- browser sessions
  virtual Result<SessionRecord> insert_session(const NewSession& session) = 0;
  // The session and its user, in whatever state (the caller checks revoked,
  // expired and disabled). Error kNotFound when no session has this digest.
  virtual Result<SessionLookup> find_session(const crypto::Sha256& digest) = 0;
  virtual Status touch_session(std::int64_t session_id, TimeMs now) = 0;
  virtual Status revoke_session(std::int64_t session_id) = 0;
  // The user's sessions that are neither revoked nor expired at `now`
  // (expires_at, the absolute timeout), newest first (created_at, then id,
  // both descending).
  virtual Result<std::vector<SessionRecord>> list_live_sessions(std::int64_t user_id, TimeMs now) = 0;
  // Ends the live session `session_id`, whoever owns it: the record as it was
  // before (its owner in user_id). Error kNotFound when no session with this
  // id is live at `now`.
  virtual Result<SessionRecord> end_session(std::int64_t session_id, TimeMs now) = 0;

  // ---- login throttle
  // Runs `body` inside one throttle transaction and commits when it returns
  // ok; rolls back when it returns an error (which is returned) or throws.
  // Throttle transactions are serialised across every thread and process
  // using this database (SQLite: the write lock, BEGIN IMMEDIATE; PostgreSQL:
  // a transaction-level advisory lock), so a body's counts stay true until it
  // commits. Returns ok once committed; kStorageError when the transaction
  // cannot begin or commit. `body` must not call this Store (only `tx`).
  using ThrottleBody = std::function<Status(ThrottleTransaction& tx)>;
  virtual Status in_throttle_transaction(const ThrottleBody& body) = 0;

  // ---- copying a whole database (tokend db copy)
  // Every row, read in one consistent snapshot, in id order. The whole
  // database is held in memory. The default: kInternalError (not supported).
  virtual Result<DatabaseContents> export_contents() {
    return Error{ErrorCode::kInternalError, "this store cannot export its contents"};
  }
  // Writes `contents` into this empty database in one transaction, keeping
  // every id, so that later rows get new, higher ids. Error kConflict (and
  // nothing written) when the database holds any account, link, token or
  // session; kStorageError when it fails. The default: kInternalError.
  virtual Status import_contents(const DatabaseContents& contents) {
    (void)contents;
    return Error{ErrorCode::kInternalError, "this store cannot import contents"};
  }

  // ---- the change feed (see Change)
  // Whom to tell of this process's committed changes; null: nobody. Set
  // before serving; the listener outlives the store's use. (Both backends
  // keep it in an atomic pointer: setting it later is safe too, and a commit
  // tells the listener set at the time.)
  virtual void set_change_listener(ChangeListener* listener) { (void)listener; }
  // Every live token's prefix, and the feed's cursor, in one snapshot.
  virtual Result<TokenPrefixes> load_live_token_prefixes(TimeMs now) {
    (void)now;
    return Error{ErrorCode::kInternalError, "this store has no change feed"};
  }
  // The changes committed since `from` (every one: no limit), and the next
  // cursor. Changes are kept kChangeRetentionMs after they were recorded
  // (purge() removes older ones): a reader whose cursor is older than that
  // must reload (load_live_token_prefixes) instead. Error kConflict when
  // `from` is ahead of the feed, which happens when the database was
  // replaced or restored under the server (SQLite: from.position is above
  // the largest seq ever given out; PostgreSQL: above the server's next
  // transaction id, the xmax of the current snapshot): changes to come might
  // fall at or below the cursor and be missed, so the reader must reload
  // (load_live_token_prefixes) and forget what it remembers.
  virtual Result<ChangeBatch> read_changes(ChangeCursor from) {
    (void)from;
    return Error{ErrorCode::kInternalError, "this store has no change feed"};
  }
  static constexpr TimeMs kChangeRetentionMs = 10 * 60 * 1000;

  // ---- maintenance
  // Ok when the database answers a trivial query.
  virtual Status ping() = 0;
  // Deletes tokens and sessions that expired or were revoked before `cutoff`,
  // and changes recorded more than kChangeRetentionMs before now.
  virtual Status purge(TimeMs cutoff) = 0;
  // Runs `body` when no other instance on this database is running
  // maintenance, and returns true; returns false at once, without running it,
  // when one is. kStorageError when that cannot be told. The default (SQLite,
  // whose maintenance is cheap and safe to repeat) always runs it;
  // PostgreSQL holds pg_try_advisory_lock on a dedicated key around `body`.
  using MaintenanceBody = std::function<void()>;
  virtual Result<bool> run_maintenance(const MaintenanceBody& body) {
    body();
    return true;
  }
};

}  // namespace tokend::store
