#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/request_body.hpp"

using nlohmann::json;
using tokend::api::BodyDialect;
using tokend::api::parse_body;
using tokend::api::parse_form;
using tokend::http::HttpRequest;

namespace {

HttpRequest with_body(std::string content_type, std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.path = r.target = "/api/authenticate/userpass";
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("parse_form decodes name=value pairs", "[api][body]") {
  auto f = parse_form("username=alice&password=s3cret");
  REQUIRE(f.ok());
  CHECK(*f == json{{"username", "alice"}, {"password", "s3cret"}});
}

TEST_CASE("parse_form decodes + and percent escapes", "[api][body]") {
  SECTION("+ is a space") {
    auto f = parse_form("display+name=Alice+Smith");
    REQUIRE(f.ok());
    CHECK((*f)["display name"] == "Alice Smith");
  }
  SECTION("%XX in both cases, in names and values") {
    auto f = parse_form("p%61ss=a%2Bb%3d%26c%25%2b&e=%C3%A9");
    REQUIRE(f.ok());
    CHECK((*f)["pass"] == "a+b=&c%+");
    CHECK((*f)["e"] == "\xC3\xA9");
  }
  SECTION("%20 and + are the same") {
    auto f = parse_form("a=x%20y&b=x+y");
    REQUIRE(f.ok());
    CHECK((*f)["a"] == (*f)["b"]);
  }
  SECTION("raw spaces, as curl --data sends them, stay spaces") {
    auto f = parse_form("username=alice&password=correct horse battery");
    REQUIRE(f.ok());
    CHECK((*f)["password"] == "correct horse battery");
    auto mixed = parse_form("a=x y+z%20w&b= ");
    REQUIRE(mixed.ok());
    CHECK((*mixed)["a"] == "x y z w");
    CHECK((*mixed)["b"] == " ");
  }
  SECTION("other raw bytes a strict encoder would escape pass as they are") {
    auto f = parse_form("a=\xC3\xA9/?:@!$'()*,;#[]");
    REQUIRE(f.ok());
    CHECK((*f)["a"] == "\xC3\xA9/?:@!$'()*,;#[]");
  }
  SECTION("an encoded NUL survives as a byte") {
    auto f = parse_form("a=x%00y");
    REQUIRE(f.ok());
    CHECK((*f)["a"].get<std::string>() == std::string("x\0y", 3));
  }
}

TEST_CASE("parse_form rejects bad percent-encoding", "[api][body]") {
  for (const char* body : {"a=%zz", "a=%4", "a=%", "a=x%", "a=%g0", "a=%0g", "%zz=1", "a=1&b=%4"}) {
    INFO(body);
    auto f = parse_form(body);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == tokend::ErrorCode::kInvalidForm);
  }
  // The last two characters of the body are a complete escape: fine.
  auto ok = parse_form("a=%41");
  REQUIRE(ok.ok());
  CHECK((*ok)["a"] == "A");
}

TEST_CASE("a field given twice is refused in forms, JSON and single-quoted JSON alike", "[api][body][security]") {
  // One rule for every body: neither the first nor the last copy wins.
  auto f = parse_form("username=alice&username=mallory&password=1");
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == tokend::ErrorCode::kDuplicateField);
  CHECK(parse_form("a=1&b=2").ok());
  for (const auto& [type, body, dialect] : std::vector<std::tuple<std::string, std::string, BodyDialect>>{
           {"application/x-www-form-urlencoded", "username=alice&password=1&username=mallory", BodyDialect::kStrict},
           {"application/json", R"({"username":"alice","password":"1","username":"mallory"})", BodyDialect::kStrict},
           {"application/json", R"({"info":{"accessToken":"a","accessToken":"b"},"email":"e"})", BodyDialect::kStrict},
           {"application/json", R"({'email':'a@example.org','info':{'accessToken':'t'},'email':'b@example.org'})",
            BodyDialect::kSingleQuotedJsonToo},
           {"application/json", R"({'info':{'accessToken':'t','accessToken':'u'},'email':'a'})",
            BodyDialect::kSingleQuotedJsonToo}}) {
    INFO(body);
    auto r = parse_body(with_body(type, body), dialect);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tokend::ErrorCode::kDuplicateField);
    CHECK(tokend::api::body_error(r.error()).status == 400);
  }
  // The same key in two different objects, or in objects inside an array, is fine.
  auto ok = parse_body(with_body("application/json", R"({"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]})"));
  CHECK(ok.ok());
  auto relaxed = parse_body(with_body("application/json", R"({'email':'e','info':{'email':'x'}})"),
                            BodyDialect::kSingleQuotedJsonToo);
  CHECK(relaxed.ok());
}

