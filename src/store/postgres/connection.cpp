#include "store/postgres/connection.hpp"

#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace tokend::store::postgres {

namespace {

using Clock = std::chrono::steady_clock;

// Past statement_timeout, how long to wait for the server's own cancel
// before giving up on the connection.
constexpr int kGraceMs = 2000;

// Waits until the socket of `conn` is readable (or writable); false on the
// deadline or an error.
bool wait_socket(PGconn* conn, bool for_write, Clock::time_point deadline) {
  const int fd = PQsocket(conn);
  if (fd < 0) return false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// ---------------------------------------------------------------- Params, Rows

Params& Params::add(std::string_view text) {
  values_.emplace_back(std::string(text));
  formats_.push_back(0);
  return *this;
}
Params& Params::add(std::int64_t v) { return add(std::string_view(std::to_string(v))); }
Params& Params::add(bool v) { return add(std::string_view(v ? "true" : "false")); }
Params& Params::add_null() {
  values_.emplace_back(std::nullopt);
  formats_.push_back(0);
  return *this;
}
Params& Params::add_bytes(const void* data, std::size_t size) {
  values_.emplace_back(std::string(static_cast<const char*>(data), size));
  formats_.push_back(1);
  return *this;
}

std::int64_t Rows::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  std::int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

std::int64_t Rows::int64(int row, int col) const {
  const char* s = PQgetvalue(r_.get(), row, col);
  std::int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

std::optional<std::int64_t> Rows::opt_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

std::optional<std::string> Rows::opt_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

// ---------------------------------------------------------------- Connection

Result<std::unique_ptr<Connection>> Connection::open(const ConnectSettings& s) {
  // expand_dbname: the first "dbname" is the whole URI or keyword string;
  // the password from password_file, when given, comes after it and wins.
  std::vector<const char*> keys = {"dbname", "application_name"};
  std::vector<const char*> values = {s.conninfo.c_str(), "tokend"};
  if (!s.password.empty()) {
    keys.push_back("password");
    values.push_back(s.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 1);
  if (conn == nullptr) return Error{ErrorCode::kStorageError, "cannot connect to PostgreSQL: out of memory"};
  std::unique_ptr<Connection> c(new Connection(conn, s.password, s.statement_timeout_ms));
  const auto deadline = Clock::now() + std::chrono::milliseconds(s.connect_timeout_ms);
  auto failed = [&](const std::string& why) {
    return Error{ErrorCode::kStorageError, "cannot connect to PostgreSQL at " + c->where() + ": " + c->redact(why)};
  };
  if (PQstatus(conn) == CONNECTION_BAD) return failed(trim(PQerrorMessage(conn)));
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) return failed(trim(PQerrorMessage(conn)));
    if (!wait_socket(conn, st == PGRES_POLLING_WRITING, deadline)) {
      return failed("no answer within database.connect_timeout_ms (" + std::to_string(s.connect_timeout_ms) + " ms)");
    }
    st = PQconnectPoll(conn);
  }
  c->where_ = std::string(PQhost(conn) ? PQhost(conn) : "") + ":" + (PQport(conn) ? PQport(conn) : "") + "/" +
              (PQdb(conn) ? PQdb(conn) : "");
  // Every statement of this connection is bounded by the server too.
  if (auto r = c->exec_simple("SET statement_timeout = " + std::to_string(s.statement_timeout_ms), s.connect_timeout_ms);
      !r) {
    return r.error();
  }
  return c;
}

Connection::Connection(PGconn* conn, std::string password, int statement_timeout_ms)
    : conn_(conn), password_(std::move(password)), statement_timeout_ms_(statement_timeout_ms) {
  where_ = std::string(PQhost(conn) ? PQhost(conn) : "?") + ":" + (PQport(conn) ? PQport(conn) : "?") + "/" +
           (PQdb(conn) ? PQdb(conn) : "?");
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

std::string Connection::redact(std::string text) const {
  if (password_.empty()) return text;
  for (std::size_t pos = text.find(password_); pos != std::string::npos; pos = text.find(password_, pos)) {
    text.replace(pos, password_.size(), "********");
  }
  return text;
}

bool Connection::in_transaction() const {
  return conn_ != nullptr && PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

Clock::time_point Connection::deadline(int timeout_ms) const {
  return Clock::now() + std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : statement_timeout_ms_ + kGraceMs);
}

Error Connection::fail(const char* what, const std::string& detail) {
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  return Error{ErrorCode::kStorageError, std::string("PostgreSQL (") + where_ + "), " + what + ": " + redact(trim(detail))};
}

Result<PGresult*> Connection::next_result(Clock::time_point deadline, const char* what) {
  while (PQisBusy(conn_)) {
    if (!wait_socket(conn_, false, deadline)) {
      // A server that does not answer: nothing more can be read from this
      // connection in order, so it is closed and dropped.
      broken_ = true;
      PQfinish(conn_);
      conn_ = nullptr;
      return Error{ErrorCode::kStorageError,
                   std::string("PostgreSQL (") + where_ + "), " + what + ": no answer in time, connection closed"};
    }
    if (PQconsumeInput(conn_) == 0) {
      broken_ = true;
      return fail(what, PQerrorMessage(conn_));
    }
  }
  return PQgetResult(conn_);
}

Result<Rows> Connection::collect(Clock::time_point deadline, const char* what) {
  Rows last;
  std::optional<Error> error;
  for (;;) {
    auto r = next_result(deadline, what);
    if (!r) return r.error();
    PGresult* res = *r;
    if (res == nullptr) break;
    const auto status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      last = Rows(res);
    } else {
      if (!error) {
        const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        sqlstate_ = state ? state : "";
        error = fail(what, PQresultErrorMessage(res));
      }
      PQclear(res);
    }
  }
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  if (error) return *error;
  return last;
}

Status Connection::exec_simple(const std::string& sql, int timeout_ms) {
  sqlstate_.clear();
  if (broken()) return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "): connection lost"};
  if (PQsendQuery(conn_, sql.c_str()) == 0) return fail("sending a statement", PQerrorMessage(conn_));
  auto r = collect(deadline(timeout_ms), "running a statement");
  if (!r) return r.error();
  return ok_status();
}

Status Connection::prepare(const Query& q) {
  if (prepared_.count(q.name) != 0) return ok_status();
  sqlstate_.clear();
  if (broken()) return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "): connection lost"};
  if (PQsendPrepare(conn_, q.name, q.sql, 0, nullptr) == 0) return fail("preparing a statement", PQerrorMessage(conn_));
  auto r = collect(deadline(), "preparing a statement");
  if (!r) return r.error();
  prepared_.insert(q.name);
  return ok_status();
}

