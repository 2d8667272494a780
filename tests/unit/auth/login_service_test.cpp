// The login use case against the Store interface, on every backend of the
// store conformance suite (a real temporary SQLite database): each rule of
// linking an external identity to a local account, and the throttle
// bookkeeping around the authenticator. The authenticator is a fake that
// answers what each test tells it; the authenticators themselves (and the
// "email verified" check of the providers) have their own tests.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <utility>

#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/store.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::TimeMs;
using tokend::auth::AuthOutcome;
using tokend::auth::AuthRequest;
using tokend::auth::Authenticator;
using tokend::auth::FailureKind;
using tokend::auth::Identity;
using tokend::auth::LoginResult;
using tokend::auth::LoginService;
using tokend::auth::LoginThrottle;
using tokend::store::NewUser;
using tokend::store::Store;
using tokend::store::User;
using tokend::testing::make_user;
using tokend::testing::for_each_backend;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

std::int64_t user_count(Store& s) {
  auto all = s.list_users();
  REQUIRE(all.ok());
  return static_cast<std::int64_t>(all->size());
}

// The account LoginService gives an accepted external identity.
User link(Store& s, const Identity& id, TimeMs now = kT0) {
  LoginThrottle throttle{tokend::config::ThrottleConfig{}, s};
  tokend::metrics::Metrics metrics;
  LoginService login(s, throttle, metrics);
  auto u = login.account_for(id, now);
  INFO((u.ok() ? std::string() : u.error().message));
  REQUIRE(u.ok());
  return *u;
}

Identity profile(const std::string& provider, const std::string& subject, const std::string& username,
                 const std::string& email = "", const std::string& display_name = "") {
  Identity p;
  p.provider = provider;
  p.subject = subject;
  p.username = username;
  p.email = email;
  p.display_name = display_name;
  return p;
}

// An authenticator that answers what the test says, and counts its calls.
class FakeAuthenticator final : public Authenticator {
 public:
  FakeAuthenticator(std::string name, Credentials credentials) : name_(std::move(name)), credentials_(credentials) {}
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "fake"; }
  Credentials credentials() const override { return credentials_; }
  tokend::RunOn run_on() const override { return tokend::RunOn::kWorker; }
  AuthOutcome authenticate(const AuthRequest& request) override {
    ++calls;
    return answer(request);
  }

  std::function<AuthOutcome(const AuthRequest&)> answer = [](const AuthRequest&) {
    return AuthOutcome::rejected("wrong_password");
  };
  int calls = 0;

 private:
  std::string name_;
  Credentials credentials_;
};

AuthOutcome accept_local(std::int64_t user_id) {
  Identity id;
  id.provider = "userpass";
  id.subject = std::to_string(user_id);
  id.local = true;
  return AuthOutcome::accepted(id);
}

// A login service over `store` with the default limits (5 failures per
// username, 30 per address).
struct Login {
  explicit Login(Store& store) : store_(store), service(store, throttle, metrics) {}
  LoginResult as(FakeAuthenticator& a, const std::string& username, const std::string& peer = "10.0.0.1") {
    AuthRequest r;
    if (a.credentials() == Authenticator::Credentials::kPassword) {
      r.username = username;
      r.password = "pw";
    } else {
      r.email = username;
      r.access_token = "tok";
    }
    r.peer = peer;
    return service.login(a, std::move(r));
  }
  std::uint64_t count(const std::string& method, const std::string& result) {
    return metrics.counter("tokend_logins_total", "", {{"method", method}, {"result", result}}).value();
  }
  Store& store_;  // first: the throttle keeps its counts there
  tokend::config::ThrottleConfig config;
  LoginThrottle throttle{config, store_};
  tokend::metrics::Metrics metrics;
  LoginService service;
};

}  // namespace

// ================================================================ linking rules

