#include "tokend/auth/ldap/ldap_escape.hpp"

namespace tokend::auth::ldap {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_pair(std::string& out, unsigned char c) {
  out.push_back('\\');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0x0f]);
}

}  // namespace

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    // RFC 4515 requires exactly these to be escaped; every other byte may
    // appear as is. A NUL must be escaped: C string APIs would otherwise cut
    // the filter short (`alice\0junk` must not become `alice`).
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
      append_hex_pair(out, c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string escape_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    const bool first = i == 0;
    const bool last = i + 1 == value.size();
    if (c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' ||
        c == '=') {
      // RFC 4514 `special` characters: a backslash keeps them from ending the
      // value or starting another RDN component.
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if ((first && (c == ' ' || c == '#')) || (last && c == ' ')) {
      // A leading `#` would make the value a hex-encoded BER string; leading
      // and trailing spaces would be dropped by DN parsing.
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      // NUL must be escaped (RFC 4514); other control characters are escaped
      // too so that the DN stays printable in logs.
      append_hex_pair(out, c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string replace_username(std::string_view text, std::string_view replacement) {
  static constexpr std::string_view kPlaceholder = "{username}";
  std::string out;
  out.reserve(text.size() + replacement.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = text.find(kPlaceholder, pos);
    if (hit == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, hit - pos));
    out.append(replacement);
    pos = hit + kPlaceholder.size();
  }
}

}  // namespace tokend::auth::ldap
