// UserpassAuthenticator: local accounts with argon2id password hashes.
//
// Unknown user, wrong password and disabled account are all rejected, and all
// cost one argon2id verification (the dummy hash stands in for a missing
// account), so neither the answer nor its timing tells whether an account
// exists (Vault's userpass/path_login.go does the same). A hash made with
// weaker parameters than configured is upgraded after a successful login.
//
// Thread-safety: authenticate() is safe from any number of worker threads.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/authenticator_factory.hpp"

namespace tokend::auth {

class UserpassAuthenticator final : public Authenticator {
 public:
  UserpassAuthenticator(std::string name, std::string label, store::Store& store, PasswordHasher& hasher);

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "userpass"; }
  Credentials credentials() const override { return Credentials::kPassword; }
  RunOn run_on() const override { return RunOn::kWorker; }
  std::string label() const override { return label_; }
  AuthOutcome authenticate(const AuthRequest& request) override;

 private:
  std::string name_;
  std::string label_;
  store::Store& store_;
  PasswordHasher& hasher_;
};

// Factory for config.auth entries of type "userpass". Settings: "label".
Result<std::unique_ptr<Authenticator>> make_userpass_authenticator(const std::string& name,
                                                                   const nlohmann::json& settings,
                                                                   const FactoryContext& ctx);

}  // namespace tokend::auth
