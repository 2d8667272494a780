#include <catch2/catch.hpp>

#include <string>

#include "tokend/auth/username.hpp"

using tokend::auth::normalize_username;
using tokend::auth::valid_username;

TEST_CASE("normalize_username trims white space", "[auth][username]") {
  CHECK(normalize_username("alice") == "alice");
  CHECK(normalize_username("  alice ") == "alice");
  CHECK(normalize_username("\talice\r\n") == "alice");
  CHECK(normalize_username("\v\falice\f") == "alice");
  CHECK(normalize_username("   ") == "");
  CHECK(normalize_username("") == "");
  // Inner spaces are part of the name.
  CHECK(normalize_username(" alice smith ") == "alice smith");
}

TEST_CASE("normalize_username lower-cases ASCII only", "[auth][username]") {
  CHECK(normalize_username("Alice") == "alice");
  CHECK(normalize_username("ALICE.SMITH@EXAMPLE.ORG") == "alice.smith@example.org");
  CHECK(normalize_username("MiXeD-123_Z") == "mixed-123_z");
  // Non-ASCII bytes are kept as they are: no locale-dependent folding.
  CHECK(normalize_username("J\xC3\x9CRGEN") == "j\xC3\x9Crgen");   // "JÜRGEN" -> "jÜrgen"
  CHECK(normalize_username("\xC3\x89lodie") == "\xC3\x89lodie");   // "Élodie" unchanged
  CHECK(normalize_username("\xE5\xB1\xB1\xE7\x94\xB0") == "\xE5\xB1\xB1\xE7\x94\xB0");  // "山田"
  // Turkish dotted capital I stays, and ASCII 'I' becomes 'i' (not 'ı').
  CHECK(normalize_username("\xC4\xB0I") == "\xC4\xB0i");
}

TEST_CASE("normalize_username makes spellings of one name equal", "[auth][username]") {
  CHECK(normalize_username(" Alice ") == normalize_username("alice"));
  CHECK(normalize_username("BOB\n") == normalize_username("bob"));
}

TEST_CASE("valid_username accepts 1..128 bytes of UTF-8", "[auth][username]") {
  CHECK(valid_username("a"));
  CHECK(valid_username("alice"));
  CHECK(valid_username("alice smith"));
  CHECK(valid_username("alice@example.org"));
  CHECK(valid_username(std::string(128, 'a')));
  CHECK(valid_username("\xC3\xA9lodie"));                    // 2-byte
  CHECK(valid_username("\xE5\xB1\xB1\xE7\x94\xB0"));         // 3-byte
  CHECK(valid_username("\xF0\x9F\x98\x80"));                 // 4-byte (emoji)
  CHECK(valid_username("\xF4\x8F\xBF\xBF"));                 // U+10FFFF, the last code point
  CHECK(valid_username("~!#$%^&*()"));
}

TEST_CASE("valid_username refuses empty and too long names", "[auth][username]") {
  CHECK_FALSE(valid_username(""));
  CHECK_FALSE(valid_username(std::string(129, 'a')));
  // The limit is in bytes: 43 three-byte characters are 129 bytes.
  std::string wide;
  for (int i = 0; i < 43; ++i) wide += "\xE5\xB1\xB1";
  CHECK_FALSE(valid_username(wide));
  CHECK(valid_username(wide.substr(0, 126)));
}

TEST_CASE("valid_username refuses control characters", "[auth][username]") {
  CHECK_FALSE(valid_username(std::string("a\0b", 3)));
  CHECK_FALSE(valid_username("a\nb"));
  CHECK_FALSE(valid_username("a\rb"));
  CHECK_FALSE(valid_username("a\tb"));
  CHECK_FALSE(valid_username("\x1b[31m"));
  CHECK_FALSE(valid_username("a\x7f"));
  CHECK_FALSE(valid_username("\x01"));
  CHECK_FALSE(valid_username("\x1f"));
}

TEST_CASE("valid_username refuses broken UTF-8", "[auth][username]") {
  CHECK_FALSE(valid_username("\xFF"));
  CHECK_FALSE(valid_username("a\x80"));                   // lone continuation byte
  CHECK_FALSE(valid_username("\xC3"));                    // truncated 2-byte
  CHECK_FALSE(valid_username("\xE5\xB1"));                // truncated 3-byte
  CHECK_FALSE(valid_username("\xF0\x9F\x98"));            // truncated 4-byte
  CHECK_FALSE(valid_username("\xC3" "a"));                // continuation missing
  CHECK_FALSE(valid_username("\xE5\xB1" "a"));
  CHECK_FALSE(valid_username("\xF8\x88\x80\x80\x80"));    // 5-byte form
  CHECK_FALSE(valid_username("\xFE"));
}

TEST_CASE("valid_username refuses overlong, surrogate and out-of-range encodings", "[auth][username][utf8]") {
  // Not valid UTF-8 (RFC 3629 section 3 / Unicode Table 3-7): overlong forms
  // can smuggle '/', '.' or NUL past byte-level checks, and surrogates or
  // code points above U+10FFFF break other UTF-8 consumers.
  CHECK_FALSE(valid_username("\xC0\x80"));                // overlong NUL
  CHECK_FALSE(valid_username("\xC0\xAF"));                // overlong '/'
  CHECK_FALSE(valid_username("\xC1\xBF"));                // overlong U+007F
  CHECK_FALSE(valid_username("\xE0\x80\xAE"));            // overlong '.'
  CHECK_FALSE(valid_username("\xE0\x9F\xBF"));            // overlong U+07FF
  CHECK_FALSE(valid_username("\xF0\x8F\xBF\xBF"));        // overlong U+FFFF
  CHECK_FALSE(valid_username("\xED\xA0\x80"));            // surrogate U+D800
  CHECK_FALSE(valid_username("\xED\xBF\xBF"));            // surrogate U+DFFF
  CHECK_FALSE(valid_username("\xF4\x90\x80\x80"));        // U+110000
  CHECK_FALSE(valid_username("\xF5\x80\x80\x80"));
  // Their valid neighbours are accepted.
  CHECK(valid_username("\xC2\xA9" "a"));                  // U+00A9, a 2-byte code point
  CHECK(valid_username("\xE0\xA0\x80"));                  // U+0800
  CHECK(valid_username("\xED\x9F\xBF"));                  // U+D7FF
  CHECK(valid_username("\xEE\x80\x80"));                  // U+E000
  CHECK(valid_username("\xF0\x90\x80\x80"));              // U+10000
}

TEST_CASE("valid_username refuses C1 control characters", "[auth][username][utf8]") {
  // U+0080..U+009F are control characters too (Unicode category Cc): NEL
  // (U+0085) ends a line for some log readers, CSI (U+009B) starts a terminal
  // escape sequence.
  CHECK_FALSE(valid_username("a\xC2\x85" "b"));           // NEL
  CHECK_FALSE(valid_username("\xC2\x9B" "31m"));          // CSI
  CHECK_FALSE(valid_username("\xC2\x80"));
  CHECK_FALSE(valid_username("\xC2\x9F"));
  CHECK(valid_username("\xC2\xA0" "a"));                 // U+00A0 is not a control character
}
