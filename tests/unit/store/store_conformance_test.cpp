// One conformance suite for every Store backend (Dex's storage/conformance).
// Each TEST_CASE runs its checks once per backend in backends()
// (store_fixture.hpp), on a fresh, empty database, through the abstract
// tokend::store::Store interface only. The rules built on the account
// primitives (linking, usernames) are tested in
// tests/unit/auth/login_service_test.cpp, on every backend too.
//
// The SQLite-specific cases (migrations, reopening the file) follow at the end.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/store/store.hpp"
#include "unit/store/store_fixture.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::kNever;
using tokend::TimeMs;
using tokend::crypto::Sha256;
using tokend::store::NewSession;
using tokend::store::NewToken;
using tokend::store::NewUser;
using tokend::store::Store;
using tokend::store::User;
using tokend::testing::make_user;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;
constexpr TimeMs kDay = 86'400'000;

using tokend::testing::for_each_backend;

// ---------------------------------------------------------------- helpers

Sha256 digest(const std::string& secret) { return tokend::crypto::sha256(secret); }

tokend::store::TokenRecord make_token(Store& s, std::int64_t user_id, const std::string& secret, TimeMs created,
                                      TimeMs expires = kNever, const std::string& name = "t") {
  NewToken t;
  t.digest = digest(secret);
  t.user_id = user_id;
  t.name = name;
  t.source = "userpass";
  t.created_at = created;
  t.expires_at = expires;
  auto rec = s.insert_token(t);
  REQUIRE(rec.ok());
  return *rec;
}

tokend::store::SessionRecord make_session(Store& s, std::int64_t user_id, const std::string& secret, TimeMs created,
                                          TimeMs expires) {
  NewSession n;
  n.digest = digest(secret);
  n.user_id = user_id;
  n.method = "userpass";
  n.created_at = created;
  n.expires_at = expires;
  auto rec = s.insert_session(n);
  REQUIRE(rec.ok());
  return *rec;
}

// The token, or nullopt when the store says kNotFound.
std::optional<tokend::store::TokenLookup> find_token(Store& s, const std::string& secret) {
  auto f = s.find_token(digest(secret));
  if (!f) {
    REQUIRE(f.error().is_not_found());
    return std::nullopt;
  }
  return std::move(*f);
}

// The session, or nullopt when the store says kNotFound.
std::optional<tokend::store::SessionLookup> find_session(Store& s, const std::string& secret) {
  auto f = s.find_session(digest(secret));
  if (!f) {
    REQUIRE(f.error().is_not_found());
    return std::nullopt;
  }
  return std::move(*f);
}

std::int64_t user_count(Store& s) {
  auto all = s.list_users();
  REQUIRE(all.ok());
  return static_cast<std::int64_t>(all->size());
}

}  // namespace

// ================================================================ accounts

TEST_CASE("Store conformance: create_user and find it by name and id", "[store]") {
  for_each_backend([](Store& s) {
    NewUser n;
    n.username = "alice";
    n.email = "alice@example.org";
    n.display_name = "Alice Liddell";
    n.password_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA";
    auto made = s.create_user(n);
    REQUIRE(made.ok());
    CHECK(made->id > 0);
    CHECK(made->username == "alice");
    CHECK(made->email == "alice@example.org");
    CHECK(made->display_name == "Alice Liddell");
    CHECK(made->password_hash == n.password_hash);
    CHECK_FALSE(made->disabled);
    CHECK(made->created_at > 0);

    auto by_name = s.find_user_by_username("alice");
    REQUIRE(by_name.ok());
    const User& u = *by_name;
    CHECK(u.id == made->id);
    CHECK(u.username == "alice");
    CHECK(u.email == "alice@example.org");
    CHECK(u.display_name == "Alice Liddell");
    CHECK(u.password_hash == n.password_hash);
    CHECK_FALSE(u.disabled);
    CHECK(u.created_at == made->created_at);

    auto by_id = s.find_user(made->id);
    REQUIRE(by_id.ok());
    CHECK(by_id->username == "alice");

    // Absent users are kNotFound.
    auto none = s.find_user_by_username("bob");
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().is_not_found());
    auto no_id = s.find_user(made->id + 1000);
    REQUIRE_FALSE(no_id.ok());
    CHECK(no_id.error().is_not_found());
    // Lookup is exact: normalising is the caller's job.
    auto upper = s.find_user_by_username("Alice");
    REQUIRE_FALSE(upper.ok());
    CHECK(upper.error().is_not_found());
  });
}

TEST_CASE("Store conformance: create_user refuses a taken username", "[store]") {
  for_each_backend([](Store& s) {
    const User first = make_user(s, "alice");
    NewUser again;
    again.username = "alice";
    again.email = "other@example.org";
    auto r = s.create_user(again);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tokend::ErrorCode::kConflict);
    // The first account is untouched.
    auto found = s.find_user_by_username("alice");
    REQUIRE(found.ok());
    CHECK(found->id == first.id);
    CHECK(found->email == "alice@example.org");
    CHECK(user_count(s) == 1);
  });
}

TEST_CASE("Store conformance: create_user keeps non-ASCII and empty fields", "[store]") {
  for_each_backend([](Store& s) {
    NewUser n;
    n.username = "j\xC3\xBCrgen";
    auto made = s.create_user(n);
    REQUIRE(made.ok());
    auto found = s.find_user_by_username("j\xC3\xBCrgen");
    REQUIRE(found.ok());
    CHECK(found->email.empty());
    CHECK(found->display_name.empty());
    CHECK(found->password_hash.empty());
  });
}

TEST_CASE("Store conformance: list_users lists every account", "[store]") {
  for_each_backend([](Store& s) {
    auto empty = s.list_users();
    REQUIRE(empty.ok());
    CHECK(empty->empty());
    const User c = make_user(s, "carol");
    const User a = make_user(s, "alice");
    const User b = make_user(s, "bob");
    auto all = s.list_users();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 3);
    std::set<std::int64_t> ids;
    std::set<std::string> names;
    for (const auto& u : *all) {
      ids.insert(u.id);
      names.insert(u.username);
    }
    CHECK(ids == std::set<std::int64_t>{a.id, b.id, c.id});
    CHECK(names == std::set<std::string>{"alice", "bob", "carol"});
  });
}

