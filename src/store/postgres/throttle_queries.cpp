#include "store/postgres/throttle_queries.hpp"

namespace tokend::store::postgres {

namespace {

const Query kCount{"thr_count",
                   "SELECT count(*) FILTER (WHERE NOT in_flight), count(*) FILTER (WHERE in_flight) "
                   "FROM throttle_attempts WHERE key = $1 AND at > $2"};
const Query kNth{"thr_nth",
                 "SELECT at FROM throttle_attempts WHERE key = $1 AND at > $2 AND NOT in_flight "
                 "ORDER BY at DESC LIMIT 1 OFFSET $3"};
const Query kInsert{"thr_insert", "INSERT INTO throttle_attempts (key, at, in_flight) VALUES ($1, $2, $3) RETURNING id"};
const Query kSettle{"thr_settle", "UPDATE throttle_attempts SET in_flight = false, at = $2 WHERE id = $1"};
const Query kMove{"thr_move", "UPDATE throttle_attempts SET key = $2 WHERE id = $1"};
const Query kErase{"thr_erase", "DELETE FROM throttle_attempts WHERE id = $1"};
const Query kClear{"thr_clear", "DELETE FROM throttle_attempts WHERE key = $1 AND NOT in_flight"};
const Query kTrim{"thr_trim",
                  "DELETE FROM throttle_attempts WHERE key = $1 AND NOT in_flight AND id NOT IN "
                  "(SELECT id FROM throttle_attempts WHERE key = $1 AND NOT in_flight ORDER BY at DESC, id DESC "
                  "LIMIT $2)"};
const Query kCountKeys{"thr_count_keys", "SELECT count(DISTINCT key) FROM throttle_attempts"};
const Query kRowsBound{"thr_rows_bound",
                       "SELECT COALESCE((SELECT max(id) FROM throttle_attempts) - "
                       "(SELECT min(id) FROM throttle_attempts) + 1, 0)"};
const Query kEraseBefore{"thr_erase_before", "DELETE FROM throttle_attempts WHERE at <= $1"};
const Query kEraseOldest{"thr_erase_oldest",
                         "DELETE FROM throttle_attempts WHERE key IN (SELECT key FROM throttle_attempts GROUP BY key "
                         "ORDER BY max(at), key COLLATE \"C\" LIMIT $1)"};
const Query kListKeys{"thr_list_keys",
                      "SELECT key, count(*) FROM throttle_attempts WHERE at > $1 AND NOT in_flight GROUP BY key "
                      "ORDER BY key COLLATE \"C\""};

}  // namespace

Result<ThrottleCount> ThrottleQueries::count(std::string_view key, TimeMs since) {
  auto r = c_.exec(kCount, Params().add(key).add(std::int64_t{since}));
  if (!r) return r.error();
  return ThrottleCount{static_cast<int>(r->int64(0, 0)), static_cast<int>(r->int64(0, 1))};
}

Result<TimeMs> ThrottleQueries::nth_newest_failure(std::string_view key, TimeMs since, int n) {
  auto r = c_.exec(kNth, Params().add(key).add(std::int64_t{since}).add(std::int64_t{n < 1 ? 0 : n - 1}));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "fewer failures"};
  return r->int64(0, 0);
}

Result<std::int64_t> ThrottleQueries::insert(std::string_view key, TimeMs at, bool in_flight) {
  auto r = c_.exec(kInsert, Params().add(key).add(std::int64_t{at}).add(in_flight));
  if (!r) return r.error();
  return r->int64(0, 0);
}

Status ThrottleQueries::settle(std::int64_t id, TimeMs at) {
  auto r = c_.exec(kSettle, Params().add(id).add(std::int64_t{at}));
  return r ? ok_status() : Status(r.error());
}

Status ThrottleQueries::move(std::int64_t id, std::string_view key) {
  auto r = c_.exec(kMove, Params().add(id).add(key));
  return r ? ok_status() : Status(r.error());
}

Status ThrottleQueries::erase(std::int64_t id) {
  auto r = c_.exec(kErase, Params().add(id));
  return r ? ok_status() : Status(r.error());
}

Result<std::int64_t> ThrottleQueries::clear_failures(std::string_view key) {
  auto r = c_.exec(kClear, Params().add(key));
  if (!r) return r.error();
  return r->affected();
}

Status ThrottleQueries::trim(std::string_view key, int keep) {
  auto r = c_.exec(kTrim, Params().add(key).add(std::int64_t{keep < 0 ? 0 : keep}));
  return r ? ok_status() : Status(r.error());
}

Result<std::int64_t> ThrottleQueries::count_keys() {
  auto r = c_.exec(kCountKeys);
  if (!r) return r.error();
  return r->int64(0, 0);
}

Result<std::int64_t> ThrottleQueries::rows_upper_bound() {
  auto r = c_.exec(kRowsBound);
  if (!r) return r.error();
  return r->int64(0, 0);
}

Status ThrottleQueries::erase_before(TimeMs cutoff) {
  auto r = c_.exec(kEraseBefore, Params().add(std::int64_t{cutoff}));
  return r ? ok_status() : Status(r.error());
}

Status ThrottleQueries::erase_oldest_keys(std::int64_t n) {
  auto r = c_.exec(kEraseOldest, Params().add(n));
  return r ? ok_status() : Status(r.error());
}

Result<std::vector<ThrottleKeyCount>> ThrottleQueries::list_keys(TimeMs since) {
  auto r = c_.exec(kListKeys, Params().add(std::int64_t{since}));
  if (!r) return r.error();
  std::vector<ThrottleKeyCount> out;
  for (int i = 0; i < r->size(); ++i) out.push_back({r->text(i, 0), static_cast<int>(r->int64(i, 1))});
  return out;
}

}  // namespace tokend::store::postgres
