// LdapSettings: the validated settings of one LDAP authenticator, and
// parse_ldap_settings(), which reads and checks them from config.auth[name]
// (through config::SettingsReader) once, at start. Apart from the
// authenticator: what the settings mean is documented in
// docs/configuration.md ("LDAP", "Settings").
//
// Thread-safety: plain value type; parse_ldap_settings is a pure function
// apart from reading bind_password_file and checking ca_file.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "tokend/common/result.hpp"

namespace tokend::auth::ldap {

// The validated settings of one LDAP authenticator (config.auth[name]); the
// defaults are those documented in docs/configuration.md.
struct LdapSettings {
  std::string url;     // ldap://... or ldaps://... (several, space-separated)
  bool ldaps = false;  // derived from url
  bool start_tls = false;
  std::string ca_file;  // empty: libldap's default trust store
  bool insecure_allow_plain = false;
  int connect_timeout_ms = 5000;
  int operation_timeout_ms = 10000;

  std::string user_dn_template;  // set: DN-template mode; else search mode
  std::string bind_dn;           // search mode; empty: anonymous search
  std::string bind_password;     // from bind_password or bind_password_file
  std::string base_dn;
  std::string user_filter = "(uid={username})";
  int scope = 2;  // LDAP_SCOPE_SUBTREE; "base" 0, "one" 1, "sub" 2

  std::string username_attr = "uid";
  std::string email_attr = "mail";
  std::string display_name_attr = "cn";
  std::string id_attr = "entryUUID";  // "dn": always the entry's DN

  std::string required_group;                // empty: no group requirement
  // Members of this group get the admin role, others lose it, at each login
  // (the same membership check as required_group). Empty: the directory does
  // not manage the role (the CLI does).
  std::string admin_group;
  std::string group_member_attr = "member";  // member | uniqueMember | memberOf (both groups)

  int pool_size = 4;
  std::string label = "Directory";

  bool search_mode() const { return user_dn_template.empty(); }
  bool uses_tls() const { return ldaps || start_tls; }
};

// The settings in `settings` (the JSON object under config.auth[name]), or
// Error{ErrorCode::kInvalidConfig, "<name>.<key>: why"} for the first invalid or
// unknown key. Reads bind_password_file when given.
Result<LdapSettings> parse_ldap_settings(const std::string& name, const nlohmann::json& settings);

}  // namespace tokend::auth::ldap
