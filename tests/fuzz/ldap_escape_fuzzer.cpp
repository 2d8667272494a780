// Fuzzes the escaping of untrusted usernames into LDAP search filters and DNs
// (auth/ldap/ldap_escape.cpp). The output must always be a valid filter/DN
// that means exactly the input, never a different query.
//
// Input: any bytes, the username. Checks:
//   - filter (RFC 4515): the escaped value holds no NUL and no `*`, `(`, `)`
//     or `\` except `\` starting a two-hex-digit escape; un-escaping it gives
//     back the input; libldap's own filter encoder (what ldap_search_ext
//     runs) accepts "(uid=<escaped>)" as one equality match whose assertion
//     value is exactly the input;
//   - DN (RFC 4514): libldap's DN parser (ldap_str2dn) reads
//     "uid=<escaped>,dc=example,dc=org" as three RDNs, the first with a single
//     attribute `uid` whose value is exactly the input.
#include <lber.h>
#include <ldap.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "tokend/auth/ldap/ldap_escape.hpp"

// libldap's filter encoder: exported (OPENLDAP_2.5), but declared only in its
// private headers. ldap_search_ext() encodes every filter with it.
extern "C" int ldap_pvt_put_filter(BerElement* ber, const char* str);

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_filter(std::string_view input) {
  const std::string escaped = tokend::auth::ldap::escape_filter_value(input);
  std::string unescaped;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    const char c = escaped[i];
    require(c != '\0' && c != '*' && c != '(' && c != ')');
    if (c == '\\') {
      require(i + 2 < escaped.size() && hex(escaped[i + 1]) >= 0 && hex(escaped[i + 2]) >= 0);
      unescaped.push_back(static_cast<char>(hex(escaped[i + 1]) * 16 + hex(escaped[i + 2])));
      i += 2;
    } else {
      unescaped.push_back(c);
    }
  }
  require(unescaped == input);

  const std::string filter = "(uid=" + escaped + ")";
  BerElement* ber = ber_alloc_t(LBER_USE_DER);
  require(ber != nullptr);
  require(ldap_pvt_put_filter(ber, filter.c_str()) != -1);
  berval* encoded = nullptr;
  require(ber_flatten(ber, &encoded) == 0);
  ber_free(ber, 1);
  // equalityMatch [3] { attributeDesc OCTET STRING, assertionValue OCTET STRING }
  BerElement* in = ber_init(encoded);
  require(in != nullptr);
  ber_tag_t tag = 0;
  berval attr{}, value{};
  require(ber_scanf(in, "t{mm}", &tag, &attr, &value) != LBER_ERROR);
  require(tag == (LBER_CLASS_CONTEXT | LBER_CONSTRUCTED | 3));
  require(std::string_view(attr.bv_val, attr.bv_len) == "uid");
  require(std::string_view(value.bv_val, value.bv_len) == input);
  ber_free(in, 1);
  ber_bvfree(encoded);
}

void check_dn(std::string_view input) {
  const std::string dn_text = "uid=" + tokend::auth::ldap::escape_dn_value(input) + ",dc=example,dc=org";
  LDAPDN dn = nullptr;
  require(ldap_str2dn(dn_text.c_str(), &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS);
  require(dn != nullptr && dn[0] != nullptr && dn[1] != nullptr && dn[2] != nullptr && dn[3] == nullptr);
  const LDAPAVA* ava = dn[0][0];
  require(ava != nullptr && dn[0][1] == nullptr);
  require(std::string_view(ava->la_attr.bv_val, ava->la_attr.bv_len) == "uid");
  require(std::string_view(ava->la_value.bv_val, ava->la_value.bv_len) == input);
  ldap_dnfree(dn);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_filter(input);
  check_dn(input);
  return 0;
}
