#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tokend/auth/ldap/ldap_authenticator.hpp"

using nlohmann::json;
using tokend::auth::ldap::LdapSettings;
using tokend::auth::ldap::parse_ldap_settings;

namespace {

json search_config() {
  return json{{"type", "ldap"},
              {"url", "ldaps://ldap.example.org:636"},
              {"bind_dn", "cn=reader,dc=example,dc=org"},
              {"bind_password", "s3cret"},
              {"base_dn", "ou=people,dc=example,dc=org"},
              {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}};
}

json template_config() {
  return json{{"url", "ldap://ldap.example.org"},
              {"start_tls", true},
              {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}};
}

// The error message of a config that must be refused.
std::string refusal(const json& doc) {
  auto r = parse_ldap_settings("ldap", doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == tokend::ErrorCode::kInvalidConfig);
  return r.error().message;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::string temp_file(const std::string& content) {
  char path[] = "/tmp/tokend-ldap-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

}  // namespace

TEST_CASE("LDAP settings: valid configurations and defaults", "[ldap][config]") {
  SECTION("search-then-bind") {
    auto r = parse_ldap_settings("ldap", search_config());
    REQUIRE(r.ok());
    const LdapSettings& s = *r;
    CHECK(s.search_mode());
    CHECK(s.ldaps);
    CHECK_FALSE(s.start_tls);
    CHECK(s.uses_tls());
    CHECK(s.bind_password == "s3cret");
    CHECK(s.scope == 2);
    CHECK(s.connect_timeout_ms == 5000);
    CHECK(s.operation_timeout_ms == 10000);
    CHECK(s.username_attr == "uid");
    CHECK(s.email_attr == "mail");
    CHECK(s.display_name_attr == "cn");
    CHECK(s.id_attr == "entryUUID");
    CHECK(s.required_group.empty());
    CHECK(s.pool_size == 4);
    CHECK(s.label == "Directory");
  }
  SECTION("DN template with StartTLS") {
    auto r = parse_ldap_settings("ldap", template_config());
    REQUIRE(r.ok());
    CHECK_FALSE(r->search_mode());
    CHECK(r->start_tls);
    CHECK(r->uses_tls());
  }
  SECTION("Active Directory style") {
    json doc = search_config();
    doc["user_filter"] =
        "(&(objectClass=user)(|(userPrincipalName={username})(sAMAccountName={username})))";
    doc["username_attr"] = "sAMAccountName";
    doc["id_attr"] = "objectGUID";
    doc["required_group"] = "CN=Token Users,OU=Groups,DC=corp,DC=example,DC=com";
    doc["group_member_attr"] = "memberOf";
    doc["scope"] = "one";
    auto r = parse_ldap_settings("corp", doc);
    REQUIRE(r.ok());
    CHECK(r->group_member_attr == "memberOf");
    CHECK(r->scope == 1);
  }
  SECTION("bind_password_file: the first line") {
    const std::string path = temp_file("from-file\r\nignored\n");
    json doc = search_config();
    doc.erase("bind_password");
    doc["bind_password_file"] = path;
    auto r = parse_ldap_settings("ldap", doc);
    std::remove(path.c_str());
    REQUIRE(r.ok());
    CHECK(r->bind_password == "from-file");
  }
  SECTION("plain LDAP when explicitly allowed") {
    json doc = template_config();
    doc.erase("start_tls");
    doc["insecure_allow_plain"] = true;
    auto r = parse_ldap_settings("ldap", doc);
    REQUIRE(r.ok());
    CHECK_FALSE(r->uses_tls());
  }
  SECTION("several URLs for failover") {
    json doc = search_config();
    doc["url"] = "ldaps://dc1.example.org ldaps://dc2.example.org:3269";
    REQUIRE(parse_ldap_settings("ldap", doc).ok());
  }
  SECTION("anonymous search (no bind_dn)") {
    json doc = search_config();
    doc.erase("bind_dn");
    doc.erase("bind_password");
    auto r = parse_ldap_settings("ldap", doc);
    REQUIRE(r.ok());
    CHECK(r->bind_dn.empty());
  }
}

TEST_CASE("LDAP settings: every invalid key is refused with its name", "[ldap][config]") {
  SECTION("not an object") { CHECK(starts_with(refusal(json::array()), "ldap")); }
  SECTION("unknown key") {
    json doc = search_config();
    doc["user_filtre"] = "(uid={username})";
    CHECK(starts_with(refusal(doc), "ldap.user_filtre: unknown"));
  }
  SECTION("url") {
    json doc = search_config();
    doc.erase("url");
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "http://ldap.example.org";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "ldapi:///var/run/slapd.sock";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "ldaps://ldap.example.org/dc=example,dc=org";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "ldaps:///";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = "ldaps://a.example.org ldap://b.example.org";
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["url"] = 389;
    CHECK(starts_with(refusal(doc), "ldap.url:"));
  }
  SECTION("plain ldap:// is refused unless allowed") {
    json doc = template_config();
    doc.erase("start_tls");
    const std::string message = refusal(doc);
    CHECK(starts_with(message, "ldap.url:"));
    CHECK(message.find("insecure_allow_plain") != std::string::npos);
    doc["start_tls"] = false;
    CHECK(starts_with(refusal(doc), "ldap.url:"));
    doc["insecure_allow_plain"] = "yes";
    CHECK(starts_with(refusal(doc), "ldap.insecure_allow_plain:"));
  }
  SECTION("start_tls") {
    json doc = search_config();
    doc["start_tls"] = true;  // with ldaps://
    CHECK(starts_with(refusal(doc), "ldap.start_tls:"));
    doc["start_tls"] = "true";
    CHECK(starts_with(refusal(doc), "ldap.start_tls:"));
  }
  SECTION("ca_file") {
    json doc = search_config();
    doc["ca_file"] = "/nonexistent/ca.pem";
    CHECK(starts_with(refusal(doc), "ldap.ca_file:"));
    doc["ca_file"] = "/tmp";
    CHECK(starts_with(refusal(doc), "ldap.ca_file:"));
    doc["ca_file"] = "";
    CHECK(starts_with(refusal(doc), "ldap.ca_file:"));
    json plain = template_config();
    plain.erase("start_tls");
    plain["insecure_allow_plain"] = true;
    const std::string path = temp_file("not used");
    plain["ca_file"] = path;
    const std::string message = refusal(plain);
    std::remove(path.c_str());
    CHECK(starts_with(message, "ldap.ca_file:"));
  }
  SECTION("timeouts and pool size") {
    for (const char* key : {"connect_timeout_ms", "operation_timeout_ms", "pool_size"}) {
      json doc = search_config();
      doc[key] = 0;
      CHECK(starts_with(refusal(doc), std::string("ldap.") + key + ":"));
      doc[key] = 10'000'000;
      CHECK(starts_with(refusal(doc), std::string("ldap.") + key + ":"));
      doc[key] = "100";
      CHECK(starts_with(refusal(doc), std::string("ldap.") + key + ":"));
      doc[key] = 1.5;
      CHECK(starts_with(refusal(doc), std::string("ldap.") + key + ":"));
    }
  }
  SECTION("neither a DN template nor a base DN") {
    json doc{{"url", "ldaps://ldap.example.org"}};
    CHECK(starts_with(refusal(doc), "ldap.user_dn_template:"));
  }
  SECTION("user_dn_template") {
    json doc = template_config();
    doc["user_dn_template"] = "uid=alice,ou=people,dc=example,dc=org";
    CHECK(starts_with(refusal(doc), "ldap.user_dn_template:"));
    doc["user_dn_template"] = "{username}@corp.example.com";
    CHECK(starts_with(refusal(doc), "ldap.user_dn_template:"));
    doc["user_dn_template"] = "uid={username},ou=people,dc=example,dc=org";
    for (const char* key : {"bind_dn", "base_dn", "user_filter", "scope", "bind_password"}) {
      json mixed = doc;
      mixed[key] = search_config().value(key, std::string("sub"));
      CHECK(starts_with(refusal(mixed), std::string("ldap.") + key + ":"));
    }
  }
  SECTION("search mode keys") {
    json doc = search_config();
    doc["base_dn"] = "not a dn";
    CHECK(starts_with(refusal(doc), "ldap.base_dn:"));
    doc = search_config();
    doc["user_filter"] = "(uid=alice)";
    CHECK(starts_with(refusal(doc), "ldap.user_filter:"));
    doc["user_filter"] = "uid={username}";
    CHECK(starts_with(refusal(doc), "ldap.user_filter:"));
    doc["user_filter"] = "(uid={username}))(";
    CHECK(starts_with(refusal(doc), "ldap.user_filter:"));
    doc["user_filter"] = "(&(uid={username})";
    CHECK(starts_with(refusal(doc), "ldap.user_filter:"));
    doc = search_config();
    doc["scope"] = "subtree";
    CHECK(starts_with(refusal(doc), "ldap.scope:"));
    doc = search_config();
    doc["bind_dn"] = "reader";
    CHECK(starts_with(refusal(doc), "ldap.bind_dn:"));
  }
  SECTION("service account password") {
    json doc = search_config();
    doc.erase("bind_password");
    CHECK(starts_with(refusal(doc), "ldap.bind_password:"));
    doc["bind_password"] = "";
    CHECK(starts_with(refusal(doc), "ldap.bind_password:"));
    doc["bind_password"] = "x";
    doc["bind_password_file"] = "/etc/hostname";
    CHECK(starts_with(refusal(doc), "ldap.bind_password:"));
    doc.erase("bind_password");
    doc["bind_password_file"] = "/nonexistent/pw";
    CHECK(starts_with(refusal(doc), "ldap.bind_password_file:"));
    const std::string empty = temp_file("\nsecond line\n");
    doc["bind_password_file"] = empty;
    const std::string message = refusal(doc);
    std::remove(empty.c_str());
    CHECK(starts_with(message, "ldap.bind_password_file:"));
    json anonymous = search_config();
    anonymous.erase("bind_dn");
    CHECK(starts_with(refusal(anonymous), "ldap.bind_password:"));
  }
  SECTION("attribute names") {
    for (const char* key : {"username_attr", "email_attr", "display_name_attr", "id_attr"}) {
      for (const char* bad : {"", "mail)(x", "1mail", "ma il", "1.2.", "mail;"}) {
        json doc = search_config();
        doc[key] = bad;
        CHECK(starts_with(refusal(doc), std::string("ldap.") + key + ":"));
      }
    }
    json doc = search_config();
    doc["id_attr"] = "DN";
    auto r = parse_ldap_settings("ldap", doc);
    REQUIRE(r.ok());
    CHECK(r->id_attr == "dn");
    doc["username_attr"] = "2.5.4.3";
    doc["email_attr"] = "mail;lang-en";
    CHECK(parse_ldap_settings("ldap", doc).ok());
  }
  SECTION("group requirement") {
    json doc = search_config();
    doc["required_group"] = "tokend-users";
    CHECK(starts_with(refusal(doc), "ldap.required_group:"));
    doc["required_group"] = "cn=tokend-users,ou=groups,dc=example,dc=org";
    doc["group_member_attr"] = "owner";
    CHECK(starts_with(refusal(doc), "ldap.group_member_attr:"));
    doc["group_member_attr"] = "uniquemember";
    auto r = parse_ldap_settings("ldap", doc);
    REQUIRE(r.ok());
    CHECK(r->group_member_attr == "uniqueMember");
    doc.erase("required_group");
    CHECK(starts_with(refusal(doc), "ldap.group_member_attr:"));
  }
  SECTION("admin_group") {
    json doc = search_config();
    CHECK(parse_ldap_settings("ldap", doc)->admin_group.empty());
    doc["admin_group"] = "tokend-admins";
    CHECK(starts_with(refusal(doc), "ldap.admin_group:"));
    doc["admin_group"] = 5;
    CHECK(starts_with(refusal(doc), "ldap.admin_group:"));
    doc["admin_group"] = "cn=tokend-admins,ou=groups,dc=example,dc=org";
    auto r = parse_ldap_settings("ldap", doc);
    REQUIRE(r.ok());
    CHECK(r->admin_group == "cn=tokend-admins,ou=groups,dc=example,dc=org");
    CHECK(r->required_group.empty());
    // group_member_attr applies to admin_group alone too.
    doc["group_member_attr"] = "memberOf";
    auto m = parse_ldap_settings("ldap", doc);
    REQUIRE(m.ok());
    CHECK(m->group_member_attr == "memberOf");
  }
  SECTION("label and type") {
    json doc = search_config();
    doc["label"] = "";
    CHECK(starts_with(refusal(doc), "ldap.label:"));
    doc = search_config();
    doc["type"] = "userpass";
    CHECK(starts_with(refusal(doc), "ldap.type:"));
  }
  SECTION("the authenticator's name prefixes the key") {
    json doc = search_config();
    doc["scope"] = "everything";
    auto r = parse_ldap_settings("corp-ad", doc);
    REQUIRE_FALSE(r.ok());
    CHECK(starts_with(r.error().message, "corp-ad.scope:"));
  }
  SECTION("the password never appears in an error") {
    json doc = search_config();
    doc["bind_password"] = "very-secret-value";
    doc["user_filter"] = "broken";
    CHECK(refusal(doc).find("very-secret-value") == std::string::npos);
  }
}

TEST_CASE("LDAP settings: the examples in docs/configuration.md are valid", "[ldap][config]") {
  // tests/unit/auth/ldap/ldap_settings_test.cpp -> the repository root.
  const std::filesystem::path root = std::filesystem::path(__FILE__)
                                         .parent_path()
                                         .parent_path()
                                         .parent_path()
                                         .parent_path()
                                         .parent_path();
  std::ifstream in(root / "docs" / "configuration.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::size_t begin = doc.find("\n## LDAP\n");
  REQUIRE(begin != std::string::npos);
  const std::size_t end = doc.find("\n## ", begin + 1);
  const std::string section = doc.substr(begin, end - begin);

  // The examples name files under /etc/tokend/; stand-ins exist here.
  const std::string ca = temp_file("-----BEGIN CERTIFICATE-----\n");
  const std::string pw = temp_file("service-password\n");
  int checked = 0;
  for (std::size_t pos = section.find("```json\n"); pos != std::string::npos;
       pos = section.find("```json\n", pos + 1)) {
    const std::size_t body = pos + 8;
    std::string block = section.substr(body, section.find("```", body) - body);
    for (const char* path : {"/etc/tokend/ldap-ca.pem", "/etc/tokend/corp-root-ca.pem"}) {
      for (std::size_t at; (at = block.find(path)) != std::string::npos;)
        block.replace(at, std::strlen(path), ca);
    }
    for (const char* path : {"/etc/tokend/ldap-bind-password", "/etc/tokend/ad-bind-password"}) {
      for (std::size_t at; (at = block.find(path)) != std::string::npos;)
        block.replace(at, std::strlen(path), pw);
    }
    const json parsed = json::parse("{" + block + "}");
    for (const auto& [name, settings] : parsed["auth"].items()) {
      if (settings.value("type", name) != "ldap") continue;
      INFO(name << ": " << settings.dump());
      auto r = parse_ldap_settings(name, settings);
      if (!r.ok()) FAIL(r.error().message);
      CHECK(r->uses_tls());
      ++checked;
    }
  }
  std::remove(ca.c_str());
  std::remove(pw.c_str());
  CHECK(checked == 3);  // OpenLDAP search, OpenLDAP template, Active Directory
}
