#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <chrono>

#include "tokend/log/log.hpp"
#include "unit/support/temp_dir.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// init() and shutdown() act on spdlog's default logger: give the later tests
// of this process one that discards, as log_writer_test does.
void quiet_default_logger() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>()));
}

}  // namespace

TEST_CASE("log::reopen sends the next lines to a new file after the old one was renamed", "[log]") {
  tokend::testing::TempDir dir;
  const std::string file = dir.file("tokend.log");
  REQUIRE(tokend::log::init("info", file).ok());
  spdlog::info("before rotation");
  spdlog::default_logger()->flush();
  // The async writer may still hold the line: wait for it on disk.
  for (int i = 0; i < 200 && read_file(file).find("before rotation") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::filesystem::rename(file, dir.file("tokend.log.1"));
  auto reopened = tokend::log::reopen();
  spdlog::info("after rotation");
  tokend::log::shutdown();
  quiet_default_logger();

  REQUIRE(reopened.ok());
  CHECK(*reopened);
  CHECK(read_file(dir.file("tokend.log.1")).find("before rotation") != std::string::npos);
  CHECK(read_file(dir.file("tokend.log.1")).find("after rotation") == std::string::npos);
  CHECK(read_file(file).find("after rotation") != std::string::npos);
}

TEST_CASE("log::reopen that cannot open the file keeps logging into the old one", "[log]") {
  tokend::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  const std::string file = dir.file("logs/tokend.log");
  REQUIRE(tokend::log::init("info", file).ok());
  spdlog::info("first line");
  // The folder is renamed away and a plain file takes its name: the log
  // file cannot be created again (not even as root).
  std::filesystem::rename(dir.file("logs"), dir.file("logs.old"));
  std::ofstream(dir.file("logs")) << "not a folder\n";
  auto reopened = tokend::log::reopen();
  spdlog::info("second line");
  tokend::log::shutdown();
  quiet_default_logger();

  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == tokend::ErrorCode::kStorageError);
  const std::string old = read_file(dir.file("logs.old/tokend.log"));
  CHECK(old.find("first line") != std::string::npos);
  CHECK(old.find("second line") != std::string::npos);
}

TEST_CASE("log::reopen with logging to stderr has nothing to reopen", "[log]") {
  REQUIRE(tokend::log::init("info", "").ok());
  auto reopened = tokend::log::reopen();
  tokend::log::shutdown();
  quiet_default_logger();
  REQUIRE(reopened.ok());
  CHECK_FALSE(*reopened);
}
