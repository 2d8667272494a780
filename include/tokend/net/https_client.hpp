// HttpsClient: an outbound HTTPS/1.1 client for talking to identity providers
// (GitHub, GitLab, OpenID Connect). Built on Boost.Beast over OpenSSL, kept out
// of this header (pimpl) so that callers never compile Beast or Asio.
//
// Security properties, always on: certificate verification against the system
// CA store (plus an optional extra CA file), host-name verification, SNI,
// TLS 1.2 or newer, bounded response headers and bodies, a deadline on every
// step. Plain "http://" URLs are refused: a provider access token never
// travels in clear text.
//
// Connections are kept alive and reused across requests to the same
// host:port (through the same proxy), in a small bounded idle pool.
//
// Thread-safety: all public methods are safe to call concurrently from any
// number of threads. A call blocks its thread until the response or the
// deadline, so call it from a worker pool, never from an I/O thread. The
// client runs its own I/O thread internally; destroying the client while
// calls are still in flight is a bug.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokend/common/result.hpp"

namespace tokend::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// An absolute "https://host[:port][/path][?query]" URL, split up.
struct HttpsUrl {
  std::string host;        // reg-name, IPv4, or IPv6 without brackets; lower-case
  std::uint16_t port = 443;
  std::string target = "/";  // path and query, as given (already percent-encoded)

  // "host:port" as used in a Host header and as the connection pool key
  // (IPv6 addresses in brackets).
  std::string authority() const;
};

// Parses an absolute https URL. Errors (code "invalid_url"): another scheme,
// user information ("user:pass@"), a fragment, an empty host, a bad port,
// spaces or control characters anywhere.
Result<HttpsUrl> parse_https_url(std::string_view text);

// An HTTP CONNECT proxy: "http://[user:password@]host:port[/]".
struct ProxyUrl {
  std::string host;
  std::uint16_t port = 0;
  // "user:password" (percent-decoded) for Proxy-Authorization: Basic; may be empty.
  std::string credentials;
};

// Parses a proxy URL. Errors (code "invalid_url"): a scheme other than http
// (TLS to the proxy itself is not supported), no port, a path other than "/",
// spaces or control characters.
Result<ProxyUrl> parse_proxy_url(std::string_view text);

// True when `host` matches `no_proxy`, a comma- or space-separated list as in
// curl's NO_PROXY: "*" matches everything; "example.com" and ".example.com"
// match that domain and its subdomains; IP addresses match exactly. Matching
// ignores case and ports in the entries.
bool host_matches_no_proxy(std::string_view host, std::string_view no_proxy);

struct ClientOptions {
  // Also trust the CA certificates of this PEM file (e.g. a company CA);
  // empty: the system store only.
  std::string ca_file;
  // Trust the system CA store (OpenSSL's default verify paths). Only tests
  // turn this off, to prove that a certificate from an unknown CA is refused.
  bool use_system_ca = true;
  // nullopt: take the proxy from the environment (https_proxy, then
  // HTTPS_PROXY). "": no proxy at all. Else an http:// proxy URL.
  std::optional<std::string> proxy;
  // Hosts reached directly, without the proxy. nullopt: from the environment
  // (no_proxy, then NO_PROXY). Format: see host_matches_no_proxy().
  std::optional<std::string> no_proxy;
  // Resolving, connecting (to the proxy too), CONNECT and the TLS handshake.
  std::chrono::milliseconds connect_timeout{5'000};
  // The whole request, connecting included, unless the call passes an
  // earlier deadline.
  std::chrono::milliseconds request_timeout{10'000};
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  // Idle keep-alive connections kept per host:port, and in total.
  std::size_t max_idle_per_host = 4;
  std::size_t max_idle_total = 16;
  // An idle connection older than this is closed, not reused.
  std::chrono::milliseconds idle_timeout{30'000};
  std::string user_agent = "tokend";
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;       // absolute https URL
  Headers headers;       // Host, User-Agent and Content-Length are set by the client
  std::string body;      // sent when non-empty (or when method is POST)
  // Optional absolute deadline for this call; the earlier of it and
  // now + request_timeout applies.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Reads `bytes` as everything a server sent on a connection before closing
// it, exactly as send() reads a response (the same Beast parser, limits and
// error mapping; the bytes arrive `read_size` at a time, 0 meaning all at
// once), and returns the first response in them. For tests and the fuzzer: a
// hostile provider's answer without a socket. Errors, by code: "too_large"
// (the status line and headers together over `max_header_bytes`, or the body
// over `max_body_bytes`), "bad_response" (not a valid HTTP/1.1 response, or
// cut short).
Result<ClientResponse> parse_response(std::string_view bytes, std::size_t max_header_bytes,
                                      std::size_t max_body_bytes, std::size_t read_size = 0);

class HttpsClient final {
 public:
  // A client with its own I/O thread. Errors (code "invalid_config"): the CA
  // file cannot be loaded, the system store cannot be loaded, or the proxy
  // (given or from the environment) is not a valid proxy URL.
  static Result<std::unique_ptr<HttpsClient>> create(ClientOptions options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Sends `request` and returns the complete response, whatever its status.
  // Errors, by code:
  //   "invalid_url"  - the URL is not an absolute https URL;
  //   "invalid_request" - the method is not GET or POST, or a header name
  //                    or value holds characters that could split it;
  //   "timeout"      - the deadline passed (connecting or waiting for data);
  //   "unreachable"  - the name does not resolve, the connection is refused
  //                    or reset, or the proxy refused the CONNECT;
  //   "tls_error"    - the TLS handshake failed: untrusted certificate,
  //                    wrong host name, no common protocol;
  //   "too_large"    - the response header or body is over its limit;
  //   "bad_response" - the response is not valid HTTP/1.1.
  // A GET that fails on a reused keep-alive connection before any response
  // byte arrived is retried once on a new connection.
  Result<ClientResponse> send(ClientRequest request);

  // send() of a GET.
  Result<ClientResponse> get(std::string url, Headers headers = {},
                             std::optional<std::chrono::steady_clock::time_point> deadline = {});

  // Counters, for tests and debugging.
  struct Stats {
    std::uint64_t connections_opened = 0;  // TLS connections established
    std::uint64_t connections_reused = 0;  // requests sent on a pooled connection
    std::uint64_t idle_connections = 0;    // in the pool right now
  };
  Stats stats() const;

  // The proxy in use after create() ("" when none), "host:port" only.
  std::string proxy_authority() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tokend::net
