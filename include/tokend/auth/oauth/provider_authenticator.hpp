// ProviderAuthenticator: what the github, gitlab and oidc authenticators have
// in common. A client posts {"email": ..., "info": {"accessToken": ...}}; the
// authenticator asks the provider, over HTTPS with that access token, who the
// token belongs to and which emails that account has verified, and accepts
// only when the posted email is one of them (plus any org/group/domain
// restriction). Subclasses implement verify(); this class owns the HTTPS
// client, the deadline, the metrics and the log line of every attempt.
//
// Settings common to every provider type (see docs/configuration.md):
//   ca_file, proxy, no_proxy, connect_timeout_ms, timeout_ms,
//   max_response_bytes, link_existing_accounts_by_email.
//
// Thread-safety: authenticate() is safe from many worker threads at once; it
// blocks its thread for at most timeout_ms (plus a little slack).
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/username.hpp"  // normalize_username, for every provider
#include "tokend/common/result.hpp"
#include "tokend/common/text.hpp"
#include "tokend/config/settings_reader.hpp"
#include "tokend/net/https_client.hpp"

namespace tokend::metrics {
class Counter;
class Histogram;
class Metrics;
}  // namespace tokend::metrics

namespace tokend::auth::oauth {

// The settings every provider type understands, with their defaults.
struct CommonSettings {
  std::string ca_file;                 // extra trusted CA (PEM); "" = system store only
  std::optional<std::string> proxy;    // nullopt: https_proxy env; "": none
  std::optional<std::string> no_proxy; // nullopt: no_proxy env
  int connect_timeout_ms = 5'000;
  int timeout_ms = 10'000;             // one whole sign-in, all provider calls together
  std::size_t max_response_bytes = 1024 * 1024;
  bool link_existing_accounts_by_email = false;
};

// Reading one provider's settings object: config::SettingsReader (errors
// Error{ErrorCode::kInvalidConfig, "<name>.<key>: why"}) with the settings
// every provider shares.
class SettingsReader : public config::SettingsReader {
 public:
  // REQUIRES: settings outlives the reader.
  SettingsReader(const std::string& name, const nlohmann::json& settings);

  // Ok when `settings` is an object whose keys are all common keys, "type",
  // "enabled" or one of `extra_keys`; else the first unknown key.
  Status check_keys(std::initializer_list<std::string_view> extra_keys) const;
  // The common settings, validated.
  Result<CommonSettings> common() const;
  // An absolute https URL at `key` (or `fallback` when absent) without a
  // trailing slash when `strip_slash`; an error when not https or malformed.
  Result<std::string> https_url(std::string_view key, std::optional<std::string> fallback, bool strip_slash) const;
  // A list of non-empty strings (empty when absent), each lower-cased when `lower`.
  Result<std::vector<std::string>> string_list(std::string_view key, bool lower) const;
};

class ProviderAuthenticator : public Authenticator {
 public:
  ~ProviderAuthenticator() override;

  const std::string& name() const override { return name_; }
  Credentials credentials() const override { return Credentials::kProviderToken; }
  // Provider calls wait on another server: they run on the upstream pool so a
  // slow provider cannot starve the database work.
  RunOn run_on() const override { return RunOn::kUpstream; }
  bool accepts_single_quoted_json() const override { return true; }

  // Checks the request's shape, runs verify() under the deadline, counts the
  // outcome and logs it (provider, outcome, reason, provider user id; never
  // the access token).
  AuthOutcome authenticate(const AuthRequest& request) final;

  // A new HTTPS client from the common settings. Error "invalid_config" with
  // "<name>.ca_file" / "<name>.proxy" when those cannot be used.
  static Result<std::unique_ptr<net::HttpsClient>> make_client(const std::string& name, const CommonSettings& common);

 protected:
  // One sign-in attempt: the access token, the deadline, and the calls made.
  class Call {
   public:
    Call(ProviderAuthenticator& owner, const AuthRequest& request, std::chrono::steady_clock::time_point deadline);

