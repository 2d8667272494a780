// Fuzzes the URL and origin parsing built on Boost.URL (net/url.cpp) and the
// provider and proxy URL rules on top of it (net/https_client.cpp): provider
// URLs from configuration and from provider answers (OIDC discovery, Link
// headers), Origin, Referer and Host headers, sessions.allowed_origins.
//
// Checks, besides "no crash, no sanitizer report": an accepted https URL has
// a host and a target that starts with "/", and no character that could split
// a request line; a canonical origin is its own canonical form, lower-case,
// and never names the scheme's default port; every error is kInvalidUrl.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tokend/net/https_client.hpp"
#include "tokend/net/url.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool has_upper(std::string_view s) {
  for (char c : s) {
    if (std::isupper(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

bool visible_ascii(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace tokend::net;

  if (auto u = parse_https_url(text)) {
    require(!u->host.empty() && !has_upper(u->host));
    require(!u->target.empty() && u->target.front() == '/' && visible_ascii(u->target));
    require(u->port != 0);
  } else {
    require(u.error().code == tokend::ErrorCode::kInvalidUrl);
  }

  if (auto p = parse_proxy_url(text)) {
    require(!p->host.empty() && p->port != 0);
  } else {
    require(p.error().code == tokend::ErrorCode::kInvalidUrl);
  }

  for (auto origin : {normalize_origin(text), origin_of_url(text)}) {
    if (!origin) {
      require(origin.error().code == tokend::ErrorCode::kInvalidUrl);
      continue;
    }
    const std::string& o = *origin;
    require(!has_upper(o) && visible_ascii(o));
    require(o.rfind("http://", 0) == 0 || o.rfind("https://", 0) == 0);
    require(!o.ends_with(":80") || o.rfind("https://", 0) == 0);
    require(!o.ends_with(":443") || o.rfind("http://", 0) == 0);
    auto again = normalize_origin(o);
    require(again && *again == o);
  }

  if (auto hp = parse_host_port(text)) {
    require(!hp->host.empty() && !has_upper(hp->host));
  } else {
    require(hp.error().code == tokend::ErrorCode::kInvalidUrl);
  }
  return 0;
}
