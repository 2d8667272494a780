#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "tokend/crypto/crypto.hpp"

namespace crypto = tokend::crypto;

TEST_CASE("random_bytes returns exactly n bytes", "[crypto]") {
  CHECK(crypto::random_bytes(0).empty());
  CHECK(crypto::random_bytes(1).size() == 1);
  CHECK(crypto::random_bytes(16).size() == 16);
  CHECK(crypto::random_bytes(128).size() == 128);
  CHECK(crypto::random_bytes(4096).size() == 4096);
}

TEST_CASE("random_bytes does not repeat itself", "[crypto]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(crypto::random_bytes(32));
  CHECK(seen.size() == 1000);

  // Every byte value shows up in a large sample: not, say, only printable or
  // only even bytes (P(miss one value in 64 KiB) ~ 256 * e^-256).
  const std::string big = crypto::random_bytes(64 * 1024);
  std::set<unsigned char> values(big.begin(), big.end());
  CHECK(values.size() == 256);
}

TEST_CASE("to_hex is lower-case and two characters per byte", "[crypto]") {
  CHECK(crypto::to_hex("").empty());
  CHECK(crypto::to_hex(std::string("\x00", 1)) == "00");
  CHECK(crypto::to_hex("\xff") == "ff");
  CHECK(crypto::to_hex("\x01\xab\xCD\x7f") == "01abcd7f");
  CHECK(crypto::to_hex("abc") == "616263");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string hex = crypto::to_hex(all);
  REQUIRE(hex.size() == 512);
  CHECK(hex.substr(0, 8) == "00010203");
  CHECK(hex.substr(504) == "fcfdfeff");
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("is_hex accepts only non-empty hex strings", "[crypto]") {
  CHECK(crypto::is_hex("0"));
  CHECK(crypto::is_hex("0123456789abcdef"));
  CHECK(crypto::is_hex("ABCDEF"));
  CHECK(crypto::is_hex("aBcD"));
  CHECK_FALSE(crypto::is_hex(""));
  CHECK_FALSE(crypto::is_hex("g"));
  CHECK_FALSE(crypto::is_hex("12 34"));
  CHECK_FALSE(crypto::is_hex("0x12"));
  CHECK_FALSE(crypto::is_hex("abc\n"));
  CHECK_FALSE(crypto::is_hex(std::string("ab\0cd", 5)));
  CHECK_FALSE(crypto::is_hex("é"));
}

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[crypto]") {
  CHECK(crypto::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(crypto::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

  const crypto::Sha256 d = crypto::sha256("abc");
  CHECK(d[0] == 0xba);
  CHECK(d[1] == 0x78);
  CHECK(d[31] == 0xad);
  CHECK(crypto::to_hex(std::string(reinterpret_cast<const char*>(d.data()), d.size())) == crypto::sha256_hex("abc"));
}

TEST_CASE("sha256 reads embedded NUL bytes", "[crypto]") {
  CHECK(crypto::sha256_hex(std::string("a\0b", 3)) != crypto::sha256_hex("a"));
  CHECK(crypto::sha256_hex(std::string("a\0b", 3)) != crypto::sha256_hex(std::string("a\0c", 3)));
}

TEST_CASE("constant_time_equal compares contents and lengths", "[crypto]") {
  CHECK(crypto::constant_time_equal("", ""));
  CHECK(crypto::constant_time_equal("secret", "secret"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secreT"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "Secret"));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secret "));
  CHECK_FALSE(crypto::constant_time_equal("secret", "secre"));
  CHECK_FALSE(crypto::constant_time_equal("", "a"));
  CHECK_FALSE(crypto::constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  CHECK(crypto::constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  const std::string r = crypto::random_bytes(256);
  CHECK(crypto::constant_time_equal(r, std::string(r)));
}
