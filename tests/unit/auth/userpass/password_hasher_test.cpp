#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "tokend/auth/userpass/password_hasher.hpp"

using tokend::auth::PasswordHasher;
using tokend::config::PasswordConfig;

namespace {

// Small argon2id parameters so the tests stay fast; the defaults are tested once.
PasswordConfig cheap(std::uint32_t m = 64, std::uint32_t t = 1, std::uint32_t p = 1) {
  PasswordConfig c;
  c.memory_kib = m;
  c.iterations = t;
  c.parallelism = p;
  return c;
}

const std::regex kPhc(R"(^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$)");

}  // namespace

TEST_CASE("PasswordHasher writes argon2id PHC strings with its parameters", "[auth][password]") {
  PasswordHasher h(cheap(64, 2, 1));
  auto phc = h.hash("correct horse battery staple");
  REQUIRE(phc.ok());
  std::smatch m;
  INFO(*phc);
  REQUIRE(std::regex_match(*phc, m, kPhc));
  CHECK(m[1] == "64");
  CHECK(m[2] == "2");
  CHECK(m[3] == "1");
  // 16-byte salt and 32-byte hash, unpadded base64: 22 and 43 characters.
  CHECK(m[4].length() == 22);
  CHECK(m[5].length() == 43);
}

TEST_CASE("PasswordHasher's default parameters are OWASP's argon2id m=19456,t=2,p=1", "[auth][password]") {
  PasswordHasher h(PasswordConfig{});
  auto phc = h.hash("pw");
  REQUIRE(phc.ok());
  CHECK(phc->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
  const auto v = h.verify("pw", *phc);
  CHECK(v.match);
  CHECK_FALSE(v.needs_rehash);
}

TEST_CASE("PasswordHasher verifies matching passwords only", "[auth][password]") {
  PasswordHasher h(cheap());
  auto phc = h.hash("s3cret-pass");
  REQUIRE(phc.ok());
  const auto ok = h.verify("s3cret-pass", *phc);
  CHECK(ok.match);
  CHECK_FALSE(ok.needs_rehash);
  for (const char* wrong : {"s3cret-pasS", "s3cret-pass ", "", "s3cret-pas", "S3CRET-PASS"}) {
    INFO(wrong);
    const auto v = h.verify(wrong, *phc);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
}

TEST_CASE("PasswordHasher handles empty, long and binary passwords", "[auth][password]") {
  PasswordHasher h(cheap());
  for (const std::string& pw : {std::string(), std::string(1024, 'x'), std::string("a\0b", 3), std::string("pässwörd")}) {
    auto phc = h.hash(pw);
    REQUIRE(phc.ok());
    CHECK(h.verify(pw, *phc).match);
  }
  // Bytes after an embedded NUL count.
  auto phc = h.hash(std::string("a\0b", 3));
  REQUIRE(phc.ok());
  CHECK_FALSE(h.verify(std::string("a\0c", 3), *phc).match);
  CHECK_FALSE(h.verify("a", *phc).match);
}

TEST_CASE("PasswordHasher salts every hash", "[auth][password]") {
  PasswordHasher h(cheap());
  auto a = h.hash("same password");
  auto b = h.hash("same password");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  std::smatch ma, mb;
  REQUIRE(std::regex_match(*a, ma, kPhc));
  REQUIRE(std::regex_match(*b, mb, kPhc));
  CHECK(ma[4] != mb[4]);  // salts
  CHECK(ma[5] != mb[5]);  // hashes
  CHECK(h.verify("same password", *a).match);
  CHECK(h.verify("same password", *b).match);
}

TEST_CASE("PasswordHasher never matches a malformed PHC string", "[auth][password]") {
  PasswordHasher h(cheap());
  auto good = h.hash("pw");
  REQUIRE(good.ok());
  const std::string g = *good;
  const std::string tail = g.substr(g.find("$m="));
  for (const std::string& bad : {
           std::string(),
           std::string("pw"),
           std::string("$argon2id$"),
           std::string("$argon2i") + g.substr(9),              // argon2i, not argon2id
           std::string("$argon2d") + g.substr(9),
           "$2b$12$" + std::string(53, 'a'),                   // bcrypt
           std::string("$argon2id$v=19$m=abc,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
           std::string("$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaA"),
           g.substr(0, g.size() - 5),                          // truncated hash
           g.substr(0, g.rfind('$')),                          // no hash
           "$argon2id$v=19" + tail.substr(0, tail.find('$', 1)),
           g + "$extra",
       }) {
    INFO("'" << bad << "'");
    const auto v = h.verify("pw", bad);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
  // A flipped character in the hash part.
  std::string flipped = g;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(h.verify("pw", flipped).match);
}

TEST_CASE("PasswordHasher refuses absurd stored parameters without running them", "[auth][password]") {
  PasswordHasher h(cheap());
  // A tampered row must not make one verification allocate 64 GiB or loop for ever.
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=67108864,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=64,t=1,p=1000$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
}

TEST_CASE("PasswordHasher asks for a rehash when the stored parameters are weaker", "[auth][password]") {
  PasswordHasher weak(cheap(32, 1, 1));
  auto old_phc = weak.hash("pw");
  REQUIRE(old_phc.ok());

  SECTION("more memory configured") {
    PasswordHasher strong(cheap(128, 1, 1));
    const auto v = strong.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("more iterations configured") {
    PasswordHasher strong(cheap(32, 3, 1));
    const auto v = strong.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("other parallelism configured") {
    PasswordHasher other(cheap(32, 1, 2));
    const auto v = other.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("the defaults are stronger than a weak hash") {
    PasswordHasher def(PasswordConfig{});
    const auto v = def.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("a wrong password never asks for a rehash") {
    PasswordHasher strong(cheap(128, 2, 1));
    const auto v = strong.verify("not pw", *old_phc);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
  SECTION("a stronger stored hash does not ask for a downgrade") {
    PasswordHasher strong(cheap(128, 2, 1));
    auto strong_phc = strong.hash("pw");
    REQUIRE(strong_phc.ok());
    const auto v = weak.verify("pw", *strong_phc);
    CHECK(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
}

TEST_CASE("PasswordHasher::verify_dummy burns a verification and has no effect", "[auth][password]") {
  PasswordHasher h(cheap());
  h.verify_dummy("anything");
  h.verify_dummy("");
  // Still fully usable afterwards.
  auto phc = h.hash("pw");
  REQUIRE(phc.ok());
  CHECK(h.verify("pw", *phc).match);
}
