#include "tokend/auth/registry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

#include "tokend/auth/ldap/ldap_authenticator.hpp"
#include "tokend/auth/oauth/github_authenticator.hpp"
#include "tokend/auth/oauth/gitlab_authenticator.hpp"
#include "tokend/auth/oauth/oidc_authenticator.hpp"
#include "tokend/auth/userpass/userpass_authenticator.hpp"
#include "tokend/config/config.hpp"
#include "tokend/config/settings_reader.hpp"

namespace tokend::auth {

namespace {

// The table of authenticator types. Adding a type is one line here.
struct TypeEntry {
  const char* type;
  Factory factory;
};
const TypeEntry kTypes[] = {
    {"userpass", &make_userpass_authenticator},
    {"ldap", &ldap::make_ldap_authenticator},
    {"github", &oauth::make_github_authenticator},
    {"gitlab", &oauth::make_gitlab_authenticator},
    {"oidc", &oauth::make_oidc_authenticator},
};

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

}  // namespace

Result<Registry> Registry::build(const FactoryContext& ctx) {
  Registry r;
  for (const auto& [name, settings] : ctx.config.auth.items()) {
    if (!valid_name(name)) {
      return Error{ErrorCode::kInvalidConfig, "auth." + name + ": names use only a-z, 0-9, '-' and '_'"};
    }
    // "session" is the source of tokens made by the cookie exchange.
    if (name == "session") return Error{ErrorCode::kInvalidConfig, "auth.session: the name is reserved"};
    const config::SettingsReader reader(settings, "auth." + name);
    if (auto st = reader.check_object(); !st) return st.error();
    auto enabled = reader.boolean("enabled");
    if (!enabled) return enabled.error();
    if (!enabled->value_or(true)) continue;
    auto type_setting = reader.string("type");
    if (!type_setting) return type_setting.error();
    const std::string type = type_setting->value_or(name);
    const auto* entry = std::find_if(std::begin(kTypes), std::end(kTypes),
                                     [&](const TypeEntry& e) { return type == e.type; });
    if (entry == std::end(kTypes)) {
      return Error{ErrorCode::kInvalidConfig, "auth." + name + ".type: unknown authenticator type '" + type + "'"};
    }
    auto made = entry->factory(name, settings, ctx);
    if (!made) {
      Error e = made.error();
      if (e.message.rfind("auth.", 0) != 0) e.message = "auth." + e.message;
      return e;
    }
    r.methods_.push_back(std::move(*made));
  }
  return r;
}

Authenticator* Registry::find(std::string_view name) const {
  for (const auto& m : methods_) {
    if (m->name() == name) return m.get();
  }
  return nullptr;
}

std::vector<Authenticator*> Registry::password_methods() const {
  std::vector<Authenticator*> out;
  for (const auto& m : methods_) {
    if (m->credentials() == Authenticator::Credentials::kPassword) out.push_back(m.get());
  }
  return out;
}

Registry Registry::of(std::vector<std::unique_ptr<Authenticator>> methods) {
  Registry r;
  r.methods_ = std::move(methods);
  return r;
}

}  // namespace tokend::auth
