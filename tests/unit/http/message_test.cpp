#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "tokend/http/message.hpp"

using nlohmann::json;
using tokend::http::HttpRequest;
using tokend::http::HttpResponse;

TEST_CASE("HttpRequest::header finds headers case-insensitively", "[http][message]") {
  HttpRequest r;
  r.headers = {{"Content-Type", "application/json"}, {"X-Dup", "first"}, {"x-dup", "second"}, {"Empty", ""}};
  CHECK(r.header("content-type") == std::optional<std::string_view>("application/json"));
  CHECK(r.header("CONTENT-TYPE") == std::optional<std::string_view>("application/json"));
  CHECK(r.header("x-DUP") == std::optional<std::string_view>("first"));
  CHECK(r.header("empty") == std::optional<std::string_view>(""));
  CHECK_FALSE(r.header("Authorization"));
  CHECK_FALSE(r.header("Content-Typ"));
}

TEST_CASE("HttpRequest::cookie parses the Cookie header", "[http][message]") {
  HttpRequest r;
  SECTION("one of several cookies") {
    r.headers = {{"Cookie", "a=1; tokend_session=abc123; b=2"}};
    CHECK(r.cookie("tokend_session") == std::optional<std::string>("abc123"));
    CHECK(r.cookie("a") == std::optional<std::string>("1"));
    CHECK(r.cookie("b") == std::optional<std::string>("2"));
  }
  SECTION("missing cookie, no header, prefix of another name") {
    r.headers = {{"Cookie", "tokend_session_old=zzz; other=1"}};
    CHECK_FALSE(r.cookie("tokend_session"));
    CHECK_FALSE(r.cookie("missing"));
    HttpRequest none;
    CHECK_FALSE(none.cookie("tokend_session"));
  }
  SECTION("quoted values lose their quotes") {
    r.headers = {{"Cookie", "q=\"quoted value\"; n=\"\""}};
    CHECK(r.cookie("q") == std::optional<std::string>("quoted value"));
    CHECK(r.cookie("n") == std::optional<std::string>(""));
  }
  SECTION("spaces and tabs around names and values") {
    r.headers = {{"Cookie", "  a = 1 ;\tb=2\t;c=3;;  "}};
    CHECK(r.cookie("a") == std::optional<std::string>("1"));
    CHECK(r.cookie("b") == std::optional<std::string>("2"));
    CHECK(r.cookie("c") == std::optional<std::string>("3"));
  }
  SECTION("values may contain '='") {
    r.headers = {{"Cookie", "k=a=b=c"}};
    CHECK(r.cookie("k") == std::optional<std::string>("a=b=c"));
  }
  SECTION("pairs without '=' are skipped") {
    r.headers = {{"Cookie", "flag; k=v"}};
    CHECK_FALSE(r.cookie("flag"));
    CHECK(r.cookie("k") == std::optional<std::string>("v"));
  }
  SECTION("empty value") {
    r.headers = {{"Cookie", "k=; j=1"}};
    CHECK(r.cookie("k") == std::optional<std::string>(""));
  }
  SECTION("cookie names are case-sensitive, the header name is not") {
    r.headers = {{"cOOKIE", "Session=upper; session=lower"}};
    CHECK(r.cookie("session") == std::optional<std::string>("lower"));
    CHECK(r.cookie("Session") == std::optional<std::string>("upper"));
  }
  SECTION("several Cookie headers are all read") {
    r.headers = {{"Cookie", "a=1"}, {"Cookie", "b=2"}};
    CHECK(r.cookie("a") == std::optional<std::string>("1"));
    CHECK(r.cookie("b") == std::optional<std::string>("2"));
  }
  SECTION("the first occurrence wins") {
    r.headers = {{"Cookie", "a=1; a=2"}};
    CHECK(r.cookie("a") == std::optional<std::string>("1"));
  }
}

TEST_CASE("HttpResponse::set_header replaces case-insensitively", "[http][message]") {
  HttpResponse r;
  r.set_header("Content-Type", "text/plain");
  r.set_header("content-type", "text/html");
  r.set_header("X-Other", "1");
  CHECK(r.headers.size() == 2);
  CHECK(r.header("CONTENT-TYPE") == std::optional<std::string_view>("text/html"));
  CHECK(r.header("x-other") == std::optional<std::string_view>("1"));
  CHECK_FALSE(r.header("missing"));
}

TEST_CASE("json_response sets the JSON content type and forbids caching", "[http][message]") {
  auto r = tokend::http::json_response(201, json{{"token", "abc"}, {"n", 1}});
  CHECK(r.status == 201);
  CHECK(r.header("Content-Type") == std::optional<std::string_view>("application/json"));
  CHECK(r.header("Cache-Control") == std::optional<std::string_view>("no-store"));
  const auto body = json::parse(r.body);
  CHECK(body.at("token") == "abc");
  CHECK(body.at("n") == 1);
  CHECK_FALSE(r.header("Retry-After"));
}

TEST_CASE("json_response survives invalid UTF-8 in strings", "[http][message]") {
  // A username with a stray byte must not turn a response into an exception.
  auto r = tokend::http::json_response(200, json{{"name", std::string("a\xff" "b")}});
  CHECK(r.status == 200);
  const auto body = json::parse(r.body);
  CHECK(body.at("name").get<std::string>().size() > 2);
}

TEST_CASE("error_response has exactly error and message", "[http][message]") {
  auto r = tokend::http::error_response(401, "invalid_credentials", "Invalid credentials.");
  CHECK(r.status == 401);
  const auto body = json::parse(r.body);
  CHECK(body == json{{"error", "invalid_credentials"}, {"message", "Invalid credentials."}});
  CHECK(r.header("Content-Type") == std::optional<std::string_view>("application/json"));
  CHECK(r.header("Cache-Control") == std::optional<std::string_view>("no-store"));
  CHECK_FALSE(r.header("Retry-After"));

  SECTION("Retry-After when asked") {
    auto t = tokend::http::error_response(429, "too_many_attempts", "Slow down.", 17);
    CHECK(t.status == 429);
    CHECK(t.header("Retry-After") == std::optional<std::string_view>("17"));
    CHECK(json::parse(t.body).at("error") == "too_many_attempts");
  }
  SECTION("no Retry-After for zero or negative") {
    CHECK_FALSE(tokend::http::error_response(503, "x", "y", 0).header("Retry-After"));
    CHECK_FALSE(tokend::http::error_response(503, "x", "y", -5).header("Retry-After"));
  }
  SECTION("messages with quotes stay valid JSON") {
    auto q = tokend::http::error_response(400, "invalid_field", "The field \"name\" \\ must be a string.");
    CHECK(json::parse(q.body).at("message") == "The field \"name\" \\ must be a string.");
  }
}

TEST_CASE("no_content is an empty 204 that is not cached", "[http][message]") {
  auto r = tokend::http::no_content();
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK(r.header("Cache-Control") == std::optional<std::string_view>("no-store"));
  CHECK_FALSE(r.header("Content-Type"));
}
