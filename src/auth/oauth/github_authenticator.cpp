#include "tokend/auth/oauth/github_authenticator.hpp"

#include <algorithm>

#include "tokend/auth/oauth/provider_authenticator.hpp"

namespace tokend::auth::oauth {

namespace {

struct GithubSettings {
  std::string api_url;
  std::vector<std::string> allowed_organizations;  // lower-case
  std::vector<std::string> allowed_teams;          // lower-case "org/slug"
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
    auto user_response = call.get(settings_.api_url + "/user");
    if (!user_response) return call.failure(user_response.error());
    if (user_response->status != 200) return call.status_outcome(*user_response, "GET /user");
    auto user = Call::parse_json(*user_response);
    if (!user || !user->is_object()) return call.bad_response();
    auto id = id_string(user->value("id", nlohmann::json()));
    std::string login = string_field(*user, "login");
    if (!id || login.empty()) return call.bad_response();
    call.subject = *id;

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
    identity.subject = *id;
    identity.username = normalize_username(login);
    identity.display_name = string_field(*user, "name");

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
  GithubSettings settings_;
};

}  // namespace

Result<std::unique_ptr<Authenticator>> make_github_authenticator(const std::string& name,
                                                                 const nlohmann::json& settings,
                                                                 const FactoryContext& ctx) {
  SettingsReader reader(name, settings);
  if (auto st = reader.check_keys({"api_url", "allowed_organizations", "allowed_teams"}); !st) return st.error();
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
  auto client = ProviderAuthenticator::make_client(name, *common);
  if (!client) return client.error();
  return std::unique_ptr<Authenticator>(std::make_unique<GithubAuthenticator>(
      name, std::move(*common), std::move(gh), std::move(client.value()), ctx.metrics));
}

}  // namespace tokend::auth::oauth
