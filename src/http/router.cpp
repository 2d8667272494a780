#include "tokend/http/router.hpp"

#include <algorithm>

namespace tokend::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  if (!path.empty() && path[0] == '/') i = 1;
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    const auto end = j == std::string_view::npos ? path.size() : j;
    out.push_back(path.substr(i, end - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

// Score: matched with fewer placeholders wins (literal routes beat {x}).
bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path,
                    RouteParams* params, int* placeholders) {
  if (pattern.size() != path.size()) return false;
  int ph = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i])) {
      if (path[i].empty()) return false;
      ++ph;
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  if (params) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (is_param(pattern[i])) {
        params->values[pattern[i].substr(1, pattern[i].size() - 2)] = std::string(path[i]);
      }
    }
  }
  if (placeholders) *placeholders = ph;
  return true;
}

}  // namespace

std::string_view RouteParams::get(std::string_view name) const {
  const auto it = values.find(name);
  return it == values.end() ? std::string_view{} : std::string_view(it->second);
}

void Router::add(std::string method, std::string pattern, RunOn run_on, Handler handler) {
  Route r;
  r.method = std::move(method);
  for (auto seg : split_path(pattern)) r.segments.emplace_back(seg);
  r.pattern = std::move(pattern);
  r.run_on = run_on;
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

Match Router::match(std::string_view method, std::string_view path) const {
  const auto segs = split_path(path);
  const Route* best = nullptr;
  int best_ph = 1 << 20;
  std::vector<std::string> allowed;  // methods of every route matching the path
  std::string allowed_pattern;
  int allowed_ph = 1 << 20;
  for (const auto& r : routes_) {
    int ph = 0;
    if (!match_segments(r.segments, segs, nullptr, &ph)) continue;
    allowed.push_back(r.method);
    if (ph < allowed_ph) {
      allowed_ph = ph;
      allowed_pattern = r.pattern;
    }
    if ((r.method == method || (method == "HEAD" && r.method == "GET")) && ph < best_ph) {
      best = &r;
      best_ph = ph;
    }
  }
  Match m;
  if (best) {
    match_segments(best->segments, segs, &m.params, nullptr);
    m.handler = best->handler;
    m.run_on = best->run_on;
    m.route = best->pattern;
    return m;
  }
  if (!allowed.empty()) {
    if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allowed.push_back("HEAD");
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    std::string allow;
    for (const auto& a : allowed) allow += (allow.empty() ? "" : ", ") + a;
    m.immediate = error_response(405, "method_not_allowed", "This endpoint does not accept " +
                                     std::string(method) + ". Allowed: " + allow + ".");
    m.immediate.set_header("Allow", allow);
    m.route = allowed_pattern;
  } else {
    m.immediate = error_response(404, "not_found", "No such endpoint.");
    m.route = "unmatched";
  }
  m.immediate.route = m.route;
  return m;
}

HttpResponse Router::handle(const HttpRequest& request) const {
  Match m = match(request.method, request.path);
  if (!m.handler) return m.immediate;
  HttpResponse r = m.handler(request, m.params);
  r.route = m.route;
  return r;
}

}  // namespace tokend::http
