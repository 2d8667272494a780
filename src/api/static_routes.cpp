// The web page: the files of web.root, read once at start and served from
// memory. Only files that existed at start are routes at all, so no request
// path ever reaches the file system (no traversal, no blocking read on an I/O
// thread).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "api/routes_internal.hpp"
#include "tokend/config/config.hpp"

namespace tokend::api {

namespace {

constexpr std::uintmax_t kMaxFileBytes = 2 * 1024 * 1024;
constexpr int kMaxFiles = 500;

// script-src 'self' with no 'unsafe-inline': an injected <script> or onclick=
// never runs. frame-ancestors 'none': no clickjacking of the Revoke button.
constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string content_type_for(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

}  // namespace

bool register_static_routes(http::Router& router, ApiContext& ctx) {
  namespace fs = std::filesystem;
  const fs::path root = ctx.config.web.root;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    spdlog::warn("web page disabled: {} is not a folder", root.string());
    return false;
  }
  int count = 0;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->file_size(ec) > kMaxFileBytes) continue;
    const fs::path rel = fs::relative(it->path(), root, ec);
    if (ec || rel.empty() || rel.string().front() == '.') continue;
    if (++count > kMaxFiles) break;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto response = std::make_shared<http::HttpResponse>();
    response->body = ss.str();
    response->headers.emplace_back("Content-Type", content_type_for(it->path()));
    response->headers.emplace_back("Content-Security-Policy", kCsp);
    response->headers.emplace_back("X-Frame-Options", "DENY");
    response->headers.emplace_back("Referrer-Policy", "same-origin");
    response->headers.emplace_back("Cache-Control", "no-cache");
    auto handler = [response](const http::HttpRequest&, const http::RouteParams&) { return *response; };
    const std::string url = "/" + rel.generic_string();
    router.add("GET", url, http::RunOn::kInline, handler);
    if (url == "/index.html") router.add("GET", "/", http::RunOn::kInline, handler);
  }
  if (ec) spdlog::warn("reading the web page folder {}: {}", root.string(), ec.message());
  spdlog::info("web page: {} files from {}", count, root.string());
  return true;
}

void register_routes(http::Router& router, ApiContext& ctx) {
  register_auth_routes(router, ctx);
  register_token_routes(router, ctx);
  register_system_routes(router, ctx);
  register_verify_routes(router, ctx);
  register_introspect_routes(router, ctx);
  register_admin_routes(router, ctx);
  if (ctx.config.web.enabled) register_static_routes(router, ctx);
}

}  // namespace tokend::api
