// Small wrappers over OpenSSL 3 for secrets: randomness, digests, hex and
// constant-time comparison.
//
// Thread-safety: every function is safe to call from any thread (OpenSSL 3
// initialises itself and its RAND is thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tokend::crypto {

// `n` bytes from OpenSSL's RAND_bytes (the CSPRNG). Throws std::runtime_error
// only if OpenSSL's generator fails, which is a broken system, not user input.
std::string random_bytes(std::size_t n);

// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

// True when `s` is non-empty and made only of lower- or upper-case hex digits.
bool is_hex(std::string_view s);

using Sha256 = std::array<std::uint8_t, 32>;

// SHA-256 of `data`.
Sha256 sha256(std::string_view data);

// SHA-256 of `data` as 64 lower-case hex characters.
std::string sha256_hex(std::string_view data);

// Compares two byte strings in time that depends only on their lengths, so an
// attacker cannot learn how long a matching prefix is (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace tokend::crypto