TEST_CASE("Store conformance: set_password_hash", "[store]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    REQUIRE(s.set_password_hash(u.id, "$argon2id$new").ok());
    auto found = s.find_user(u.id);
    REQUIRE(found.ok());
    CHECK(found->password_hash == "$argon2id$new");
    // Clearing the password is allowed.
    REQUIRE(s.set_password_hash(u.id, "").ok());
    CHECK(s.find_user(u.id)->password_hash.empty());

    auto missing = s.set_password_hash(u.id + 1000, "$argon2id$x");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == tokend::ErrorCode::kNotFound);
  });
}

TEST_CASE("Store conformance: set_disabled revokes tokens and sessions", "[store]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    make_token(s, alice.id, "alice-t1", kT0);
    make_token(s, alice.id, "alice-t2", kT0 + 1, kT0 + 30 * kDay);
    make_token(s, bob.id, "bob-t1", kT0);
    make_session(s, alice.id, "alice-s1", kT0, kT0 + kDay);
    make_session(s, bob.id, "bob-s1", kT0, kT0 + kDay);

    const TimeMs when = kT0 + 1000;
    REQUIRE(s.set_disabled(alice.id, true, when).ok());
    auto a = s.find_user(alice.id);
    REQUIRE(a.ok());
    CHECK(a->disabled);

    for (const char* secret : {"alice-t1", "alice-t2"}) {
      INFO(secret);
      auto t = find_token(s, secret);
      REQUIRE(t);
      REQUIRE(t->token.revoked_at);
      CHECK(*t->token.revoked_at == when);
      CHECK(t->user.disabled);
    }
    auto as = find_session(s, "alice-s1");
    REQUIRE(as);
    CHECK(as->session.revoked);
    auto live = s.list_live_tokens(alice.id, kT0 + 2000);
    REQUIRE(live.ok());
    CHECK(live->empty());

    // Bob is not touched.
    auto bt = find_token(s, "bob-t1");
    REQUIRE(bt);
    CHECK_FALSE(bt->token.revoked_at);
    CHECK_FALSE(bt->user.disabled);
    auto bs = find_session(s, "bob-s1");
    REQUIRE(bs);
    CHECK_FALSE(bs->session.revoked);

    // Re-enabling does not bring the old tokens back.
    REQUIRE(s.set_disabled(alice.id, false, kT0 + 3000).ok());
    CHECK_FALSE(s.find_user(alice.id)->disabled);
    auto t1 = find_token(s, "alice-t1");
    REQUIRE(t1);
    CHECK(t1->token.revoked_at);
    CHECK_FALSE(t1->user.disabled);
    CHECK(find_session(s, "alice-s1")->session.revoked);

    auto missing = s.set_disabled(alice.id + 1000, true, kT0);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == tokend::ErrorCode::kNotFound);
  });
}

// ================================================================ external identities (primitives)

using tokend::store::Link;
using tokend::store::ProfileUpdate;
using tokend::store::Transaction;

// Runs `body` in a transaction and requires that it committed.
void in_tx(Store& s, const std::function<void(Transaction&)>& body) {
  auto done = s.in_transaction([&](Transaction& tx) -> tokend::Status {
    body(tx);
    return tokend::ok_status();
  });
  INFO((done.ok() ? std::string() : done.error().message));
  REQUIRE(done.ok());
}

TEST_CASE("Store conformance: links are found by (provider, subject) and listed per user", "[store][link]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    in_tx(s, [&](Transaction& tx) {
      auto none = tx.find_link("github", "1");
      REQUIRE_FALSE(none.ok());
      CHECK(none.error().is_not_found());
      REQUIRE(tx.insert_link(Link{"github", "1", alice.id, kT0}).ok());
      REQUIRE(tx.insert_link(Link{"gitlab", "1", alice.id, kT0 + 1}).ok());
      auto found = tx.find_link("github", "1");
      REQUIRE(found.ok());
      CHECK(found->user_id == alice.id);
      CHECK(found->created_at == kT0);
      // The same subject at another provider is another identity.
      CHECK(tx.find_link("gitlab", "1")->created_at == kT0 + 1);
      CHECK_FALSE(tx.find_link("github", "2").ok());
      // (provider, subject) is linked once.
      auto again = tx.insert_link(Link{"github", "1", alice.id, kT0 + 2});
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().is_conflict());
      // Only to an existing account.
      auto orphan = tx.insert_link(Link{"github", "9", alice.id + 1000, kT0});
      REQUIRE_FALSE(orphan.ok());
      CHECK(orphan.error().is_not_found());
      auto links = tx.list_links(alice.id);
      REQUIRE(links.ok());
      REQUIRE(links->size() == 2);
      CHECK((*links)[0].provider == "github");
      CHECK((*links)[1].provider == "gitlab");
      auto no_links = tx.list_links(alice.id + 1000);
      REQUIRE(no_links.ok());
      CHECK(no_links->empty());
    });
  });
}

TEST_CASE("Store conformance: find_users_by_email ignores ASCII case", "[store][link]") {
  for_each_backend([](Store& s) {
    const User a = make_user(s, "alice", "alice@example.org");
    const User b = make_user(s, "alice2", "ALICE@Example.ORG");
    make_user(s, "bob", "bob@example.org");
    in_tx(s, [&](Transaction& tx) {
      auto found = tx.find_users_by_email("Alice@example.org");
      REQUIRE(found.ok());
      REQUIRE(found->size() == 2);
      CHECK((*found)[0].id == a.id);
      CHECK((*found)[1].id == b.id);
      CHECK((*found)[0].password_hash == a.password_hash);
      auto none = tx.find_users_by_email("nobody@example.org");
      REQUIRE(none.ok());
      CHECK(none->empty());
    });
  });
}

