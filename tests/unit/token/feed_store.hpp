// FeedStore: a real SqliteStore with a change feed kept in memory, for the
// validation cache's tests until (and independently of) the backends' own
// feed: every write the Store interface lists records its Change, hands it to
// the listener after the write returns, and read_changes() returns the list
// from a cursor. record_external() adds a change as another instance would
// (to the feed only, no listener); fail_feed makes the feed calls fail, as a
// lost PostgreSQL connection would.
//
// Thread-safety: as the SqliteStore it wraps; the feed has its own mutex.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/store/store.hpp"
#include "unit/support/temp_dir.hpp"

namespace tokend::testing {

class FeedStore final : public store::Store {
 public:
  FeedStore() {
    config::DatabaseConfig db;
    db.path = dir_.file("tokend.db");
    auto opened = store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    s_ = std::move(*opened);
  }

  std::atomic<bool> fail_feed{false};
  // read_changes says the cursor cannot be continued (kConflict), as a store
  // restored under a running server does.
  std::atomic<bool> conflict_feed{false};
  // load_live_token_prefixes fails (read_changes still works).
  std::atomic<bool> fail_load{false};
  std::atomic<int> feed_reads{0};
  // Called by load_live_token_prefixes once its snapshot is taken.
  std::function<void()> after_snapshot;

  // A change committed by someone else: in the feed, not told to the listener.
  void record_external(store::Change c) {
    std::lock_guard lock(mu_);
    changes_.push_back(c);
  }
  store::sqlite::SqliteStore& inner() { return *s_; }

  using U = store::User;
  Result<U> create_user(const store::NewUser& u) override { return s_->create_user(u); }
  Result<U> find_user_by_username(std::string_view n) override { return s_->find_user_by_username(n); }
  Result<U> find_user(std::int64_t id) override { return s_->find_user(id); }
  Result<std::vector<U>> list_users() override { return s_->list_users(); }
  Status set_password_hash(std::int64_t id, const std::string& phc) override { return s_->set_password_hash(id, phc); }
  Status set_disabled(std::int64_t id, bool d, TimeMs now) override {
    return told(s_->set_disabled(id, d, now), {{id, 0}});
  }
  Status revoke_sessions(std::int64_t id, TimeMs now) override { return told(s_->revoke_sessions(id, now), {{id, 0}}); }
  Status set_admin(std::int64_t id, bool a, TimeMs now) override { return told(s_->set_admin(id, a, now), {{id, 0}}); }
  Result<std::vector<U>> list_users_page(const store::UserQuery& q) override { return s_->list_users_page(q); }
  Status in_transaction(const TransactionBody& body) override { return s_->in_transaction(body); }
  Result<store::TokenRecord> insert_token(const store::NewToken& t) override {
    auto r = s_->insert_token(t);
    if (r) told(ok_status(), {{0, store::token_prefix(t.digest)}});
    return r;
  }
  void insert_token_async(const store::NewToken& t, InsertTokenDone done) override { done(insert_token(t)); }
  Result<store::TokenLookup> find_token(const crypto::Sha256& d) override {
    finds.fetch_add(1);
    return s_->find_token(d);
  }
  Result<std::vector<store::TokenRecord>> list_live_tokens(std::int64_t id, TimeMs now) override {
    return s_->list_live_tokens(id, now);
  }
  Status revoke_token(std::int64_t id, std::int64_t token_id, TimeMs now) override {
    return told(s_->revoke_token(id, token_id, now), {{id, 0}});
  }
  Result<store::TokenRecord> revoke_any_token(std::int64_t token_id, TimeMs now) override {
    auto r = s_->revoke_any_token(token_id, now);
    if (r) told(ok_status(), {{r->user_id, 0}});
    return r;
  }
  Result<std::vector<store::TokenRecord>> list_all_live_tokens(std::int64_t id, TimeMs now, std::size_t limit) override {
    return s_->list_all_live_tokens(id, now, limit);
  }
  Result<store::TokenRecord> rotate_token(std::int64_t id, std::int64_t token_id, const crypto::Sha256& d, TimeMs now,
                                          TimeMs ends) override {
    auto r = s_->rotate_token(id, token_id, d, now, ends);
    if (r) told(ok_status(), {{id, store::token_prefix(d)}});
    return r;
  }
  Status record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& u) override {
    return s_->record_token_use(u);
  }
  Result<store::SessionRecord> insert_session(const store::NewSession& n) override {
    auto r = s_->insert_session(n);
    if (r) {
      std::lock_guard lock(mu_);
      session_owner_[r->id] = r->user_id;
    }
    return r;
  }
  Result<store::SessionLookup> find_session(const crypto::Sha256& d) override {
    session_finds.fetch_add(1);
    return s_->find_session(d);
  }
  Status touch_session(std::int64_t id, TimeMs now) override { return s_->touch_session(id, now); }
  Status revoke_session(std::int64_t id) override {
    std::int64_t owner = 0;
    {
      std::lock_guard lock(mu_);
      if (auto it = session_owner_.find(id); it != session_owner_.end()) owner = it->second;
    }
    return told(s_->revoke_session(id), {{owner, 0}});
  }
  Result<std::vector<store::SessionRecord>> list_live_sessions(std::int64_t id, TimeMs now) override {
    return s_->list_live_sessions(id, now);
  }
  Result<store::SessionRecord> end_session(std::int64_t id, TimeMs now) override {
    auto r = s_->end_session(id, now);
    if (r) told(ok_status(), {{r->user_id, 0}});
    return r;
  }
  Status in_throttle_transaction(const ThrottleBody& body) override { return s_->in_throttle_transaction(body); }
  Status ping() override { return s_->ping(); }
  Status purge(TimeMs cutoff) override { return s_->purge(cutoff); }

