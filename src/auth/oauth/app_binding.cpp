#include "tokend/auth/oauth/app_binding.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <nlohmann/json.hpp>

#include "tokend/auth/oauth/provider_authenticator.hpp"
#include "tokend/net/https_client.hpp"

namespace tokend::auth::oauth {

namespace {

constexpr std::size_t kMaxClientIdBytes = 256;
// A client secret is tens of bytes; a bigger file is the wrong file.
constexpr std::size_t kMaxSecretBytes = 4 * 1024;

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The whole file, or an error text (never its content).
Result<std::string> read_small_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Error{ErrorCode::kInvalidConfig, std::string("cannot open ") + path + ": " + std::strerror(errno)};
  std::string out;
  char buf[1024];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    out.append(buf, n);
    if (out.size() > kMaxSecretBytes) {
      return Error{ErrorCode::kInvalidConfig, path + " is over " + std::to_string(kMaxSecretBytes) + " bytes"};
    }
    if (n < sizeof buf) break;
  }
  // A directory opens but does not read.
  if (std::ferror(f.get())) return Error{ErrorCode::kInvalidConfig, "cannot read " + path + ": " + std::strerror(errno)};
  return out;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<nlohmann::json> json_object(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

}  // namespace

Result<std::optional<ClientApp>> read_client_app(const std::string& name, const nlohmann::json& settings,
                                                 bool needs_secret) {
  SettingsReader reader(name, settings);
  auto id = reader.string("client_id");
  if (!id) return id.error();
  auto secret_file = reader.string("client_secret_file");
  if (!secret_file) return secret_file.error();
  if (!needs_secret && secret_file->has_value()) {
    return reader.error("client_secret_file", "not used: this provider tells the token's application from the token alone");
  }
  if (!id->has_value()) {
    if (secret_file->has_value()) return reader.error("client_id", "is required with client_secret_file");
    return std::optional<ClientApp>{};
  }
  ClientApp app;
  app.client_id = **id;
  if (app.client_id.empty() || app.client_id.size() > kMaxClientIdBytes || !printable_ascii(app.client_id)) {
    return reader.error("client_id", "must be the application's client id: 1 to 256 printable characters, no spaces");
  }
  if (!needs_secret) return std::optional<ClientApp>{std::move(app)};
  if (!secret_file->has_value() || (*secret_file)->empty()) {
    return reader.error("client_secret_file", "is required with client_id (a file holding the client secret)");
  }
  // Read once, here: a secret that cannot be read fails the start, not the
  // first sign-in. The messages name the file, never its content.
  auto text = read_small_file(**secret_file);
  if (!text) return reader.error("client_secret_file", text.error().message);
  std::string secret = std::move(*text);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ' ||
                             secret.back() == '\t')) {
    secret.pop_back();
  }
  if (secret.empty()) return reader.error("client_secret_file", **secret_file + " is empty");
  if (!std::all_of(secret.begin(), secret.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return reader.error("client_secret_file", **secret_file + " holds more than one line or control characters");
  }
  app.client_secret = std::move(secret);
  return std::optional<ClientApp>{std::move(app)};
}

std::string form_encode(std::string_view text) { return boost::urls::encode(text, boost::urls::unreserved_chars); }

std::string basic_authorization(const ClientApp& app, bool encode) {
  const std::string pair = encode ? form_encode(app.client_id) + ":" + form_encode(app.client_secret)
                                  : app.client_id + ":" + app.client_secret;
  return "Basic " + base64(pair);
}

Result<TokenCheck> parse_github_token_check(std::string_view body, std::string_view client_id) {
  auto doc = json_object(body);
  if (!doc) return Error{ErrorCode::kBadResponse, "not a JSON object"};
  auto user = doc->find("user");
  if (user == doc->end() || !user->is_object()) return Error{ErrorCode::kBadResponse, "no user object"};
  auto id = id_string(user->value("id", nlohmann::json()));
  std::string login = string_field(*user, "login");
  if (!id || login.empty()) return Error{ErrorCode::kBadResponse, "the user has no id or login"};
  TokenCheck check;
  check.user_id = *id;
  check.login = std::move(login);
  check.name = string_field(*user, "name");
  // The URL named our client id already; GitHub answers for that application
  // only. Still, a token object naming another application is not ours.
  auto app = doc->find("app");
  const bool foreign = app != doc->end() && app->is_object() && app->contains("client_id") &&
                       string_field(*app, "client_id") != client_id;
  check.app = foreign ? TokenApp::kForeign : TokenApp::kOurs;
  return check;
}

Result<TokenCheck> parse_gitlab_token_info(std::string_view body, std::string_view application_id) {
  auto doc = json_object(body);
  if (!doc) return Error{ErrorCode::kBadResponse, "not a JSON object"};
  auto owner = id_string(doc->value("resource_owner_id", nlohmann::json()));
  if (!owner) return Error{ErrorCode::kBadResponse, "no resource_owner_id"};
  TokenCheck check;
  check.user_id = *owner;
  // A personal access token has no application: not ours either.
  auto app = doc->find("application");
  const bool ours = app != doc->end() && app->is_object() && app->contains("uid") &&
                    (*app)["uid"].is_string() && (*app)["uid"].get_ref<const std::string&>() == application_id;
  check.app = ours ? TokenApp::kOurs : TokenApp::kForeign;
  return check;
}

Result<TokenCheck> parse_introspection(std::string_view body, std::string_view client_id) {
  auto doc = json_object(body);
  if (!doc) return Error{ErrorCode::kBadResponse, "not a JSON object"};
  TokenCheck check;
  // RFC 7662 §2.2: `active` is a boolean; anything else is not "active".
  if (doc->value("active", nlohmann::json()) != true) {
    check.app = TokenApp::kInactive;
    return check;
  }
  check.user_id = string_field(*doc, "sub");
  bool ours = string_field(*doc, "client_id") == client_id;
  auto aud = doc->find("aud");
  if (!ours && aud != doc->end()) {
    if (aud->is_string()) {
      ours = aud->get_ref<const std::string&>() == client_id;
    } else if (aud->is_array()) {
      ours = std::any_of(aud->begin(), aud->end(),
                         [&](const nlohmann::json& a) { return a.is_string() && a.get_ref<const std::string&>() == client_id; });
    }
  }
  check.app = ours ? TokenApp::kOurs : TokenApp::kForeign;
  return check;
}

Result<std::optional<std::string>> introspection_endpoint_from_discovery(std::string_view document,
                                                                         std::string_view issuer) {
  auto doc = json_object(document);
  if (!doc) return Error{ErrorCode::kBadResponse, "not a JSON object"};
  // OpenID Connect Discovery §4.3, as for the userinfo endpoint.
  if (string_field(*doc, "issuer") != issuer) return Error{ErrorCode::kBadResponse, "it names another issuer"};
  if (!doc->contains("introspection_endpoint")) return std::optional<std::string>{};
  std::string endpoint = string_field(*doc, "introspection_endpoint");
  // The access token and the client secret go to this URL: https only.
  if (!net::parse_https_url(endpoint)) return Error{ErrorCode::kBadResponse, "no https introspection_endpoint"};
  return std::optional<std::string>{std::move(endpoint)};
}

}  // namespace tokend::auth::oauth
