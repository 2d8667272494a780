#include "store/sqlite/throttle_queries.hpp"

namespace tokend::store::sqlite {

Result<ThrottleCount> ThrottleQueries::count(std::string_view key, TimeMs since) {
  auto st = c_.prepare(
      "SELECT COALESCE(SUM(in_flight = 0), 0), COALESCE(SUM(in_flight), 0) FROM throttle_attempts "
      "WHERE key = ? AND at > ?");
  if (!st) return st.error();
  st->bind(1, key).bind(2, since);
  if (st->step() != SQLITE_ROW) return db_error(c_, "counting throttle rows");
  return ThrottleCount{static_cast<int>(st->int64(0)), static_cast<int>(st->int64(1))};
}

Result<TimeMs> ThrottleQueries::nth_newest_failure(std::string_view key, TimeMs since, int n) {
  auto st = c_.prepare(
      "SELECT at FROM throttle_attempts WHERE key = ? AND at > ? AND in_flight = 0 "
      "ORDER BY at DESC LIMIT 1 OFFSET ?");
  if (!st) return st.error();
  st->bind(1, key).bind(2, since).bind(3, static_cast<std::int64_t>(n < 1 ? 0 : n - 1));
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "fewer failures"};
  if (rc != SQLITE_ROW) return db_error(c_, "reading throttle failures");
  return st->int64(0);
}

Result<std::int64_t> ThrottleQueries::insert(std::string_view key, TimeMs at, bool in_flight) {
  auto st = c_.prepare("INSERT INTO throttle_attempts (key, at, in_flight) VALUES (?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, key).bind(2, at).bind(3, static_cast<std::int64_t>(in_flight ? 1 : 0));
  if (st->step() != SQLITE_DONE) return db_error(c_, "recording a throttle row");
  return c_.last_insert_rowid();
}

Status ThrottleQueries::settle(std::int64_t id, TimeMs at) {
  auto st = c_.prepare("UPDATE throttle_attempts SET in_flight = 0, at = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, at).bind(2, id);
  if (st->step() != SQLITE_DONE) return db_error(c_, "settling a throttle row");
  return ok_status();
}

Status ThrottleQueries::move(std::int64_t id, std::string_view key) {
  auto st = c_.prepare("UPDATE throttle_attempts SET key = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, key).bind(2, id);
  if (st->step() != SQLITE_DONE) return db_error(c_, "moving a throttle row");
  return ok_status();
}

Status ThrottleQueries::erase(std::int64_t id) {
  auto st = c_.prepare("DELETE FROM throttle_attempts WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, id);
  if (st->step() != SQLITE_DONE) return db_error(c_, "deleting a throttle row");
  return ok_status();
}

Result<std::int64_t> ThrottleQueries::clear_failures(std::string_view key) {
  auto st = c_.prepare("DELETE FROM throttle_attempts WHERE key = ? AND in_flight = 0");
  if (!st) return st.error();
  st->bind(1, key);
  if (st->step() != SQLITE_DONE) return db_error(c_, "clearing throttle failures");
  return static_cast<std::int64_t>(c_.changes());
}

Status ThrottleQueries::trim(std::string_view key, int keep) {
  auto st = c_.prepare(
      "DELETE FROM throttle_attempts WHERE key = ? AND in_flight = 0 AND id NOT IN "
      "(SELECT id FROM throttle_attempts WHERE key = ? AND in_flight = 0 ORDER BY at DESC, id DESC LIMIT ?)");
  if (!st) return st.error();
  st->bind(1, key).bind(2, key).bind(3, static_cast<std::int64_t>(keep < 0 ? 0 : keep));
  if (st->step() != SQLITE_DONE) return db_error(c_, "trimming throttle failures");
  return ok_status();
}

Result<std::int64_t> ThrottleQueries::count_keys() {
  auto st = c_.prepare("SELECT COUNT(DISTINCT key) FROM throttle_attempts");
  if (!st) return st.error();
  if (st->step() != SQLITE_ROW) return db_error(c_, "counting throttle keys");
  return st->int64(0);
}

Result<std::int64_t> ThrottleQueries::rows_upper_bound() {
  // Two scalar subqueries: SQLite answers a lone max() or min() from the
  // primary key's b-tree, but scans the table for both in one SELECT.
  auto st = c_.prepare(
      "SELECT COALESCE((SELECT max(id) FROM throttle_attempts) - (SELECT min(id) FROM throttle_attempts) + 1, 0)");
  if (!st) return st.error();
  if (st->step() != SQLITE_ROW) return db_error(c_, "bounding the throttle rows");
  return st->int64(0);
}

Status ThrottleQueries::erase_before(TimeMs cutoff) {
  auto st = c_.prepare("DELETE FROM throttle_attempts WHERE at <= ?");
  if (!st) return st.error();
  st->bind(1, cutoff);
  if (st->step() != SQLITE_DONE) return db_error(c_, "purging throttle rows");
  return ok_status();
}

Status ThrottleQueries::erase_oldest_keys(std::int64_t n) {
  auto st = c_.prepare(
      "DELETE FROM throttle_attempts WHERE key IN "
      "(SELECT key FROM throttle_attempts GROUP BY key ORDER BY MAX(at), key LIMIT ?)");
  if (!st) return st.error();
  st->bind(1, n);
  if (st->step() != SQLITE_DONE) return db_error(c_, "evicting throttle keys");
  return ok_status();
}

Result<std::vector<ThrottleKeyCount>> ThrottleQueries::list_keys(TimeMs since) {
  auto st = c_.prepare(
      "SELECT key, COUNT(*) FROM throttle_attempts WHERE at > ? AND in_flight = 0 GROUP BY key ORDER BY key");
  if (!st) return st.error();
  st->bind(1, since);
  std::vector<ThrottleKeyCount> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back({st->text(0), static_cast<int>(st->int64(1))});
  if (rc != SQLITE_DONE) return db_error(c_, "listing throttle keys");
  return out;
}

}  // namespace tokend::store::sqlite
