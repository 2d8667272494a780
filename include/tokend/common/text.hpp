// Text rules: one UTF-8 decoder for names people choose (usernames, token
// names), and the one ASCII case folding used everywhere (header names, hosts,
// config keywords, LDAP attribute names, e-mail domains).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tokend {

enum class BidiControls { kAllow, kRefuse };

// True when `s` is valid UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF) without C0 controls, DEL or C1 controls; with
// BidiControls::kRefuse, also without the bidirectional embeddings, overrides
// and isolates U+202A..U+202E and U+2066..U+2069 (which make a name display
// as something else, e.g. "txt.exe" shown as "exe.txt"). Empty is valid.
bool printable_utf8(std::string_view s, BidiControls bidi);

// `s` with A-Z turned into a-z; every other byte (UTF-8 included) unchanged.
// Independent of the C locale, unlike std::tolower.
std::string ascii_lower(std::string_view s);

// True when `a` and `b` are equal once A-Z and a-z are the same (HTTP header
// names, RFC 9110 section 5.1; LDAP attribute names; hosts). Other bytes
// compare exactly.
bool iequals(std::string_view a, std::string_view b);

// True when `s` starts with `prefix`, compared as iequals does.
bool istarts_with(std::string_view s, std::string_view prefix);

}  // namespace tokend
