#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "tokend/http/relaxed_json.hpp"

using tokend::http::kMaxRelaxedJsonDepth;
using tokend::http::parse_single_quoted_json;

TEST_CASE("parse_single_quoted_json takes the seed's curl body verbatim", "[http][relaxed_json]") {
  // Exactly what the original documentation's curl line sends.
  auto doc = parse_single_quoted_json("{'email':'<your email>', 'info': { 'accessToken': '<your OAuth token>' }}");
  REQUIRE(doc.ok());
  CHECK((*doc)["email"] == "<your email>");
  CHECK((*doc)["info"]["accessToken"] == "<your OAuth token>");

  auto real = parse_single_quoted_json("{'email':'alice@example.com', 'info': { 'accessToken': 'gho_16C7e42F292c6912E7710c838347Ae178B4a' }}");
  REQUIRE(real.ok());
  CHECK((*real)["info"]["accessToken"] == "gho_16C7e42F292c6912E7710c838347Ae178B4a");
}

TEST_CASE("parse_single_quoted_json keeps strict JSON and mixes", "[http][relaxed_json]") {
  SECTION("strict JSON is unchanged") {
    auto doc = parse_single_quoted_json(R"({"email": "a@b.c", "info": {"accessToken": "t"}, "n": [1, 2.5, true, null]})");
    REQUIRE(doc.ok());
    CHECK((*doc)["n"][1] == 2.5);
    CHECK((*doc)["n"][2] == true);
    CHECK((*doc)["n"][3].is_null());
  }
  SECTION("both quote styles in one body") {
    auto doc = parse_single_quoted_json(R"({'a': "x'y", "b": 'p"q'})");
    REQUIRE(doc.ok());
    CHECK((*doc)["a"] == "x'y");
    CHECK((*doc)["b"] == "p\"q");
  }
  SECTION("escaped single quote and JSON escapes inside single quotes") {
    auto doc = parse_single_quoted_json(R"({'name': 'O\'Brien', 'tab': 'a\tb', 'u': '\u00e9', 'bs': 'c:\\d'})");
    REQUIRE(doc.ok());
    CHECK((*doc)["name"] == "O'Brien");
    CHECK((*doc)["tab"] == "a\tb");
    CHECK((*doc)["u"] == "\xc3\xa9");
    CHECK((*doc)["bs"] == "c:\\d");
  }
  SECTION("a double-quoted string with \\\" and a quote char stays intact") {
    auto doc = parse_single_quoted_json(R"({"k": "he said \"it's\"", 'v': ''})");
    REQUIRE(doc.ok());
    CHECK((*doc)["k"] == "he said \"it's\"");
    CHECK((*doc)["v"] == "");
  }
}

TEST_CASE("parse_single_quoted_json refuses everything else that is malformed", "[http][relaxed_json]") {
  const char* bad[] = {
      "",
      "   ",
      "{'email': 'a@b.c'",                     // unclosed object
      "{'email': 'a@b.c}",                     // unterminated single-quoted string
      "{\"email\": \"a@b.c}",                  // unterminated double-quoted string
      "{'email': 'x\\'}",                      // the escaped quote does not close it
      "{email: 'a@b.c'}",                      // bare key
      "{'a': 'b',}",                           // trailing comma
      "{'a': 'b'} trailing",                   // garbage after the value
      "{'a': 'b'}{'c': 'd'}",                  // two values
      "{'a': 'b\\x41'}",                       // not a JSON escape
      "{'a': 'line\nbreak'}",                  // raw control character
      "{'a': 'b' /* comment */}",              // comments
      "{'a': 0x10}",                           // hex number
      "{'a': NaN}",
      "['a', 'b']",                            // not an object
      "'just a string'",
      "42",
      "{'a': '\\",                             // backslash at the very end
      "{\"a\": \"\\",
      "{'a': 'b'\0}",
  };
  for (const char* body : bad) {
    INFO("body: " << body);
    auto doc = parse_single_quoted_json(body);
    REQUIRE_FALSE(doc.ok());
    CHECK(doc.error().code == tokend::ErrorCode::kInvalidJson);
  }
  // An embedded NUL byte inside the view (not just a terminator).
  std::string with_nul = "{'a': 'b";
  with_nul.push_back('\0');
  with_nul += "c'}";
  CHECK_FALSE(parse_single_quoted_json(with_nul).ok());
}

TEST_CASE("parse_single_quoted_json bounds hostile input", "[http][relaxed_json]") {
  SECTION("deep nesting is refused before parsing") {
    std::string deep(100000, '[');
    auto doc = parse_single_quoted_json(deep);
    REQUIRE_FALSE(doc.ok());
    CHECK(doc.error().code == tokend::ErrorCode::kInvalidJson);

    std::string objects;
    for (int i = 0; i < kMaxRelaxedJsonDepth + 1; ++i) objects += "{'a':";
    objects += "1";
    for (int i = 0; i < kMaxRelaxedJsonDepth + 1; ++i) objects += "}";
    CHECK_FALSE(parse_single_quoted_json(objects).ok());
  }
  SECTION("nesting up to the limit is fine") {
    std::string ok_doc;
    for (int i = 0; i < kMaxRelaxedJsonDepth; ++i) ok_doc += "{'a':";
    ok_doc += "1";
    for (int i = 0; i < kMaxRelaxedJsonDepth; ++i) ok_doc += "}";
    CHECK(parse_single_quoted_json(ok_doc).ok());
  }
  SECTION("brackets inside strings do not count as nesting") {
    std::string s = "{'a': '" + std::string(1000, '[') + "', \"b\": \"" + std::string(1000, '{') + "\"}";
    auto doc = parse_single_quoted_json(s);
    REQUIRE(doc.ok());
    CHECK((*doc)["a"].get<std::string>().size() == 1000);
  }
  SECTION("many quotes and backslashes") {
    std::string s = "{'a': '" + std::string(5000, '"') + "'}";
    auto doc = parse_single_quoted_json(s);
    REQUIRE(doc.ok());
    CHECK((*doc)["a"].get<std::string>() == std::string(5000, '"'));
    std::string slashes = "{'a': '" + std::string(5001, '\\') + "'}";  // odd count: the quote is escaped
    CHECK_FALSE(parse_single_quoted_json(slashes).ok());
  }
  SECTION("a large flat body parses") {
    std::string big = "{'a': '" + std::string(64 * 1024, 'x') + "'}";
    CHECK(parse_single_quoted_json(big).ok());
  }
}
