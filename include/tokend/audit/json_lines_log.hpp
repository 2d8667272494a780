// JsonLinesAuditLog: the AuditLog sink. Each event is one JSON object on one
// line ("JSON lines"), written to its own file or to standard output
// (audit.path, docs/configuration.md; the schema is in docs/operations.md,
// "Audit log").
//
// A file is opened with O_APPEND and each line goes out in one write(2), so
// lines from several threads (or a CLI command and the server writing the
// same file) never interleave. reopen() closes and reopens the file by its
// path: after logrotate has renamed it, new lines go to a new file (the
// server calls it on SIGHUP).
//
// Writes are synchronous: record() is called from worker threads (and the
// store's completion thread), never from an I/O thread, and a local append costs
// about what a log line does. A failed write is logged once (until a write
// succeeds again) and counted in lost().
//
// Thread-safety: record(), reopen() and lost() are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "tokend/audit/audit_log.hpp"
#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"

namespace tokend::audit {

// The line of `event` at time `t`, with its final '\n': {"time": ISO-8601 UTC
// with ms, "event", "actor", "subject", "client", "request_id", then the
// detail's fields (a detail field never replaces one of those six)}. Text
// that is not valid UTF-8 is replaced (U+FFFD), never dropped or thrown on.
std::string format_line(const Event& event, TimeMs t);

class JsonLinesAuditLog final : public AuditLog {
 public:
  // The sink writing to `path` ("-": standard output; `to_stderr_for_dash`
  // sends "-" to standard error instead, for CLI commands whose standard
  // output is their answer). Error kInvalidConfig when the file cannot be
  // opened for appending (created 0600 when missing).
  static Result<std::unique_ptr<JsonLinesAuditLog>> open(const std::string& path, bool to_stderr_for_dash = false);
  ~JsonLinesAuditLog() override;

  void record(const Event& event) override;
  // Reopens the file at the same path (a no-op for standard output). On
  // failure the old descriptor is kept and the error returned (kStorageError).
  Status reopen();
  // Events that could not be written.
  std::uint64_t lost() const { return lost_.load(); }
  const std::string& path() const { return path_; }

 private:
  JsonLinesAuditLog(std::string path, int fd, bool owned) : path_(std::move(path)), fd_(fd), owned_(owned) {}
  std::string path_;
  std::mutex mu_;  // guards fd_ against reopen(); the write itself is atomic
  int fd_;
  bool owned_;
  bool failing_ = false;  // under mu_: the last write failed (logged once)
  std::atomic<std::uint64_t> lost_{0};
};

}  // namespace tokend::audit