TEST_CASE("parse_form skips empty pairs", "[api][body]") {
  for (const char* body : {"", "&", "&&", "a=1&&b=2", "&a=1&b=2&"}) {
    INFO(body);
    auto f = parse_form(body);
    REQUIRE(f.ok());
    CHECK(f->is_object());
  }
  auto f = parse_form("&a=1&&b=2&");
  REQUIRE(f.ok());
  CHECK(*f == json{{"a", "1"}, {"b", "2"}});
  auto empty = parse_form("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("parse_form refuses a name without '='", "[api][body]") {
  for (const char* body : {"username", "a=1&flag", "flag&a=1"}) {
    INFO(body);
    auto f = parse_form(body);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == tokend::ErrorCode::kInvalidForm);
  }
  // An empty value is a value.
  auto f = parse_form("a=&b=");
  REQUIRE(f.ok());
  CHECK((*f)["a"] == "");
  CHECK((*f)["b"] == "");
}

TEST_CASE("parse_body reads form bodies", "[api][body]") {
  auto b = parse_body(with_body("application/x-www-form-urlencoded", "username=alice&password=pw"));
  REQUIRE(b.ok());
  CHECK((*b)["username"] == "alice");
  auto c = parse_body(with_body("Application/X-WWW-Form-Urlencoded; charset=UTF-8", "a=1"));
  REQUIRE(c.ok());
  CHECK((*c)["a"] == "1");
  auto bad = parse_body(with_body("application/x-www-form-urlencoded", "a=%zz"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == tokend::ErrorCode::kInvalidForm);
}

TEST_CASE("parse_body reads JSON objects", "[api][body]") {
  SECTION("plain application/json") {
    auto b = parse_body(with_body("application/json", R"({"username":"alice","n":3,"info":{"accessToken":"x"}})"));
    REQUIRE(b.ok());
    CHECK((*b)["username"] == "alice");
    CHECK((*b)["n"] == 3);
    CHECK((*b)["info"]["accessToken"] == "x");
  }
  SECTION("with a charset parameter and odd case and spaces") {
    auto b = parse_body(with_body("  Application/JSON ; charset=utf-8", R"({"a":"b"})"));
    REQUIRE(b.ok());
    CHECK((*b)["a"] == "b");
  }
  SECTION("the header name is case-insensitive") {
    HttpRequest r = with_body("", R"({"a":1})");
    r.headers.emplace_back("content-type", "application/json");
    auto b = parse_body(r);
    REQUIRE(b.ok());
    CHECK((*b)["a"] == 1);
  }
}

TEST_CASE("parse_body gives an empty object for an empty body", "[api][body]") {
  auto none = parse_body(with_body("", ""));
  REQUIRE(none.ok());
  CHECK(none->is_object());
  CHECK(none->empty());
  auto json_empty = parse_body(with_body("application/json", ""));
  REQUIRE(json_empty.ok());
  CHECK(json_empty->is_object());
  CHECK(json_empty->empty());
  auto form_empty = parse_body(with_body("application/x-www-form-urlencoded", ""));
  REQUIRE(form_empty.ok());
  CHECK(form_empty->empty());
}

TEST_CASE("parse_body refuses other media types", "[api][body]") {
  for (const char* ct : {"text/plain", "multipart/form-data; boundary=x", "application/jsonx", "application/xml"}) {
    INFO(ct);
    auto b = parse_body(with_body(ct, "username=alice"));
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().code == tokend::ErrorCode::kUnsupportedMediaType);
  }
  // A body with no Content-Type at all is not guessed at.
  auto b = parse_body(with_body("", R"({"a":1})"));
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().code == tokend::ErrorCode::kUnsupportedMediaType);
}