Result<Rows> Connection::exec(const Query& q, const Params& params) {
  if (auto s = prepare(q); !s) return s.error();
  sqlstate_.clear();
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (const auto& v : params.values_) {
    values.push_back(v ? v->data() : nullptr);
    lengths.push_back(v ? static_cast<int>(v->size()) : 0);
  }
  if (PQsendQueryPrepared(conn_, q.name, params.size(), values.data(), lengths.data(), params.formats_.data(), 0) ==
      0) {
    return fail(q.name, PQerrorMessage(conn_));
  }
  return collect(deadline(), q.name);
}

Result<std::vector<Result<Rows>>> Connection::pipeline(const std::vector<Step>& batch) {
  sqlstate_.clear();
  if (broken()) return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "): connection lost"};
  if (PQenterPipelineMode(conn_) == 0) return fail("entering pipeline mode", PQerrorMessage(conn_));
  // The connection stays in blocking mode: the whole batch (at most a few
  // hundred small rows) is written before any answer is read, which the
  // socket buffers hold on both sides.
  for (const auto& step : batch) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const auto& v : step.params.values_) {
      values.push_back(v ? v->data() : nullptr);
      lengths.push_back(v ? static_cast<int>(v->size()) : 0);
    }
    if (PQsendQueryPrepared(conn_, step.query->name, step.params.size(), values.data(), lengths.data(),
                            step.params.formats_.data(), 0) == 0) {
      broken_ = true;  // half a pipeline cannot be taken back: drop the connection
      return fail("sending a pipeline", PQerrorMessage(conn_));
    }
  }
  if (PQpipelineSync(conn_) == 0) {
    broken_ = true;
    return fail("sending a pipeline", PQerrorMessage(conn_));
  }
  const auto until = deadline();
  std::vector<Result<Rows>> out;
  out.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto r = next_result(until, "pipeline");
    if (!r) return r.error();
    PGresult* res = *r;
    if (res == nullptr) {
      broken_ = true;
      return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "), pipeline: missing result"};
    }
    const auto status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      out.emplace_back(Rows(res));
    } else {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (sqlstate_.empty() && state != nullptr) sqlstate_ = state;
      const std::string msg = status == PGRES_PIPELINE_ABORTED ? "not run: an earlier statement failed"
                                                               : PQresultErrorMessage(res);
      out.emplace_back(fail(batch[i].query->name, msg));
      PQclear(res);
    }
    // Each statement's results end with a null result.
    auto end = next_result(until, "pipeline");
    if (!end) return end.error();
    if (*end != nullptr) {
      PQclear(*end);
      broken_ = true;
      return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "), pipeline: unexpected result"};
    }
  }
  auto sync = next_result(until, "pipeline");
  if (!sync) return sync.error();
  if (*sync == nullptr || PQresultStatus(*sync) != PGRES_PIPELINE_SYNC) {
    if (*sync != nullptr) PQclear(*sync);
    broken_ = true;
    return Error{ErrorCode::kStorageError, "PostgreSQL (" + where_ + "), pipeline: no sync"};
  }
  PQclear(*sync);
  if (PQexitPipelineMode(conn_) == 0) {
    broken_ = true;
    return fail("leaving pipeline mode", PQerrorMessage(conn_));
  }
  return out;
}

}  // namespace tokend::store::postgres
