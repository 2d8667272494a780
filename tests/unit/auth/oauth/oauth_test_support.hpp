// Shared by the provider authenticator tests: a FactoryContext whose store
// refuses every call (authenticators only answer "who is this?"; linking is
// the core's job, so any store call would be a bug), metrics to read back,
// and helpers to build an authenticator and a request.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "e2e/support/fake_provider.hpp"
#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/store.hpp"

namespace oauth_test {

using tokend::Error;
using tokend::Result;
using tokend::Status;
namespace store = tokend::store;

class RefusingStore final : public store::Store {
 public:
  int calls = 0;
  Error no() { ++calls; return Error{tokend::ErrorCode::kStorageError, "not expected in this test"}; }
  Result<store::User> create_user(const store::NewUser&) override { return no(); }
  Result<store::User> find_user_by_username(std::string_view) override { return no(); }
  Result<store::User> find_user(std::int64_t) override { return no(); }
  Result<std::vector<store::User>> list_users() override { return no(); }
  Status set_password_hash(std::int64_t, const std::string&) override { return no(); }
  Status set_disabled(std::int64_t, bool, tokend::TimeMs) override { return no(); }
  Status revoke_sessions(std::int64_t, tokend::TimeMs) override { return no(); }
  Status in_transaction(const TransactionBody&) override { return no(); }
  Status in_throttle_transaction(const ThrottleBody&) override { return no(); }
  Result<store::TokenRecord> insert_token(const store::NewToken&) override { return no(); }
  Result<store::TokenLookup> find_token(const tokend::crypto::Sha256&) override { return no(); }
  Result<std::vector<store::TokenRecord>> list_live_tokens(std::int64_t, tokend::TimeMs) override { return no(); }
  Status revoke_token(std::int64_t, std::int64_t, tokend::TimeMs) override { return no(); }
  Status record_token_use(const std::vector<std::pair<std::int64_t, tokend::TimeMs>>&) override { return no(); }
  Result<store::SessionRecord> insert_session(const store::NewSession&) override { return no(); }
  Result<store::SessionLookup> find_session(const tokend::crypto::Sha256&) override { return no(); }
  Status touch_session(std::int64_t, tokend::TimeMs) override { return no(); }
  Status revoke_session(std::int64_t) override { return no(); }
  Status ping() override { return no(); }
  Status purge(tokend::TimeMs) override { return no(); }
};

struct Context {
  tokend::config::Config config;
  RefusingStore store;
  tokend::metrics::Metrics metrics;
  tokend::auth::PasswordHasher hasher{config.passwords};
  tokend::auth::FactoryContext factory() { return tokend::auth::FactoryContext{config, store, metrics, hasher}; }

  std::uint64_t logins(const std::string& provider, const std::string& result) {
    return metrics.counter("tokend_provider_logins_total", "", {{"provider", provider}, {"result", result}}).value();
  }
  std::uint64_t upstream_errors(const std::string& provider) {
    return metrics.counter("tokend_provider_upstream_errors_total", "", {{"provider", provider}}).value();
  }
  std::uint64_t upstream_calls(const std::string& provider) {
    return metrics.histogram("tokend_provider_upstream_seconds", "", {{"provider", provider}}).count();
  }
};

using Factory = tokend::Result<std::unique_ptr<tokend::auth::Authenticator>> (*)(
    const std::string&, const nlohmann::json&, const tokend::auth::FactoryContext&);

// Settings that trust the fake's CA and never use a proxy from the environment.
inline nlohmann::json base_settings(const e2e::FakeProvider& fake, const std::string& type) {
  return {{"type", type}, {"ca_file", fake.ca_file()}, {"proxy", ""}};
}

inline std::unique_ptr<tokend::auth::Authenticator> make(Factory factory, Context& ctx, const std::string& name,
                                                         const nlohmann::json& settings) {
  auto made = factory(name, settings, ctx.factory());
  if (!made.ok()) FAIL("factory refused: " << made.error().message);
  return std::move(made.value());
}

inline tokend::auth::AuthRequest request(const std::string& email, const std::string& token) {
  tokend::auth::AuthRequest r;
  r.email = email;
  r.access_token = token;
  r.peer = "127.0.0.1";
  return r;
}

// The factory's error for `settings`; FAILs when it was accepted.
inline Error config_error(Factory factory, Context& ctx, const std::string& name, const nlohmann::json& settings) {
  auto made = factory(name, settings, ctx.factory());
  if (made.ok()) FAIL("factory accepted " << settings.dump());
  return made.error();
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

using Kind = tokend::auth::AuthOutcome::Kind;

}  // namespace oauth_test
