#include <catch2/catch.hpp>

#include <string>

#include "tokend/common/text.hpp"

using tokend::ascii_lower;
using tokend::BidiControls;
using tokend::iequals;
using tokend::istarts_with;
using tokend::printable_utf8;

TEST_CASE("printable_utf8: valid UTF-8 without controls, and bidi controls when asked", "[common][text]") {
  for (const std::string ok : {std::string(""), std::string("laptop"), std::string("café – ✓"),
                               std::string("\xF0\x9F\x94\x91"), std::string("\xEF\xBD\x81lice")}) {
    CHECK(printable_utf8(ok, BidiControls::kRefuse));
  }
  for (const std::string bad : {std::string("a\0b", 3), std::string("a\r\nb"), std::string("a\x7f"),
                                std::string("a\xC2\x85"),            // U+0085, a C1 control
                                std::string("\xFF"), std::string("\xC0\xAF"),  // not UTF-8; overlong '/'
                                std::string("\xED\xA0\x80"),         // a UTF-16 surrogate
                                std::string("\xE2\x82")}) {          // cut short
    CHECK_FALSE(printable_utf8(bad, BidiControls::kAllow));
    CHECK_FALSE(printable_utf8(bad, BidiControls::kRefuse));
  }
  for (const std::string bidi : {std::string("\xE2\x80\xAA"), std::string("evil\xE2\x80\xAEtxt.exe"),
                                 std::string("\xE2\x81\xA6"), std::string("\xE2\x81\xA9")}) {
    CHECK(printable_utf8(bidi, BidiControls::kAllow));
    CHECK_FALSE(printable_utf8(bidi, BidiControls::kRefuse));
  }
  // The neighbours of the refused ranges stay allowed.
  CHECK(printable_utf8("\xE2\x80\x99", BidiControls::kRefuse));  // U+2019
  CHECK(printable_utf8("\xE2\x80\xAF", BidiControls::kRefuse));  // U+202F
  CHECK(printable_utf8("\xE2\x81\xA5", BidiControls::kRefuse));  // U+2065
  CHECK(printable_utf8("\xE2\x81\xAA", BidiControls::kRefuse));  // U+206A
}

TEST_CASE("ascii_lower, iequals and istarts_with fold A-Z only", "[common][text]") {
  CHECK(ascii_lower("Content-Type") == "content-type");
  CHECK(ascii_lower("MiXeD-123_@X.ORG") == "mixed-123_@x.org");
  CHECK(ascii_lower("") == "");
  // Bytes past ASCII are not letters here: UTF-8 passes through unchanged.
  CHECK(ascii_lower("\xC3\x89" "COLE") == "\xC3\x89" "cole");
  CHECK(ascii_lower(std::string("A\0B", 3)) == std::string("a\0b", 3));

  CHECK(iequals("Content-Type", "content-type"));
  CHECK(iequals("COOKIE", "cookie"));
  CHECK(iequals("", ""));
  CHECK(iequals("uniqueMember", "UNIQUEMEMBER"));
  CHECK_FALSE(iequals("cookie", "cookies"));
  CHECK_FALSE(iequals("cookie", "cookif"));
  CHECK_FALSE(iequals("a-b", "a_b"));
  CHECK_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
  CHECK_FALSE(iequals("\xC3\xA9", "\xC3\x89"));

  CHECK(istarts_with("Bearer abc", "bearer"));
  CHECK(istarts_with("x", ""));
  CHECK_FALSE(istarts_with("be", "bearer"));
}