TEST_CASE("Store conformance: insert_user and update_profile in a transaction", "[store][link]") {
  for_each_backend([](Store& s) {
    make_user(s, "taken");
    std::int64_t id = 0;
    in_tx(s, [&](Transaction& tx) {
      auto made = tx.insert_user(NewUser{"octocat", "octo@example.org", "The Octocat", ""}, kT0);
      REQUIRE(made.ok());
      id = made->id;
      CHECK(made->created_at == kT0);
      CHECK(made->password_hash.empty());
      auto dup = tx.insert_user(NewUser{"taken", "", "", ""}, kT0);
      REQUIRE_FALSE(dup.ok());
      CHECK(dup.error().is_conflict());
      REQUIRE(tx.update_profile(id, ProfileUpdate{"octodog", "new@example.org", "New"}, kT0 + 1).ok());
      auto clash = tx.update_profile(id, ProfileUpdate{"taken", "", ""}, kT0 + 2);
      REQUIRE_FALSE(clash.ok());
      CHECK(clash.error().is_conflict());
      auto gone = tx.update_profile(id + 1000, ProfileUpdate{"x", "", ""}, kT0 + 2);
      REQUIRE_FALSE(gone.ok());
      CHECK(gone.error().is_not_found());
      CHECK(tx.find_user_by_username("octodog")->id == id);
    });
    auto u = s.find_user(id);
    REQUIRE(u.ok());
    CHECK(u->username == "octodog");
    CHECK(u->email == "new@example.org");
    CHECK(u->display_name == "New");
  });
}

TEST_CASE("Store conformance: in_transaction rolls back when its body fails", "[store][link]") {
  for_each_backend([](Store& s) {
    auto failed = s.in_transaction([&](Transaction& tx) -> tokend::Status {
      auto made = tx.insert_user(NewUser{"ghost", "", "", ""}, kT0);
      REQUIRE(made.ok());
      REQUIRE(tx.insert_link(Link{"github", "1", made->id, kT0}).ok());
      return tokend::Error{tokend::ErrorCode::kConflict, "changed my mind"};
    });
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().is_conflict());
    CHECK(s.find_user_by_username("ghost").error().is_not_found());
    in_tx(s, [&](Transaction& tx) { CHECK(tx.find_link("github", "1").error().is_not_found()); });

    // A body that throws rolls back too, and the store stays usable.
    CHECK_THROWS(s.in_transaction([&](Transaction& tx) -> tokend::Status {
      REQUIRE(tx.insert_user(NewUser{"thrown", "", "", ""}, kT0).ok());
      throw std::runtime_error("bug");
    }));
    CHECK(s.find_user_by_username("thrown").error().is_not_found());
    make_user(s, "after");
  });
}

TEST_CASE("Store conformance: revoke_sessions ends every session of one account", "[store][session]") {
  for_each_backend([](Store& s) {
    const User a = make_user(s, "alice");
    const User b = make_user(s, "bob");
    NewSession n;
    n.user_id = a.id;
    n.method = "userpass";
    n.created_at = kT0;
    n.expires_at = kT0 + 1'000'000;
    n.digest[0] = 1;
    REQUIRE(s.insert_session(n).ok());
    n.digest[0] = 2;
    REQUIRE(s.insert_session(n).ok());
    n.user_id = b.id;
    n.digest[0] = 3;
    REQUIRE(s.insert_session(n).ok());
    REQUIRE(s.revoke_sessions(a.id, kT0 + 5).ok());
    for (std::uint8_t d : {1, 2, 3}) {
      tokend::crypto::Sha256 digest{};
      digest[0] = d;
      auto found = s.find_session(digest);
      REQUIRE(found.ok());
      CHECK(found->session.revoked == (d != 3));
    }
  });
}

TEST_CASE("Store conformance: insert_token and find_token", "[store][tokens]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    NewToken t;
    t.digest = digest("secret-1");
    t.user_id = u.id;
    t.name = "laptop";
    t.source = "ldap";
    t.created_at = kT0;
    t.expires_at = kT0 + 90 * kDay;
    auto rec = s.insert_token(t);
    REQUIRE(rec.ok());
    CHECK(rec->id > 0);
    CHECK(rec->user_id == u.id);
    CHECK(rec->name == "laptop");
    CHECK(rec->source == "ldap");
    CHECK(rec->created_at == kT0);
    CHECK(rec->expires_at == kT0 + 90 * kDay);
    CHECK_FALSE(rec->last_used_at);
    CHECK_FALSE(rec->revoked_at);

    auto found = find_token(s, "secret-1");
    REQUIRE(found);
    CHECK(found->token.id == rec->id);
    CHECK(found->token.user_id == u.id);
    CHECK(found->token.name == "laptop");
    CHECK(found->token.source == "ldap");
    CHECK(found->token.created_at == kT0);
    CHECK(found->token.expires_at == kT0 + 90 * kDay);
    CHECK_FALSE(found->token.last_used_at);
    CHECK_FALSE(found->token.revoked_at);
    CHECK(found->user.id == u.id);
    CHECK(found->user.username == "alice");

    CHECK_FALSE(find_token(s, "secret-2"));

    // kNever round-trips exactly.
    make_token(s, u.id, "forever", kT0, kNever);
    auto forever = find_token(s, "forever");
    REQUIRE(forever);
    CHECK(forever->token.expires_at == kNever);

    // Tokens are found whatever their state: the caller judges.
    make_token(s, u.id, "expired", kT0 - 2 * kDay, kT0 - kDay);
    CHECK(find_token(s, "expired"));
  });
}

