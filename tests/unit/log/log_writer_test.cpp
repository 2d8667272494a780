#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "unit/support/temp_dir.hpp"
#include "tokend/log/log.hpp"

// The log writer is the one part of tokend that every thread touches: I/O
// threads and workers hand lines to one queue, one thread writes them. This
// is one of the tests the ThreadSanitizer build runs (docs/testing.md).
TEST_CASE("log writer keeps every line that several threads log at once", "[log][threads]") {
  tokend::testing::TempDir dir;
  const std::string file = dir.file("tokend.log");
  REQUIRE(tokend::log::init("info", file).ok());

  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) spdlog::info("thread {} line {}", t, i);
    });
  }
  for (auto& th : threads) th.join();
  // shutdown() writes what is still queued and stops the writer thread.
  tokend::log::shutdown();
  // Later tests in this process log through the default logger: give them
  // one that discards (shutdown() dropped every logger).
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>()));

  std::ifstream in(file);
  std::set<std::string> seen;
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const auto at = line.find("thread ");
    REQUIRE(at != std::string::npos);
    seen.insert(line.substr(at));
  }
  CHECK(lines == kThreads * kLines);
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kLines));
  CHECK(seen.count("thread 3 line 499") == 1);
}

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Polls `path` until it contains `needle` or `ms` pass; whether it did.
bool appears_within(const std::string& path, const std::string& needle, int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (read_all(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace

// Lines are written in batches (log.cpp, BatchingSink), never held back for
// long: a lone line, a warning, and the first line of a steady trickle that
// never lets the queue empty each reach the file without a shutdown. The
// limits checked are generous (a loaded test machine), the designed ones are
// about 1 ms and 5 ms.
TEST_CASE("log writer writes batches promptly, even while lines keep coming", "[log][threads]") {
  tokend::testing::TempDir dir;
  const std::string file = dir.file("tokend.log");
  REQUIRE(tokend::log::init("info", file).ok());
  spdlog::info("a lone line");
  CHECK(appears_within(file, "a lone line", 2000));
  spdlog::warn("a warning");
  CHECK(appears_within(file, "a warning", 2000));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int i = 0; !stop; ++i) {
      spdlog::info("trickle {}", i);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  spdlog::info("first of the trickle");
  CHECK(appears_within(file, "first of the trickle", 2000));
  stop = true;
  trickle.join();
  tokend::log::shutdown();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>()));
}
