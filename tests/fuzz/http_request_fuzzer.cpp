// Fuzzes the HTTP request path as the server reads a request (src/http/session.cpp):
// the head must end within max_header_bytes, Beast's request_parser gets the
// same header and body limits, check_request_head (src/http/request_head.cpp)
// judges the parsed head, the body is decoded (chunked included), and an
// accepted request is routed by the real API (api::register_routes, over a
// SQLite store in a temporary folder, with no authenticator configured so
// that no password hash slows the fuzzer) and answered: every handler runs
// on the fuzzer's thread, deferred ones until their Responder answers.
//
// Checks, besides "no crash, no sanitizer report, no leak":
//   - an accepted head has exactly one Host on HTTP/1.1, at most one of each
//     singleton header, and a Transfer-Encoding only as a lone "chunked" on
//     HTTP/1.1 without Content-Length (the smuggling rules);
//   - the header fields the request keeps are those of the head: the
//     trailers of a chunked body never become headers;
//   - a decoded body is never larger than the body limit;
//   - every routed request gets exactly one answer, with a status from 100
//     to 599 and, for errors, a JSON body.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <stdlib.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "tokend/api/api.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/message.hpp"
#include "tokend/http/request_head.hpp"
#include "tokend/http/router.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/token/token_service.hpp"

namespace {

namespace bhttp = boost::beast::http;
namespace net = boost::asio;

constexpr std::size_t kMaxHeaderBytes = 8192;  // limits.max_header_bytes' default
constexpr std::size_t kMaxBodyBytes = 65536;   // limits.max_body_bytes' default

void require(bool ok) {
  if (!ok) std::abort();
}

// The API as tokend serves it, built once (the process is the fuzzer's): a
// database in a fresh temporary folder, the default configuration, no
// authenticator. Never destroyed: the store's committer thread lives as long
// as the process.
struct Api {
  Api() {
    char tmpl[] = "/tmp/tokend-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    config.database.path = std::string(tmpl) + "/tokend.db";
    auto opened = tokend::store::sqlite::SqliteStore::open(config.database);
    if (!opened.ok()) std::abort();
    store = std::move(*opened);
    registry = std::make_unique<tokend::auth::Registry>(
        tokend::auth::Registry::of(std::vector<std::unique_ptr<tokend::auth::Authenticator>>{}));
    throttle = std::make_unique<tokend::auth::LoginThrottle>(config.throttle, *store);
    login = std::make_unique<tokend::auth::LoginService>(*store, *throttle, metrics);
    tokens = std::make_unique<tokend::token::TokenService>(*store, config.tokens, metrics);
    sessions = std::make_unique<tokend::session::SessionService>(*store, config.sessions);
    ctx = std::make_unique<tokend::api::ApiContext>(
        tokend::api::ApiContext{config, *store, metrics, *registry, *login, *tokens, *sessions});
    tokend::api::register_routes(router, *ctx);
  }
  tokend::config::Config config;
  tokend::metrics::Metrics metrics;
  std::unique_ptr<tokend::store::Store> store;
  std::unique_ptr<tokend::auth::Registry> registry;
  std::unique_ptr<tokend::auth::LoginThrottle> throttle;
  std::unique_ptr<tokend::auth::LoginService> login;
  std::unique_ptr<tokend::token::TokenService> tokens;
  std::unique_ptr<tokend::session::SessionService> sessions;
  std::unique_ptr<tokend::api::ApiContext> ctx;
  tokend::http::Router router;
};

Api& api() {
  static Api* const instance = new Api();
  return *instance;
}

// Routes `request` as the server does and returns the answer, waiting for a
// deferred handler's Responder (bounded: a lost answer aborts).
tokend::http::HttpResponse answer(const tokend::http::HttpRequest& request) {
  tokend::http::Match m = api().router.match(request.method, request.path);
  if (!m.matched()) return std::move(m.immediate);
  if (m.handler) return m.handler(request, m.params);
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    int answers = 0;
    tokend::http::HttpResponse response;
  };
  auto slot = std::make_shared<Slot>();
  m.deferred(request, m.params, tokend::http::Responder([slot](tokend::http::HttpResponse&& r) {
               std::lock_guard lock(slot->mu);
               if (slot->answers++ == 0) slot->response = std::move(r);
               slot->cv.notify_all();
             }));
  std::unique_lock lock(slot->mu);
  if (!slot->cv.wait_for(lock, std::chrono::seconds(10), [&] { return slot->answers > 0; })) std::abort();
  require(slot->answers == 1);
  return std::move(slot->response);
}

int count(const std::vector<tokend::http::HeadField>& fields, std::string_view name) {
  int n = 0;
  for (const auto& f : fields) n += tokend::http::iequals(f.name, name) ? 1 : 0;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // As scan_head: the whole head, up to its CRLF CRLF, within the limit.
  const auto end = input.substr(0, kMaxHeaderBytes).find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;  // 431, or waits for more bytes
  const std::size_t head_len = end + 4;
  // As parse_head: a folded line is refused before Beast sees the head.
  if (tokend::http::has_folded_line(input.substr(0, head_len))) return 0;  // 400

  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(kMaxBodyBytes);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(net::buffer(input.data(), head_len), ec);
  if (ec || !parser.is_header_done()) return 0;  // a refused head: 400, 413 or 431

  const auto& msg = parser.get();
  tokend::http::HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  std::vector<tokend::http::HeadField> fields;
  for (const auto& f : msg) {
    request.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  for (const auto& [k, v] : request.headers) fields.push_back({k, v});
  tokend::http::HeadPolicy policy;
  if (size % 2 == 1) policy.server_names = {"tokens.example.org", "localhost:8080"};
  const auto verdict = tokend::http::check_request_head(msg.method_string(), msg.version(), fields, policy);
  if (!verdict.ok()) {
    require(verdict.status >= 400 && verdict.status < 600 && !verdict.error.empty());
    return 0;
  }
  if (msg.version() == 11) require(count(fields, "host") == 1);
  for (const char* name : {"host", "authorization", "origin", "cookie", "content-length", "content-type", "expect"}) {
    require(count(fields, name) <= 1);
  }
  if (count(fields, "transfer-encoding") > 0) {
    require(msg.version() == 11 && count(fields, "transfer-encoding") == 1 && count(fields, "content-length") == 0);
    require(tokend::http::iequals(*request.header("transfer-encoding"), "chunked"));
  }

  // The body, as read_body does (the rest of the input is what the client sent).
  if (!parser.is_done()) {
    std::string_view rest = input.substr(used);
    while (!rest.empty() && !ec && !parser.is_done()) {
      const std::size_t n = parser.put(net::buffer(rest.data(), rest.size()), ec);
      if (n == 0) break;
      rest.remove_prefix(n);
    }
    if (ec == bhttp::error::need_more) ec = {};
    if (!parser.is_done()) return 0;  // incomplete or refused: 400/413, or a timeout
  }
  request.body = parser.get().body();
  require(request.body.size() <= kMaxBodyBytes);
  // Trailers were merged into Beast's field list; the request kept the head's.
  require(request.headers.size() == fields.size());

  const auto q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  if (request.path.empty() || request.path.front() != '/') return 0;  // 400, as the server answers
  request.peer = "127.0.0.1";
  const tokend::http::HttpResponse r = answer(request);
  require(r.status >= 100 && r.status <= 599);
  if (r.status >= 400) require(r.body.rfind("{\"error\":", 0) == 0);
  return 0;
}
