// Username normalisation: the one rule that turns a username into an account
// key, for every method (userpass, ldap, github, gitlab, oidc), the throttle
// and the command line, so that "Alice " and "alice" are one account for
// lookup, linking and throttling.
//
// The rule: trim space, tab, CR, LF, VT and FF from both ends; turn ASCII
// A-Z into a-z; keep every other byte as it is (UTF-8 included: no
// locale-dependent or Unicode case folding, so "\u00C9lodie" and
// "\u00E9lodie" stay two names). Changing it would re-key existing local and
// directory accounts (a user could no longer reach their account), so it only
// ever changes together with a migration of the stored usernames.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tokend::auth {

// `raw` normalised by the rule above; "" when it is all white space.
std::string normalize_username(std::string_view raw);

// True when a normalised username may be registered: 1..128 bytes of valid
// UTF-8 without control characters.
bool valid_username(std::string_view normalized);

}  // namespace tokend::auth