TEST_CASE("Store conformance: token scopes round-trip, NULL and empty kept apart", "[store][tokens][scopes]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    const auto insert = [&](const std::string& secret, std::optional<std::string> scopes, TimeMs created) {
      NewToken t;
      t.digest = digest(secret);
      t.user_id = u.id;
      t.name = secret;
      t.source = "userpass";
      t.created_at = created;
      t.scopes = std::move(scopes);
      auto rec = s.insert_token(t);
      REQUIRE(rec.ok());
      return *rec;
    };
    CHECK(insert("scoped", std::string("repo:read admin"), kT0).scopes == std::optional<std::string>("repo:read admin"));
    CHECK(insert("empty", std::string(""), kT0 + 1).scopes == std::optional<std::string>(""));
    CHECK_FALSE(insert("null", std::nullopt, kT0 + 2).scopes.has_value());
    CHECK(find_token(s, "scoped")->token.scopes == std::optional<std::string>("repo:read admin"));
    CHECK(find_token(s, "empty")->token.scopes == std::optional<std::string>(""));
    CHECK_FALSE(find_token(s, "null")->token.scopes.has_value());
    auto listed = s.list_live_tokens(u.id, kT0);
    REQUIRE(listed.ok());
    REQUIRE(listed->size() == 3);
    CHECK_FALSE((*listed)[0].scopes.has_value());
    CHECK((*listed)[1].scopes == std::optional<std::string>(""));
    CHECK((*listed)[2].scopes == std::optional<std::string>("repo:read admin"));
    auto page = s.list_live_tokens_page(u.id, kT0, 1, std::nullopt);
    REQUIRE(page.ok());
    REQUIRE(page->size() == 1);
    CHECK_FALSE((*page)[0].scopes.has_value());
  });
}

TEST_CASE("Store conformance: a digest is stored once", "[store][tokens]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    make_token(s, u.id, "dup", kT0);
    NewToken t;
    t.digest = digest("dup");
    t.user_id = u.id;
    t.name = "again";
    t.source = "userpass";
    t.created_at = kT0 + 1;
    auto r = s.insert_token(t);
    CHECK_FALSE(r.ok());
    auto found = find_token(s, "dup");
    REQUIRE(found);
    CHECK(found->token.name == "t");
  });
}

TEST_CASE("Store conformance: insert_token_async calls back once per row, committed", "[store][tokens]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    constexpr int kRows = 300;  // more than one group
    std::mutex mu;
    std::vector<tokend::Result<tokend::store::TokenRecord>> results;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < kRows; i += 4) {
          NewToken n;
          n.digest = digest("async-" + std::to_string(i));
          n.user_id = u.id;
          n.name = "n" + std::to_string(i);
          n.source = "test";
          n.created_at = kT0;
          n.expires_at = kNever;
          s.insert_token_async(n, [&](tokend::Result<tokend::store::TokenRecord> r) {
            std::lock_guard lock(mu);
            results.push_back(std::move(r));
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    s.wait_idle();
    {
      std::lock_guard lock(mu);
      REQUIRE(results.size() == kRows);
      std::set<std::int64_t> ids;
      for (const auto& r : results) {
        REQUIRE(r.ok());
        ids.insert(r->id);
      }
      CHECK(ids.size() == kRows);
    }
    // Every row that was called back is readable (committed).
    for (int i = 0; i < kRows; ++i) {
      auto f = s.find_token(digest("async-" + std::to_string(i)));
      REQUIRE(f.ok());
      CHECK(f->token.name == "n" + std::to_string(i));
    }
    // A duplicate digest fails alone; the rows around it still commit.
    std::atomic<int> ok{0}, failed{0};
    for (const char* secret : {"dup-a", "async-7", "dup-b"}) {
      NewToken n;
      n.digest = digest(secret);
      n.user_id = u.id;
      n.name = secret;
      n.source = "test";
      n.created_at = kT0;
      n.expires_at = kNever;
      s.insert_token_async(n, [&](tokend::Result<tokend::store::TokenRecord> r) { ++(r.ok() ? ok : failed); });
    }
    s.wait_idle();
    CHECK(ok == 2);
    CHECK(failed == 1);
    auto a = s.find_token(digest("dup-a"));
    auto b = s.find_token(digest("dup-b"));
    CHECK(a.ok());
    CHECK(b.ok());
  });
}

TEST_CASE("Store conformance: list_live_tokens is live only, newest first", "[store][tokens]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const TimeMs now = kT0 + 10 * kDay;
    const auto t_old = make_token(s, alice.id, "old", kT0, kNever, "old");
    const auto t_new = make_token(s, alice.id, "new", kT0 + 5 * kDay, now + kDay, "new");
    const auto t_mid = make_token(s, alice.id, "mid", kT0 + 2 * kDay, kNever, "mid");
    make_token(s, alice.id, "expired", kT0 + 3 * kDay, now - 1, "expired");
    make_token(s, alice.id, "expires-now", kT0 + 3 * kDay, now, "expires-now");
    const auto t_rev = make_token(s, alice.id, "revoked", kT0 + 4 * kDay, kNever, "revoked");
    make_token(s, bob.id, "bobs", kT0 + 6 * kDay, kNever, "bobs");
    REQUIRE(s.revoke_token(alice.id, t_rev.id, kT0 + 4 * kDay + 1).ok());

    auto live = s.list_live_tokens(alice.id, now);
    REQUIRE(live.ok());
    std::vector<std::string> names;
    for (const auto& t : *live) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"new", "mid", "old"});
    REQUIRE(live->size() == 3);
    CHECK((*live)[0].id == t_new.id);
    CHECK((*live)[1].id == t_mid.id);
    CHECK((*live)[2].id == t_old.id);
    for (const auto& t : *live) {
      CHECK(t.user_id == alice.id);
      CHECK_FALSE(t.revoked_at);
    }

    auto bobs = s.list_live_tokens(bob.id, now);
    REQUIRE(bobs.ok());
    REQUIRE(bobs->size() == 1);
    CHECK((*bobs)[0].name == "bobs");

    auto nobody = s.list_live_tokens(bob.id + 1000, now);
    REQUIRE(nobody.ok());
    CHECK(nobody->empty());

    // Later, "new" has expired too.
    auto later = s.list_live_tokens(alice.id, now + kDay);
    REQUIRE(later.ok());
    CHECK(later->size() == 2);
  });
}

