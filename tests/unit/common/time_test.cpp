#include <catch2/catch.hpp>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

#include "tokend/common/time.hpp"

using tokend::format_iso8601;
using tokend::kNever;
using tokend::TimeMs;

namespace {

// An independent oracle: the C library's gmtime_r on whole seconds.
std::string libc_iso8601(TimeMs t) {
  std::int64_t secs = t / 1000;
  std::int64_t ms = t % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  const time_t tt = static_cast<time_t>(secs);
  struct tm tm {};
  REQUIRE(gmtime_r(&tt, &tm) != nullptr);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

TEST_CASE("format_iso8601 formats the epoch and known instants", "[time]") {
  CHECK(format_iso8601(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_iso8601(1'803'902'400'000) == "2027-03-01T12:00:00.000Z");
  CHECK(format_iso8601(1'704'067'199'999) == "2023-12-31T23:59:59.999Z");
  CHECK(format_iso8601(1'704'067'200'000) == "2024-01-01T00:00:00.000Z");
}

TEST_CASE("format_iso8601 keeps milliseconds", "[time]") {
  CHECK(format_iso8601(1) == "1970-01-01T00:00:00.001Z");
  CHECK(format_iso8601(999) == "1970-01-01T00:00:00.999Z");
  CHECK(format_iso8601(1'000) == "1970-01-01T00:00:01.000Z");
  CHECK(format_iso8601(1'803'902'400'042) == "2027-03-01T12:00:00.042Z");
  CHECK(format_iso8601(86'399'999) == "1970-01-01T23:59:59.999Z");
}

TEST_CASE("format_iso8601 follows the Gregorian leap year rules", "[time]") {
  SECTION("every fourth year has February 29") {
    CHECK(format_iso8601(1'709'251'199'999) == "2024-02-29T23:59:59.999Z");
    CHECK(format_iso8601(1'709'251'200'000) == "2024-03-01T00:00:00.000Z");
  }
  SECTION("2000 is a leap year (divisible by 400)") {
    CHECK(format_iso8601(951'782'400'000) == "2000-02-29T00:00:00.000Z");
  }
  SECTION("1900 and 2100 are not (divisible by 100)") {
    CHECK(format_iso8601(-2'203'977'600'000) == "1900-02-28T00:00:00.000Z");
    CHECK(format_iso8601(-2'203'977'600'000 + 86'400'000) == "1900-03-01T00:00:00.000Z");
    CHECK(format_iso8601(4'107'542'400'000 - 86'400'000) == "2100-02-28T00:00:00.000Z");
    CHECK(format_iso8601(4'107'542'400'000) == "2100-03-01T00:00:00.000Z");
  }
}

TEST_CASE("format_iso8601 handles times before the epoch", "[time]") {
  CHECK(format_iso8601(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_iso8601(-1'000) == "1969-12-31T23:59:59.000Z");
  CHECK(format_iso8601(-86'400'000) == "1969-12-31T00:00:00.000Z");
  CHECK(format_iso8601(-310'499'571'991) == "1960-02-29T06:07:08.009Z");
  CHECK(format_iso8601(-11'670'998'400'000) == "1600-02-29T00:00:00.000Z");
}

TEST_CASE("format_iso8601 prints years beyond 9999 in full", "[time]") {
  CHECK(format_iso8601(253'402'300'799'999) == "9999-12-31T23:59:59.999Z");
  CHECK(format_iso8601(253'402'300'800'000) == "10000-01-01T00:00:00.000Z");
}

TEST_CASE("format_iso8601 prints kNever exactly as the original API does", "[time]") {
  // Java: Instant.ofEpochMilli(Long.MAX_VALUE).toString()
  CHECK(format_iso8601(kNever) == "292278994-08-17T07:12:55.807Z");
}

TEST_CASE("format_iso8601 agrees with gmtime_r over a wide range", "[time]") {
  std::mt19937_64 rng(20270301);
  // 1600 .. 9999, both sides of the epoch.
  std::uniform_int_distribution<std::int64_t> dist(-11'670'998'400'000, 253'402'300'799'999);
  for (int i = 0; i < 20'000; ++i) {
    const TimeMs t = dist(rng);
    INFO("t = " << t);
    REQUIRE(format_iso8601(t) == libc_iso8601(t));
  }
}

TEST_CASE("now_ms reads the system clock in milliseconds", "[time]") {
  using namespace std::chrono;
  const auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const TimeMs now = tokend::now_ms();
  const auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  CHECK(now >= before);
  CHECK(now <= after);
  // Sanity: after 2024 and a plausible ISO string.
  CHECK(now > 1'704'067'200'000);
  CHECK(format_iso8601(now).size() == 24);
}
