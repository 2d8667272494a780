#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
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
