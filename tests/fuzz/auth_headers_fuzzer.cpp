// Fuzzes the credential headers of a request: `Authorization` (bearer_token,
// api/caller.cpp) and `Cookie` (HttpRequest::cookie, http/message.cpp).
//
// Input: header lines separated by '\n', each "Name:value"; the first line
// that has no ':' names a cookie to look up besides the default one.
// Checks, besides "no crash, no sanitizer report":
//   - a bearer token comes from the first Authorization header, after a
//     "Bearer" or "token" scheme (any case), is non-empty and holds no space;
//   - a cookie value never holds a ';' and is a part of some Cookie header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/caller.hpp"
#include "tokend/http/message.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void check_cookie(const tokend::http::HttpRequest& request, std::string_view name) {
  const auto value = request.cookie(name);
  if (!value) return;
  require(!contains(*value, ";"));
  bool found = false;
  for (const auto& [k, v] : request.headers) {
    if (tokend::http::iequals(k, "cookie") && contains(v, *value)) found = true;
  }
  require(found);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tokend::http::HttpRequest request;
  std::string extra_cookie;
  bool have_extra = false;
  std::size_t pos = 0;
  while (pos <= input.size()) {
    const auto nl = input.find('\n', pos);
    const std::string_view line = input.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      request.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    } else if (!have_extra) {
      extra_cookie = std::string(line);
      have_extra = true;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }

  if (const auto token = tokend::api::bearer_token(request)) {
    const auto header = request.header("authorization");
    require(header.has_value());
    require(!token->empty() && !contains(*token, " "));
    // A view into the header itself, after the scheme and its space.
    require(token->data() > header->data() && token->data() + token->size() <= header->data() + header->size());
    const auto scheme = header->substr(0, header->find(' '));
    require(tokend::http::iequals(scheme, "bearer") || tokend::http::iequals(scheme, "token"));
  }
  check_cookie(request, "tokend_session");
  check_cookie(request, extra_cookie);
  return 0;
}
