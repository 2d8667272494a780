// The "__Host-" prefix of the session cookie on Secure deployments (RFC 6265bis
// 4.1.3.2): the name, and the attributes a browser requires of such a cookie.
#include <catch2/catch.hpp>

#include <cctype>
#include <memory>
#include <string>

#include "tokend/common/text.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::session::SessionService;

namespace {

struct Harness {
  explicit Harness(tokend::config::SessionConfig sc = {}) : config(std::move(sc)) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    sessions = std::make_unique<SessionService>(*store, config);
  }
  tokend::testing::TempDir dir;
  tokend::config::SessionConfig config;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  std::unique_ptr<SessionService> sessions;
};

// The attribute names of a Set-Cookie value, lower-cased ("path", "secure", ...).
bool has_attribute(const std::string& set_cookie, const std::string& lower_name) {
  std::size_t pos = set_cookie.find(';');
  while (pos != std::string::npos) {
    std::size_t start = pos + 1;
    while (start < set_cookie.size() && set_cookie[start] == ' ') ++start;
    const std::size_t end = set_cookie.find(';', start);
    std::string attr = set_cookie.substr(start, end == std::string::npos ? std::string::npos : end - start);
    attr = attr.substr(0, attr.find('='));
    attr = tokend::ascii_lower(attr);
    if (attr == lower_name) return true;
    pos = end;
  }
  return false;
}

}  // namespace

TEST_CASE("Secure session cookies are named __Host-<name>, with Path=/ and no Domain", "[session][security]") {
  Harness h;
  const std::string value(64, 'b');
  CHECK(h.sessions->cookie_name(false) == "tokend_session");
  CHECK(h.sessions->cookie_name(true) == "__Host-tokend_session");

  const std::string secure = h.sessions->set_cookie(value, true);
  CHECK(secure.rfind("__Host-tokend_session=" + value + ";", 0) == 0);
  // What a browser requires before it stores a __Host- cookie.
  CHECK(has_attribute(secure, "secure"));
  CHECK(secure.find("; Path=/;") != std::string::npos);
  CHECK_FALSE(has_attribute(secure, "domain"));

  const std::string cleared = h.sessions->clear_cookie(true);
  CHECK(cleared.rfind("__Host-tokend_session=;", 0) == 0);
  CHECK(has_attribute(cleared, "secure"));
  CHECK(cleared.find("; Path=/;") != std::string::npos);
  CHECK_FALSE(has_attribute(cleared, "domain"));

  SECTION("plain HTTP keeps the configured name, without Secure") {
    const std::string plain = h.sessions->set_cookie(value, false);
    CHECK(plain.rfind("tokend_session=" + value + ";", 0) == 0);
    CHECK_FALSE(has_attribute(plain, "secure"));
    CHECK_FALSE(has_attribute(plain, "domain"));
  }
  SECTION("a configured name gets the prefix; one that has it is not prefixed twice") {
    tokend::config::SessionConfig sc;
    sc.cookie_name = "sid";
    Harness named(sc);
    CHECK(named.sessions->cookie_name(true) == "__Host-sid");
    CHECK(named.sessions->cookie_name(false) == "sid");
    sc.cookie_name = "__Host-sid";
    Harness prefixed(sc);
    CHECK(prefixed.sessions->cookie_name(true) == "__Host-sid");
    CHECK(prefixed.sessions->set_cookie(value, true).rfind("__Host-sid=" + value + ";", 0) == 0);
  }
}
