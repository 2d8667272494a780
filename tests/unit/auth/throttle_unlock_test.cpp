// LoginThrottle::unlock_username / unlock_address: what the admin API's
// POST /api/admin/throttle/unlock calls.
#include <catch2/catch.hpp>

#include "tokend/auth/throttle.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::TimeMs;
using tokend::auth::LoginThrottle;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

tokend::config::ThrottleConfig rules() {
  tokend::config::ThrottleConfig c;
  c.per_username = {3, 600};
  c.per_address = {5, 600};
  c.max_tracked = 1000;
  return c;
}

// The throttle over a fresh database (the first backend of
// store_fixture.hpp: SQLite), as in the server.
struct Throttle {
  Throttle() : db(tokend::testing::backends().front().make()), t(rules(), db->store()) {}
  std::unique_ptr<tokend::testing::StoreFixture> db;
  LoginThrottle t;
};

}  // namespace

TEST_CASE("LoginThrottle::unlock_username lifts every method's lock of that name and no other", "[auth][throttle]") {
  Throttle fixture;
  LoginThrottle& t = fixture.t;
  // The login service keys names by method ("ldap:alice"); addresses differ
  // so that only the username rule locks.
  for (int i = 0; i < 3; ++i) {
    t.record_failure("ldap:alice", "10.0.0." + std::to_string(i), kT0);
    t.record_failure("userpass:alice", "10.0.1." + std::to_string(i), kT0);
    t.record_failure("userpass:bob", "10.0.2." + std::to_string(i), kT0);
    t.record_failure("userpass:xalice", "10.0.3." + std::to_string(i), kT0);
  }
  REQUIRE(t.retry_after("ldap:alice", "", kT0 + 1000) > 0);
  REQUIRE(t.retry_after("userpass:alice", "", kT0 + 1000) > 0);
  REQUIRE(t.unlock_username("alice").ok());
  CHECK(t.retry_after("ldap:alice", "", kT0 + 1000) == 0);
  CHECK(t.retry_after("userpass:alice", "", kT0 + 1000) == 0);
  CHECK(t.retry_after("userpass:bob", "", kT0 + 1000) > 0);
  CHECK(t.retry_after("userpass:xalice", "", kT0 + 1000) > 0);
  // A reservation is admitted again.
  auto r = t.reserve("ldap:alice", "192.0.2.1", kT0 + 1000);
  CHECK(r.admitted());
  // Nothing recorded: kNotFound (the admin API answers 204 all the same).
  CHECK(t.unlock_username("nobody").error().is_not_found());
}

TEST_CASE("LoginThrottle::unlock_username handles names that contain a colon", "[auth][throttle]") {
  Throttle fixture;
  LoginThrottle& t = fixture.t;
  for (int i = 0; i < 3; ++i) t.record_failure("userpass:a:b", "10.0.0." + std::to_string(i), kT0);
  REQUIRE(t.retry_after("userpass:a:b", "", kT0) > 0);
  CHECK(t.unlock_username("b").error().is_not_found());
  CHECK(t.retry_after("userpass:a:b", "", kT0) > 0);  // "b" is not the name "a:b"
  CHECK(t.unlock_username("a:b").ok());
  CHECK(t.retry_after("userpass:a:b", "", kT0) == 0);
}

TEST_CASE("LoginThrottle::unlock_address lifts one address's lock (an IPv6 /64 as counted)", "[auth][throttle]") {
  Throttle fixture;
  LoginThrottle& t = fixture.t;
  for (int i = 0; i < 5; ++i) {
    t.record_failure("", "192.0.2.7", kT0);
    t.record_failure("", "192.0.2.8", kT0);
    t.record_failure("", "2001:db8:1:2::5", kT0);
  }
  REQUIRE(t.retry_after("", "192.0.2.7", kT0) > 0);
  CHECK(t.unlock_address("192.0.2.7").ok());
  CHECK(t.retry_after("", "192.0.2.7", kT0) == 0);
  CHECK(t.retry_after("", "192.0.2.8", kT0) > 0);
  // Another address of the same /64 names the same count.
  REQUIRE(t.retry_after("", "2001:db8:1:2::9", kT0) > 0);
  CHECK(t.unlock_address("2001:db8:1:2::1").ok());
  CHECK(t.retry_after("", "2001:db8:1:2::5", kT0) == 0);
  CHECK(t.unlock_address("198.51.100.1").error().is_not_found());
}
