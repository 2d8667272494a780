#include <catch2/catch.hpp>

#include <cctype>
#include <string>
#include <vector>

#include "tokend/common/text.hpp"
#include "tokend/http/request_head.hpp"

using tokend::http::check_request_head;
using tokend::http::HeadField;
using tokend::http::HeadPolicy;
using tokend::http::HeadVerdict;
using tokend::http::has_folded_line;
using tokend::http::host_allowed;

namespace {

HeadVerdict check(std::vector<HeadField> fields, int version = 11, const HeadPolicy& policy = {}) {
  return check_request_head("POST", version, fields, policy);
}

}  // namespace

TEST_CASE("check_request_head accepts ordinary heads", "[http][request_head]") {
  CHECK(check({{"Host", "x"}}).ok());
  CHECK(check({{"host", "127.0.0.1:8080"}, {"Content-Length", "12"}, {"Content-Type", "application/json"}}).ok());
  CHECK(check({{"Host", "[::1]:8080"}, {"Transfer-Encoding", "chunked"}}).ok());
  CHECK(check({{"Host", "x"}, {"Transfer-Encoding", "CHUNKED"}}).ok());
  CHECK(check({}, 10).ok());  // HTTP/1.0 needs no Host
  // Headers that may repeat do.
  CHECK(check({{"Host", "x"}, {"Accept", "a"}, {"Accept", "b"}, {"X-Forwarded-For", "1.2.3.4"},
               {"X-Forwarded-For", "5.6.7.8"}})
            .ok());
}

TEST_CASE("check_request_head refuses every Transfer-Encoding but a lone chunked", "[http][request_head]") {
  for (const char* te : {"gzip", "xchunked", "chunked, gzip", "gzip, chunked", "chunked, chunked", "identity", "",
                         "chunked;q=1", " chunked x"}) {
    INFO(te);
    auto v = check({{"Host", "x"}, {"Transfer-Encoding", te}});
    CHECK(v.status == 400);
    CHECK(v.error == "bad_transfer_encoding");
  }
  SECTION("in two fields") {
    auto v = check({{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"transfer-encoding", "chunked"}});
    CHECK(v.status == 400);
    CHECK(v.error == "bad_transfer_encoding");
  }
  SECTION("with Content-Length, in either order") {
    auto a = check({{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}});
    auto b = check({{"Host", "x"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}});
    CHECK(a.error == "bad_transfer_encoding");
    CHECK(b.error == "bad_transfer_encoding");
    CHECK(a.status == 400);
    CHECK(b.status == 400);
  }
  SECTION("on HTTP/1.0") {
    auto v = check({{"Transfer-Encoding", "chunked"}}, 10);
    CHECK(v.status == 400);
    CHECK(v.error == "bad_transfer_encoding");
  }
}

TEST_CASE("check_request_head refuses malformed or repeated Content-Length", "[http][request_head]") {
  for (const char* cl : {"", "-1", "+5", "5, 5", "5 5", "0x10", "five"}) {
    INFO(cl);
    auto v = check({{"Host", "x"}, {"Content-Length", cl}});
    CHECK(v.status == 400);
    CHECK(v.error == "bad_content_length");
  }
  auto same = check({{"Host", "x"}, {"Content-Length", "5"}, {"content-length", "5"}});
  CHECK(same.status == 400);
  CHECK(same.error == "duplicate_header");
  CHECK(same.message.find("Content-Length") != std::string::npos);
}

TEST_CASE("check_request_head refuses repeated singleton headers", "[http][request_head]") {
  for (const char* name : {"Host", "Authorization", "Origin", "Cookie", "Content-Type", "Expect"}) {
    INFO(name);
    // The same name in another case is the same header.
    const std::string lower = tokend::ascii_lower(name);
    const bool is_host = lower == "host";
    std::vector<HeadField> fields{{"Host", "x"}};
    if (!is_host) fields.push_back({name, is_host ? "x" : (lower == "expect" ? "100-continue" : "v")});
    fields.push_back({lower, lower == "expect" ? "100-continue" : "x"});
    auto v = check(fields);
    CHECK(v.status == 400);
    CHECK(v.error == "duplicate_header");
    CHECK(v.message.find(name) != std::string::npos);
  }
}

