#include "tokend/auth/oauth/github_authenticator.hpp"

#include <algorithm>
#include <optional>

#include "tokend/auth/oauth/app_binding.hpp"
#include "tokend/auth/oauth/provider_authenticator.hpp"

namespace tokend::auth::oauth {

namespace {

struct GithubSettings {
  std::string api_url;
  std::vector<std::string> allowed_organizations;  // lower-case
  std::vector<std::string> allowed_teams;          // lower-case "org/slug"
  std::optional<ClientApp> app;                    // set: only tokens of this OAuth app
};

class GithubAuthenticator final : public ProviderAuthenticator {
 public:
  GithubAuthenticator(std::string name, CommonSettings common, GithubSettings settings,
                      std::unique_ptr<net::HttpsClient> client, metrics::Metrics& metrics)
      : ProviderAuthenticator(std::move(name), std::move(common), std::move(client), metrics,
                              {{"Accept", "application/vnd.github+json"}}),
        settings_(std::move(settings)) {}

  std::string_view type() const override { return "github"; }
  std::string label() const override { return "GitHub"; }

 protected:
  AuthOutcome verify(Call& call) override {
    std::optional<TokenCheck> account;
    if (settings_.app) {
      // The application check names the account too: no GET /user.
      if (auto failed = check_application(call, account)) return *failed;
    } else {
      auto user_response = call.get(settings_.api_url + "/user");
      if (!user_response) return call.failure(user_response.error());
      if (user_response->status != 200) return call.status_outcome(*user_response, "GET /user");
      auto user = Call::parse_json(*user_response);
      if (!user || !user->is_object()) return call.bad_response();
      auto user_id = id_string(user->value("id", nlohmann::json()));
      std::string user_login = string_field(*user, "login");
      if (!user_id || user_login.empty()) return call.bad_response();
      account = TokenCheck{TokenApp::kOurs, *user_id, std::move(user_login), string_field(*user, "name")};
    }
    const std::string& id = account->user_id;
    const std::string& login = account->login;
    call.subject = id;

    // GitHub pages this list (30 by default, 100 at most): an account with
    // many addresses has the one asked about on a later page.
    const std::string emails_url = settings_.api_url + "/user/emails?per_page=100";
    auto emails_response = call.get(emails_url);
    if (!emails_response) return call.failure(emails_response.error());
    // 403/404 here: the token lacks the user:email scope (classic tokens) or
    // the "Email addresses" permission (fine-grained): it cannot prove any
    // email, so this is a credential problem, not an outage.
    if (emails_response->status == 403 || emails_response->status == 404) {
      auto remaining = emails_response->header("x-ratelimit-remaining");
      if (!(remaining && *remaining == "0")) return AuthOutcome::rejected("email_scope_missing");
    }
    if (emails_response->status != 200) return call.status_outcome(*emails_response, "GET /user/emails");
    nlohmann::json emails;
    if (auto failed = call.get_all_pages(emails_url, std::move(*emails_response), emails)) return *failed;
    bool known = false, verified = false;
    for (const auto& entry : emails) {
      if (!entry.is_object() || !same_email(string_field(entry, "email"), call.request().email)) continue;
      known = true;
      // Only an address GitHub has verified proves anything: anyone can add
      // any address to their account without owning it.
      if (entry.value("verified", nlohmann::json()) == true) verified = true;
    }
    if (!known) return AuthOutcome::rejected("email_not_of_account");
    if (!verified) return AuthOutcome::rejected("email_not_verified");

    Identity identity;
    identity.subject = id;
    identity.username = normalize_username(login);
    identity.display_name = account->name;

    if (!settings_.allowed_organizations.empty() || !settings_.allowed_teams.empty()) {
      bool allowed = false;
      if (!settings_.allowed_organizations.empty()) {
        nlohmann::json orgs;
        if (auto failed = call.get_all_pages(settings_.api_url + "/user/orgs?per_page=100", orgs)) return *failed;
        for (const auto& org : orgs) {
          std::string login_lower = ascii_lower(string_field(org, "login"));
          if (std::find(settings_.allowed_organizations.begin(), settings_.allowed_organizations.end(), login_lower) !=
              settings_.allowed_organizations.end()) {
            allowed = true;
            identity.groups.push_back(login_lower);
          }
        }
      }
      if (!settings_.allowed_teams.empty()) {
        nlohmann::json teams;
        if (auto failed = call.get_all_pages(settings_.api_url + "/user/teams?per_page=100", teams)) return *failed;
        for (const auto& team : teams) {
          if (!team.is_object()) continue;
          std::string org = ascii_lower(string_field(team.value("organization", nlohmann::json::object()), "login"));
          std::string full = org + "/" + ascii_lower(string_field(team, "slug"));
          if (std::find(settings_.allowed_teams.begin(), settings_.allowed_teams.end(), full) !=
              settings_.allowed_teams.end()) {
            allowed = true;
            identity.groups.push_back(full);
          }
        }
      }
      if (!allowed) return AuthOutcome::rejected("not_in_allowed_organizations");
    }
    return AuthOutcome::accepted(std::move(identity));
  }

