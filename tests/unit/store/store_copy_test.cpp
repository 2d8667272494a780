// Store::export_contents and import_contents (tokend db copy), from every
// backend into every backend: every row arrives with its id, digest, times,
// scopes and password hash; a database that is not empty is refused and left
// as it was; new rows after a copy get new ids.
#include <catch2/catch.hpp>

#include <string>

#include "tokend/crypto/crypto.hpp"
#include "tokend/store/store.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::kNever;
using tokend::TimeMs;
using tokend::store::Link;
using tokend::store::NewSession;
using tokend::store::NewToken;
using tokend::store::Store;
using tokend::testing::backends;
using tokend::testing::make_user;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

// Alice (one link, two tokens: one with scopes and a last use, one revoked;
// a live and a revoked session), Bob disabled with nothing else.
void fill(Store& s) {
  const auto alice = make_user(s, "alice");
  const auto bob = make_user(s, "bob");
  REQUIRE(s.in_transaction([&](tokend::store::Transaction& tx) { return tx.insert_link(Link{"github", "42", alice.id, kT0}); }).ok());
  NewToken t;
  t.digest = tokend::crypto::sha256("token-one");
  t.user_id = alice.id;
  t.name = "ci";
  t.source = "userpass";
  t.created_at = kT0;
  t.expires_at = kNever;
  t.scopes = "read write";
  auto one = s.insert_token(t);
  REQUIRE(one.ok());
  REQUIRE(s.record_token_use({{one->id, kT0 + 5}}).ok());
  t.digest = tokend::crypto::sha256("token-two");
  t.name = "old";
  t.scopes.reset();
  t.expires_at = kT0 + 1000;
  auto two = s.insert_token(t);
  REQUIRE(two.ok());
  REQUIRE(s.revoke_token(alice.id, two->id, kT0 + 10).ok());
  NewSession n;
  n.digest = tokend::crypto::sha256("session-one");
  n.user_id = alice.id;
  n.method = "userpass";
  n.created_at = kT0;
  n.expires_at = kT0 + 3600'000;
  REQUIRE(s.insert_session(n).ok());
  n.digest = tokend::crypto::sha256("session-two");
  auto gone = s.insert_session(n);
  REQUIRE(gone.ok());
  REQUIRE(s.revoke_session(gone->id).ok());
  REQUIRE(s.set_disabled(bob.id, true, kT0 + 20).ok());
}

}  // namespace

TEST_CASE("Store copy: every row moves with its ids, digests and times, between any two backends", "[store][copy]") {
  for (const auto& from : backends()) {
    for (const auto& to : backends()) {
      INFO(std::string("from ") + from.name + " to " + to.name);
      auto source = from.make();
      auto target = to.make();
      fill(source->store());
      auto contents = source->store().export_contents();
      REQUIRE(contents.ok());
      CHECK(contents->users.size() == 2);
      CHECK(contents->links.size() == 1);
      CHECK(contents->tokens.size() == 2);
      CHECK(contents->sessions.size() == 2);
      REQUIRE(target->store().import_contents(*contents).ok());

      Store& s = target->store();
      auto alice = s.find_user_by_username("alice");
      REQUIRE(alice.ok());
      CHECK(alice->id == contents->users[0].id);
      CHECK(alice->password_hash == contents->users[0].password_hash);
      CHECK(alice->created_at == contents->users[0].created_at);
      auto bob = s.find_user_by_username("bob");
      REQUIRE(bob.ok());
      CHECK(bob->disabled);
      auto one = s.find_token(tokend::crypto::sha256("token-one"));
      REQUIRE(one.ok());
      CHECK(one->token.user_id == alice->id);
      CHECK(one->token.name == "ci");
      CHECK(one->token.scopes == std::optional<std::string>("read write"));
      CHECK(one->token.last_used_at == std::optional<TimeMs>(kT0 + 5));
      CHECK(one->token.expires_at == kNever);
      auto two = s.find_token(tokend::crypto::sha256("token-two"));
      REQUIRE(two.ok());
      CHECK_FALSE(two->token.scopes.has_value());
      CHECK(two->token.revoked_at == std::optional<TimeMs>(kT0 + 10));
      auto live = s.find_session(tokend::crypto::sha256("session-one"));
      REQUIRE(live.ok());
      CHECK_FALSE(live->session.revoked);
      CHECK(live->session.expires_at == kT0 + 3600'000);
      auto revoked = s.find_session(tokend::crypto::sha256("session-two"));
      REQUIRE(revoked.ok());
      CHECK(revoked->session.revoked);
      std::vector<Link> links;
      REQUIRE(s.in_transaction([&](tokend::store::Transaction& tx) {
                 auto l = tx.list_links(alice->id);
                 if (!l) return tokend::Status(l.error());
                 links = *l;
                 return tokend::ok_status();
               }).ok());
      REQUIRE(links.size() == 1);
      CHECK(links[0].subject == "42");
      // New rows after the copy get ids past the copied ones.
      const auto carol = make_user(s, "carol");
      CHECK(carol.id > bob->id);
      NewToken t;
      t.digest = tokend::crypto::sha256("token-three");
      t.user_id = carol.id;
      t.name = "new";
      t.source = "userpass";
      t.created_at = kT0;
      auto three = s.insert_token(t);
      REQUIRE(three.ok());
      CHECK(three->id > two->token.id);

      // A second copy into the same (now non-empty) database is refused and
      // changes nothing.
      auto again = s.import_contents(*contents);
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().is_conflict());
      auto all = s.list_users();
      REQUIRE(all.ok());
      CHECK(all->size() == 3);
    }
  }
}
