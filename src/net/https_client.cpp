#include "tokend/net/https_client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "net/response_reader.hpp"
#include "tokend/net/url.hpp"

#include "tokend/common/text.hpp"

namespace tokend::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

bool has_forbidden_chars(std::string_view s) {
  // Spaces and control characters would let a URL or header value smuggle a
  // second header or request line into what we send.
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

bool header_value_ok(std::string_view s) {
  // Tabs and spaces are legal inside a header value; CR, LF and NUL are what
  // header injection needs, and other control characters have no business here.
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

bool header_name_ok(std::string_view s) {
  if (s.empty()) return false;
  static constexpr std::string_view kTokenChars = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kTokenChars.find(c) != std::string_view::npos;
  });
}


bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at create()
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool is_timeout(const error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

Error timeout_error(std::string_view what) { return Error{ErrorCode::kTimeout, std::string(what) + " timed out"}; }

}  // namespace

std::string HttpsUrl::authority() const { return host_port_text(host, port); }

Result<HttpsUrl> parse_https_url(std::string_view text) {
  if (has_forbidden_chars(text)) return Error{ErrorCode::kInvalidUrl, "URL contains spaces or control characters"};
  auto parts = parse_url(text);
  if (!parts) return Error{ErrorCode::kInvalidUrl, "invalid URL: " + parts.error().message};
  // A provider access token never travels in clear text.
  if (parts->scheme != "https") return Error{ErrorCode::kInvalidUrl, "URL must start with https://"};
  if (parts->has_fragment) return Error{ErrorCode::kInvalidUrl, "URL must not have a fragment"};
  // Credentials in a URL would end up in logs and Host headers; providers
  // take tokens in headers.
  if (parts->userinfo) return Error{ErrorCode::kInvalidUrl, "URL must not contain user information"};
  if (parts->host.empty()) return Error{ErrorCode::kInvalidUrl, "empty host"};
  if (parts->port == 0) return Error{ErrorCode::kInvalidUrl, "invalid port"};
  HttpsUrl url;
  url.host = std::move(parts->host);
  url.port = parts->port.value_or(443);
  if (!parts->target.empty()) {
    url.target = std::move(parts->target);
    if (url.target.front() == '?') url.target.insert(url.target.begin(), '/');
  }
  return url;
}

Result<ProxyUrl> parse_proxy_url(std::string_view text) {
  if (has_forbidden_chars(text)) return Error{ErrorCode::kInvalidUrl, "proxy URL contains spaces or control characters"};
  auto parts = parse_url(text);
  if (!parts) return Error{ErrorCode::kInvalidUrl, "invalid proxy URL: " + parts.error().message};
  if (parts->scheme != "http") {
    return Error{ErrorCode::kInvalidUrl, "proxy URL must start with http:// (the tunnel inside is TLS end to end)"};
  }
  if ((!parts->target.empty() && parts->target != "/") || parts->has_fragment) {
    return Error{ErrorCode::kInvalidUrl, "proxy URL must not have a path"};
  }
  if (parts->host.empty()) return Error{ErrorCode::kInvalidUrl, "empty host"};
  if (!parts->port || *parts->port == 0) return Error{ErrorCode::kInvalidUrl, "proxy URL needs a port"};
  ProxyUrl proxy;
  proxy.host = std::move(parts->host);
  proxy.port = *parts->port;
  proxy.credentials = parts->userinfo.value_or(std::string());
  return proxy;
}

bool host_matches_no_proxy(std::string_view host_in, std::string_view no_proxy) {
  std::string host = ascii_lower(host_in);
  std::size_t i = 0;
  while (i < no_proxy.size()) {
    auto j = no_proxy.find_first_of(", ", i);
    std::string entry = ascii_lower(no_proxy.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    i = j == std::string_view::npos ? no_proxy.size() : j + 1;
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '[') {  // "[::1]" or "[::1]:443"
      auto close = entry.find(']');
      entry = entry.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));  // "host:port": the port is ignored
    }
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<std::string_view> ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && ascii_lower(k) == ascii_lower(name)) return std::string_view(v);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------

using SslStream = beast::ssl_stream<beast::tcp_stream>;

struct Connection {
  Connection(asio::io_context& ioc, ssl::context& ctx) : stream(ioc, ctx) {}
  SslStream stream;
  Clock::time_point idle_since{};
};

using Promise = std::promise<Result<ClientResponse>>;

