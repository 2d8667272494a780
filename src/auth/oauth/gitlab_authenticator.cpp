#include "tokend/auth/oauth/gitlab_authenticator.hpp"

#include <optional>

#include <spdlog/spdlog.h>

#include "tokend/auth/oauth/app_binding.hpp"
#include "tokend/auth/oauth/provider_authenticator.hpp"

namespace tokend::auth::oauth {

namespace {

struct GitlabSettings {
  std::string api;                          // {base_url}/api/v4
  std::string base_url;                     // without /api/v4
  std::vector<std::string> allowed_groups;  // lower-case full paths
  std::optional<ClientApp> app;             // set: only tokens of this OAuth application
};

bool confirmed(const nlohmann::json& obj) {
  auto it = obj.find("confirmed_at");
  return it != obj.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

class GitlabAuthenticator final : public ProviderAuthenticator {
 public:
  GitlabAuthenticator(std::string name, CommonSettings common, GitlabSettings settings,
                      std::unique_ptr<net::HttpsClient> client, metrics::Metrics& metrics)
      : ProviderAuthenticator(std::move(name), std::move(common), std::move(client), metrics,
                              {{"Accept", "application/json"}}),
        settings_(std::move(settings)) {}

  std::string_view type() const override { return "gitlab"; }
  std::string label() const override { return "GitLab"; }

 protected:
  AuthOutcome verify(Call& call) override {
    std::string owner_id;
    if (settings_.app) {
      if (auto failed = check_application(call, owner_id)) return *failed;
    }
    auto user_response = call.get(settings_.api + "/user");
    if (!user_response) return call.failure(user_response.error());
    // 403 on /user: the token exists but lacks read_user/api scope (GitLab
    // signals rate limits with 429, which status_outcome() handles).
    if (user_response->status == 403) {
      return AuthOutcome::rejected("insufficient_scope");
    }
    if (user_response->status != 200) return call.status_outcome(*user_response, "GET /api/v4/user");
    auto user = Call::parse_json(*user_response);
    if (!user || !user->is_object()) return call.bad_response();
    auto id = id_string(user->value("id", nlohmann::json()));
    std::string username = string_field(*user, "username");
    if (!id || username.empty()) return call.bad_response();
    call.subject = *id;
    if (settings_.app && owner_id != *id) {
      // The token's owner per /oauth/token/info and per /user must agree;
      // if they do not, neither answer can be trusted.
      spdlog::warn("provider {}: /oauth/token/info names another account than /api/v4/user", name());
      return call.bad_response();
    }
    // Blocked or deactivated accounts keep working tokens for a while on some
    // GitLab versions; only active accounts sign in here.
    if (std::string state = string_field(*user, "state"); !state.empty() && state != "active") {
      return AuthOutcome::rejected("account_not_active");
    }

    // The primary email is verified when the account is confirmed.
    bool verified = same_email(string_field(*user, "email"), call.request().email) && confirmed(*user);
    bool known = same_email(string_field(*user, "email"), call.request().email);
    if (!verified) {
      // GitLab pages this list (20 by default, 100 at most).
      nlohmann::json emails;
      if (auto failed = call.get_all_pages(settings_.api + "/user/emails?per_page=100", emails)) return *failed;
      for (const auto& entry : emails) {
        if (!entry.is_object() || !same_email(string_field(entry, "email"), call.request().email)) continue;
        known = true;
        // An unconfirmed address proves nothing: anyone can add any address.
        if (confirmed(entry)) verified = true;
      }
    }
    if (!known) return AuthOutcome::rejected("email_not_of_account");
    if (!verified) return AuthOutcome::rejected("email_not_verified");

    Identity identity;
    identity.subject = *id;
    identity.username = normalize_username(username);
    identity.display_name = string_field(*user, "name");

    if (!settings_.allowed_groups.empty()) {
      nlohmann::json groups;
      if (auto failed = call.get_all_pages(settings_.api + "/groups?min_access_level=10&per_page=100", groups)) {
        return *failed;
      }
      bool allowed = false;
      for (const auto& group : groups) {
        std::string path = ascii_lower(string_field(group, "full_path"));
        if (path.empty()) continue;
        for (const auto& wanted : settings_.allowed_groups) {
          if (path == wanted || path.starts_with(wanted + "/")) {
            allowed = true;
            identity.groups.push_back(path);
            break;
          }
        }
      }
      if (!allowed) return AuthOutcome::rejected("not_in_allowed_groups");
    }
    return AuthOutcome::accepted(std::move(identity));
  }

 private:
  // GET /oauth/token/info: which OAuth application the token is of. Fills
  // `owner_id` (resource_owner_id) or returns the outcome. A token that is
  // not an OAuth token of any application (a personal access token) is
  // answered 401 or without an application: refused as well.
  std::optional<AuthOutcome> check_application(Call& call, std::string& owner_id) {
    auto response = call.get(settings_.base_url + "/oauth/token/info");
    if (!response) return call.failure(response.error());
    // 401: unknown, revoked or expired token (status_outcome: invalid_token).
    if (response->status != 200) return call.status_outcome(*response, "GET /oauth/token/info");
    auto check = parse_gitlab_token_info(response->body, settings_.app->client_id);
    if (!check) return call.bad_response();
    call.subject = check->user_id;
    if (check->app != TokenApp::kOurs) return AuthOutcome::rejected("foreign_application");
    owner_id = check->user_id;
    return std::nullopt;
  }

  GitlabSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Authenticator>> make_gitlab_authenticator(const std::string& name,
                                                                 const nlohmann::json& settings,
                                                                 const FactoryContext& ctx) {
  SettingsReader reader(name, settings);
  if (auto st = reader.check_keys({"base_url", "allowed_groups", "client_id", "client_secret_file"}); !st) {
    return st.error();
  }
  auto common = reader.common();
  if (!common) return common.error();
  GitlabSettings gl;
  auto base_url = reader.https_url("base_url", "https://gitlab.com", /*strip_slash=*/true);
  if (!base_url) return base_url.error();
  if (base_url->ends_with("/api/v4")) return reader.error("base_url", "give the GitLab address without /api/v4");
  gl.api = *base_url + "/api/v4";
  gl.base_url = *base_url;
  auto groups = reader.string_list("allowed_groups", /*lower=*/true);
  if (!groups) return groups.error();
  for (auto& group : *groups) {
    while (!group.empty() && group.back() == '/') group.pop_back();
    if (group.empty() || group.front() == '/') return reader.error("allowed_groups", "each entry must be a group's full path");
  }
  gl.allowed_groups = std::move(*groups);
  // GitLab tells a token's application from the token alone: no secret.
  auto app = read_client_app(name, settings, /*needs_secret=*/false);
  if (!app) return app.error();
  gl.app = std::move(*app);
  auto client = ProviderAuthenticator::make_client(name, *common);
  if (!client) return client.error();
  return std::unique_ptr<Authenticator>(std::make_unique<GitlabAuthenticator>(
      name, std::move(*common), std::move(gl), std::move(client.value()), ctx.metrics));
}

}  // namespace tokend::auth::oauth
