#include "tokend/audit/json_lines_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "tokend/log/log.hpp"

namespace tokend::audit {

void record(AuditLog* log, Event event, const RequestContext& rc) {
  if (log == nullptr) return;
  if (event.client.empty()) event.client = rc.client;
  if (event.request_id.empty()) event.request_id = rc.request_id;
  log->record(event);
}

std::string typed_username(std::string_view text) { return log::printable(text); }

std::string format_line(const Event& e, TimeMs t) {
  // nlohmann's object keeps keys sorted; the fixed six win over a detail
  // field of the same name (a detail can never forge who or when).
  nlohmann::json j = e.detail.is_object() ? e.detail : nlohmann::json::object();
  j["time"] = format_iso8601(t);
  j["event"] = e.event;
  j["actor"] = e.actor;
  j["subject"] = e.subject;
  j["client"] = e.client;
  j["request_id"] = e.request_id;
  // A username as typed may hold any bytes: replaced, never thrown on. The
  // JSON encoder escapes control characters, so a value cannot end the line.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  return line;
}

namespace {

int open_append(const std::string& path) {
  // 0600: the trail says who signed in from where; only the service reads it.
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

}  // namespace

Result<std::unique_ptr<JsonLinesAuditLog>> JsonLinesAuditLog::open(const std::string& path, bool to_stderr_for_dash) {
  if (path == "-") {
    const int fd = to_stderr_for_dash ? STDERR_FILENO : STDOUT_FILENO;
    return std::unique_ptr<JsonLinesAuditLog>(new JsonLinesAuditLog(path, fd, false));
  }
  const int fd = open_append(path);
  if (fd < 0) {
    return Error{ErrorCode::kInvalidConfig, "audit.path: cannot open " + path + " for appending: " +
                                                std::strerror(errno)};
  }
  return std::unique_ptr<JsonLinesAuditLog>(new JsonLinesAuditLog(path, fd, true));
}

JsonLinesAuditLog::~JsonLinesAuditLog() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void JsonLinesAuditLog::record(const Event& event) {
  std::string line;
  try {
    line = format_line(event, now_ms());
  } catch (const std::exception& e) {
    lost_.fetch_add(1);
    spdlog::error("audit: could not format an event {}: {}", log::printable(event.event), e.what());
    return;
  }
  std::lock_guard lock(mu_);
  // One write(2) per line: with O_APPEND the kernel places it at the end in
  // one piece, whoever else appends to the file.
  ssize_t n;
  do {
    n = ::write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(line.size())) {
    if (failing_) spdlog::warn("audit: writing to {} works again", path_);
    failing_ = false;
    return;
  }
  lost_.fetch_add(1);
  if (!failing_) {
    spdlog::error("audit: could not write to {}: {} (further failures counted, not logged)", path_,
                  n < 0 ? std::strerror(errno) : "short write");
  }
  failing_ = true;
}

Status JsonLinesAuditLog::reopen() {
  if (!owned_) return ok_status();
  const int fd = open_append(path_);
  if (fd < 0) return Error{ErrorCode::kStorageError, "cannot reopen " + path_ + ": " + std::strerror(errno)};
  int old;
  {
    std::lock_guard lock(mu_);
    old = fd_;
    fd_ = fd;
  }
  ::close(old);
  return ok_status();
}

}  // namespace tokend::audit
