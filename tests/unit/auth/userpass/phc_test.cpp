#include <catch2/catch.hpp>

#include <string>

#include "tokend/auth/userpass/phc.hpp"

using tokend::auth::format_phc;
using tokend::auth::parse_phc;
using tokend::auth::Phc;

TEST_CASE("parse_phc reads exactly what format_phc writes", "[auth][userpass][phc]") {
  // The shape libargon2 writes: salt "somesalt", a 32-byte hash.
  const std::string ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
  Phc phc;
  REQUIRE(parse_phc(ref, phc));
  CHECK(phc.m == 65536);
  CHECK(phc.t == 2);
  CHECK(phc.p == 1);
  CHECK(std::string(phc.salt.begin(), phc.salt.end()) == "somesalt");
  CHECK(phc.hash.size() == 32);
  CHECK(format_phc(phc) == ref);
}

TEST_CASE("parse_phc refuses every other spelling", "[auth][userpass][phc]") {
  Phc phc;
  const std::string salt = "c29tZXNhbHQ";
  const std::string hash = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
  CHECK(parse_phc("$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + hash, phc));
  for (const std::string& bad : {
           "$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + hash,     // another variant
           "$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + hash,    // another version
           "$argon2id$v=19$m=065536,t=2,p=1$" + salt + "$" + hash,   // leading zero
           "$argon2id$v=19$m=+65536,t=2,p=1$" + salt + "$" + hash,   // sign
           "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + hash,  // over 32 bits
           "$argon2id$v=19$m=65536,t=2,p=1,x=1$" + salt + "$" + hash,   // extra field
           "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "=$" + hash,   // padding
           "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHR$" + hash,     // non-zero unused bits
           "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNh$" + hash,        // 6-byte salt: under argon2's minimum
           "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + hash + "$",
           "$argon2id$v=19$m=65536,t=2,p=1$" + std::string(88, 'A') + "$" + hash,  // 66-byte salt
           std::string("$argon2id$v=19$m=65536,t=2,p=1$") + salt + "$" + hash + std::string(1, '\0'),
       }) {
    INFO(bad);
    CHECK_FALSE(parse_phc(bad, phc));
  }
}