struct HttpsClient::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)), ssl_ctx(ssl::context::tls_client) {}

  ~Impl() {
    work.reset();
    ioc.stop();
    if (thread.joinable()) thread.join();
    idle.clear();  // the I/O thread is gone; sockets close here
  }

  Status init();
  asio::awaitable<void> run(ClientRequest request, HttpsUrl url, Clock::time_point deadline,
                            std::shared_ptr<Promise> promise);
  asio::awaitable<Result<ClientResponse>> exchange(const ClientRequest& request, const HttpsUrl& url,
                                                   Clock::time_point deadline);
  asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const HttpsUrl& url, Clock::time_point deadline);
  asio::awaitable<Status> tunnel(beast::tcp_stream& tcp, const HttpsUrl& url);
  std::unique_ptr<Connection> take_idle(const std::string& key);
  void put_idle(const std::string& key, std::unique_ptr<Connection> conn);

  ClientOptions options;
  std::optional<ProxyUrl> proxy;
  std::string no_proxy;
  // Declared before the io_context so that it outlives every stream that
  // points to it (members are destroyed in reverse order).
  ssl::context ssl_ctx;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  // Only touched on the I/O thread (and in the destructor after it stopped).
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle;
  std::size_t idle_total = 0;
  std::atomic<std::uint64_t> opened{0}, reused{0}, idle_count{0};
};

Status HttpsClient::Impl::init() {
  error_code ec;
  // TLS 1.2 is the oldest version without known practical breaks; every
  // provider we talk to supports it.
  if (SSL_CTX_set_min_proto_version(ssl_ctx.native_handle(), TLS1_2_VERSION) != 1) {
    return Error{ErrorCode::kInvalidConfig, "cannot set the minimum TLS version"};
  }
  ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression, ec);
  if (ec) return Error{ErrorCode::kInvalidConfig, "cannot set TLS options: " + ec.message()};
  // Certificate verification is not optional: without it anyone on the path
  // could answer for the provider and have any access token accepted.
  ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Error{ErrorCode::kInvalidConfig, "cannot enable certificate verification: " + ec.message()};
  if (options.use_system_ca) {
    ssl_ctx.set_default_verify_paths(ec);
    if (ec) return Error{ErrorCode::kInvalidConfig, "cannot load the system CA store: " + ec.message()};
  }
  if (!options.ca_file.empty()) {
    ssl_ctx.load_verify_file(options.ca_file, ec);
    if (ec) return Error{ErrorCode::kInvalidConfig, "cannot load CA file " + options.ca_file + ": " + ec.message()};
  }

  std::string proxy_text = options.proxy ? *options.proxy : env("https_proxy").value_or(env("HTTPS_PROXY").value_or(""));
  if (!proxy_text.empty()) {
    auto p = parse_proxy_url(proxy_text);
    if (!p) return Error{ErrorCode::kInvalidConfig, "proxy: " + p.error().message};
    proxy = std::move(*p);
  }
  no_proxy = options.no_proxy ? *options.no_proxy : env("no_proxy").value_or(env("NO_PROXY").value_or(""));

  work.emplace(ioc.get_executor());
  thread = std::thread([this] {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("https client: I/O thread caught: {}", e.what());
      }
    }
  });
  return ok_status();
}

std::unique_ptr<Connection> HttpsClient::Impl::take_idle(const std::string& key) {
  auto it = idle.find(key);
  if (it == idle.end()) return nullptr;
  auto& list = it->second;
  const auto now = Clock::now();
  std::unique_ptr<Connection> found;
  // Newest first: the most recently used connection is the likeliest alive.
  while (!list.empty() && !found) {
    auto conn = std::move(list.back());
    list.pop_back();
    --idle_total;
    if (now - conn->idle_since > options.idle_timeout) continue;
    // A connection the server closed (or wrote to while idle) is useless:
    // peek without blocking; 0 bytes means EOF, data means an alert or junk.
    char byte;
    auto fd = beast::get_lowest_layer(conn->stream).socket().native_handle();
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) found = std::move(conn);
  }
  if (list.empty()) idle.erase(it);
  idle_count = idle_total;
  return found;
}

void HttpsClient::Impl::put_idle(const std::string& key, std::unique_ptr<Connection> conn) {
  auto& list = idle[key];
  if (list.size() >= options.max_idle_per_host) {
    list.pop_front();  // drop the oldest of this host
    --idle_total;
  }
  if (idle_total >= options.max_idle_total) {
    // Evict the oldest idle connection anywhere.
    auto oldest = idle.end();
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      if (it->second.empty()) continue;
      if (oldest == idle.end() || it->second.front()->idle_since < oldest->second.front()->idle_since) oldest = it;
    }
    if (oldest != idle.end()) {
      oldest->second.pop_front();
      --idle_total;
    }
  }
  if (options.max_idle_per_host > 0 && options.max_idle_total > 0) {
    conn->idle_since = Clock::now();
    list.push_back(std::move(conn));
    ++idle_total;
  }
  for (auto it = idle.begin(); it != idle.end();) it = it->second.empty() ? idle.erase(it) : std::next(it);
  idle_count = idle_total;
}

