// LoginService's audit events: what each outcome records, with the request's
// client and id, and never the password.
#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "tokend/audit/audit_log.hpp"
#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::audit::Event;
using tokend::auth::AuthOutcome;
using tokend::auth::AuthRequest;
using tokend::auth::Authenticator;
using tokend::auth::FailureKind;
using tokend::auth::Identity;
using tokend::auth::LoginService;
using tokend::auth::LoginThrottle;
using tokend::store::Store;

namespace {

class RecordingLog final : public tokend::audit::AuditLog {
 public:
  void record(const Event& e) override {
    std::lock_guard lock(mu_);
    events.push_back(e);
  }
  std::vector<Event> events;

 private:
  std::mutex mu_;
};

class Fake final : public Authenticator {
 public:
  Fake(std::string name, Credentials c) : name_(std::move(name)), c_(c) {}
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "fake"; }
  Credentials credentials() const override { return c_; }
  tokend::RunOn run_on() const override { return tokend::RunOn::kWorker; }
  AuthOutcome authenticate(const AuthRequest&) override { return outcome; }
  AuthOutcome outcome = AuthOutcome::rejected("wrong_password");

 private:
  std::string name_;
  Credentials c_;
};

AuthRequest password_request(const std::string& username) {
  AuthRequest r;
  r.username = username;
  r.password = "the secret password";
  r.peer = "192.0.2.9";
  return r;
}

}  // namespace

TEST_CASE("LoginService audits logins with a reason category and the request context", "[auth][audit]") {
  tokend::testing::for_each_backend([](Store& s) {
    const auto alice = tokend::testing::make_user(s, "alice");
    tokend::config::ThrottleConfig tc;
    tc.per_username = {2, 300};
    LoginThrottle throttle{tc, s};
    tokend::metrics::Metrics metrics;
    RecordingLog log;
    LoginService login(s, throttle, metrics, &log);
    Fake pw("userpass", Authenticator::Credentials::kPassword);
    const tokend::audit::RequestContext rc{"192.0.2.9", "req-7"};

    // A wrong password, typed with a control character.
    REQUIRE_FALSE(login.login(pw, password_request("Alice\n"), rc).ok());
    REQUIRE(log.events.size() == 1);
    CHECK(log.events[0].event == "login.failed");
    CHECK(log.events[0].detail["reason"] == "invalid_credentials");
    CHECK(log.events[0].detail["method"] == "userpass");
    CHECK(log.events[0].detail["username"] == "Alice\\x0a");
    CHECK(log.events[0].client == "192.0.2.9");
    CHECK(log.events[0].request_id == "req-7");

    // The directory is down: upstream_error, with the kind.
    pw.outcome = AuthOutcome::failed(FailureKind::kUpstreamDown, "connect refused");
    REQUIRE_FALSE(login.login(pw, password_request("alice"), rc).ok());
    CHECK(log.events.back().detail["reason"] == "upstream_error");

    // Success.
    Identity id;
    id.provider = "userpass";
    id.subject = std::to_string(alice.id);
    id.local = true;
    pw.outcome = AuthOutcome::accepted(id);
    REQUIRE(login.login(pw, password_request("alice"), rc).ok());
    CHECK(log.events.back().event == "login.succeeded");
    CHECK(log.events.back().actor == "user:" + std::to_string(alice.id));
    CHECK(log.events.back().detail["username"] == "alice");

    // Disabled account.
    REQUIRE(s.set_disabled(alice.id, true, tokend::now_ms()).ok());
    REQUIRE_FALSE(login.login(pw, password_request("alice"), rc).ok());
    CHECK(log.events.back().detail["reason"] == "disabled");

    // No lock so far (one failure since the success cleared the count).
    for (const auto& e : log.events) CHECK(e.event != "throttle.locked");
    // The second failure reaches the limit of 2: the lock is recorded.
    pw.outcome = AuthOutcome::rejected("wrong_password");
    (void)login.login(pw, password_request("alice"), rc);
    REQUIRE(log.events.back().event == "throttle.locked");
    CHECK(log.events.back().subject == "username:alice");
    CHECK(log.events.back().detail["retry_after"].get<int>() >= 1);
    // Then the attempt is refused before the password check.
    REQUIRE_FALSE(login.login(pw, password_request("alice"), rc).ok());
    CHECK(log.events.back().detail["reason"] == "throttled");
    CHECK(log.events.back().detail["retry_after"].get<int>() >= 1);

    for (const auto& e : log.events) {
      CHECK(e.detail.dump().find("the secret password") == std::string::npos);
      CHECK(e.actor.find("the secret password") == std::string::npos);
    }
  });
}

TEST_CASE("LoginService audits a first external login as account.created and account.linked", "[auth][audit]") {
  tokend::testing::for_each_backend([](Store& s) {
    LoginThrottle throttle{tokend::config::ThrottleConfig{}, s};
    tokend::metrics::Metrics metrics;
    RecordingLog log;
    LoginService login(s, throttle, metrics, &log);
    Identity id;
    id.provider = "github";
    id.subject = "1001";
    id.username = "octo";
    auto first = login.account_for(id, 1'800'000'000'000, {"203.0.113.1", "r1"});
    REQUIRE(first.ok());
    REQUIRE(log.events.size() == 2);
    CHECK(log.events[0].event == "account.created");
    CHECK(log.events[0].detail["username"] == "octo");
    CHECK(log.events[0].detail["method"] == "github");
    CHECK(log.events[1].event == "account.linked");
    CHECK(log.events[1].detail["provider_subject"] == "1001");
    CHECK(log.events[1].client == "203.0.113.1");
    // The second login finds the link: nothing new to record.
    REQUIRE(login.account_for(id, 1'800'000'000'001).ok());
    CHECK(log.events.size() == 2);
  });
}
