#include "tokend/auth/ldap/ldap_escape.hpp"

#include <catch2/catch.hpp>
#include <string>

using tokend::auth::ldap::escape_dn_value;
using tokend::auth::ldap::escape_filter_value;
using tokend::auth::ldap::replace_username;

TEST_CASE("escape_filter_value escapes the RFC 4515 specials", "[ldap][escape]") {
  CHECK(escape_filter_value("alice") == "alice");
  CHECK(escape_filter_value("*") == "\\2a");
  CHECK(escape_filter_value("(") == "\\28");
  CHECK(escape_filter_value(")") == "\\29");
  CHECK(escape_filter_value("\\") == "\\5c");
  CHECK(escape_filter_value(std::string("a\0b", 3)) == "a\\00b");
  CHECK(escape_filter_value("*)(uid=*))(|(uid=*") ==
        "\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a");
  // An already escaped-looking input is escaped again, not trusted.
  CHECK(escape_filter_value("\\2a") == "\\5c2a");
  // Characters that are special only in DNs stay as they are in filters.
  CHECK(escape_filter_value("a,b+c=d;e") == "a,b+c=d;e");
  // UTF-8 passes through unchanged.
  CHECK(escape_filter_value("J\xc3\xbcrgen") == "J\xc3\xbcrgen");
  CHECK(escape_filter_value("") == "");
}

TEST_CASE("escape_dn_value escapes the RFC 4514 specials", "[ldap][escape]") {
  CHECK(escape_dn_value("alice") == "alice");
  CHECK(escape_dn_value("a,b") == "a\\,b");
  CHECK(escape_dn_value("a+b") == "a\\+b");
  CHECK(escape_dn_value("a\"b") == "a\\\"b");
  CHECK(escape_dn_value("a\\b") == "a\\\\b");
  CHECK(escape_dn_value("a<b>c") == "a\\<b\\>c");
  CHECK(escape_dn_value("a;b") == "a\\;b");
  CHECK(escape_dn_value("a=b") == "a\\=b");
  CHECK(escape_dn_value(std::string("a\0b", 3)) == "a\\00b");
  CHECK(escape_dn_value("a\nb") == "a\\0ab");

  SECTION("leading and trailing spaces and a leading #") {
    CHECK(escape_dn_value(" alice") == "\\ alice");
    CHECK(escape_dn_value("alice ") == "alice\\ ");
    CHECK(escape_dn_value(" ") == "\\ ");
    CHECK(escape_dn_value("a b") == "a b");
    CHECK(escape_dn_value("#alice") == "\\#alice");
    CHECK(escape_dn_value("a#b") == "a#b");
  }
  SECTION("an injection stays one attribute value") {
    CHECK(escape_dn_value("bob,ou=admins,dc=example,dc=org") ==
          "bob\\,ou\\=admins\\,dc\\=example\\,dc\\=org");
    CHECK(escape_dn_value("j\\doe(x),y*z+=") == "j\\\\doe(x)\\,y*z\\+\\=");
  }
  // `*`, `(`, `)` mean nothing in a DN.
  CHECK(escape_dn_value("*()") == "*()");
}

TEST_CASE("replace_username substitutes every placeholder", "[ldap][escape]") {
  CHECK(replace_username("uid={username},ou=people", "alice") == "uid=alice,ou=people");
  CHECK(replace_username("(|(uid={username})(mail={username}))", "a") == "(|(uid=a)(mail=a))");
  CHECK(replace_username("no placeholder", "a") == "no placeholder");
  // A replacement that itself contains the placeholder is not expanded again.
  CHECK(replace_username("x{username}y", "{username}") == "x{username}y");
}