TEST_CASE("LoginService: a new identity gets a new account; the same identity finds it", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    const User u = link(s, profile("github", "1001", "octocat", "octo@example.org", "The Octocat"));
    CHECK(u.id > 0);
    CHECK(u.username == "octocat");
    CHECK(u.email == "octo@example.org");
    CHECK(u.display_name == "The Octocat");
    CHECK(u.password_hash.empty());  // no local password for an external account
    CHECK_FALSE(u.disabled);
    auto found = s.find_user_by_username("octocat");
    REQUIRE(found.ok());
    CHECK(found->id == u.id);

    // Same (provider, subject) again: the same account.
    const User again = link(s, profile("github", "1001", "octocat", "octo@example.org", "The Octocat"), kT0 + 1);
    CHECK(again.id == u.id);
    CHECK(user_count(s) == 1);
  });
}

TEST_CASE("LoginService: a known identity refreshes email and display name", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    const User u = link(s, profile("github", "1001", "octocat", "old@example.org", "Old Name"));
    const User r = link(s, profile("github", "1001", "octocat", "new@example.org", "New Name"), kT0 + 10);
    CHECK(r.id == u.id);
    CHECK(r.email == "new@example.org");
    CHECK(r.display_name == "New Name");
    auto stored = s.find_user(u.id);
    REQUIRE(stored.ok());
    CHECK(stored->email == "new@example.org");
    CHECK(stored->display_name == "New Name");
  });
}

TEST_CASE("LoginService: an external login never takes a local account by name (name@method)", "[auth][login][link][security]") {
  for_each_backend([](Store& s) {
    const User local = make_user(s, "alice", "alice@corp.example");
    const User ext = link(s, profile("github", "77", "alice", "alice@github.example"));
    CHECK(ext.id != local.id);
    CHECK(ext.username == "alice@github");
    // The local account is unchanged.
    auto l = s.find_user(local.id);
    REQUIRE(l.ok());
    CHECK(l->username == "alice");
    CHECK(l->email == "alice@corp.example");
    CHECK(l->password_hash == local.password_hash);

    // A second github identity wanting "alice": another free name again.
    const User ext2 = link(s, profile("github", "78", "alice"));
    CHECK(ext2.id != ext.id);
    CHECK(ext2.id != local.id);
    CHECK(ext2.username != "alice");
    CHECK(ext2.username != "alice@github");
    CHECK(ext2.username.rfind("alice@github", 0) == 0);
    CHECK(user_count(s) == 3);

    // The first identity logs in again: still its own account and name.
    const User back = link(s, profile("github", "77", "alice"), kT0 + 5);
    CHECK(back.id == ext.id);
    CHECK(back.username == "alice@github");
  });
}

TEST_CASE("LoginService: an identity without a username gets provider-subject", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    const User u = link(s, profile("oidc", "sub-123", ""));
    CHECK_FALSE(u.username.empty());
    const User again = link(s, profile("oidc", "sub-123", ""), kT0 + 1);
    CHECK(again.id == u.id);
    CHECK(again.username == u.username);
    const User other = link(s, profile("oidc", "sub-456", ""));
    CHECK(other.id != u.id);
    CHECK(other.username != u.username);
  });
}

TEST_CASE("LoginService: the username follows a rename at the provider when free", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    const User u = link(s, profile("github", "1001", "octocat"));
    const User renamed = link(s, profile("github", "1001", "octodog"), kT0 + 1);
    CHECK(renamed.id == u.id);
    CHECK(renamed.username == "octodog");
    auto old_name = s.find_user_by_username("octocat");
    REQUIRE_FALSE(old_name.ok());
    CHECK(old_name.error().is_not_found());

    // Renamed to a name a local account holds: the linked account keeps its name.
    make_user(s, "taken");
    const User blocked = link(s, profile("github", "1001", "taken"), kT0 + 2);
    CHECK(blocked.id == u.id);
    CHECK(blocked.username == "octodog");
    auto local = s.find_user_by_username("taken");
    REQUIRE(local.ok());
    CHECK(local->id != u.id);
  });
}

