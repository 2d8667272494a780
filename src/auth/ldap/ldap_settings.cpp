#include "tokend/auth/ldap/ldap_settings.hpp"

#include <ldap.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "tokend/auth/ldap/ldap_escape.hpp"
#include "tokend/common/text.hpp"
#include "tokend/config/settings_reader.hpp"

namespace tokend::auth::ldap {
namespace {

constexpr int kMaxTimeoutMs = 600'000;
constexpr int kMaxPoolSize = 64;

const std::set<std::string, std::less<>> kKnownKeys = {
    "type",
    "enabled",
    "label",
    "url",
    "start_tls",
    "ca_file",
    "insecure_allow_plain",
    "connect_timeout_ms",
    "operation_timeout_ms",
    "user_dn_template",
    "bind_dn",
    "bind_password",
    "bind_password_file",
    "base_dn",
    "user_filter",
    "scope",
    "username_attr",
    "email_attr",
    "display_name_attr",
    "id_attr",
    "required_group",
    "admin_group",
    "group_member_attr",
    "pool_size",
};

bool is_valid_dn(const std::string& text) {
  if (text.empty()) return false;
  LDAPDN dn = nullptr;
  const int rc = ldap_str2dn(text.c_str(), &dn, LDAP_DN_FORMAT_LDAPV3);
  if (dn != nullptr) ldap_dnfree(dn);
  return rc == LDAP_SUCCESS;
}

// An attribute description: a name (letter, then letters, digits, hyphens) or
// a numeric OID, optionally with options (";binary").
bool is_valid_attribute(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  const std::size_t semi = text.find(';');
  const std::string_view type = text.substr(0, semi);
  if (type.empty()) return false;
  bool ok = true;
  if (type[0] >= '0' && type[0] <= '9') {
    bool last_dot = true;
    for (char c : type) {
      if (c == '.') {
        ok = ok && !last_dot;
        last_dot = true;
      } else {
        ok = ok && c >= '0' && c <= '9';
        last_dot = false;
      }
    }
    ok = ok && !last_dot;
  } else {
    for (std::size_t i = 0; i < type.size(); ++i) {
      const char c = type[i];
      const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      const bool digit = c >= '0' && c <= '9';
      ok = ok && (alpha || (i > 0 && (digit || c == '-')));
    }
  }
  if (semi != std::string_view::npos) {
    const std::string_view options = text.substr(semi + 1);
    ok = ok && !options.empty() && options.back() != ';';
    for (char c : options) {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      ok = ok && (alnum || c == '-' || c == ';');
    }
  }
  return ok;
}

// A filter must be one parenthesised expression. libldap rejects malformed
// filters only when the search is sent, so the shape is checked here, at start.
bool is_plausible_filter(std::string_view text) {
  if (text.size() < 3 || text.front() != '(' || text.back() != ')') return false;
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;  // an escaped byte pair follows
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
      if (depth == 0 && i + 1 != text.size()) return false;
    }
  }
  return depth == 0;
}

bool is_readable_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::ifstream in(path, std::ios::binary);
  return static_cast<bool>(in);
}

std::vector<std::string> split_urls(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = text.find_first_not_of(' ', pos);
    if (start == std::string::npos) break;
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    pos = end;
  }
  return out;
}

}  // namespace

