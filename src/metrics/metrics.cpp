#include "tokend/metrics/metrics.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace tokend::metrics {

namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    out += out.empty() ? "" : ",";
    out += k + "=\"" + escape_label(v) + "\"";
  }
  return out;
}

std::string fmt_double(double v) {
  if (std::isinf(v)) return "+Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Sums grow without bound on a long-running server: print them with full
// precision, or rate(_sum) goes wrong once they pass a million.
std::string fmt_sum(double v) {
  // Whole numbers as integers ("1000000", not the shortest "1e+06", which a
  // reader that parses integers reads as 1).
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  // Shortest text that reads back as exactly this double.
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

const std::vector<double> kDefaultBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<std::uint64_t>(v * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const { return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6; }

Counter& Metrics::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{std::string(help)}).first;
  auto& slot = it->second.counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help)}).first;
    it->second.is_histogram = true;
  }
  auto& slot = it->second.histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(kDefaultBounds);
  return *slot;
}

void Metrics::gauge(std::string_view name, std::string_view help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{std::string(help)}).first;
  it->second.gauge = std::move(read);
}

void Metrics::remove_gauge(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = families_.find(name); it != families_.end() && it->second.gauge) families_.erase(it);
}

std::string Metrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  for (const auto& [name, fam] : families_) {
    out << "# HELP " << name << ' ' << escape_help(fam.help) << '\n';
    if (fam.gauge) {
      out << "# TYPE " << name << " gauge\n" << name << ' ' << fmt_sum(fam.gauge()) << '\n';
      continue;
    }
    out << "# TYPE " << name << (fam.is_histogram ? " histogram" : " counter") << '\n';
    for (const auto& [labels, c] : fam.counters) {
      out << name;
      if (!labels.empty()) out << '{' << labels << '}';
      out << ' ' << c->value() << '\n';
    }
    for (const auto& [labels, h] : fam.histograms) {
      const std::string sep = labels.empty() ? "" : ",";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h->bounds().size(); ++i) {
        cumulative += h->bucket(i);
        const std::string le = i < h->bounds().size() ? fmt_double(h->bounds()[i]) : "+Inf";
        out << name << "_bucket{" << labels << sep << "le=\"" << le << "\"} " << cumulative << '\n';
      }
      const std::string braces = labels.empty() ? "" : "{" + labels + "}";
      out << name << "_sum" << braces << ' ' << fmt_sum(h->sum()) << '\n';
      out << name << "_count" << braces << ' ' << h->count() << '\n';
    }
  }
  return out.str();
}

}  // namespace tokend::metrics