TEST_CASE("LoginService: link by email only when opted in and unambiguous", "[auth][login][link][security]") {
  for_each_backend([](Store& s) {
    const User local = make_user(s, "alice", "alice@example.org");

    SECTION("not opted in: a new account, even with the same email") {
      Identity p = profile("github", "1", "alice-gh", "alice@example.org");
      p.link_by_email = false;
      const User u = link(s, p);
      CHECK(u.id != local.id);
      CHECK(user_count(s) == 2);
    }
    SECTION("opted in with exactly one account: linked to it") {
      Identity p = profile("github", "1", "alice-gh", "alice@example.org", "Alice G");
      p.link_by_email = true;
      const User u = link(s, p);
      CHECK(u.id == local.id);
      CHECK(user_count(s) == 1);
      // And stays linked by (provider, subject) from then on, with or without the flag.
      Identity again = profile("github", "1", "alice-gh", "alice@example.org");
      CHECK(link(s, again, kT0 + 1).id == local.id);
      // The local account keeps its password.
      CHECK(s.find_user(local.id)->password_hash == local.password_hash);
    }
    SECTION("opted in, email compared without case") {
      Identity p = profile("gitlab", "9", "al", "ALICE@Example.ORG");
      p.link_by_email = true;
      CHECK(link(s, p).id == local.id);
    }
    SECTION("opted in with two accounts holding the email: a new account") {
      const User twin = make_user(s, "alice2", "alice@example.org");
      Identity p = profile("github", "1", "alice-gh", "alice@example.org");
      p.link_by_email = true;
      const User u = link(s, p);
      CHECK(u.id != local.id);
      CHECK(u.id != twin.id);
      CHECK(user_count(s) == 3);
    }
    SECTION("opted in: never to an account without a password or already linked at that provider") {
      const User linked = link(s, profile("ldap", "uid=bob", "bob", "bob@example.org"));
      Identity p = profile("github", "7", "bob-gh", "bob@example.org");
      p.link_by_email = true;
      CHECK(link(s, p).id != linked.id);  // bob has no password: he came from LDAP
      Identity q = profile("github", "8", "alice-again", "alice@example.org");
      q.link_by_email = true;
      REQUIRE(link(s, profile("github", "2", "x", "alice@example.org")).id != local.id);  // not opted in
      Identity first = profile("github", "3", "alice-gh", "alice@example.org");
      first.link_by_email = true;
      REQUIRE(link(s, first).id == local.id);
      CHECK(link(s, q).id != local.id);  // alice is linked at github already
    }
    SECTION("opted in with no matching email: a new account") {
      Identity p = profile("github", "1", "someone", "nobody@example.org");
      p.link_by_email = true;
      const User u = link(s, p);
      CHECK(u.id != local.id);
      CHECK(u.username == "someone");
    }
    SECTION("opted in with an empty email: never linked to accounts without email") {
      NewUser n;
      n.username = "noemail";
      auto none = s.create_user(n);
      REQUIRE(none.ok());
      Identity p = profile("github", "1", "x", "");
      p.link_by_email = true;
      const User u = link(s, p);
      CHECK(u.id != none->id);
      CHECK(u.id != local.id);
    }
  });
}

TEST_CASE("LoginService: the same subject at two providers is two identities", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    const User gh = link(s, profile("github", "42", "sam", "sam@gh.example"));
    const User gl = link(s, profile("gitlab", "42", "sam", "sam@gl.example"));
    CHECK(gh.id != gl.id);
    CHECK(gh.username == "sam");
    CHECK(gl.username == "sam@gitlab");
    CHECK(link(s, profile("github", "42", "sam"), kT0 + 1).id == gh.id);
    CHECK(link(s, profile("gitlab", "42", "sam"), kT0 + 1).id == gl.id);
  });
}

// ================================================================ tokens


// ================================================================ the login

