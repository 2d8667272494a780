#include "tokend/auth/userpass/userpass_authenticator.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "tokend/auth/username.hpp"
#include "tokend/log/log.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/config/settings_reader.hpp"
#include "tokend/store/store.hpp"

namespace tokend::auth {

UserpassAuthenticator::UserpassAuthenticator(std::string name, std::string label, store::Store& store,
                                             PasswordHasher& hasher)
    : name_(std::move(name)), label_(std::move(label)), store_(store), hasher_(hasher) {}

AuthOutcome UserpassAuthenticator::authenticate(const AuthRequest& request) {
  const std::string username = normalize_username(request.username);
  auto user = store_.find_user_by_username(username);
  if (!user && !user.error().is_not_found()) {
    spdlog::error("userpass: storage error: {}", user.error().message);
    return AuthOutcome::failed(FailureKind::kStorageError, "storage_error");
  }
  if (!user || user->password_hash.empty()) {
    hasher_.verify_dummy(request.password);
    return AuthOutcome::rejected(user ? "no_password" : "unknown_user");
  }
  const store::User& u = *user;
  const auto verdict = hasher_.verify(request.password, u.password_hash);
  if (verdict.failed) {
    spdlog::error("userpass: could not verify a password (out of memory for argon2id)");
    return AuthOutcome::failed(FailureKind::kServerBusy, "hasher_error");
  }
  if (verdict.refused) {
    // The account cannot sign in with a password until it gets a new one;
    // the client sees the usual 401, the operator sees why.
    spdlog::warn("userpass: the stored password hash of {} is not a usable argon2id hash; reset it with "
                 "tokend user passwd",
                 log::printable(u.username));
    return AuthOutcome::rejected("unusable_hash");
  }
  if (!verdict.match) return AuthOutcome::rejected("wrong_password");
  // Checked after the verification, so a disabled account answers in the same
  // time and with the same 401 as a wrong password.
  if (u.disabled) return AuthOutcome::rejected("account_disabled");
  if (verdict.needs_rehash) {
    if (auto h = hasher_.hash(request.password); h) {
      if (auto s = store_.set_password_hash(u.id, *h); !s) {
        spdlog::warn("userpass: could not upgrade the password hash of {}: {}", log::printable(u.username),
                     s.error().message);
      } else {
        spdlog::info("userpass: upgraded the password hash of {} to the configured cost", log::printable(u.username));
      }
    }
  }
  Identity id;
  id.provider = name_;
  id.subject = std::to_string(u.id);
  id.username = u.username;
  id.email = u.email;
  id.display_name = u.display_name;
  id.local = true;
  return AuthOutcome::accepted(std::move(id));
}

Result<std::unique_ptr<Authenticator>> make_userpass_authenticator(const std::string& name,
                                                                   const nlohmann::json& settings,
                                                                   const FactoryContext& ctx) {
  const config::SettingsReader reader(settings, name);
  std::string label = "Password";
  std::string type;
  bool enabled = true;
  if (auto st = config::first_error({reader.read("type", type), reader.read("enabled", enabled),
                                     reader.read("label", label), reader.check_unknown()});
      !st) {
    return st.error();
  }
  return std::unique_ptr<Authenticator>(
      std::make_unique<UserpassAuthenticator>(name, std::move(label), ctx.store, ctx.hasher));
}

}  // namespace tokend::auth
