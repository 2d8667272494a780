// ThrottleQueries: the login throttle's primitives of the Store interface
// (store.hpp, ThrottleTransaction) as SQL on one connection, on the table
// throttle_attempts (migration 3). SqliteStore runs them inside a BEGIN
// IMMEDIATE transaction (Store::in_throttle_transaction): SQLite's write lock
// serialises them across threads and processes sharing the file.
//
// Thread-safety: as its Connection: one thread at a time.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "store/sqlite/connection.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store::sqlite {

class ThrottleQueries final : public ThrottleTransaction {
 public:
  // REQUIRES: `c` outlives this object.
  explicit ThrottleQueries(Connection& c) : c_(c) {}

  // See ThrottleTransaction (store.hpp) for each result.
  Result<ThrottleCount> count(std::string_view key, TimeMs since) override;
  Result<TimeMs> nth_newest_failure(std::string_view key, TimeMs since, int n) override;
  Result<std::int64_t> insert(std::string_view key, TimeMs at, bool in_flight) override;
  Status settle(std::int64_t id, TimeMs at) override;
  Status move(std::int64_t id, std::string_view key) override;
  Status erase(std::int64_t id) override;
  Result<std::int64_t> clear_failures(std::string_view key) override;
  Status trim(std::string_view key, int keep) override;
  Result<std::int64_t> count_keys() override;
  Result<std::int64_t> rows_upper_bound() override;
  Status erase_before(TimeMs cutoff) override;
  Status erase_oldest_keys(std::int64_t n) override;
  Result<std::vector<ThrottleKeyCount>> list_keys(TimeMs since) override;

 private:
  Connection& c_;
};

}  // namespace tokend::store::sqlite