TEST_CASE("LoginService: a local identity logs in to its account", "[auth][login]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    Login l(s);
    FakeAuthenticator a("userpass", Authenticator::Credentials::kPassword);
    a.answer = [&](const AuthRequest&) { return accept_local(alice.id); };
    const LoginResult r = l.as(a, "alice");
    REQUIRE(r.ok());
    CHECK(r.failure == FailureKind::kNone);
    CHECK(r.user.id == alice.id);
    CHECK(r.user.username == "alice");
    CHECK(l.count("userpass", "success") == 1);
    CHECK(user_count(s) == 1);
  });
}

TEST_CASE("LoginService: an external identity gets a linked account through login()", "[auth][login][link]") {
  for_each_backend([](Store& s) {
    make_user(s, "octocat");
    Login l(s);
    FakeAuthenticator a("github", Authenticator::Credentials::kProviderToken);
    a.answer = [](const AuthRequest&) {
      return AuthOutcome::accepted(profile("github", "1001", "OctoCat", "octo@example.org", "The Octocat"));
    };
    const LoginResult first = l.as(a, "octo@example.org");
    REQUIRE(first.ok());
    CHECK(first.user.username == "octocat@github");  // normalised, and never the local "octocat"
    const LoginResult again = l.as(a, "octo@example.org");
    REQUIRE(again.ok());
    CHECK(again.user.id == first.user.id);
    CHECK(user_count(s) == 2);
  });
}

TEST_CASE("LoginService: an unusable username from a provider is not used", "[auth][login][link][security]") {
  for_each_backend([](Store& s) {
    const User u = link(s, profile("oidc", "sub-1", std::string("evil\nname")));
    CHECK(u.username == "oidc-sub-1");
  });
}

TEST_CASE("LoginService: a disabled or vanished account is refused like a wrong password", "[auth][login][security]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    Login l(s);
    FakeAuthenticator a("userpass", Authenticator::Credentials::kPassword);
    SECTION("disabled") {
      REQUIRE(s.set_disabled(alice.id, true, tokend::now_ms()).ok());
      a.answer = [&](const AuthRequest&) { return accept_local(alice.id); };
      CHECK(l.as(a, "alice").failure == FailureKind::kInvalidCredentials);
      CHECK(l.count("userpass", "rejected") == 1);
    }
    SECTION("disabled external account") {
      const User ext = link(s, profile("github", "7", "bob"));
      REQUIRE(s.set_disabled(ext.id, true, tokend::now_ms()).ok());
      FakeAuthenticator gh("github", Authenticator::Credentials::kProviderToken);
      gh.answer = [](const AuthRequest&) { return AuthOutcome::accepted(profile("github", "7", "bob")); };
      CHECK(l.as(gh, "bob@example.org").failure == FailureKind::kInvalidCredentials);
    }
    SECTION("vanished") {
      a.answer = [&](const AuthRequest&) { return accept_local(alice.id + 1000); };
      CHECK(l.as(a, "alice").failure == FailureKind::kInvalidCredentials);
      CHECK(l.count("userpass", "rejected") == 1);
    }
  });
}

TEST_CASE("LoginService: rejections are counted; at the limit the authenticator is not asked", "[auth][login][throttle][security]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    Login l(s);
    FakeAuthenticator a("userpass", Authenticator::Credentials::kPassword);
    // Spellings of one username count as one.
    for (const char* name : {"alice", "Alice", " ALICE ", "alice", "aLice"}) {
      CHECK(l.as(a, name).failure == FailureKind::kInvalidCredentials);
    }
    CHECK(a.calls == 5);
    const LoginResult r = l.as(a, "alice");
    CHECK(r.failure == FailureKind::kThrottled);
    CHECK(r.retry_after >= 1);
    CHECK(a.calls == 5);  // refused before the password check
    CHECK(l.count("userpass", "throttled") == 1);
    CHECK(l.count("userpass", "rejected") == 5);
    // Even the right password now waits.
    a.answer = [&](const AuthRequest&) { return accept_local(alice.id); };
    CHECK(l.as(a, "alice").failure == FailureKind::kThrottled);
    // Another username from the same address is still admitted.
    CHECK(l.as(a, "bob").ok());
    // The count is per method: the same name at another method is another account.
    FakeAuthenticator ldap("ldap", Authenticator::Credentials::kPassword);
    CHECK(l.as(ldap, "alice").failure == FailureKind::kInvalidCredentials);
  });
}

