#include "tokend/auth/userpass/phc.hpp"

#include <argon2.h>

namespace tokend::auth {

namespace {

constexpr std::string_view kB64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard base64 without padding, as in PHC strings.
std::string b64_encode(const std::uint8_t* data, std::size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64Alphabet[(acc >> bits) & 63];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) out += kB64Alphabet[(acc << (6 - bits)) & 63];
  return out;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes unpadded base64 strictly: only the standard alphabet, no '=', no
// length that leaves a lone character, and zero unused trailing bits, so each
// byte string has exactly one accepted spelling (as libargon2's decoder).
bool b64_decode(std::string_view s, std::vector<std::uint8_t>& out) {
  out.clear();
  if (s.size() % 4 == 1) return false;
  out.reserve(s.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
    const int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return acc == 0;
}

// A decimal without sign or leading zeros that fits in 32 bits.
bool parse_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// Splits `s` at the first `sep`: `head` before it, `s` after it. False if absent.
bool take_until(std::string_view& s, char sep, std::string_view& head) {
  const auto pos = s.find(sep);
  if (pos == std::string_view::npos) return false;
  head = s.substr(0, pos);
  s.remove_prefix(pos + 1);
  return true;
}

bool take_prefix(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

bool parse_phc(std::string_view s, Phc& out) {
  std::string_view m, t, p, salt;
  if (!take_prefix(s, "$argon2id$v=19$m=") || !take_until(s, ',', m) || !take_prefix(s, "t=") ||
      !take_until(s, ',', t) || !take_prefix(s, "p=") || !take_until(s, '$', p) || !take_until(s, '$', salt)) {
    return false;
  }
  const std::string_view hash = s;
  if (!parse_u32(m, out.m) || !parse_u32(t, out.t) || !parse_u32(p, out.p)) return false;
  if (salt.size() > (kMaxPhcSaltBytes * 4 + 2) / 3 || hash.size() > (kMaxPhcHashBytes * 4 + 2) / 3) return false;
  if (!b64_decode(salt, out.salt) || !b64_decode(hash, out.hash)) return false;
  return out.salt.size() >= ARGON2_MIN_SALT_LENGTH && out.hash.size() >= ARGON2_MIN_OUTLEN;
}

std::string format_phc(const Phc& phc) {
  return "$argon2id$v=19$m=" + std::to_string(phc.m) + ",t=" + std::to_string(phc.t) + ",p=" + std::to_string(phc.p) +
         "$" + b64_encode(phc.salt.data(), phc.salt.size()) + "$" + b64_encode(phc.hash.data(), phc.hash.size());
}

}  // namespace tokend::auth
