#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tokend/metrics/metrics.hpp"

using tokend::metrics::Metrics;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

// The value of the sample line that starts with `series` + ' '.
std::string sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l.rfind(series + " ", 0) == 0) return l.substr(series.size() + 1);
  }
  INFO("no sample " << series << " in:\n" << text);
  REQUIRE(false);
  return {};
}

bool close_to(double a, double b, double tolerance) { return std::fabs(a - b) <= tolerance; }

}  // namespace

TEST_CASE("Metrics renders counters with HELP and TYPE", "[metrics]") {
  Metrics m;
  m.counter("tokend_logins_total", "Login attempts.").inc();
  m.counter("tokend_logins_total", "ignored: the first help wins").inc(4);
  const std::string text = m.render();
  INFO(text);
  CHECK(has_line(text, "# HELP tokend_logins_total Login attempts."));
  CHECK(has_line(text, "# TYPE tokend_logins_total counter"));
  CHECK(has_line(text, "tokend_logins_total 5"));
  CHECK(text.find("ignored") == std::string::npos);
  CHECK(text.back() == '\n');
  // HELP comes before TYPE, TYPE before the samples.
  CHECK(text.find("# HELP tokend_logins_total") < text.find("# TYPE tokend_logins_total"));
  CHECK(text.find("# TYPE tokend_logins_total") < text.find("tokend_logins_total 5"));
}

TEST_CASE("Metrics keeps one series per label set", "[metrics]") {
  Metrics m;
  auto& ok = m.counter("tokend_auth_total", "Auth outcomes.", {{"method", "userpass"}, {"outcome", "accepted"}});
  auto& bad = m.counter("tokend_auth_total", "Auth outcomes.", {{"method", "userpass"}, {"outcome", "rejected"}});
  CHECK(&ok != &bad);
  CHECK(&ok == &m.counter("tokend_auth_total", "Auth outcomes.", {{"method", "userpass"}, {"outcome", "accepted"}}));
  ok.inc(2);
  bad.inc();
  CHECK(ok.value() == 2);
  CHECK(bad.value() == 1);
  const std::string text = m.render();
  INFO(text);
  CHECK(has_line(text, "tokend_auth_total{method=\"userpass\",outcome=\"accepted\"} 2"));
  CHECK(has_line(text, "tokend_auth_total{method=\"userpass\",outcome=\"rejected\"} 1"));
  // One HELP/TYPE for the family.
  CHECK(text.find("# TYPE tokend_auth_total") == text.rfind("# TYPE tokend_auth_total"));
}

TEST_CASE("Metrics escapes label values", "[metrics]") {
  Metrics m;
  m.counter("x_total", "X.", {{"path", "a\"b\\c\nd"}}).inc();
  const std::string text = m.render();
  INFO(text);
  CHECK(has_line(text, "x_total{path=\"a\\\"b\\\\c\\nd\"} 1"));
  // The raw newline did not split the sample line.
  CHECK(text.find("c\nd") == std::string::npos);
}

TEST_CASE("Metrics renders histograms with cumulative buckets, +Inf, _sum and _count", "[metrics]") {
  Metrics m;
  auto& h = m.histogram("tokend_request_seconds", "Request latency.", {{"route", "/api/user"}});
  h.observe(0.0003);  // <= 0.0005
  h.observe(0.0005);  // == a bound: counts in that bucket (le)
  h.observe(0.002);   // <= 0.0025
  h.observe(0.3);     // <= 0.5
  h.observe(42);      // > 10: only +Inf
  const std::string text = m.render();
  INFO(text);
  CHECK(has_line(text, "# HELP tokend_request_seconds Request latency."));
  CHECK(has_line(text, "# TYPE tokend_request_seconds histogram"));
  const std::string p = "tokend_request_seconds_bucket{route=\"/api/user\",le=";
  CHECK(has_line(text, p + "\"0.0005\"} 2"));
  CHECK(has_line(text, p + "\"0.001\"} 2"));
  CHECK(has_line(text, p + "\"0.0025\"} 3"));
  CHECK(has_line(text, p + "\"0.25\"} 3"));
  CHECK(has_line(text, p + "\"0.5\"} 4"));
  CHECK(has_line(text, p + "\"10\"} 4"));
  CHECK(has_line(text, p + "\"+Inf\"} 5"));
  CHECK(has_line(text, "tokend_request_seconds_count{route=\"/api/user\"} 5"));
  const double sum = std::stod(sample(text, "tokend_request_seconds_sum{route=\"/api/user\"}"));
  CHECK(close_to(sum, 0.0003 + 0.0005 + 0.002 + 0.3 + 42, 1e-5));

  // Buckets never decrease, and +Inf equals _count.
  std::istringstream in(text);
  std::string l;
  long long prev = -1;
  int buckets = 0;
  while (std::getline(in, l)) {
    if (l.rfind(p, 0) != 0) continue;
    const long long v = std::stoll(l.substr(l.rfind(' ') + 1));
    CHECK(v >= prev);
    prev = v;
    ++buckets;
  }
  CHECK(buckets == static_cast<int>(h.bounds().size()) + 1);
  CHECK(prev == 5);
  CHECK(h.count() == 5);
}