    // GET `url` with `Authorization: Bearer <token>` (when `with_token`) and
    // the provider's default headers. A transport error is counted as an
    // upstream error and left in the Result.
    Result<net::ClientResponse> get(const std::string& url, bool with_token = true);
    // POST `body` (of `content_type`) to `url` with the provider's default
    // headers and `authorization` as the Authorization header (the client's
    // own credentials, never the access token's Bearer: callers put the
    // token in the body). Counted and timed like get().
    Result<net::ClientResponse> post(const std::string& url, const std::string& authorization,
                                     std::string_view content_type, std::string body);
    // GET `url` and every further page named by `Link: <...>; rel="next"`
    // (same origin only: the token must not follow a link elsewhere), up to
    // `max_pages`, concatenating the JSON arrays. On failure: the outcome to
    // return (401 -> rejected "invalid_token", 403 -> rejected
    // "insufficient_scope", other statuses as status_outcome()).
    std::optional<AuthOutcome> get_all_pages(const std::string& url, nlohmann::json& out, int max_pages = 10);
    // The same, for a list whose first page (a 2xx answer to GET `url`) the
    // caller has fetched and checked itself.
    std::optional<AuthOutcome> get_all_pages(const std::string& url, net::ClientResponse first_page,
                                             nlohmann::json& out, int max_pages = 10);

    // The outcome for a transport error: timeout -> 504, unreachable -> 503,
    // anything else (TLS, too large, malformed) -> 502.
    AuthOutcome failure(const Error& error) const;
    // The outcome for a non-2xx status: 401 -> rejected("invalid_token"); a
    // rate limit (429, or 403 with x-ratelimit-remaining: 0) -> 503;
    // otherwise 502 "unexpected_status".
    AuthOutcome status_outcome(const net::ClientResponse& response, std::string_view what) const;
    // failed(502, "upstream_bad_response"), counted as an upstream error: the
    // provider answered 2xx with something that is not the documented shape.
    AuthOutcome bad_response() const;
    // failed(502, "client_credentials_refused"), counted as an upstream
    // error, with an error log line naming the settings to check: the
    // provider refused the operator's client_id/client secret (status
    // `status` to `what`). An operator error, so never the user's 401.
    AuthOutcome credentials_refused(int status, std::string_view what) const;
    // The body parsed as JSON, or nullopt when it is not JSON.
    static std::optional<nlohmann::json> parse_json(const net::ClientResponse& response);

    const AuthRequest& request() const { return request_; }
    // Set once the provider told us the account id, for the log line.
    std::string subject;

   private:
    ProviderAuthenticator& owner_;
    const AuthRequest& request_;
    std::chrono::steady_clock::time_point deadline_;
  };

  ProviderAuthenticator(std::string name, CommonSettings common, std::unique_ptr<net::HttpsClient> client,
                        metrics::Metrics& metrics, net::Headers default_headers);

  // The provider-specific check. Returns accepted (identity filled in except
  // provider, email and link_by_email, which authenticate() sets), rejected
  // or failed.
  virtual AuthOutcome verify(Call& call) = 0;

  const CommonSettings& common() const { return common_; }

 private:
  std::string name_;
  CommonSettings common_;
  std::unique_ptr<net::HttpsClient> client_;
  net::Headers default_headers_;
  metrics::Counter& accepted_;
  metrics::Counter& rejected_;
  metrics::Counter& failed_;
  metrics::Counter& upstream_errors_;
  metrics::Histogram& upstream_seconds_;
};

// Helpers shared by the providers.
// The URL of the `rel="next"` entry of a `Link` header value
// (`<url>; rel="next", <url>; rel="last"`, RFC 8288; GitHub's and GitLab's
// pagination), exactly as written between `<` and `>`; nullopt when there is
// none. The caller checks where it points.
std::optional<std::string> next_link(std::string_view link_header);
// Emails compare case-insensitively: providers store them as typed, people type them as they like.
bool same_email(std::string_view a, std::string_view b);
// A JSON number or numeric string as a decimal id string; nullopt otherwise.
std::optional<std::string> id_string(const nlohmann::json& v);
// The string at `key` of object `obj`, or "" when absent or not a string.
std::string string_field(const nlohmann::json& obj, std::string_view key);

}  // namespace tokend::auth::oauth
