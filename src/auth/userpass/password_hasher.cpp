#include "tokend/auth/userpass/password_hasher.hpp"

#include <argon2.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "tokend/crypto/crypto.hpp"

namespace tokend::auth {

namespace {

constexpr std::size_t kSaltLen = 16;
constexpr std::size_t kHashLen = 32;

// Reads m, t, p out of "$argon2id$v=19$m=..,t=..,p=..$...". False if malformed.
bool parse_params(std::string_view phc, std::uint32_t& m, std::uint32_t& t, std::uint32_t& p) {
  const auto pos = phc.find("$m=");
  if (phc.rfind("$argon2id$", 0) != 0 || pos == std::string_view::npos) return false;
  unsigned long mm = 0, tt = 0, pp = 0;
  const std::string params(phc.substr(pos + 1, phc.find('$', pos + 1) - pos - 1));
  if (std::sscanf(params.c_str(), "m=%lu,t=%lu,p=%lu", &mm, &tt, &pp) != 3) return false;
  m = static_cast<std::uint32_t>(mm);
  t = static_cast<std::uint32_t>(tt);
  p = static_cast<std::uint32_t>(pp);
  return true;
}

}  // namespace

PasswordHasher::PasswordHasher(const config::PasswordConfig& config) : config_(config) {
  // A real hash of a random password, at the configured cost: verifying
  // against it costs exactly what verifying a real account costs.
  auto h = hash(crypto::to_hex(crypto::random_bytes(16)));
  dummy_ = h ? *h : std::string();
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  const std::string salt = crypto::random_bytes(kSaltLen);
  const std::size_t len = argon2_encodedlen(config_.iterations, config_.memory_kib, config_.parallelism,
                                            kSaltLen, kHashLen, Argon2_id);
  std::vector<char> encoded(len);
  const int rc = argon2id_hash_encoded(config_.iterations, config_.memory_kib, config_.parallelism,
                                       password.data(), password.size(), salt.data(), salt.size(), kHashLen,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Error{"internal_error", std::string("argon2 failed: ") + argon2_error_message(rc)};
  return std::string(encoded.data());
}

PasswordHasher::Verdict PasswordHasher::verify(std::string_view password, std::string_view phc) const {
  Verdict v;
  std::uint32_t m = 0, t = 0, p = 0;
  if (!parse_params(phc, m, t, p)) return v;
  // Refuse absurd stored parameters rather than let a tampered row make one
  // verification allocate gigabytes.
  if (m > 4u * 1024 * 1024 || t > 100 || p > 64) return v;
  const std::string encoded(phc);
  // argon2id_verify compares the computed and stored hash in constant time.
  v.match = argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
  v.needs_rehash = v.match && (m < config_.memory_kib || t < config_.iterations || p != config_.parallelism);
  return v;
}

void PasswordHasher::verify_dummy(std::string_view password) const {
  if (!dummy_.empty()) (void)verify(password, dummy_);
}

}  // namespace tokend::auth