  void set_change_listener(store::ChangeListener* l) override { listener_ = l; }
  Result<store::TokenPrefixes> load_live_token_prefixes(TimeMs now) override {
    feed_reads.fetch_add(1);
    if (fail_feed || fail_load) return Error{ErrorCode::kStorageError, "feed lost (test)"};
    std::lock_guard lock(mu_);
    auto all = s_->export_contents();
    if (!all) return all.error();
    store::TokenPrefixes out;
    for (const auto& t : all->tokens) {
      if (store::token_live(t.token, now)) out.prefixes.push_back(store::token_prefix(t.digest));
    }
    out.cursor.position = static_cast<std::int64_t>(changes_.size());
    if (after_snapshot) {
      mu_.unlock();
      after_snapshot();
      mu_.lock();
    }
    return out;
  }
  Result<store::ChangeBatch> read_changes(store::ChangeCursor from) override {
    feed_reads.fetch_add(1);
    if (fail_feed) return Error{ErrorCode::kStorageError, "feed lost (test)"};
    if (conflict_feed) return Error{ErrorCode::kConflict, "cursor ahead of the feed (test)"};
    std::lock_guard lock(mu_);
    store::ChangeBatch b;
    for (auto i = static_cast<std::size_t>(from.position); i < changes_.size(); ++i) b.changes.push_back(changes_[i]);
    b.next.position = static_cast<std::int64_t>(changes_.size());
    return b;
  }

  std::atomic<int> finds{0};
  std::atomic<int> session_finds{0};

 private:
  Status told(Status s, std::vector<store::Change> changes) {
    if (!s) return s;
    {
      std::lock_guard lock(mu_);
      changes_.insert(changes_.end(), changes.begin(), changes.end());
    }
    if (listener_ != nullptr) listener_->on_committed(changes);
    return s;
  }

  TempDir dir_;
  std::unique_ptr<store::sqlite::SqliteStore> s_;
  std::mutex mu_;
  std::vector<store::Change> changes_;
  std::unordered_map<std::int64_t, std::int64_t> session_owner_;  // session id -> user id
  store::ChangeListener* listener_ = nullptr;
};

}  // namespace tokend::testing
