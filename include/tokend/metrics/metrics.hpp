// Metrics: counters and histograms rendered in the Prometheus text format for
// GET /metrics. A family is a metric name; each label set is one series.
//
// Thread-safety: all methods are safe from any thread. counter()/histogram()
// take a mutex to find or create a series; the returned reference stays valid
// for the Metrics' lifetime, so hot paths look a series up once and keep it.
// inc()/observe() on a series are lock-free atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokend::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound (non-cumulative)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micro_{0};  // sum in millionths, to stay atomic
};

class Metrics final {
 public:
  // The series `name{labels}`; `help` is used when the family is first seen.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  // Latency-style histogram in seconds; default buckets 0.5 ms .. 10 s.
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {});

  // A gauge `name` (no labels) whose value `read` gives at each render().
  // `read` must be cheap, must not block and must not call this Metrics; what
  // it reads must outlive every later render() (or call remove_gauge first).
  void gauge(std::string_view name, std::string_view help, std::function<double()> read);
  void remove_gauge(std::string_view name);

  // The whole registry in Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  struct Family {
    explicit Family(std::string h) : help(std::move(h)) {}
    std::string help;
    bool is_histogram = false;
    std::function<double()> gauge;  // set: a gauge family
    std::map<std::string, std::unique_ptr<Counter>> counters;      // key: rendered labels
    std::map<std::string, std::unique_ptr<Histogram>> histograms;  // key: rendered labels
  };
  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace tokend::metrics
