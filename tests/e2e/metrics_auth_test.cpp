// End-to-end: keeping /metrics to the scraper. metrics.bearer_token_file makes
// it answer only "Authorization: Bearer <the file's token>" (401 otherwise);
// metrics.enabled false removes it (404). /healthz stays open either way.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/process.hpp"

using e2e::TokendProcess;
using nlohmann::json;

namespace {

// A private temporary folder, removed at the end of the test.
struct TempFolder {
  TempFolder() {
    char tmpl[] = "/tmp/tokend-metrics-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
  std::string path;
};

const std::string kToken = "Zm9vYmFyLXNjcmFwZXItdG9rZW4tMTIz";

// What tokend said when it refused to start (stderr and its log file).
std::string startup_output(const TokendProcess& t) {
  std::ifstream err(t.dir() + "/stderr.log");
  std::stringstream ss;
  ss << err.rdbuf();
  return ss.str() + t.log();
}

}  // namespace

TEST_CASE("/metrics with a bearer token file: 401 without the right token, 200 with it",
          "[e2e][metrics][security]") {
  TempFolder tmp;
  const std::string file = tmp.path + "/metrics.token";
  std::ofstream(file) << kToken << "\n";  // a trailing newline, as an editor leaves it
  TokendProcess t(json{{"metrics", {{"bearer_token_file", file}}}});
  CHECK(t.get("/healthz").status == 200);  // the health check stays open

  auto none = t.get("/metrics");
  CHECK(none.status == 401);
  CHECK(none.json()["error"] == "unauthenticated");
  CHECK(none.header("www-authenticate").rfind("Bearer", 0) == 0);
  CHECK(none.body.find("tokend_") == std::string::npos);
  for (const std::string& wrong :
       {std::string("Bearer wrong-token"), "Bearer " + kToken.substr(0, kToken.size() - 1), "Bearer " + kToken + "x",
        "Basic " + kToken, std::string("Bearer "), kToken}) {
    INFO(wrong);
    auto r = t.get("/metrics", {{"Authorization", wrong}});
    CHECK(r.status == 401);
    CHECK(r.json()["error"] == "unauthenticated");
  }

  auto ok = t.get("/metrics", {{"Authorization", "Bearer " + kToken}});
  REQUIRE(ok.status == 200);
  CHECK(ok.header("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
  // The real metrics, where the refused scrapes above are counted (the count
  // is recorded after each answer is written, so only the series is checked).
  CHECK(ok.body.find("tokend_http_requests_total{route=\"/metrics\",status=\"401\"} ") != std::string::npos);
  // Prometheus's "authorization: credentials_file" sends the same header.
  CHECK(t.get("/metrics", {{"Authorization", "bearer " + kToken}}).status == 200);

  // The token never reaches the log.
  CHECK(t.log().find(kToken) == std::string::npos);
}

TEST_CASE("metrics.enabled false makes /metrics a 404", "[e2e][metrics][security]") {
  TokendProcess t(json{{"metrics", {{"enabled", false}}}});
  auto r = t.get("/metrics");
  CHECK(r.status == 404);
  CHECK(r.json()["error"] == "not_found");
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("an unreadable or too short metrics token file stops tokend at start", "[e2e][metrics][security]") {
  TempFolder tmp;
  std::ofstream(tmp.path + "/short.token") << "short\n";
  for (const std::string& file : {tmp.path + "/missing.token", tmp.path + "/short.token"}) {
    INFO(file);
    TokendProcess t(json{{"metrics", {{"bearer_token_file", file}}}}, /*start_now=*/false);
    REQUIRE_THROWS(t.start());
    CHECK(startup_output(t).find("metrics.bearer_token_file") != std::string::npos);
  }
}
