#include <catch2/catch.hpp>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "tokend/http/json_writer.hpp"

using nlohmann::json;
using tokend::http::append_json_string;
using tokend::http::JsonWriter;

namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string nlohmann_dump(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("JsonWriter writes nested objects nlohmann reads back", "[http][json]") {
  JsonWriter w;
  w.begin_object();
  w.key("id").value(std::int64_t{42});
  w.key("name").value("al\"ice");
  w.key("none").null();
  w.key("token").begin_object();
  w.key("id").value(std::int64_t{-7});
  w.key("name").value("");
  w.end_object();
  w.key("after").value("x");
  w.end_object();
  const std::string text = w.take();
  CHECK(text == R"({"id":42,"name":"al\"ice","none":null,"token":{"id":-7,"name":""},"after":"x"})");
  const json j = json::parse(text);
  CHECK(j["token"]["id"] == -7);
  CHECK(w.take().empty());
}

TEST_CASE("append_json_string escapes like nlohmann on valid UTF-8", "[http][json]") {
  CHECK(as_json("") == "\"\"");
  CHECK(as_json("a\\b\"c") == R"("a\\b\"c")");
  CHECK(as_json("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(as_json(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\x7f\"");
  CHECK(as_json(std::string("nul\0x", 5)) == R"("nul\u0000x")");
  CHECK(as_json("Zoë 名前 😀") == "\"Zoë 名前 😀\"");
  // Random strings of ASCII, controls and well-formed multi-byte characters.
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a", "Z", "\"", "\\", "\n", "\x02", "é", "€", "😀", " ", "/", "\x7f"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 20);
    for (int k = 0; k < n; ++k) s += pieces[rng() % pieces.size()];
    INFO(s);
    REQUIRE(as_json(s) == nlohmann_dump(s));
  }
}

TEST_CASE("append_json_string replaces bytes that are not UTF-8", "[http][json][security]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(as_json("a\xff" "b") == "\"a" + fffd + "b\"");
  CHECK(as_json("\xc3") == "\"" + fffd + "\"");                      // truncated
  CHECK(as_json("\xc0\xaf") == "\"" + fffd + fffd + "\"");           // overlong '/'
  CHECK(as_json("\xed\xa0\x80") == "\"" + fffd + fffd + fffd + "\"");  // a surrogate
  CHECK(as_json("\xf4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
  // Whatever the bytes, the output is JSON that parses to valid UTF-8.
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i) {
    std::string s(rng() % 12, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    const std::string out = as_json(s);
    INFO(json(s).dump(-1, ' ', true, json::error_handler_t::replace));
    json parsed;
    REQUIRE_NOTHROW(parsed = json::parse(out));
    REQUIRE(parsed.is_string());
    REQUIRE_NOTHROW(parsed.dump());  // throws on invalid UTF-8
  }
}

TEST_CASE("JsonWriter writes booleans as true and false", "[http][json]") {
  JsonWriter w;
  w.begin_object();
  w.key("admin").boolean(true);
  w.key("disabled").boolean(false);
  w.key("n").value(std::int64_t{1});
  w.end_object();
  const std::string text = w.take();
  CHECK(text == R"({"admin":true,"disabled":false,"n":1})");
  const json j = json::parse(text);
  CHECK(j["admin"] == true);
  CHECK(j["admin"].is_boolean());
  CHECK(j["disabled"].is_boolean());
}
