// PHC strings of argon2id hashes, as libargon2's encoder writes them:
// "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>", salt and hash in standard
// base64 without padding. Stored hashes come from the database, which may
// have been tampered with or imported, so the parser is strict and bounded.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tokend::auth {

// The longest salt and hash parse_phc() accepts: our own hashes have a
// 16-byte salt and a 32-byte hash; imported ones may differ, within reason.
inline constexpr std::size_t kMaxPhcSaltBytes = 64;
inline constexpr std::size_t kMaxPhcHashBytes = 64;

struct Phc {
  std::uint32_t m = 0, t = 0, p = 0;
  std::vector<std::uint8_t> salt, hash;
};

// Parses exactly what format_phc() writes. False if anything differs: another
// variant or version, other or extra fields, a number with a sign or a leading
// zero or above 2^32-1, bad base64 (padding, characters outside the standard
// alphabet, non-zero unused bits), a salt shorter than libargon2's minimum (8
// bytes) or a hash shorter than its minimum (4 bytes), or either longer than
// the maxima above. Each accepted string is the only spelling of its value:
// format_phc(parsed) == s.
bool parse_phc(std::string_view s, Phc& out);

// The PHC string of `phc`.
std::string format_phc(const Phc& phc);

}  // namespace tokend::auth
