#include "tokend/common/result.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using tokend::Error;
using tokend::ErrorCode;

TEST_CASE("ErrorCode names are stable snake_case and distinct", "[common]") {
  CHECK(tokend::to_string(ErrorCode::kNotFound) == "not_found");
  CHECK(tokend::to_string(ErrorCode::kInvalidJson) == "invalid_json");
  CHECK(tokend::to_string(ErrorCode::kUnsupportedMediaType) == "unsupported_media_type");
  std::set<std::string> seen;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kUsage); ++i) {
    const std::string name(tokend::to_string(static_cast<ErrorCode>(i)));
    INFO(i << " " << name);
    CHECK(seen.insert(name).second);
    for (char c : name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
  }
}

TEST_CASE("Error predicates answer for their own code only", "[common]") {
  const Error missing{ErrorCode::kNotFound, "no such user"};
  CHECK(missing.is_not_found());
  CHECK_FALSE(missing.is_conflict());
  CHECK(missing.code_name() == "not_found");
  const Error taken{ErrorCode::kConflict, "taken"};
  CHECK(taken.is_conflict());
  CHECK_FALSE(taken.is_not_found());
  tokend::Result<int> r = Error{ErrorCode::kTimeout, "slow"};
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is_timeout());
}