TEST_CASE("Store conformance: revoke_token only revokes the owner's live token", "[store][tokens][security]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const auto a1 = make_token(s, alice.id, "a1", kT0);
    const auto b1 = make_token(s, bob.id, "b1", kT0);
    const auto old = make_token(s, alice.id, "old", kT0 - 2 * kDay, kT0 - kDay);

    // Someone else's token: false, and it stays live.
    auto other = s.revoke_token(alice.id, b1.id, kT0 + 1);
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().is_not_found());
    CHECK_FALSE(find_token(s, "b1")->token.revoked_at);

    // A token id that does not exist.
    auto missing = s.revoke_token(alice.id, b1.id + a1.id + 1000, kT0 + 1);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().is_not_found());

    // An expired token is not live.
    auto expired = s.revoke_token(alice.id, old.id, kT0 + 1);
    REQUIRE_FALSE(expired.ok());
    CHECK(expired.error().is_not_found());

    // Her own: true, once.
    auto mine = s.revoke_token(alice.id, a1.id, kT0 + 2);
    CHECK(mine.ok());
    auto found = find_token(s, "a1");
    REQUIRE(found);
    REQUIRE(found->token.revoked_at);
    CHECK(*found->token.revoked_at == kT0 + 2);
    auto twice = s.revoke_token(alice.id, a1.id, kT0 + 3);
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().is_not_found());
    CHECK(*find_token(s, "a1")->token.revoked_at == kT0 + 2);
  });
}

TEST_CASE("Store conformance: record_token_use sets last_used_at", "[store][tokens]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    const auto a = make_token(s, u.id, "a", kT0);
    const auto b = make_token(s, u.id, "b", kT0);
    const auto c = make_token(s, u.id, "c", kT0);
    REQUIRE(s.record_token_use({}).ok());
    REQUIRE(s.record_token_use({{a.id, kT0 + 100}, {b.id, kT0 + 200}}).ok());
    CHECK(find_token(s, "a")->token.last_used_at == std::optional<TimeMs>(kT0 + 100));
    CHECK(find_token(s, "b")->token.last_used_at == std::optional<TimeMs>(kT0 + 200));
    CHECK_FALSE(find_token(s, "c")->token.last_used_at);
    REQUIRE(s.record_token_use({{a.id, kT0 + 500}}).ok());
    CHECK(find_token(s, "a")->token.last_used_at == std::optional<TimeMs>(kT0 + 500));
    // list_live_tokens shows it too.
    auto live = s.list_live_tokens(u.id, kT0 + 1000);
    REQUIRE(live.ok());
    bool seen = false;
    for (const auto& t : *live) {
      if (t.id == a.id) {
        seen = true;
        CHECK(t.last_used_at == std::optional<TimeMs>(kT0 + 500));
      }
      if (t.id == c.id) CHECK_FALSE(t.last_used_at);
    }
    CHECK(seen);
  });
}

// ================================================================ sessions

TEST_CASE("Store conformance: sessions insert, find, touch, revoke", "[store][sessions]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    NewSession n;
    n.digest = digest("cookie-1");
    n.user_id = u.id;
    n.method = "ldap";
    n.created_at = kT0;
    n.expires_at = kT0 + 12 * 3'600'000;
    auto rec = s.insert_session(n);
    REQUIRE(rec.ok());
    CHECK(rec->id > 0);
    CHECK(rec->user_id == u.id);
    CHECK(rec->method == "ldap");
    CHECK(rec->created_at == kT0);
    CHECK(rec->last_seen_at == kT0);
    CHECK(rec->expires_at == kT0 + 12 * 3'600'000);
    CHECK_FALSE(rec->revoked);

    auto found = find_session(s, "cookie-1");
    REQUIRE(found);
    CHECK(found->session.id == rec->id);
    CHECK(found->session.user_id == u.id);
    CHECK(found->session.method == "ldap");
    CHECK(found->session.created_at == kT0);
    CHECK(found->session.last_seen_at == kT0);
    CHECK(found->session.expires_at == kT0 + 12 * 3'600'000);
    CHECK_FALSE(found->session.revoked);
    CHECK(found->user.id == u.id);
    CHECK(found->user.username == "alice");

    CHECK_FALSE(find_session(s, "cookie-2"));

    REQUIRE(s.touch_session(rec->id, kT0 + 60'000).ok());
    CHECK(find_session(s, "cookie-1")->session.last_seen_at == kT0 + 60'000);
    // The absolute expiry does not move.
    CHECK(find_session(s, "cookie-1")->session.expires_at == kT0 + 12 * 3'600'000);

    const auto other = make_session(s, u.id, "cookie-3", kT0, kT0 + kDay);
    REQUIRE(s.revoke_session(rec->id).ok());
    auto revoked = find_session(s, "cookie-1");
    REQUIRE(revoked);
    CHECK(revoked->session.revoked);
    CHECK_FALSE(find_session(s, "cookie-3")->session.revoked);
    // Revoking twice is fine.
    CHECK(s.revoke_session(rec->id).ok());
    CHECK(find_session(s, "cookie-1")->session.revoked);
    (void)other;
  });
}

// ================================================================ administration

TEST_CASE("Store conformance: the admin role is stored, set and withdrawn", "[store][admin]") {
  for_each_backend([](Store& s) {
    const User plain = make_user(s, "alice");
    CHECK_FALSE(plain.admin);
    NewUser n;
    n.username = "root";
    n.email = "root@example.org";
    n.admin = true;
    auto made = s.create_user(n);
    REQUIRE(made.ok());
    CHECK(made->admin);
    auto found = s.find_user_by_username("root");
    REQUIRE(found.ok());
    CHECK(found->admin);

    REQUIRE(s.set_admin(plain.id, true, kT0).ok());
    CHECK(s.find_user(plain.id)->admin);
    // The token and session lookups carry the role (the admin API reads it there).
    make_token(s, plain.id, "alice-token", kT0, kNever);
    make_session(s, plain.id, "alice-session", kT0, kNever);
    CHECK(find_token(s, "alice-token")->user.admin);
    CHECK(find_session(s, "alice-session")->user.admin);
    REQUIRE(s.set_admin(plain.id, false, kT0).ok());
    CHECK_FALSE(s.find_user(plain.id)->admin);
    CHECK_FALSE(find_token(s, "alice-token")->user.admin);
    CHECK_FALSE(find_session(s, "alice-session")->user.admin);
    // The role changes nothing else.
    CHECK_FALSE(s.find_user(plain.id)->disabled);
    CHECK(find_token(s, "alice-token")->token.revoked_at == std::nullopt);

    auto none = s.set_admin(plain.id + 1000, true, kT0);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().is_not_found());
    // list_users carries it too.
    auto all = s.list_users();
    REQUIRE(all.ok());
    for (const auto& u : *all) CHECK(u.admin == (u.username == "root"));
  });
}

