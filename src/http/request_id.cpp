#include "tokend/http/request_id.hpp"

#include <cstdint>

#include "tokend/common/text.hpp"
#include "tokend/crypto/crypto.hpp"

namespace tokend::http {

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// splitmix64's finalizer: a bijection on 64 bits that spreads a counter over
// every bit.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t random_u64() {
  const std::string b = crypto::random_bytes(8);
  std::uint64_t v = 0;
  for (const char c : b) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

}  // namespace

std::string make_request_id() {
  // A version 4 UUID: the form tracing tools expect, and never a run of 32
  // hex digits, which log checks (bench/soak, log::redact) rightly treat as a
  // leaked secret. A request id is not a secret (it is logged and echoed
  // back), it only has to be unique: each thread draws 128 bits from
  // OpenSSL's RNG once, then numbers its ids (the counter spread by a
  // bijection, so no two ids of a thread are equal). One RAND_bytes per
  // request was 2 % of a cookie exchange's CPU (docs/benchmarks.md).
  thread_local const std::uint64_t hi = random_u64();
  thread_local std::uint64_t lo = random_u64();
  const std::uint64_t words[2] = {hi, mix64(++lo)};
  unsigned char b[16];
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 8; ++i) b[8 * w + i] = static_cast<unsigned char>(words[w] >> (56 - 8 * i));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++o;  // the dashes of 8-4-4-4-12
    out[o++] = kDigits[b[i] >> 4];
    out[o++] = kDigits[b[i] & 0x0f];
  }
  return out;
}

std::string request_id_for(const std::vector<std::pair<std::string, std::string>>& headers) {
  const std::string* found = nullptr;
  for (const auto& [name, value] : headers) {
    if (!iequals(name, "X-Request-Id")) continue;
    // Two ids: which one would the next hop believe? Neither.
    if (found) return make_request_id();
    found = &value;
  }
  if (found && acceptable_request_id(*found)) return *found;
  return make_request_id();
}

}  // namespace tokend::http
