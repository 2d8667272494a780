// PasswordHasher: argon2id password hashes as PHC strings
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), so the cost parameters
// travel with each hash and can be raised later: verify() says when a stored
// hash is weaker than the current parameters, and the caller re-hashes at the
// next successful login.
//
// It also holds a real dummy hash at the current cost, so a login for an
// account that does not exist costs the same time as a wrong password.
//
// Thread-safety: const methods, safe from any thread. Each hash uses
// memory_kib of memory for its duration.
#pragma once

#include <string>
#include <string_view>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"

namespace tokend::auth {

class PasswordHasher final {
 public:
  explicit PasswordHasher(const config::PasswordConfig& config);

  // A PHC string for `password` with a fresh 16-byte salt.
  // Error "internal_error" if libargon2 fails (out of memory).
  Result<std::string> hash(std::string_view password) const;

  struct Verdict {
    bool match = false;
    bool needs_rehash = false;  // match, but with weaker parameters than configured
  };
  // Whether `password` matches `phc`. A malformed `phc` never matches. Runs in
  // time that depends on the stored parameters, not on where a mismatch is.
  Verdict verify(std::string_view password, std::string_view phc) const;

  // Burns the time of one verification against the dummy hash; for unknown
  // users and disabled accounts, so their answer takes as long as a real one.
  void verify_dummy(std::string_view password) const;

 private:
  config::PasswordConfig config_;
  std::string dummy_;
};

}  // namespace tokend::auth
