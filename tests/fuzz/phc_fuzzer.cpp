// Fuzzes the PHC strings of stored password hashes
// (auth/userpass/phc.cpp): a database row may have been tampered with or
// imported, and verify() parses it before anything else.
//
// Input: any bytes, parsed as a PHC string. Checks, besides "no crash, no
// sanitizer report":
//   - an accepted string has the only spelling of its value:
//     format_phc(parse_phc(s)) == s;
//   - salt and hash lengths are within libargon2's minima and our maxima;
//   - the same bytes read as a Phc value (parameters, salt, hash within the
//     bounds) give a string that parses back to that value.
#include <argon2.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "tokend/auth/userpass/phc.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::uint32_t read_u32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using tokend::auth::Phc;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Phc parsed;
  if (tokend::auth::parse_phc(text, parsed)) {
    require(tokend::auth::format_phc(parsed) == text);
    require(parsed.salt.size() >= ARGON2_MIN_SALT_LENGTH && parsed.salt.size() <= tokend::auth::kMaxPhcSaltBytes);
    require(parsed.hash.size() >= ARGON2_MIN_OUTLEN && parsed.hash.size() <= tokend::auth::kMaxPhcHashBytes);
  }

  // The other direction: 12 bytes of parameters, 2 of lengths, then bytes.
  if (size < 14) return 0;
  Phc value;
  value.m = read_u32(data);
  value.t = read_u32(data + 4);
  value.p = read_u32(data + 8);
  const std::size_t salt_len = ARGON2_MIN_SALT_LENGTH + data[12] % (tokend::auth::kMaxPhcSaltBytes - ARGON2_MIN_SALT_LENGTH + 1);
  const std::size_t hash_len = ARGON2_MIN_OUTLEN + data[13] % (tokend::auth::kMaxPhcHashBytes - ARGON2_MIN_OUTLEN + 1);
  const std::uint8_t* rest = data + 14;
  const std::size_t rest_size = size - 14;
  if (rest_size < salt_len + hash_len) return 0;
  value.salt.assign(rest, rest + salt_len);
  value.hash.assign(rest + salt_len, rest + salt_len + hash_len);
  const std::string formatted = tokend::auth::format_phc(value);
  Phc back;
  require(tokend::auth::parse_phc(formatted, back));
  require(back.m == value.m && back.t == value.t && back.p == value.p && back.salt == value.salt &&
          back.hash == value.hash);
  return 0;
}