TEST_CASE("Store conformance: list_users_page pages in id order and searches literally", "[store][admin]") {
  for_each_backend([](Store& s) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 7; ++i) ids.push_back(make_user(s, "user" + std::to_string(i)).id);
    const User pct = make_user(s, "100%sure", "pct@example.org");
    const User under = make_user(s, "a_b", "under@example.org");
    const User slash = make_user(s, "back\\slash", "bs@example.org");
    const User mail = make_user(s, "carol", "Carol.Smith@Example.ORG");
    ids.insert(ids.end(), {pct.id, under.id, slash.id, mail.id});

    // Every account, in pages of 4, each after the last id of the previous one.
    std::vector<std::int64_t> seen;
    tokend::store::UserQuery q;
    q.limit = 4;
    for (int page = 0; page < 10; ++page) {
      auto got = s.list_users_page(q);
      REQUIRE(got.ok());
      if (got->empty()) break;
      CHECK(got->size() <= 4);
      for (const auto& u : *got) {
        seen.push_back(u.id);
        CHECK(u.password_hash.empty());  // never handed out by the listing
      }
      q.after_id = got->back().id;
    }
    CHECK(seen == ids);

    auto search = [&](const std::string& text) {
      tokend::store::UserQuery sq;
      sq.search = text;
      sq.limit = 100;
      auto got = s.list_users_page(sq);
      REQUIRE(got.ok());
      std::vector<std::string> names;
      for (const auto& u : *got) names.push_back(u.username);
      return names;
    };
    CHECK(search("user3") == std::vector<std::string>{"user3"});
    CHECK(search("USER3") == std::vector<std::string>{"user3"});  // ASCII case ignored
    CHECK(search("ser").size() == 7);
    // LIKE's wildcards and escape character are literal text.
    CHECK(search("%") == std::vector<std::string>{"100%sure"});
    CHECK(search("_") == std::vector<std::string>{"a_b"});
    CHECK(search("\\") == std::vector<std::string>{"back\\slash"});
    CHECK(search("0%s") == std::vector<std::string>{"100%sure"});
    CHECK(search("a%b").empty());
    // The email matches too, case ignored.
    CHECK(search("smith@example.org") == std::vector<std::string>{"carol"});
    CHECK(search("nobody-has-this").empty());
    // Search and paging together.
    tokend::store::UserQuery sq;
    sq.search = "user";
    sq.limit = 3;
    auto first = s.list_users_page(sq);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 3);
    sq.after_id = first->back().id;
    auto second = s.list_users_page(sq);
    REQUIRE(second.ok());
    REQUIRE(second->size() == 3);
    CHECK(second->front().username == "user3");
  });
}

TEST_CASE("Store conformance: revoke_any_token revokes any live token once", "[store][admin][tokens]") {
  for_each_backend([](Store& s) {
    const TimeMs now = kT0 + kDay;
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const auto live = make_token(s, bob.id, "bob-live", kT0, kNever, "ci");
    const auto expired = make_token(s, bob.id, "bob-expired", kT0, kT0 + 1000);
    const auto other = make_token(s, alice.id, "alice-live", kT0, kNever);

    auto r = s.revoke_any_token(live.id, now);
    REQUIRE(r.ok());
    CHECK(r->id == live.id);
    CHECK(r->user_id == bob.id);
    CHECK(r->name == "ci");
    CHECK(find_token(s, "bob-live")->token.revoked_at == now);
    // Once only: a revoked, an expired or an unknown id is kNotFound.
    for (const std::int64_t id : {live.id, expired.id, other.id + 1000}) {
      auto again = s.revoke_any_token(id, now);
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().is_not_found());
    }
    CHECK_FALSE(find_token(s, "bob-expired")->token.revoked_at.has_value());
    // Nobody else's token was touched.
    CHECK_FALSE(find_token(s, "alice-live")->token.revoked_at.has_value());
    // The owner-checked revoke_token keeps its meaning.
    auto wrong_owner = s.revoke_token(bob.id, other.id, now);
    REQUIRE_FALSE(wrong_owner.ok());
    CHECK(wrong_owner.error().is_not_found());
  });
}

TEST_CASE("Store conformance: list_all_live_tokens lists every account's or one's, newest first", "[store][admin][tokens]") {
  for_each_backend([](Store& s) {
    const TimeMs now = kT0 + kDay;
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const auto a1 = make_token(s, alice.id, "a1", kT0 + 1, kNever);
    const auto b1 = make_token(s, bob.id, "b1", kT0 + 2, kNever);
    const auto a2 = make_token(s, alice.id, "a2", kT0 + 3, kNever);
    make_token(s, bob.id, "b-expired", kT0 + 4, kT0 + 5);
    const auto b2 = make_token(s, bob.id, "b-revoked", kT0 + 6, kNever);
    REQUIRE(s.revoke_token(bob.id, b2.id, now).ok());

    auto ids = [](const std::vector<tokend::store::TokenRecord>& list) {
      std::vector<std::int64_t> out;
      for (const auto& t : list) out.push_back(t.id);
      return out;
    };
    auto all = s.list_all_live_tokens(0, now, 100);
    REQUIRE(all.ok());
    CHECK(ids(*all) == std::vector<std::int64_t>{a2.id, b1.id, a1.id});
    auto only_alice = s.list_all_live_tokens(alice.id, now, 100);
    REQUIRE(only_alice.ok());
    CHECK(ids(*only_alice) == std::vector<std::int64_t>{a2.id, a1.id});
    auto two = s.list_all_live_tokens(0, now, 2);
    REQUIRE(two.ok());
    CHECK(ids(*two) == std::vector<std::int64_t>{a2.id, b1.id});
  });
}