TEST_CASE("LoginService: a success clears the username's failures", "[auth][login][throttle]") {
  for_each_backend([](Store& s) {
    const User alice = make_user(s, "alice");
    Login l(s);
    FakeAuthenticator a("userpass", Authenticator::Credentials::kPassword);
    for (int i = 0; i < 4; ++i) CHECK(l.as(a, "alice").failure == FailureKind::kInvalidCredentials);
    a.answer = [&](const AuthRequest&) { return accept_local(alice.id); };
    REQUIRE(l.as(a, "alice").ok());
    a.answer = [](const AuthRequest&) { return AuthOutcome::rejected("wrong_password"); };
    for (int i = 0; i < 5; ++i) CHECK(l.as(a, "alice").failure == FailureKind::kInvalidCredentials);
    CHECK(l.as(a, "alice").failure == FailureKind::kThrottled);
  });
}

TEST_CASE("LoginService: an upstream failure passes its kind through and records nothing", "[auth][login][throttle]") {
  for_each_backend([](Store& s) {
    Login l(s);
    FakeAuthenticator a("ldap", Authenticator::Credentials::kPassword);
    for (FailureKind kind : {FailureKind::kUpstreamDown, FailureKind::kUpstreamTimeout, FailureKind::kUpstreamBadAnswer,
                             FailureKind::kStorageError, FailureKind::kServerBusy}) {
      a.answer = [kind](const AuthRequest&) { return AuthOutcome::failed(kind, "test"); };
      // Far past the limit of 5: a directory that is down is not the user's fault.
      for (int i = 0; i < 6; ++i) CHECK(l.as(a, "alice").failure == kind);
    }
    CHECK(l.count("ldap", "error") == 30);
    CHECK(l.count("ldap", "throttled") == 0);
    a.answer = [](const AuthRequest&) { return AuthOutcome::rejected("wrong_password"); };
    CHECK(l.as(a, "alice").failure == FailureKind::kInvalidCredentials);
  });
}

TEST_CASE("LoginService: provider logins are throttled per address only", "[auth][login][throttle][security]") {
  for_each_backend([](Store& s) {
    Login l(s);
    FakeAuthenticator gh("github", Authenticator::Credentials::kProviderToken);
    // Many junk tokens for one email: no per-email lock-out of its owner...
    for (int i = 0; i < 30; ++i) CHECK(l.as(gh, "victim@example.org").failure == FailureKind::kInvalidCredentials);
    // ...but the address that sent them is braked (30 per address).
    CHECK(l.as(gh, "victim@example.org").failure == FailureKind::kThrottled);
    CHECK(l.as(gh, "victim@example.org", "10.0.0.2").failure == FailureKind::kInvalidCredentials);
  });
}

TEST_CASE("LoginService: a throttled canonical name stops the check", "[auth][login][throttle][security]") {
  for_each_backend([](Store& s) {
    Login l(s);
    FakeAuthenticator a("ldap", Authenticator::Credentials::kPassword);
    for (int i = 0; i < 5; ++i) CHECK(l.as(a, "bob").failure == FailureKind::kInvalidCredentials);
    // "robert" is bob's other spelling in the directory: the authenticator
    // learns the canonical name before it checks the password.
    bool admitted = true;
    a.answer = [&](const AuthRequest& r) {
      REQUIRE(r.admit_canonical);
      admitted = r.admit_canonical("Bob");
      return admitted ? AuthOutcome::accepted(profile("ldap", "uid=bob", "bob")) : AuthOutcome::rejected("throttled");
    };
    const LoginResult r = l.as(a, "robert");
    CHECK_FALSE(admitted);
    CHECK(r.failure == FailureKind::kThrottled);
    CHECK(r.retry_after >= 1);
  });
}