Result<LdapSettings> parse_ldap_settings(const std::string& name, const nlohmann::json& doc) {
  const config::SettingsReader p(doc, name);
  if (auto st = p.check_keys([](std::string_view key) { return kKnownKeys.find(key) != kKnownKeys.end(); }); !st) {
    return st.error();
  }
  LdapSettings s;
  std::string type = "ldap";
  bool enabled = true;
  if (auto st = p.read("type", type); !st) return st.error();
  if (type != "ldap") return p.error("type", "must be \"ldap\"");
  if (auto st = p.read("enabled", enabled); !st) return st.error();

  if (auto st = p.read("label", s.label); !st) return st.error();
  if (s.label.empty() || s.label.size() > 64) return p.error("label", "must be 1 to 64 characters");

  // --- transport
  if (!p.has("url")) return p.error("url", "is required (ldaps://host:636 or ldap://host:389)");
  if (auto st = p.read("url", s.url); !st) return st.error();
  const auto urls = split_urls(s.url);
  if (urls.empty()) return p.error("url", "is required (ldaps://host:636 or ldap://host:389)");
  std::optional<bool> ldaps;
  for (const auto& u : urls) {
    LDAPURLDesc* desc = nullptr;
    const int rc = ldap_url_parse(u.c_str(), &desc);
    if (rc != LDAP_URL_SUCCESS || desc == nullptr) {
      if (desc != nullptr) ldap_free_urldesc(desc);
      return p.error("url", "\"" + u + "\" is not an LDAP URL");
    }
    const std::string scheme = desc->lud_scheme != nullptr ? desc->lud_scheme : "";
    const bool has_host = desc->lud_host != nullptr && desc->lud_host[0] != '\0';
    const bool extra = (desc->lud_dn != nullptr && desc->lud_dn[0] != '\0') ||
                       desc->lud_attrs != nullptr || desc->lud_filter != nullptr ||
                       desc->lud_exts != nullptr;
    ldap_free_urldesc(desc);
    if (scheme != "ldap" && scheme != "ldaps") {
      return p.error("url", "\"" + u + "\": the scheme must be ldap:// or ldaps://");
    }
    if (!has_host) return p.error("url", "\"" + u + "\": a host name is required");
    if (extra) return p.error("url", "\"" + u + "\": only scheme, host and port are allowed");
    const bool this_ldaps = scheme == "ldaps";
    if (ldaps && *ldaps != this_ldaps) {
      return p.error("url", "all URLs must use the same scheme");
    }
    ldaps = this_ldaps;
  }
  s.ldaps = *ldaps;
  if (auto st = p.read("start_tls", s.start_tls); !st) return st.error();
  if (s.start_tls && s.ldaps) {
    return p.error("start_tls", "not with ldaps:// (the connection is already TLS)");
  }
  if (auto st = p.read("insecure_allow_plain", s.insecure_allow_plain); !st) return st.error();
  // Plain LDAP sends every user's password in clear text: refused unless the
  // operator says, in so many words, that the network is trusted.
  if (!s.uses_tls() && !s.insecure_allow_plain) {
    return p.error("url",
                   "plain ldap:// would send passwords in clear text; use ldaps://, set "
                   "start_tls, or set insecure_allow_plain");
  }
  if (auto st = p.read("ca_file", s.ca_file); !st) return st.error();
  if (!s.ca_file.empty()) {
    if (!s.uses_tls()) return p.error("ca_file", "only used with ldaps:// or start_tls");
    if (!is_readable_file(s.ca_file)) {
      return p.error("ca_file", "cannot read \"" + s.ca_file + "\"");
    }
  } else if (p.has("ca_file")) {
    return p.error("ca_file", "must not be empty (leave it out for the system's trust store)");
  }
  if (auto st = p.read("connect_timeout_ms", s.connect_timeout_ms, 1, kMaxTimeoutMs); !st) return st.error();
  if (auto st = p.read("operation_timeout_ms", s.operation_timeout_ms, 1, kMaxTimeoutMs); !st) return st.error();
  if (auto st = p.read("pool_size", s.pool_size, 1, kMaxPoolSize); !st) return st.error();

  // --- how to find the user
  if (auto st = p.read("user_dn_template", s.user_dn_template); !st) return st.error();
  if (p.has("user_dn_template")) {
    if (s.user_dn_template.find("{username}") == std::string::npos) {
      return p.error("user_dn_template", "must contain {username}");
    }
    if (!is_valid_dn(replace_username(s.user_dn_template, "x"))) {
      return p.error("user_dn_template",
                     "is not a DN (e.g. uid={username},ou=people,dc=example,dc=org)");
    }
    for (const char* key :
         {"bind_dn", "bind_password", "bind_password_file", "base_dn", "user_filter", "scope"}) {
      if (p.has(key)) {
        return p.error(key, "only used with search-then-bind (base_dn), not with user_dn_template");
      }
    }
  } else {
    if (!p.has("base_dn")) {
      return p.error("user_dn_template",
                     "set user_dn_template, or base_dn (with user_filter) for search-then-bind");
    }
    if (auto st = p.read("base_dn", s.base_dn); !st) return st.error();
    if (!is_valid_dn(s.base_dn)) return p.error("base_dn", "is not a DN");
    if (auto st = p.read("user_filter", s.user_filter); !st) return st.error();
    if (s.user_filter.find("{username}") == std::string::npos) {
      return p.error("user_filter", "must contain {username}");
    }
    if (!is_plausible_filter(replace_username(s.user_filter, "x"))) {
      return p.error("user_filter", "is not one parenthesised LDAP filter");
    }
    std::string scope = "sub";
    if (auto st = p.read("scope", scope); !st) return st.error();
    if (scope == "base") {
      s.scope = LDAP_SCOPE_BASE;
    } else if (scope == "one") {
      s.scope = LDAP_SCOPE_ONELEVEL;
    } else if (scope == "sub") {
      s.scope = LDAP_SCOPE_SUBTREE;
    } else {
      return p.error("scope", "must be base, one or sub");
    }
    if (auto st = p.read("bind_dn", s.bind_dn); !st) return st.error();
    if (p.has("bind_dn") && !is_valid_dn(s.bind_dn)) return p.error("bind_dn", "is not a DN");
    const bool has_pw = p.has("bind_password");
    const bool has_pw_file = p.has("bind_password_file");
    if (s.bind_dn.empty()) {
      if (has_pw || has_pw_file) {
        return p.error(has_pw ? "bind_password" : "bind_password_file", "only used with bind_dn");
      }
    } else {
      if (has_pw && has_pw_file) {
        return p.error("bind_password", "set bind_password or bind_password_file, not both");
      }
      if (!has_pw && !has_pw_file) {
        return p.error("bind_password", "is required with bind_dn (or bind_password_file)");
      }
      if (has_pw) {
        if (auto st = p.read("bind_password", s.bind_password); !st) return st.error();
        if (s.bind_password.empty()) return p.error("bind_password", "must not be empty");
      } else {
        std::string path;
        if (auto st = p.read("bind_password_file", path); !st) return st.error();
        std::ifstream in(path, std::ios::binary);
        if (path.empty() || !is_readable_file(path) || !in) {
          return p.error("bind_password_file", "cannot read \"" + path + "\"");
        }
        std::getline(in, s.bind_password);
        if (!s.bind_password.empty() && s.bind_password.back() == '\r') s.bind_password.pop_back();
        if (s.bind_password.empty()) {
          return p.error("bind_password_file", "the first line (the password) is empty");
        }
      }
    }
  }

  // --- attributes
  for (auto [key, out] :
       {std::pair{"username_attr", &s.username_attr}, std::pair{"email_attr", &s.email_attr},
        std::pair{"display_name_attr", &s.display_name_attr}, std::pair{"id_attr", &s.id_attr}}) {
    if (auto st = p.read(key, *out); !st) return st.error();
    const bool dn_ok = std::string_view(key) == "id_attr" && iequals(*out, "dn");
    if (!dn_ok && !is_valid_attribute(*out)) return p.error(key, "is not an attribute name");
  }
  if (iequals(s.id_attr, "dn")) s.id_attr = "dn";

  // --- group requirement
  if (auto st = p.read("required_group", s.required_group); !st) return st.error();
  if (p.has("required_group") && !is_valid_dn(s.required_group)) {
    return p.error("required_group", "is not a DN");
  }
  // --- admin role: members of admin_group are admins, refreshed at each login
  if (auto st = p.read("admin_group", s.admin_group); !st) return st.error();
  if (p.has("admin_group") && !is_valid_dn(s.admin_group)) {
    return p.error("admin_group", "is not a DN");
  }
  if (p.has("group_member_attr")) {
    if (!p.has("required_group") && !p.has("admin_group"))
      return p.error("group_member_attr", "only used with required_group or admin_group");
    if (auto st = p.read("group_member_attr", s.group_member_attr); !st) return st.error();
    if (iequals(s.group_member_attr, "member")) {
      s.group_member_attr = "member";
    } else if (iequals(s.group_member_attr, "uniqueMember")) {
      s.group_member_attr = "uniqueMember";
    } else if (iequals(s.group_member_attr, "memberOf")) {
      s.group_member_attr = "memberOf";
    } else {
      return p.error("group_member_attr", "must be member, uniqueMember or memberOf");
    }
  }
  return s;
}

}  // namespace tokend::auth::ldap
