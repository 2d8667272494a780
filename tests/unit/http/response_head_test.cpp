#include <catch2/catch.hpp>

#include <string>

#include "tokend/http/response_head.hpp"

using tokend::http::HeadOptions;
using tokend::http::HttpResponse;
using tokend::http::write_response_head;

namespace {
constexpr std::string_view kDate = "Tue, 01 Dec 2026 18:00:00 GMT";

std::string head_of(const HttpResponse& r, HeadOptions options = {}, std::size_t* dropped = nullptr) {
  std::string out = "left over from the last response";
  const std::size_t n = write_response_head(r, "OK", kDate, options, out);
  if (dropped) *dropped = n;
  return out;
}
}  // namespace

TEST_CASE("write_response_head: status line, Server, Date, headers, nosniff, length", "[http][response_head]") {
  HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = "{\"a\":1}";
  CHECK(head_of(r) ==
        "HTTP/1.1 200 OK\r\nServer: tokend\r\nDate: Tue, 01 Dec 2026 18:00:00 GMT\r\n"
        "Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 7\r\n\r\n");
}

TEST_CASE("write_response_head: the server owns the framing headers", "[http][response_head]") {
  HttpResponse r;
  r.status = 200;
  r.body = "abc";
  r.headers = {{"content-length", "999"}, {"Transfer-Encoding", "chunked"}, {"Connection", "upgrade"},
               {"X-Content-Type-Options", "nosniff"}};
  const std::string h = head_of(r, HeadOptions{false, false});
  CHECK(h.find("999") == std::string::npos);
  CHECK(h.find("chunked") == std::string::npos);
  CHECK(h.find("upgrade") == std::string::npos);
  CHECK(h.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(h.find("Connection: close\r\n") != std::string::npos);
  // The handler's own nosniff is kept, and not written twice.
  CHECK(h.find("nosniff") == h.rfind("nosniff"));
}

TEST_CASE("write_response_head: a header that could split the response is dropped", "[http][response_head]") {
  HttpResponse r;
  r.status = 200;
  r.headers = {{"X-Evil", "a\r\nSet-Cookie: x=1"}, {"X-Bad:Name", "v"}, {"", "v"}, {"X Space", "v"},
               {std::string("X-Nul\0", 6), "v"}, {"X-Good", "fine"}};
  std::size_t dropped = 0;
  const std::string h = head_of(r, {}, &dropped);
  CHECK(dropped == 5);
  CHECK(h.find("Set-Cookie") == std::string::npos);
  CHECK(h.find("X-Good: fine\r\n") != std::string::npos);
  CHECK(h.find("\r\n\r\n") == h.size() - 4);  // one head, ending once
}

TEST_CASE("write_response_head: bodiless statuses and Connection", "[http][response_head]") {
  for (int status : {100, 204, 304}) {
    HttpResponse r;
    r.status = status;
    r.body = "ignored";
    CHECK(tokend::http::is_bodiless_status(status));
    CHECK(head_of(r).find("Content-Length") == std::string::npos);
  }
  CHECK_FALSE(tokend::http::is_bodiless_status(200));
  CHECK_FALSE(tokend::http::is_bodiless_status(404));
  HttpResponse r;
  r.status = 404;
  CHECK(head_of(r).find("Content-Length: 0\r\n") != std::string::npos);
  CHECK(head_of(r, HeadOptions{true, false}).find("Connection") == std::string::npos);
  CHECK(head_of(r, HeadOptions{true, true}).find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(head_of(r, HeadOptions{false, true}).find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("http_date is an RFC 9110 IMF-fixdate", "[http][response_head]") {
  const std::string d(tokend::http::http_date());
  REQUIRE(d.size() == 29);
  CHECK(d.substr(d.size() - 4) == " GMT");
  CHECK(d[3] == ',');
}
