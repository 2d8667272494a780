// Username normalisation: trimmed of white space and ASCII case-folded, so that
// "Alice " and "alice" are one account for lookup, linking and throttling.
// Non-ASCII bytes are kept as they are (no locale-dependent folding).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tokend::auth {

std::string normalize_username(std::string_view raw);

// True when a normalised username may be registered: 1..128 bytes of valid
// UTF-8 without control characters.
bool valid_username(std::string_view normalized);

}  // namespace tokend::auth
