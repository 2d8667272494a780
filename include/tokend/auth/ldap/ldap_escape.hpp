// Escaping of untrusted text (a username typed by a client) before it becomes
// part of an LDAP search filter (RFC 4515) or a distinguished name (RFC 4514).
// Without it, a username such as `*` or `*)(uid=*))(|(uid=*` would change the
// meaning of the query and could match, or bind as, somebody else.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace tokend::auth::ldap {

// `value` made safe for use as an assertion value inside a search filter
// (RFC 4515 section 3): `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`,
// `\5c` and `\00`. Other bytes, UTF-8 included, are kept as they are. Always
// succeeds.
std::string escape_filter_value(std::string_view value);

// `value` made safe for use as an attribute value inside a DN (RFC 4514
// section 2.4): `"`, `+`, `,`, `;`, `<`, `>`, `=` and `\` get a backslash; a
// leading space or `#` and a trailing space get a backslash; NUL and other
// control characters become `\XX` hex pairs. Always succeeds.
std::string escape_dn_value(std::string_view value);

// `text` with every `{username}` replaced by `replacement` (already escaped by
// the caller for the context `text` is used in). Always succeeds.
std::string replace_username(std::string_view text, std::string_view replacement);

}  // namespace tokend::auth::ldap
