// End-to-end: `cmake --install` into a temporary prefix, then the installed
// binary serving its installed web page (no web.root in its configuration)
// and a token flow through it.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

namespace fs = std::filesystem;

namespace {

// The regular files of a web folder: what tokend's "web page: N files" line counts.
std::size_t web_file_count(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh folder, removed with everything in it at the end.
class TempPrefix {
 public:
  TempPrefix() {
    char tmpl[] = "/tmp/tokend-install-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempPrefix() {
    std::error_code ec;
    if (!std::getenv("TOKEND_KEEP_TEST_DIRS")) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

e2e::ProcessResult cmake_install(const std::string& prefix) {
  return e2e::run_process({TOKEND_CMAKE_COMMAND, "--install", TOKEND_BUILD_DIR, "--prefix", prefix});
}

}  // namespace

TEST_CASE("cmake --install puts the server, its web page, unit and config under the prefix, and no test binary",
          "[e2e][install]") {
  TempPrefix tmp;
  const std::string p = tmp.path();
  auto r = cmake_install(p);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  CHECK(fs::is_regular_file(p + "/bin/tokend"));
  CHECK((fs::status(p + "/bin/tokend").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK(read_file(p + "/share/tokend/web/index.html") == read_file(e2e::source_dir() + "/web/index.html"));
  CHECK(read_file(p + "/share/tokend/web/app.js") == read_file(e2e::source_dir() + "/web/app.js"));
  CHECK(fs::is_regular_file(p + "/share/doc/tokend/examples/example.json"));

  // The unit names this prefix's binary and configuration.
  const std::string unit = read_file(p + "/lib/systemd/system/tokend.service");
  CHECK(unit.find("\nExecStart=" + p + "/bin/tokend serve --config " + p + "/etc/tokend/config.json\n") !=
        std::string::npos);
  CHECK(unit.find("\nType=notify\n") != std::string::npos);
  CHECK(unit.find("@TOKEND_") == std::string::npos);

  // The service's configuration: private to root and the service group.
  const std::string conf = p + "/etc/tokend/config.json";
  struct stat st {};
  REQUIRE(::stat(conf.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK(read_file(conf).find("/var/lib/tokend/tokend.db") != std::string::npos);

  // Only the server: no test binary, nothing else executable.
  int executables = 0;
  for (const auto& e : fs::recursive_directory_iterator(p)) {
    const std::string name = e.path().filename().string();
    CHECK(name.find("tests") == std::string::npos);
    if (e.is_regular_file() && (e.status().permissions() & fs::perms::owner_exec) != fs::perms::none) ++executables;
  }
  CHECK(executables == 1);

  // Installing again keeps an edited configuration (and still updates the rest).
  std::ofstream(conf, std::ios::app) << "// edited by the operator\n";
  fs::remove(p + "/share/tokend/web/app.js");
  r = cmake_install(p);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(conf).find("// edited by the operator") != std::string::npos);
  CHECK(fs::is_regular_file(p + "/share/tokend/web/app.js"));
}

TEST_CASE("the installed binary serves its installed web page without web.root, and issues tokens",
          "[e2e][install]") {
  TempPrefix tmp;
  const std::string p = tmp.path();
  auto r = cmake_install(p);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // A mark only the installed copy carries: the page must come from there,
  // not from the source tree the binary was built from.
  const std::string marker = "<!-- installed copy -->";
  std::ofstream(p + "/share/tokend/web/index.html", std::ios::app) << marker << "\n";

  // The test configuration without any "web" key: web.root takes its default.
  TokendProcess t({{"web", nullptr}}, /*start_now=*/false);
  REQUIRE(read_file(t.config_path()).find("\"web\"") == std::string::npos);
  t.use_binary(p + "/bin/tokend");
  t.add_user("alice", "alices password");
  t.start();

  const std::string web = fs::canonical(p + "/share/tokend/web").string();
  CHECK(t.log().find("web page: " + std::to_string(web_file_count(web)) + " files from " + web) != std::string::npos);
  auto page = t.get("/");
  CHECK(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  CHECK(page.body.find(marker) != std::string::npos);
  auto js = t.get("/app.js");
  CHECK(js.status == 200);
  CHECK(js.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(js.body == read_file(p + "/share/tokend/web/app.js"));
  CHECK(t.get("/app.css").status == 200);
  CHECK(t.get("/no-such-file.js").status == 404);

  const std::string token = t.login("alice", "alices password");
  auto user = t.get("/api/user", bearer(token));
  REQUIRE(user.status == 200);
  CHECK(user.json()["username"] == "alice");
}

TEST_CASE("an explicit web.root wins over the installed web page", "[e2e][install]") {
  TempPrefix tmp;
  const std::string p = tmp.path();
  REQUIRE(cmake_install(p).exit_code == 0);
  fs::create_directories(p + "/other-web");
  std::ofstream(p + "/other-web/index.html") << "<p>other page</p>\n";

  TokendProcess t({{"web", {{"root", p + "/other-web"}}}}, /*start_now=*/false);
  t.use_binary(p + "/bin/tokend");
  t.start();
  auto page = t.get("/");
  CHECK(page.status == 200);
  CHECK(page.body == "<p>other page</p>\n");
  CHECK(t.get("/app.js").status == 404);
}

TEST_CASE("the binary in the build folder finds the source tree's web page without web.root", "[e2e][install]") {
  TokendProcess t(nlohmann::json{{"web", nullptr}});
  CHECK(t.log().find("web page: " + std::to_string(web_file_count(e2e::source_dir() + "/web")) + " files from " +
                     e2e::source_dir() + "/web") != std::string::npos);
  auto page = t.get("/");
  CHECK(page.status == 200);
  CHECK(page.body == read_file(e2e::source_dir() + "/web/index.html"));
}