asio::awaitable<Status> HttpsClient::Impl::tunnel(beast::tcp_stream& tcp, const HttpsUrl& url) {
  error_code ec;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, url.authority(), 11};
  req.set(bhttp::field::host, url.authority());
  req.set(bhttp::field::user_agent, options.user_agent);
  if (!proxy->credentials.empty()) {
    req.set(bhttp::field::proxy_authorization, "Basic " + base64(proxy->credentials));
  }
  co_await bhttp::async_write(tcp, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return is_timeout(ec) ? timeout_error("proxy CONNECT") : Error{ErrorCode::kUnreachable, "proxy: " + ec.message()};
  beast::flat_buffer buffer(16 * 1024);
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(8 * 1024);
  // A successful CONNECT answer has no body; the tunnel starts right after
  // the header (RFC 9110 §9.3.6).
  parser.skip(true);
  co_await bhttp::async_read(tcp, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return is_timeout(ec) ? timeout_error("proxy CONNECT") : Error{ErrorCode::kUnreachable, "proxy: " + ec.message()};
  const unsigned status = parser.get().result_int();
  if (status < 200 || status > 299) {
    co_return Error{ErrorCode::kUnreachable, "proxy refused CONNECT with status " + std::to_string(status)};
  }
  if (buffer.size() != 0) co_return Error{ErrorCode::kBadResponse, "proxy sent data before the TLS handshake"};
  co_return ok_status();
}

asio::awaitable<Result<std::unique_ptr<Connection>>> HttpsClient::Impl::connect(const HttpsUrl& url,
                                                                                  Clock::time_point deadline) {
  const auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
  const bool via_proxy = proxy && !host_matches_no_proxy(url.host, no_proxy);
  const std::string dial_host = via_proxy ? proxy->host : url.host;
  const std::uint16_t dial_port = via_proxy ? proxy->port : url.port;
  error_code ec;

  std::vector<tcp::endpoint> endpoints;
  if (auto address = asio::ip::make_address(dial_host, ec); !ec) {
    endpoints.emplace_back(address, dial_port);
  } else {
    tcp::resolver resolver(ioc);
    asio::steady_timer timer(ioc);
    timer.expires_at(connect_deadline);
    bool timed_out = false;
    timer.async_wait([&timed_out, &resolver](const error_code& tec) {
      if (!tec) {
        timed_out = true;
        resolver.cancel();
      }
    });
    auto results = co_await resolver.async_resolve(dial_host, std::to_string(dial_port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    if (timed_out) co_return timeout_error("resolving " + dial_host);
    if (ec) co_return Error{ErrorCode::kUnreachable, "cannot resolve " + dial_host + ": " + ec.message()};
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  auto conn = std::make_unique<Connection>(ioc, ssl_ctx);
  auto& tcp = beast::get_lowest_layer(conn->stream);
  tcp.expires_at(connect_deadline);
  co_await tcp.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (is_timeout(ec)) co_return timeout_error("connecting to " + dial_host);
    co_return Error{ErrorCode::kUnreachable, "cannot connect to " + dial_host + ": " + ec.message()};
  }
  if (via_proxy) {
    auto st = co_await tunnel(tcp, url);
    if (!st) co_return st.error();
  }

  // SNI lets a server with several names pick the right certificate. RFC
  // 6066 forbids IP literals in SNI, so those are sent without it.
  if (!is_ip_literal(url.host) && SSL_set_tlsext_host_name(conn->stream.native_handle(), url.host.c_str()) != 1) {
    co_return Error{ErrorCode::kTlsError, "cannot set SNI"};
  }
  // The chain must lead to a trusted CA (verify_peer, set on the context and
  // here again) and the leaf must be issued for the host we asked for:
  // otherwise any valid certificate for any name would do.
  conn->stream.set_verify_mode(ssl::verify_peer);
  conn->stream.set_verify_callback(ssl::host_name_verification(url.host));
  co_await conn->stream.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (is_timeout(ec)) co_return timeout_error("TLS handshake with " + url.host);
    std::string detail = ec.message();
    if (long vr = SSL_get_verify_result(conn->stream.native_handle()); vr != X509_V_OK) {
      detail = X509_verify_cert_error_string(vr);
    }
    co_return Error{ErrorCode::kTlsError, "TLS handshake with " + url.host + " failed: " + detail};
  }
  tcp.expires_never();
  ++opened;
  co_return std::move(conn);
}

asio::awaitable<Result<ClientResponse>> HttpsClient::Impl::exchange(const ClientRequest& request, const HttpsUrl& url,
                                                                    Clock::time_point deadline) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(url.target);
  req.version(11);
  req.set(bhttp::field::host, url.port == 443 ? (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host)
                                              : url.authority());
  req.set(bhttp::field::user_agent, options.user_agent);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty() || request.method == "POST") {
    req.body() = request.body;
    req.prepare_payload();
  }
  const std::string key = url.authority();
  const bool idempotent = request.method == "GET";

  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn = take_idle(key);
    const bool was_reused = conn != nullptr;
    if (!conn) {
      auto made = co_await connect(url, deadline);
      if (!made) co_return made.error();
      conn = std::move(made.value());
    } else {
      ++reused;
    }
    auto& tcp = beast::get_lowest_layer(conn->stream);
    tcp.expires_at(deadline);
    error_code ec;
    co_await bhttp::async_write(conn->stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (is_timeout(ec)) co_return timeout_error("sending the request");
      // A pooled connection may have been closed by the server a moment ago.
      if (was_reused && attempt == 0 && idempotent) continue;
      co_return Error{ErrorCode::kUnreachable, "sending the request failed: " + ec.message()};
    }

    ResponseReader reader(options.max_header_bytes, options.max_body_bytes);
    const std::size_t transferred = co_await bhttp::async_read_header(conn->stream, reader.buffer, reader.parser,
                                                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      if (auto st = reader.check_header(transferred); !st) co_return st.error();
      co_await bhttp::async_read(conn->stream, reader.buffer, reader.parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      if (is_timeout(ec)) co_return timeout_error("waiting for the response");
      const bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                          ec == asio::error::connection_reset || ec == ssl::error::stream_truncated;
      if (closed && !reader.parser.got_some() && was_reused && attempt == 0 && idempotent) continue;
      co_return ResponseReader::read_error(ec);
    }

    const bool keep_alive = reader.parser.get().keep_alive();
    auto out = reader.release();
    if (!out) co_return out.error();
    // Reuse only a connection whose state we know exactly: the server wants
    // keep-alive and sent nothing beyond this response.
    if (keep_alive && reader.buffer.size() == 0) {
      tcp.expires_never();
      put_idle(key, std::move(conn));
    }
    co_return out;
  }
}

