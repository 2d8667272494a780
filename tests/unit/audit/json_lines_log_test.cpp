#include <catch2/catch.hpp>

#include <fstream>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/audit/json_lines_log.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::audit::Event;
using tokend::audit::JsonLinesAuditLog;

namespace {

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));  // throws on a broken line
  return out;
}

}  // namespace

TEST_CASE("audit format_line: the six fixed fields, the detail, one line", "[audit]") {
  Event e{"login.failed", "bob", "username:bob", "192.0.2.7", "req-1", {{"method", "userpass"}, {"reason", "x"}}};
  const std::string line = tokend::audit::format_line(e, 1'800'000'000'123);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2027-01-15T08:00:00.123Z");
  CHECK(j["event"] == "login.failed");
  CHECK(j["actor"] == "bob");
  CHECK(j["subject"] == "username:bob");
  CHECK(j["client"] == "192.0.2.7");
  CHECK(j["request_id"] == "req-1");
  CHECK(j["method"] == "userpass");
  CHECK(j["reason"] == "x");

  SECTION("a detail field cannot replace a fixed one") {
    Event forged{"token.issued", "user:1", "token:2", "", "", {{"actor", "admin:9"}, {"time", "1970"}}};
    const auto f = nlohmann::json::parse(tokend::audit::format_line(forged, 0));
    CHECK(f["actor"] == "user:1");
    CHECK(f["time"] == "1970-01-01T00:00:00.000Z");
  }
  SECTION("line breaks and invalid UTF-8 in a value stay inside one line") {
    Event hostile{"login.failed", "a\r\n{\"event\":\"x\"}\xff\xfe", "", "", "", {}};
    const std::string l = tokend::audit::format_line(hostile, 0);
    CHECK(l.find('\n') == l.size() - 1);
    CHECK(l.find('\r') == std::string::npos);
    const auto h = nlohmann::json::parse(l);
    CHECK(h["event"] == "login.failed");
    CHECK(h["actor"].get<std::string>().find("\r\n{") == 1);
  }
}

TEST_CASE("audit typed_username escapes controls and bounds the length", "[audit]") {
  CHECK(tokend::audit::typed_username("bob") == "bob");
  CHECK(tokend::audit::typed_username("a\nb") == "a\\x0ab");
  const std::string long_name(1000, 'x');
  const std::string t = tokend::audit::typed_username(long_name);
  CHECK(t.size() == 128 + 3);
  CHECK(t.substr(128) == "...");
}

TEST_CASE("JsonLinesAuditLog appends lines to a 0600 file and reopens it after a rename", "[audit]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  {
    std::ofstream pre(path);
    pre << "{\"existing\":true}\n";  // appended to, never truncated
  }
  auto log = JsonLinesAuditLog::open(path);
  REQUIRE(log.ok());
  (*log)->record(Event{"config.loaded", "system", "config", "", "", {{"file", "x"}}});
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["existing"] == true);
  CHECK(lines[1]["event"] == "config.loaded");

  SECTION("reopen after logrotate renamed the file") {
    std::filesystem::rename(path, path + ".1");
    (*log)->record(Event{"a", "", "", "", "", {}});  // still the old (renamed) file
    REQUIRE((*log)->reopen().ok());
    (*log)->record(Event{"b", "", "", "", "", {}});
    const auto old_lines = read_lines(path + ".1");
    REQUIRE(old_lines.size() == 3);
    CHECK(old_lines[2]["event"] == "a");
    const auto new_lines = read_lines(path);
    REQUIRE(new_lines.size() == 1);
    CHECK(new_lines[0]["event"] == "b");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK((*log)->lost() == 0);
  }
}

TEST_CASE("JsonLinesAuditLog refuses a path it cannot open", "[audit]") {
  tokend::testing::TempDir dir;
  auto log = JsonLinesAuditLog::open(dir.file("no/such/dir/audit.log"));
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(log.error().message.find("audit.path") != std::string::npos);
}

TEST_CASE("JsonLinesAuditLog from many threads: every line whole, none lost", "[audit][threads]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  auto log = JsonLinesAuditLog::open(path);
  REQUIRE(log.ok());
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        (*log)->record(Event{"token.issued", "user:" + std::to_string(t), "token:" + std::to_string(i), "", "",
                             {{"name", std::string(200, 'n')}}});
      }
    });
  }
  // Reopen in the middle: no line may be lost or torn by it.
  for (int i = 0; i < 20; ++i) REQUIRE((*log)->reopen().ok());
  for (auto& th : threads) th.join();
  const auto lines = read_lines(path);
  CHECK(lines.size() == static_cast<std::size_t>(kThreads * kEach));
  std::set<std::string> seen;
  for (const auto& l : lines) seen.insert(l["actor"].get<std::string>() + "/" + l["subject"].get<std::string>());
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kEach));
  CHECK((*log)->lost() == 0);
}

TEST_CASE("audit::record fills client and request id and ignores a null log", "[audit]") {
  tokend::audit::record(nullptr, Event{"x", "", "", "", "", {}});  // no crash, nothing to do
  tokend::testing::TempDir dir;
  auto log = JsonLinesAuditLog::open(dir.file("a.log"));
  REQUIRE(log.ok());
  tokend::audit::record(log->get(), Event{"x", "", "", "", "", {}}, {"198.51.100.1", "abc"});
  const auto lines = read_lines(dir.file("a.log"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["client"] == "198.51.100.1");
  CHECK(lines[0]["request_id"] == "abc");
}