 private:
  // GitHub's "check a token" for the configured OAuth app: fills `account`
  // from the token object's `user`, or returns the outcome. 404: the token
  // is not one of this app's (GitHub does not say whether it is another
  // app's or no token at all). 401/403: GitHub refused our client
  // credentials, an operator error, not the user's.
  std::optional<AuthOutcome> check_application(Call& call, std::optional<TokenCheck>& account) {
    const ClientApp& app = *settings_.app;
    const std::string url = settings_.api_url + "/applications/" + form_encode(app.client_id) + "/token";
    // The access token goes in the body, the client secret only in the
    // Authorization header: neither is ever part of a URL.
    auto response = call.post(url, basic_authorization(app, /*form_encode=*/false), "application/json",
                              nlohmann::json{{"access_token", call.request().access_token}}.dump());
    if (!response) return call.failure(response.error());
    if (response->status == 404) return AuthOutcome::rejected("foreign_application");
    auto remaining = response->header("x-ratelimit-remaining");
    const bool rate_limited = response->status == 429 || (response->status == 403 && remaining && *remaining == "0");
    if (response->status == 401 || (response->status == 403 && !rate_limited)) {
      return call.credentials_refused(response->status, "the token check");
    }
    // 422 (GitHub could not read the request) and anything else.
    if (response->status != 200) return call.status_outcome(*response, "POST /applications/{client_id}/token");
    auto check = parse_github_token_check(response->body, app.client_id);
    if (!check) return call.bad_response();
    call.subject = check->user_id;
    if (check->app != TokenApp::kOurs) return AuthOutcome::rejected("foreign_application");
    account = std::move(*check);
    return std::nullopt;
  }

  GithubSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Authenticator>> make_github_authenticator(const std::string& name,
                                                                 const nlohmann::json& settings,
                                                                 const FactoryContext& ctx) {
  SettingsReader reader(name, settings);
  if (auto st = reader.check_keys({"api_url", "allowed_organizations", "allowed_teams", "client_id",
                                    "client_secret_file"});
      !st) {
    return st.error();
  }
  auto common = reader.common();
  if (!common) return common.error();
  GithubSettings gh;
  auto api_url = reader.https_url("api_url", "https://api.github.com", /*strip_slash=*/true);
  if (!api_url) return api_url.error();
  gh.api_url = std::move(*api_url);
  auto orgs = reader.string_list("allowed_organizations", /*lower=*/true);
  if (!orgs) return orgs.error();
  gh.allowed_organizations = std::move(*orgs);
  auto teams = reader.string_list("allowed_teams", /*lower=*/true);
  if (!teams) return teams.error();
  for (const auto& team : *teams) {
    auto slash = team.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == team.size() || team.find('/', slash + 1) != std::string::npos) {
      return reader.error("allowed_teams", "each entry must be \"org/team-slug\"");
    }
  }
  gh.allowed_teams = std::move(*teams);
  auto app = read_client_app(name, settings, /*needs_secret=*/true);
  if (!app) return app.error();
  gh.app = std::move(*app);
  auto client = ProviderAuthenticator::make_client(name, *common);
  if (!client) return client.error();
  return std::unique_ptr<Authenticator>(std::make_unique<GithubAuthenticator>(
      name, std::move(*common), std::move(gh), std::move(client.value()), ctx.metrics));
}

}  // namespace tokend::auth::oauth
