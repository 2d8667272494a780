#include "tokend/http/router.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <atomic>
#include <future>

namespace tokend::http {

namespace {

// The segments of a path, without allocating: the router runs for every
// request. A path with more segments than kMaxSegments matches no route (none
// is that deep) and is a 404.
struct Segments {
  static constexpr std::size_t kMaxSegments = 16;
  std::array<std::string_view, kMaxSegments> items;
  std::size_t size = 0;
  bool too_many = false;
  std::string_view operator[](std::size_t i) const { return items[i]; }
};

Segments split_path(std::string_view path) {
  Segments out;
  std::size_t i = 0;
  if (!path.empty() && path[0] == '/') i = 1;
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    const auto end = j == std::string_view::npos ? path.size() : j;
    if (out.size == Segments::kMaxSegments) {
      out.too_many = true;
      break;
    }
    out.items[out.size++] = path.substr(i, end - i);
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

// Score: matched with fewer placeholders wins (literal routes beat {x}).
bool match_segments(const std::vector<std::string>& pattern, const Segments& path, RouteParams* params,
                    int* placeholders) {
  if (path.too_many || pattern.size() != path.size) return false;
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

struct Responder::State {
  explicit State(Sink s) : sink(std::move(s)) {}
  ~State() {
    if (!answered.exchange(true)) {
      // A destructor must not throw (the process would terminate): if even
      // the 500 cannot be sent (out of memory), the connection times out.
      try {
        sink(error_response(500, "internal_error", "Something went wrong on our side."));
      } catch (...) {
      }
    }
  }
  Sink sink;
  std::atomic<bool> answered{false};
};

Responder::Responder(Sink sink) : state_(std::make_shared<State>(std::move(sink))) {}

void Responder::operator()(HttpResponse&& response) const {
  if (!state_->answered.exchange(true)) state_->sink(std::move(response));
}

bool Responder::done() const { return state_->answered.load(); }

std::string_view RouteParams::get(std::string_view name) const {
  const auto it = values.find(name);
  return it == values.end() ? std::string_view{} : std::string_view(it->second);
}

void Router::add(std::string method, std::string pattern, RunOn run_on, Handler handler) {
  Route r;
  r.method = std::move(method);
  const Segments segs = split_path(pattern);
  if (segs.too_many) throw std::invalid_argument("route pattern too deep: " + pattern);
  for (std::size_t i = 0; i < segs.size; ++i) r.segments.emplace_back(segs[i]);
  r.pattern = std::move(pattern);
  r.run_on = run_on;
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Router::add_deferred(std::string method, std::string pattern, RunOn run_on, DeferredHandler handler) {
  add(std::move(method), std::move(pattern), run_on, nullptr);
  routes_.back().deferred = std::move(handler);
}

void Router::add(std::string method, std::string pattern, RunOn run_on, Handler handler, FastPath fast) {
  add(std::move(method), std::move(pattern), run_on, std::move(handler));
  routes_.back().fast = std::move(fast);
}

Match Router::match(std::string_view method, std::string_view path) const {
  const auto segs = split_path(path);
  const Route* best = nullptr;
  int best_ph = 1 << 20;
  for (const auto& r : routes_) {
    if (r.method != method && !(method == "HEAD" && r.method == "GET")) continue;
    int ph = 0;
    if (match_segments(r.segments, segs, nullptr, &ph) && ph < best_ph) {
      best = &r;
      best_ph = ph;
    }
  }
  Match m;
  if (best) {
    match_segments(best->segments, segs, &m.params, nullptr);
    m.handler = best->handler;
    m.deferred = best->deferred;
    m.fast = best->fast;
    m.run_on = best->run_on;
    m.route = best->pattern;
    return m;
  }
  // No route for this method: 405 if the path has routes for others, else 404.
  // Only failures pay for collecting the allowed methods.
  std::vector<std::string> allowed;
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

std::vector<std::string> Router::patterns() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) {
    if (std::find(out.begin(), out.end(), r.pattern) == out.end()) out.push_back(r.pattern);
  }
  return out;
}

HttpResponse Router::handle(const HttpRequest& request) const {
  Match m = match(request.method, request.path);
  if (!m.matched()) return m.immediate;
  HttpResponse r;
  std::optional<HttpResponse> fast;
  if (m.fast) fast = m.fast(request, m.params);
  if (fast) {
    r = std::move(*fast);
  } else if (m.handler) {
    r = m.handler(request, m.params);
  } else {
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto answer = promise->get_future();
    {
      Responder respond([promise](HttpResponse&& resp) { promise->set_value(std::move(resp)); });
      m.deferred(request, m.params, respond);
    }
    r = answer.get();
  }
  r.route = m.route;
  return r;
}

}  // namespace tokend::http
