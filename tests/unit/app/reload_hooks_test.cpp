#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "tokend/app/reload_hooks.hpp"

using tokend::Error;
using tokend::ErrorCode;
using tokend::Status;
using tokend::app::ReloadHooks;

TEST_CASE("ReloadHooks runs every hook in order and counts the failures", "[app][reload]") {
  ReloadHooks hooks;
  std::vector<std::string> ran;
  hooks.add("log file", [&] {
    ran.push_back("log");
    return tokend::ok_status();
  });
  hooks.add("audit log", [&]() -> Status {
    ran.push_back("audit");
    return Error{ErrorCode::kStorageError, "disk full"};
  });
  hooks.add("broken", [&]() -> Status {
    ran.push_back("broken");
    throw std::runtime_error("bug");
  });
  hooks.add("last", [&] {
    ran.push_back("last");
    return tokend::ok_status();
  });
  REQUIRE(hooks.size() == 4);
  // A failing or throwing hook does not stop the ones after it.
  CHECK(hooks.run() == 2);
  CHECK(ran == std::vector<std::string>{"log", "audit", "broken", "last"});
  // And every SIGHUP runs them all again.
  CHECK(hooks.run() == 2);
  CHECK(ran.size() == 8);
}

TEST_CASE("ReloadHooks without hooks does nothing and reports no failure", "[app][reload]") {
  ReloadHooks hooks;
  CHECK(hooks.run() == 0);
}