TEST_CASE("Store conformance: list_live_sessions and end_session", "[store][admin][sessions]") {
  for_each_backend([](Store& s) {
    const TimeMs now = kT0 + 10'000;
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const auto old_one = make_session(s, alice.id, "s-old", kT0, kT0 + kDay);
    const auto new_one = make_session(s, alice.id, "s-new", kT0 + 5, kT0 + kDay);
    make_session(s, alice.id, "s-expired", kT0, kT0 + 1000);
    const auto revoked = make_session(s, alice.id, "s-revoked", kT0 + 1, kT0 + kDay);
    REQUIRE(s.revoke_session(revoked.id).ok());
    const auto bobs = make_session(s, bob.id, "s-bob", kT0, kT0 + kDay);

    auto list = s.list_live_sessions(alice.id, now);
    REQUIRE(list.ok());
    REQUIRE(list->size() == 2);
    CHECK((*list)[0].id == new_one.id);
    CHECK((*list)[1].id == old_one.id);
    CHECK((*list)[0].method == "userpass");
    CHECK((*list)[0].expires_at == kT0 + kDay);
    CHECK_FALSE((*list)[0].revoked);

    auto ended = s.end_session(old_one.id, now);
    REQUIRE(ended.ok());
    CHECK(ended->user_id == alice.id);
    CHECK(find_session(s, "s-old")->session.revoked);
    auto after = s.list_live_sessions(alice.id, now);
    REQUIRE(after.ok());
    REQUIRE(after->size() == 1);
    CHECK((*after)[0].id == new_one.id);
    // Ended, revoked, expired or unknown: kNotFound.
    for (const std::int64_t id : {old_one.id, revoked.id, bobs.id + 1000}) {
      auto again = s.end_session(id, now);
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().is_not_found());
    }
    CHECK_FALSE(find_session(s, "s-bob")->session.revoked);
    auto none = s.list_live_sessions(alice.id + bob.id + 1000, now);
    REQUIRE(none.ok());
    CHECK(none->empty());
  });
}

// ================================================================ maintenance

TEST_CASE("Store conformance: ping", "[store]") {
  for_each_backend([](Store& s) { CHECK(s.ping().ok()); });
}

TEST_CASE("Store conformance: purge deletes what ended before the cutoff", "[store]") {
  for_each_backend([](Store& s) {
    const User u = make_user(s, "alice");
    const TimeMs cutoff = kT0 + 10 * kDay;
    make_token(s, u.id, "expired-long-ago", kT0, kT0 + kDay);
    make_token(s, u.id, "expired-after-cutoff", kT0, cutoff + kDay);
    make_token(s, u.id, "live", kT0, kNever);
    const auto rev_old = make_token(s, u.id, "revoked-long-ago", kT0, kNever);
    const auto rev_new = make_token(s, u.id, "revoked-recently", kT0, kNever);
    REQUIRE(s.revoke_token(u.id, rev_old.id, kT0 + kDay).ok());
    REQUIRE(s.revoke_token(u.id, rev_new.id, cutoff + 1).ok());
    make_session(s, u.id, "s-expired", kT0, kT0 + kDay);
    make_session(s, u.id, "s-live", kT0, cutoff + kDay);

    REQUIRE(s.purge(cutoff).ok());
    CHECK_FALSE(find_token(s, "expired-long-ago"));
    CHECK_FALSE(find_token(s, "revoked-long-ago"));
    CHECK(find_token(s, "expired-after-cutoff"));
    CHECK(find_token(s, "live"));
    CHECK(find_token(s, "revoked-recently"));
    CHECK_FALSE(find_session(s, "s-expired"));
    CHECK(find_session(s, "s-live"));
    // Accounts are never purged.
    CHECK(user_count(s) == 1);
  });
}

// ================================================================ SQLite specifics

namespace {

// A raw handle on the same file, to look behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const std::int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

tokend::Result<std::unique_ptr<tokend::store::sqlite::SqliteStore>> open_at(const std::string& path) {
  tokend::config::DatabaseConfig db;
  db.path = path;
  return tokend::store::sqlite::SqliteStore::open(db);
}

}  // namespace

TEST_CASE("SqliteStore creates the file and its folder", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("nested/deeper/tokend.db");
  auto s = open_at(path);
  REQUIRE(s.ok());
  CHECK(std::filesystem::exists(path));
  CHECK((*s)->ping().ok());
  RawDb raw(path);
  CHECK(raw.scalar("SELECT MAX(version) FROM schema_migrations") ==
        tokend::store::sqlite::SqliteStore::schema_version());
  CHECK(raw.scalar("SELECT COUNT(*) FROM schema_migrations") == tokend::store::sqlite::SqliteStore::schema_version());
}

TEST_CASE("SqliteStore keeps data across reopening and migrates once", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("tokend.db");
  std::int64_t user_id = 0;
  {
    auto s = open_at(path);
    REQUIRE(s.ok());
    user_id = make_user(**s, "alice").id;
    make_token(**s, user_id, "kept", kT0);
    make_session(**s, user_id, "kept-session", kT0, kT0 + kDay);
  }
  for (int round = 0; round < 2; ++round) {
    INFO("reopen " << round);
    auto s = open_at(path);
    REQUIRE(s.ok());
    auto u = (*s)->find_user_by_username("alice");
    REQUIRE(u.ok());
    CHECK(u->id == user_id);
    auto t = find_token(**s, "kept");
    REQUIRE(t);
    CHECK(t->user.id == user_id);
    CHECK(find_session(**s, "kept-session"));
    // New rows get new ids, not reused ones.
    CHECK(make_user(**s, "bob" + std::to_string(round)).id > user_id);
  }
  RawDb raw(path);
  // One row per migration, however often the file was opened.
  CHECK(raw.scalar("SELECT COUNT(*) FROM schema_migrations") == tokend::store::sqlite::SqliteStore::schema_version());
  CHECK(raw.scalar("SELECT COUNT(*) FROM users") == 3);
}

