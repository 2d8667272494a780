// End-to-end: the TLS listener speaks TLS 1.2 and 1.3 only (openssl s_client
// with pinned protocol versions against the real binary).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/process.hpp"

using e2e::TokendProcess;

namespace {

// A throwaway self-signed certificate for 127.0.0.1 in a temporary folder,
// removed at the end of the test.
struct Certificate {
  Certificate() {
    char tmpl[] = "/tmp/tokend-tlsver-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
    auto r = e2e::run_shell("cd " + dir +
                            " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                            "-keyout key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 "
                            "-addext subjectAltName=IP:127.0.0.1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
  ~Certificate() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir;
};

// One handshake with `version` ("-tls1_1", "-tls1_2", "-tls1_3") pinned on the
// client side. The client is allowed every cipher at security level 0, so
// that a refusal of an old version can only come from the server.
e2e::ProcessResult handshake(std::uint16_t port, const std::string& ca, const std::string& version) {
  return e2e::run_shell("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " " + version +
                        " -cipher 'DEFAULT:@SECLEVEL=0' -CAfile " + ca +
                        " -verify_return_error -brief </dev/null");
}

}  // namespace

TEST_CASE("the TLS listener accepts TLS 1.2 and 1.3 and refuses TLS 1.1", "[e2e][tls]") {
  Certificate cert;
  TokendProcess t(nlohmann::json{
      {"tls", {{"enabled", true}, {"cert_file", cert.dir + "/cert.pem"}, {"key_file", cert.dir + "/key.pem"}}}});
  const std::string ca = cert.dir + "/cert.pem";
  SECTION("TLS 1.3") {
    auto r = handshake(t.port(), ca, "-tls1_3");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("Protocol version: TLSv1.3") != std::string::npos);
  }
  SECTION("TLS 1.2") {
    auto r = handshake(t.port(), ca, "-tls1_2");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("Protocol version: TLSv1.2") != std::string::npos);
  }
  SECTION("TLS 1.1 and 1.0 are refused") {
    for (const std::string version : {"-tls1_1", "-tls1"}) {
      INFO(version);
      auto r = handshake(t.port(), ca, version);
      INFO(r.output);
      CHECK(r.exit_code != 0);
      CHECK(r.output.find("Protocol version: TLSv1") == std::string::npos);
    }
  }
  // The server is still there for well-behaved clients.
  CHECK(handshake(t.port(), ca, "-tls1_3").exit_code == 0);
}