asio::awaitable<void> HttpsClient::Impl::run(ClientRequest request, HttpsUrl url, Clock::time_point deadline,
                                             std::shared_ptr<Promise> promise) {
  try {
    promise->set_value(co_await exchange(request, url, deadline));
  } catch (const std::exception& e) {
    spdlog::error("https client: request to {} failed: {}", url.host, e.what());
    try {
      promise->set_value(Error{ErrorCode::kBadResponse, "internal error"});
    } catch (const std::future_error&) {
    }
  }
}

// ---------------------------------------------------------------------------

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

Result<std::unique_ptr<HttpsClient>> HttpsClient::create(ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto st = impl->init(); !st) return st.error();
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<ClientResponse> HttpsClient::send(ClientRequest request) {
  auto url = parse_https_url(request.url);
  if (!url) return url.error();
  if (request.method != "GET" && request.method != "POST") {
    return Error{ErrorCode::kInvalidRequest, "only GET and POST are supported"};
  }
  for (const auto& [name, value] : request.headers) {
    if (!header_name_ok(name) || !header_value_ok(value)) {
      return Error{ErrorCode::kInvalidRequest, "header name or value holds forbidden characters"};
    }
  }
  const auto now = Clock::now();
  auto deadline = now + impl_->options.request_timeout;
  if (request.deadline && *request.deadline < deadline) deadline = *request.deadline;
  if (deadline <= now) return timeout_error("request");

  auto promise = std::make_shared<Promise>();
  auto future = promise->get_future();
  auto host = url->host;
  asio::co_spawn(impl_->ioc, impl_->run(std::move(request), std::move(*url), deadline, promise), asio::detached);
  // Every step on the I/O thread has the deadline set, so the future is ready
  // by then; the extra second only guards against a bug or a stuck resolver.
  if (future.wait_until(deadline + std::chrono::seconds(1)) != std::future_status::ready) {
    spdlog::warn("https client: request to {} overran its deadline", host);
    return timeout_error("request");
  }
  return future.get();
}

Result<ClientResponse> HttpsClient::get(std::string url, Headers headers,
                                        std::optional<std::chrono::steady_clock::time_point> deadline) {
  ClientRequest request;
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.deadline = deadline;
  return send(std::move(request));
}

HttpsClient::Stats HttpsClient::stats() const {
  return Stats{impl_->opened.load(), impl_->reused.load(), impl_->idle_count.load()};
}

std::string HttpsClient::proxy_authority() const {
  if (!impl_->proxy) return "";
  const auto& p = *impl_->proxy;
  return (p.host.find(':') != std::string::npos ? "[" + p.host + "]" : p.host) + ":" + std::to_string(p.port);
}

}  // namespace tokend::net