TEST_CASE("SqliteStore migration 4 adds the admin role to existing accounts, off", "[store][sqlite][admin]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("tokend.db");
  std::int64_t id = 0;
  {
    auto s = open_at(path);
    REQUIRE(s.ok());
    id = make_user(**s, "alice").id;
  }
  {
    // Back to a database written before migration 4.
    RawDb raw(path);
    raw.exec("ALTER TABLE users DROP COLUMN admin");
    raw.exec("DROP TABLE changes");  // migration 5's
    raw.exec("DELETE FROM schema_migrations WHERE version >= 4");
  }
  auto s = open_at(path);
  REQUIRE(s.ok());
  auto u = (*s)->find_user(id);
  REQUIRE(u.ok());
  CHECK_FALSE(u->admin);
  REQUIRE((*s)->set_admin(id, true, kT0).ok());
  CHECK((*s)->find_user(id)->admin);
  RawDb raw(path);
  CHECK(raw.scalar("SELECT MAX(version) FROM schema_migrations") == tokend::store::sqlite::SqliteStore::schema_version());
}

TEST_CASE("SqliteStore migration 5 adds the change feed to an existing database", "[store][sqlite][feed]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("tokend.db");
  std::int64_t id = 0;
  {
    auto s = open_at(path);
    REQUIRE(s.ok());
    id = make_user(**s, "alice").id;
    make_token(**s, id, "before", kT0);
  }
  {
    // Back to a database written before migration 5.
    RawDb raw(path);
    raw.exec("DROP TABLE changes");
    raw.exec("DELETE FROM schema_migrations WHERE version >= 5");
  }
  auto s = open_at(path);
  REQUIRE(s.ok());
  // The token from before is live and its prefix known; the feed starts empty.
  auto loaded = (*s)->load_live_token_prefixes(kT0);
  REQUIRE(loaded.ok());
  CHECK(loaded->prefixes == std::vector<std::uint64_t>{tokend::store::token_prefix(digest("before"))});
  REQUIRE((*s)->set_admin(id, true, kT0).ok());
  auto changes = (*s)->read_changes(loaded->cursor);
  REQUIRE(changes.ok());
  REQUIRE(changes->changes.size() == 1);
  CHECK(changes->changes[0].user_id == id);
  RawDb raw(path);
  CHECK(raw.scalar("SELECT MAX(version) FROM schema_migrations") == 5);
}

TEST_CASE("SqliteStore refuses a database from a newer tokend", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("tokend.db");
  {
    auto s = open_at(path);
    REQUIRE(s.ok());
    make_user(**s, "alice");
  }
  const int newer = tokend::store::sqlite::SqliteStore::schema_version() + 1;
  {
    RawDb raw(path);
    raw.exec("INSERT INTO schema_migrations (version) VALUES (" + std::to_string(newer) + ")");
  }
  auto s = open_at(path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == tokend::ErrorCode::kStorageError);
  CHECK(s.error().message.find(std::to_string(newer)) != std::string::npos);
  // Nothing was changed by the refused open.
  RawDb raw(path);
  CHECK(raw.scalar("SELECT MAX(version) FROM schema_migrations") == newer);
  CHECK(raw.scalar("SELECT COUNT(*) FROM users") == 1);
}

TEST_CASE("SqliteStore refuses a file that is not a database", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("junk.db");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto s = open_at(path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == tokend::ErrorCode::kStorageError);
}

TEST_CASE("SqliteStore stores only digests of tokens and sessions", "[store][sqlite][security]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("tokend.db");
  auto s = open_at(path);
  REQUIRE(s.ok());
  const User u = make_user(**s, "alice");
  make_token(**s, u.id, "plain-token-secret", kT0);
  make_session(**s, u.id, "plain-session-secret", kT0, kT0 + kDay);
  RawDb raw(path);
  CHECK(raw.scalar("SELECT COUNT(*) FROM tokens WHERE length(digest) = 32") == 1);
  CHECK(raw.scalar("SELECT COUNT(*) FROM sessions WHERE length(digest) = 32") == 1);
  CHECK(raw.scalar("SELECT COUNT(*) FROM tokens WHERE instr(CAST(digest AS TEXT), 'plain') > 0") == 0);
  CHECK(raw.scalar("SELECT COUNT(*) FROM tokens WHERE lower(hex(digest)) = '" +
                   tokend::crypto::sha256_hex("plain-token-secret") + "'") == 1);
}

TEST_CASE("SqliteStore commits and calls back queued tokens when it is destroyed", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  tokend::config::DatabaseConfig db;
  db.path = dir.file("tokend.db");
  std::atomic<int> ok{0};
  std::int64_t user_id = 0;
  {
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    Store& s = **opened;
    user_id = make_user(s, "alice").id;
    for (int i = 0; i < 50; ++i) {
      NewToken n;
      n.digest = digest("closing-" + std::to_string(i));
      n.user_id = user_id;
      n.name = "t";
      n.source = "test";
      n.created_at = kT0;
      n.expires_at = kNever;
      s.insert_token_async(n, [&](tokend::Result<tokend::store::TokenRecord> r) { ok += r.ok() ? 1 : 0; });
    }
  }  // no wait_idle(): the destructor must not lose the queue
  CHECK(ok == 50);
  auto reopened = tokend::store::sqlite::SqliteStore::open(db);
  REQUIRE(reopened.ok());
  for (int i = 0; i < 50; ++i) {
    auto f = (*reopened)->find_token(digest("closing-" + std::to_string(i)));
    CHECK(f.ok());
  }
}

TEST_CASE("SqliteStore is safe from several threads at once", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  auto s = open_at(dir.file("tokend.db"));
  REQUIRE(s.ok());
  Store& store = **s;
  const User u = make_user(store, "alice");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        NewToken n;
        n.digest = digest("thread-" + std::to_string(t) + "-" + std::to_string(i));
        n.user_id = u.id;
        n.name = "n";
        n.source = "userpass";
        n.created_at = kT0 + i;
        if (!store.insert_token(n).ok()) ++failures;
        auto f = store.find_token(n.digest);
        if (!f.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  auto live = store.list_live_tokens(u.id, kT0);
  REQUIRE(live.ok());
  CHECK(live->size() == kThreads * kPerThread);
}
