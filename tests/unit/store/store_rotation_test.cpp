// Store conformance for token rotation (Store::rotate_token) and the grace
// period it leaves the old token: a revoked_at in the future, live until then
// for every query that decides "live" (listing, counting, revoking), and
// nothing a second rotation can take. Runs on every backend (store_fixture.hpp).
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/store/store.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::kNever;
using tokend::TimeMs;
using tokend::store::NewToken;
using tokend::store::Store;
using tokend::store::TokenRecord;
using tokend::store::User;
using tokend::testing::for_each_backend;
using tokend::testing::make_user;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;
constexpr TimeMs kDay = 86'400'000;

TokenRecord add_token(Store& s, std::int64_t user_id, const std::string& secret, TimeMs expires,
                      std::optional<std::string> scopes = std::nullopt) {
  NewToken t;
  t.digest = tokend::crypto::sha256(secret);
  t.user_id = user_id;
  t.name = "ci deploy";
  t.source = "ldap";
  t.created_at = kT0;
  t.expires_at = expires;
  t.scopes = std::move(scopes);
  auto rec = s.insert_token(t);
  REQUIRE(rec.ok());
  return *rec;
}

tokend::store::TokenLookup lookup(Store& s, const std::string& secret) {
  auto f = s.find_token(tokend::crypto::sha256(secret));
  REQUIRE(f.ok());
  return *f;
}

std::vector<std::int64_t> live_ids(Store& s, std::int64_t user_id, TimeMs now) {
  auto list = s.list_live_tokens(user_id, now);
  REQUIRE(list.ok());
  std::vector<std::int64_t> ids;
  for (const auto& t : *list) ids.push_back(t.id);
  return ids;
}

}  // namespace

TEST_CASE("Store conformance: rotate_token copies name, source, scopes and expiry and ends the old token",
          "[store][tokens][rotate]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const auto old = add_token(s, alice.id, "old", kT0 + 30 * kDay, std::string("read write"));
    auto rotated = s.rotate_token(alice.id, old.id, tokend::crypto::sha256("new"), kT0 + 10, kT0 + 10);
    REQUIRE(rotated.ok());
    CHECK(rotated->id != old.id);
    CHECK(rotated->user_id == alice.id);
    CHECK(rotated->name == "ci deploy");
    CHECK(rotated->source == "ldap");
    CHECK(rotated->created_at == kT0 + 10);
    CHECK(rotated->expires_at == kT0 + 30 * kDay);
    CHECK(rotated->scopes == std::optional<std::string>("read write"));
    // The new row is the one find_token returns for the new secret.
    const auto fresh = lookup(s, "new");
    CHECK(fresh.token.id == rotated->id);
    CHECK(fresh.token.expires_at == kT0 + 30 * kDay);
    CHECK(fresh.token.scopes == std::optional<std::string>("read write"));
    CHECK_FALSE(fresh.token.revoked_at);
    // No grace: the old one ends at the rotation.
    const auto gone = lookup(s, "old");
    REQUIRE(gone.token.revoked_at);
    CHECK(*gone.token.revoked_at == kT0 + 10);
    CHECK_FALSE(tokend::store::token_live(gone.token, kT0 + 10));
    CHECK(live_ids(s, alice.id, kT0 + 10) == std::vector<std::int64_t>{rotated->id});
  });
}

TEST_CASE("Store conformance: a rotation's grace period keeps the old token live until it ends",
          "[store][tokens][rotate]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const auto old = add_token(s, alice.id, "old", kNever);
    const TimeMs ends = kT0 + 60'000;
    auto rotated = s.rotate_token(alice.id, old.id, tokend::crypto::sha256("new"), kT0, ends);
    REQUIRE(rotated.ok());
    // Listing and counting see both while the grace lasts, then only the new one.
    CHECK(live_ids(s, alice.id, ends - 1) == std::vector<std::int64_t>{rotated->id, old.id});
    CHECK(*s.count_live_tokens(alice.id, ends - 1) == 2);
    CHECK(live_ids(s, alice.id, ends) == std::vector<std::int64_t>{rotated->id});
    CHECK(*s.count_live_tokens(alice.id, ends) == 1);
    auto page = s.list_live_tokens_page(alice.id, ends - 1, 10, std::nullopt);
    REQUIRE(page.ok());
    CHECK(page->size() == 2);
    CHECK(tokend::store::token_live(lookup(s, "old").token, ends - 1));
    CHECK_FALSE(tokend::store::token_live(lookup(s, "old").token, ends));

    // A token in its grace period cannot be rotated again...
    auto again = s.rotate_token(alice.id, old.id, tokend::crypto::sha256("third"), kT0 + 1, kT0 + 1);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().is_not_found());
    CHECK_FALSE(s.find_token(tokend::crypto::sha256("third")).ok());
    // ...but revoking it ends the grace at once.
    REQUIRE(s.revoke_token(alice.id, old.id, kT0 + 2).ok());
    CHECK(*lookup(s, "old").token.revoked_at == kT0 + 2);
    CHECK(live_ids(s, alice.id, kT0 + 3) == std::vector<std::int64_t>{rotated->id});
  });
}

TEST_CASE("Store conformance: disabling an account ends tokens in a rotation's grace period",
          "[store][tokens][rotate][security]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const auto old = add_token(s, alice.id, "old", kNever);
    REQUIRE(s.rotate_token(alice.id, old.id, tokend::crypto::sha256("new"), kT0, kT0 + kDay).ok());
    REQUIRE(s.set_disabled(alice.id, true, kT0 + 5).ok());
    CHECK(*lookup(s, "old").token.revoked_at == kT0 + 5);
    CHECK(*lookup(s, "new").token.revoked_at == kT0 + 5);
  });
}

TEST_CASE("Store conformance: rotate_token refuses unknown, foreign, revoked and expired tokens",
          "[store][tokens][rotate][security]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const auto bobs = add_token(s, bob.id, "bobs", kNever);
    const auto expired = add_token(s, alice.id, "expired", kT0 + 5);
    const auto revoked = add_token(s, alice.id, "revoked", kNever);
    REQUIRE(s.revoke_token(alice.id, revoked.id, kT0 + 1).ok());
    for (const std::int64_t id : {bobs.id, expired.id, revoked.id, bobs.id + 1000}) {
      auto r = s.rotate_token(alice.id, id, tokend::crypto::sha256("x" + std::to_string(id)), kT0 + 10, kT0 + 10);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().is_not_found());
    }
    // Nothing changed: bob's token is untouched, no new row exists.
    CHECK_FALSE(lookup(s, "bobs").token.revoked_at);
    CHECK(live_ids(s, bob.id, kT0 + 10) == std::vector<std::int64_t>{bobs.id});
    CHECK(live_ids(s, alice.id, kT0 + 10).empty());
  });
}

TEST_CASE("Store conformance: concurrent rotations of one token, exactly one succeeds",
          "[store][tokens][rotate][threads]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    const auto old = add_token(s, alice.id, "old", kNever);
    constexpr int kThreads = 8;
    std::atomic<int> ok{0}, not_found{0}, other{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        // A grace period, so that the old token stays live: the later
        // rotations must fail because it is already rotated, not because it died.
        auto r = s.rotate_token(alice.id, old.id, tokend::crypto::sha256("new" + std::to_string(i)), kT0, kT0 + kDay);
        if (r) ++ok;
        else if (r.error().is_not_found()) ++not_found;
        else ++other;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(ok == 1);
    CHECK(not_found == kThreads - 1);
    CHECK(other == 0);
    CHECK(*s.count_live_tokens(alice.id, kT0 + 1) == 2);  // the old one in grace, one new one
  });
}
