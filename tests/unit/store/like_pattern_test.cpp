#include <catch2/catch.hpp>

#include "tokend/store/like_pattern.hpp"

using tokend::store::like_contains_pattern;

TEST_CASE("like_contains_pattern escapes LIKE's wildcards and its escape character", "[store][admin]") {
  CHECK(like_contains_pattern("") == "%%");
  CHECK(like_contains_pattern("alice") == "%alice%");
  CHECK(like_contains_pattern("a_b") == "%a\\_b%");
  CHECK(like_contains_pattern("100%") == "%100\\%%");
  CHECK(like_contains_pattern("back\\slash") == "%back\\\\slash%");
  CHECK(like_contains_pattern("%_\\") == "%\\%\\_\\\\%");
  // Other bytes, UTF-8 and quotes included, pass unchanged (the pattern is a bound parameter).
  CHECK(like_contains_pattern("é'\"*") == "%é'\"*%");
}