TEST_CASE("parse_body refuses JSON that is not an object", "[api][body]") {
  for (const char* body : {"[]", "[1,2]", "\"str\"", "42", "null", "true"}) {
    INFO(body);
    auto b = parse_body(with_body("application/json", body));
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().code == tokend::ErrorCode::kInvalidBody);
  }
}

TEST_CASE("parse_body refuses malformed JSON", "[api][body]") {
  for (const char* body : {"{", "{\"a\":}", "{'a': 'b'}", "{\"a\":1} trailing", "username=alice"}) {
    INFO(body);
    auto b = parse_body(with_body("application/json", body));
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().code == tokend::ErrorCode::kInvalidJson);
  }
}

TEST_CASE("parse_body takes single-quoted JSON only in the relaxed dialect", "[api][body]") {
  const std::string seed = "{'email':'alice@example.com', 'info': { 'accessToken': 'gho_abc' }}";
  auto strict = parse_body(with_body("application/json", seed));
  REQUIRE_FALSE(strict.ok());
  CHECK(strict.error().code == tokend::ErrorCode::kInvalidJson);
  auto relaxed = parse_body(with_body("application/json", seed), BodyDialect::kSingleQuotedJsonToo);
  REQUIRE(relaxed.ok());
  CHECK((*relaxed)["email"] == "alice@example.com");
  CHECK((*relaxed)["info"]["accessToken"] == "gho_abc");
  // Strict JSON is still read in the relaxed dialect.
  auto plain = parse_body(with_body("application/json", R"({"a":"b"})"), BodyDialect::kSingleQuotedJsonToo);
  REQUIRE(plain.ok());
  CHECK((*plain)["a"] == "b");
}

TEST_CASE("body_error maps codes to 415 or 400", "[api][body]") {
  using tokend::api::body_error;
  auto r415 = body_error(tokend::Error{tokend::ErrorCode::kUnsupportedMediaType, "Send form or JSON."});
  CHECK(r415.status == 415);
  CHECK(json::parse(r415.body) == json{{"error", "unsupported_media_type"}, {"message", "Send form or JSON."}});
  for (auto code : {tokend::ErrorCode::kInvalidJson, tokend::ErrorCode::kInvalidForm, tokend::ErrorCode::kInvalidBody}) {
    const std::string name(tokend::to_string(code));
    INFO(name);
    auto r = body_error(tokend::Error{code, "m"});
    CHECK(r.status == 400);
    CHECK(json::parse(r.body).at("error") == name);
    CHECK(r.header("Content-Type") == std::optional<std::string_view>("application/json"));
  }
}

TEST_CASE("string_field reads optional string fields", "[api][body]") {
  using tokend::api::string_field;
  const json body = {{"s", "text"}, {"empty", ""}, {"nul", nullptr}, {"n", 5}, {"o", json::object()}, {"b", true}};
  auto s = string_field(body, "s");
  REQUIRE(s.ok());
  CHECK(*s == std::optional<std::string>("text"));
  auto e = string_field(body, "empty");
  REQUIRE(e.ok());
  CHECK(*e == std::optional<std::string>(""));
  auto absent = string_field(body, "missing");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  auto nul = string_field(body, "nul");
  REQUIRE(nul.ok());
  CHECK_FALSE(nul->has_value());
  for (const char* name : {"n", "o", "b"}) {
    INFO(name);
    auto bad = string_field(body, name);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == tokend::ErrorCode::kInvalidField);
    CHECK(bad.error().message.find(name) != std::string::npos);
  }
}

TEST_CASE("parse_body refuses a JSON body with a raw NUL (found by fuzz_request_body)", "[api][body]") {
  // nlohmann stops at a NUL as at the end of input: the tail went unread.
  const std::string body = std::string("{\"username\":\"alice\"}") + '\0' + "{\"username\":\"root\"}";
  for (auto dialect : {BodyDialect::kStrict, BodyDialect::kSingleQuotedJsonToo}) {
    auto r = parse_body(with_body("application/json", body), dialect);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tokend::ErrorCode::kInvalidJson);
  }
}