TEST_CASE("Metrics renders a histogram without labels", "[metrics]") {
  Metrics m;
  m.histogram("tokend_hash_seconds", "Hash time.").observe(0.05);
  const std::string text = m.render();
  INFO(text);
  CHECK(has_line(text, "tokend_hash_seconds_bucket{le=\"0.05\"} 1"));
  CHECK(has_line(text, "tokend_hash_seconds_bucket{le=\"0.025\"} 0"));
  CHECK(has_line(text, "tokend_hash_seconds_bucket{le=\"+Inf\"} 1"));
  CHECK(has_line(text, "tokend_hash_seconds_count 1"));
  CHECK(close_to(std::stod(sample(text, "tokend_hash_seconds_sum")), 0.05, 1e-9));
  // An empty histogram renders zeros.
  Metrics e;
  e.histogram("empty_seconds", "Empty.");
  const std::string et = e.render();
  CHECK(has_line(et, "empty_seconds_bucket{le=\"+Inf\"} 0"));
  CHECK(has_line(et, "empty_seconds_count 0"));
  CHECK(std::stod(sample(et, "empty_seconds_sum")) == 0.0);
}

TEST_CASE("Metrics keeps the histogram sum exact enough for rate()", "[metrics]") {
  // A long-running server's _sum grows past a million seconds; its increments
  // must stay visible, or rate(_sum)/rate(_count) is a step function.
  Metrics m;
  auto& h = m.histogram("tokend_request_seconds", "Request latency.");
  h.observe(1'000'000.0);
  h.observe(0.25);
  CHECK(close_to(h.sum(), 1'000'000.25, 1e-6));
  const std::string text = m.render();
  INFO(text);
  const double rendered = std::stod(sample(text, "tokend_request_seconds_sum"));
  CHECK(close_to(rendered, 1'000'000.25, 1e-6));
}

TEST_CASE("Metrics counters are safe to increment from many threads", "[metrics]") {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10'000; ++i) {
        m.counter("c_total", "C.", {{"k", "v"}}).inc();
        m.histogram("h_seconds", "H.").observe(0.001);
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.render();
  CHECK(has_line(text, "c_total{k=\"v\"} 40000"));
  CHECK(has_line(text, "h_seconds_count 40000"));
  CHECK(has_line(text, "h_seconds_bucket{le=\"+Inf\"} 40000"));
}

namespace {

// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("Metrics families are rendered each once, in a stable order", "[metrics]") {
  Metrics m;
  // Created out of order, each with several series, histograms among them.
  m.counter("c_total", "C.", {{"k", "2"}}).inc();
  m.counter("b_total", "B.").inc();
  m.histogram("ab_seconds", "AB.", {{"route", "/y"}}).observe(0.1);
  m.counter("c_total", "C.", {{"k", "1"}}).inc();
  m.counter("a_total", "A.", {{"k", "x"}}).inc();
  m.histogram("ab_seconds", "AB.", {{"route", "/x"}}).observe(0.1);
  m.counter("a_total", "A.", {{"k", "y"}}).inc();
  const std::string first = m.render();
  INFO(first);
  CHECK(first == m.render());
  // Each family's HELP and TYPE exactly once, however many series it has.
  for (const std::string name : {"a_total", "ab_seconds", "b_total", "c_total"}) {
    CHECK(occurrences(first, "# HELP " + name + " ") == 1);
    CHECK(occurrences(first, "# TYPE " + name + " ") == 1);
  }
  // Families in name order, whatever order they were created in; each
  // family's series follow its TYPE line, also in order.
  const auto a = first.find("# HELP a_total ");
  const auto ab = first.find("# HELP ab_seconds ");
  const auto b = first.find("# HELP b_total ");
  const auto c = first.find("# HELP c_total ");
  CHECK(a < ab);
  CHECK(ab < b);
  CHECK(b < c);
  CHECK(first.find("a_total{k=\"x\"} 1") < first.find("a_total{k=\"y\"} 1"));
  CHECK(first.find("a_total{k=\"y\"} 1") < ab);
  CHECK(first.find("ab_seconds_count{route=\"/x\"} 1") < first.find("ab_seconds_count{route=\"/y\"} 1"));
  CHECK(first.find("c_total{k=\"1\"} 1") < first.find("c_total{k=\"2\"} 1"));
  CHECK(first.find("c_total{k=\"1\"} 1") > c);
  // A series added later lands in its family's place, not at the end.
  m.counter("b_total", "B.", {{"k", "z"}}).inc();
  const std::string second = m.render();
  CHECK(occurrences(second, "# HELP b_total ") == 1);
  CHECK(second.find("b_total{k=\"z\"} 1") < second.find("# HELP c_total "));
}

TEST_CASE("Metrics renders whole-number gauges as integers, fractions exactly", "[metrics]") {
  tokend::metrics::Metrics m;
  double v = 1'000'000;
  m.gauge("tokend_test_prefixes", "Prefixes.", [&v] { return v; });
  // Not the shortest form "1e+06": readers that parse integers would read 1.
  CHECK(m.render().find("tokend_test_prefixes 1000000\n") != std::string::npos);
  v = 0.25;
  CHECK(m.render().find("tokend_test_prefixes 0.25\n") != std::string::npos);
  v = 0;
  CHECK(m.render().find("tokend_test_prefixes 0\n") != std::string::npos);
}