TEST_CASE("check_request_head wants exactly one valid Host on HTTP/1.1", "[http][request_head]") {
  auto missing = check({{"Content-Length", "0"}});
  CHECK(missing.status == 400);
  CHECK(missing.error == "missing_host");
  for (const char* bad : {"", "a b", "x:123456", "x:80:80", "[::1", "[zz]", "a/b", "user@x", "x:8o"}) {
    INFO(bad);
    auto v = check({{"Host", bad}});
    CHECK(v.status == 400);
    CHECK(v.error == "bad_host");
  }
  for (const char* good : {"localhost", "x:1", "EXAMPLE.com:65535", "10.0.0.1", "[::1]", "[fe80::1]:443"}) {
    INFO(good);
    CHECK(check({{"Host", good}}).ok());
  }
}

TEST_CASE("check_request_head applies the server_names allow-list", "[http][request_head]") {
  HeadPolicy p;
  p.server_names = {"tokens.example.com", "localhost:8080", "[::1]"};
  CHECK(check({{"Host", "tokens.example.com"}}, 11, p).ok());
  CHECK(check({{"Host", "TOKENS.Example.COM:443"}}, 11, p).ok());  // no port in the entry: any port
  CHECK(check({{"Host", "localhost:8080"}}, 11, p).ok());
  CHECK(check({{"Host", "[::1]:9000"}}, 11, p).ok());
  for (const char* other : {"evil.example", "tokens.example.com.evil", "localhost", "localhost:8081",
                            "tokens.example.co", "127.0.0.1"}) {
    INFO(other);
    auto v = check({{"Host", other}}, 11, p);
    CHECK(v.status == 421);
    CHECK(v.error == "misdirected_request");
  }
  // With an allow-list, HTTP/1.0 must name its host too.
  auto none = check({}, 10, p);
  CHECK(none.status == 400);
  CHECK(none.error == "missing_host");
  CHECK(host_allowed("anything", {}));
}

TEST_CASE("check_request_head: Expect", "[http][request_head]") {
  auto cont = check({{"Host", "x"}, {"Expect", "100-Continue"}, {"Content-Length", "5"}});
  CHECK(cont.ok());
  CHECK(cont.expect_continue);
  CHECK_FALSE(check({{"Host", "x"}}).expect_continue);
  // RFC 9110 §10.1.1: ignored from HTTP/1.0.
  auto old = check({{"Expect", "100-continue"}}, 10);
  CHECK(old.ok());
  CHECK_FALSE(old.expect_continue);
  for (const char* e : {"200-ok", "100-continue, x", ""}) {
    INFO(e);
    auto v = check({{"Host", "x"}, {"Expect", e}});
    CHECK(v.status == 417);
    CHECK(v.error == "expectation_failed");
  }
}

TEST_CASE("check_request_head refuses HTTP versions other than 1.0 and 1.1", "[http][request_head]") {
  for (int version : {9, 12, 20}) {
    auto v = check({{"Host", "x"}}, version);
    CHECK(v.status == 505);
    CHECK(v.error == "http_version_not_supported");
  }
}

TEST_CASE("has_folded_line finds a line that continues the one above", "[http][request_head]") {
  // Review finding: Beast unfolded "Transfer-Encoding:" CRLF " chunked" into
  // chunked framing, which a proxy that does not unfold reads differently.
  CHECK_FALSE(has_folded_line("GET / HTTP/1.1\r\nHost: a\r\nX: b c\r\n\r\n"));
  CHECK_FALSE(has_folded_line("GET / HTTP/1.0\r\n\r\n"));
  CHECK_FALSE(has_folded_line(""));
  CHECK(has_folded_line("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"));
  CHECK(has_folded_line("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"));
  // Whitespace before the first field line (RFC 9112 section 2.2).
  CHECK(has_folded_line("GET / HTTP/1.1\r\n Host: a\r\n\r\n"));
}
