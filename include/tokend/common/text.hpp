// Text rules for names people choose (usernames, token names): one UTF-8
// decoder, used wherever such a name is accepted.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace tokend {

enum class BidiControls { kAllow, kRefuse };

// True when `s` is valid UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF) without C0 controls, DEL or C1 controls; with
// BidiControls::kRefuse, also without the bidirectional embeddings, overrides
// and isolates U+202A..U+202E and U+2066..U+2069 (which make a name display
// as something else, e.g. "txt.exe" shown as "exe.txt"). Empty is valid.
bool printable_utf8(std::string_view s, BidiControls bidi);

}  // namespace tokend
