#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tokend/app/worker_pool.hpp"

using tokend::app::WorkerPool;

namespace {

// Blocks the pool's (single) worker until release(): wait_started() tells when
// the worker is inside the job, so the queue state is known without sleeping.
// The job holds its own references to the shared state, and the destructor
// releases the worker, so a failed REQUIRE cannot leave the pool hanging.
// Declare a Gate after the pool it blocks.
class Gate {
 public:
  ~Gate() {
    if (!released_) release();
  }
  std::function<void()> job() {
    auto started = started_;
    auto released = release_future_;
    return [started, released] {
      started->set_value();
      released.wait();
    };
  }
  void wait_started() { started_future_.wait(); }
  void release() {
    released_ = true;
    release_.set_value();
  }

 private:
  std::shared_ptr<std::promise<void>> started_ = std::make_shared<std::promise<void>>();
  std::future<void> started_future_ = started_->get_future();
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
  bool released_ = false;
};

}  // namespace

TEST_CASE("WorkerPool runs posted jobs", "[app][pool]") {
  WorkerPool pool("test", 2, 100);
  CHECK(pool.threads() == 2);
  std::atomic<int> ran{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 50; ++i) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    REQUIRE(pool.try_post([&, p] {
      ++ran;
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      p->set_value();
    }));
  }
  for (auto& f : done) f.wait();
  CHECK(ran == 50);
  // Jobs run on the pool's threads, never on the caller's.
  CHECK(ids.count(std::this_thread::get_id()) == 0);
  CHECK(ids.size() <= 2);
}

TEST_CASE("WorkerPool has at least one thread", "[app][pool]") {
  WorkerPool pool("test", 0, 4);
  CHECK(pool.threads() == 1);
  std::promise<int> p;
  REQUIRE(pool.try_post([&p] { p.set_value(7); }));
  CHECK(p.get_future().get() == 7);
}

TEST_CASE("WorkerPool::try_post refuses jobs when the queue is full", "[app][pool]") {
  WorkerPool pool("test", 1, 2);
  Gate gate;
  REQUIRE(pool.try_post(gate.job()));
  gate.wait_started();  // the worker holds the gate job; the queue is empty
  CHECK(pool.queued() == 0);
  std::atomic<int> ran{0};
  CHECK(pool.try_post([&] { ++ran; }));
  CHECK(pool.try_post([&] { ++ran; }));
  CHECK(pool.queued() == 2);
  CHECK_FALSE(pool.try_post([&] { ++ran; }));
  CHECK_FALSE(pool.try_post([&] { ++ran; }));
  CHECK(pool.queued() == 2);
  gate.release();
  pool.stop();
  // The two accepted jobs ran; the refused ones never did.
  CHECK(ran == 2);
}

TEST_CASE("WorkerPool::stop lets queued jobs finish", "[app][pool]") {
  WorkerPool pool("test", 1, 1000);
  Gate gate;
  REQUIRE(pool.try_post(gate.job()));
  gate.wait_started();
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) REQUIRE(pool.try_post([&] { ++ran; }));

  // stop() from another thread: it must wait for the blocked job and then
  // drain the queue. Once it has begun, new jobs are refused.
  std::thread stopper([&] { pool.stop(); });
  int accepted_late = 0;
  while (pool.try_post([&] { ++ran; })) {
    ++accepted_late;
    std::this_thread::yield();
  }
  CHECK(ran == 0);  // the worker is still held by the gate
  gate.release();
  stopper.join();
  CHECK(ran == 10 + accepted_late);
  CHECK(pool.queued() == 0);
}

TEST_CASE("WorkerPool::try_post after stop is refused", "[app][pool]") {
  WorkerPool pool("test", 2, 10);
  pool.stop();
  bool ran = false;
  CHECK_FALSE(pool.try_post([&] { ran = true; }));
  CHECK_FALSE(ran);
  // stop() is idempotent.
  pool.stop();
  CHECK(pool.threads() == 0);
}

TEST_CASE("WorkerPool survives a job that throws", "[app][pool]") {
  WorkerPool pool("test", 1, 10);
  std::atomic<int> thrown{0};
  REQUIRE(pool.try_post([&] {
    ++thrown;
    throw std::runtime_error("boom");
  }));
  REQUIRE(pool.try_post([&] {
    ++thrown;
    throw 42;
  }));
  std::promise<void> after;
  REQUIRE(pool.try_post([&] { after.set_value(); }));
  // The worker thread is still alive and runs the next job.
  after.get_future().wait();
  CHECK(thrown == 2);
  CHECK(pool.threads() == 1);
}

TEST_CASE("WorkerPool's destructor drains the queue", "[app][pool]") {
  std::atomic<int> ran{0};
  {
    WorkerPool pool("test", 1, 100);
    Gate gate;
    REQUIRE(pool.try_post(gate.job()));
    gate.wait_started();
    for (int i = 0; i < 5; ++i) REQUIRE(pool.try_post([&] { ++ran; }));
    gate.release();
  }
  CHECK(ran == 5);
}
