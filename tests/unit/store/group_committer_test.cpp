// GroupCommitter without a database: the batch function is the test's, so
// these check the queueing, grouping and calling back that every backend
// shares.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/group_committer.hpp"

using tokend::Result;
using tokend::store::GroupCommitter;
using tokend::store::NewToken;
using tokend::store::TokenRecord;

namespace {

NewToken row(const std::string& name) {
  NewToken t;
  t.name = name;
  return t;
}

}  // namespace

TEST_CASE("GroupCommitter calls every caller back once with its row's result", "[store][threads]") {
  std::mutex mu;
  std::vector<std::size_t> sizes;
  std::atomic<std::int64_t> next_id{1};
  {
    GroupCommitter committer(
        [&](const std::vector<const NewToken*>& rows) {
          {
            std::lock_guard lock(mu);
            sizes.push_back(rows.size());
          }
          std::vector<Result<TokenRecord>> out;
          for (const NewToken* r : rows) {
            if (r->name == "bad") {
              out.emplace_back(tokend::Error{tokend::ErrorCode::kConflict, "duplicate"});
              continue;
            }
            TokenRecord t;
            t.id = next_id++;
            t.name = r->name;
            out.emplace_back(std::move(t));
          }
          return out;
        },
        4);
    auto one = committer.submit_and_wait(row("one"));
    REQUIRE(one.ok());
    CHECK(one->name == "one");
    auto bad = committer.submit_and_wait(row("bad"));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().is_conflict());

    std::atomic<int> ok{0};
    for (int i = 0; i < 20; ++i) {
      committer.submit(row("r" + std::to_string(i)), [&, i](Result<TokenRecord> r) {
        if (r.ok() && r->name == "r" + std::to_string(i)) ++ok;
      });
    }
    committer.wait_idle();
    CHECK(ok == 20);
  }
  for (std::size_t n : sizes) CHECK(n <= 4);  // max_group bounds a batch
}

TEST_CASE("GroupCommitter: a throwing batch fails its callers, the next batch works", "[store][threads]") {
  std::atomic<bool> fail{true};
  GroupCommitter committer(
      [&](const std::vector<const NewToken*>& rows) {
        if (fail.exchange(false)) throw std::runtime_error("out of memory");
        return std::vector<Result<TokenRecord>>(rows.size(), TokenRecord{});
      },
      8);
  auto first = committer.submit_and_wait(row("a"));
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().is_storage_error());
  CHECK(committer.submit_and_wait(row("b")).ok());
}

TEST_CASE("GroupCommitter refuses to wait for itself from a callback", "[store][threads]") {
  GroupCommitter* self = nullptr;
  GroupCommitter committer(
      [](const std::vector<const NewToken*>& rows) {
        return std::vector<Result<TokenRecord>>(rows.size(), TokenRecord{});
      },
      8);
  self = &committer;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool refused = false;
  committer.submit(row("outer"), [&](Result<TokenRecord>) {
    auto inner = self->submit_and_wait(row("inner"));
    self->wait_idle();  // returns at once on the committer thread
    std::lock_guard lock(mu);
    refused = !inner.ok() && inner.error().is_storage_error();
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  CHECK(refused);
}

TEST_CASE("GroupCommitter commits and calls back what is queued when destroyed", "[store][threads]") {
  std::atomic<int> called{0};
  {
    GroupCommitter committer(
        [](const std::vector<const NewToken*>& rows) {
          return std::vector<Result<TokenRecord>>(rows.size(), TokenRecord{});
        },
        2);
    for (int i = 0; i < 50; ++i) {
      committer.submit(row("x"), [&](Result<TokenRecord> r) {
        if (r.ok()) ++called;
      });
    }
  }
  CHECK(called == 50);
}

TEST_CASE("GroupCommitter commits the next group while the last one is called back, and calls back in commit order",
          "[store][threads]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> committed;  // row names, in commit order
  std::vector<std::string> called;     // row names, in callback order
  bool release = false;
  GroupCommitter committer(
      [&](const std::vector<const NewToken*>& rows) {
        std::lock_guard lock(mu);
        for (const NewToken* r : rows) committed.push_back(r->name);
        cv.notify_all();
        return std::vector<Result<TokenRecord>>(rows.size(), TokenRecord{});
      },
      1);
  auto callback = [&](const std::string& name, bool hold) {
    return [&, name, hold](Result<TokenRecord>) {
      std::unique_lock lock(mu);
      called.push_back(name);
      cv.notify_all();
      // The first callback holds its thread until the test has seen the
      // second row committed: the committer did not wait for it.
      if (hold) cv.wait(lock, [&] { return release; });
    };
  };
  committer.submit(row("first"), callback("first", true));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return called.size() == 1; });
  }
  committer.submit(row("second"), callback("second", false));
  committer.submit(row("third"), callback("third", false));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return committed.size() == 3; });
    CHECK(called == std::vector<std::string>{"first"});  // the others wait their turn
    release = true;
    cv.notify_all();
  }
  committer.wait_idle();
  std::lock_guard lock(mu);
  CHECK(committed == std::vector<std::string>{"first", "second", "third"});
  CHECK(called == std::vector<std::string>{"first", "second", "third"});
}
