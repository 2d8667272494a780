#include "tokend/log/log.hpp"

#include <spdlog/async.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "tokend/common/text.hpp"

namespace tokend::log {

namespace {
constexpr std::size_t kQueueLines = 16384;

// spdlog's basic_file_sink, plus reopen(): after logrotate renamed the file,
// the next lines go to a new file of the configured name. The new file is
// opened before the old one is let go, so a failed reopen (disk full, folder
// gone) keeps logging into the old file instead of losing lines.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) : path_(path), file_(open(path)) {}

  // Throws spdlog_ex when the file cannot be opened; the old one stays.
  void reopen() {
    auto fresh = open(path_);
    std::lock_guard<std::mutex> lock(mutex_);
    file_.swap(fresh);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_->write(formatted);
  }
  void flush_() override { file_->flush(); }

 private:
  static std::unique_ptr<spdlog::details::file_helper> open(const std::string& path) {
    auto f = std::make_unique<spdlog::details::file_helper>();
    f->open(path, /*truncate=*/false);
    return f;
  }
  const std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
};

}  // namespace

Status init(std::string_view level, const std::string& file) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return Error{ErrorCode::kInvalidConfig, "log.level: unknown level '" + std::string(level) + "'"};
  }
  spdlog::sink_ptr sink;
  try {
    if (file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<ReopenableFileSink>(file);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Error{ErrorCode::kInvalidConfig, std::string("log.file: ") + e.what()};
  }
  // Asynchronous: an I/O thread hands the line to a queue and goes on; one
  // logging thread writes. A slow disk or a blocked stderr pipe must never
  // stall request handling. When the queue is full, callers wait rather than
  // drop lines: the log is the audit trail of sign-ins.
  spdlog::init_thread_pool(kQueueLines, 1);
  auto logger = std::make_shared<spdlog::async_logger>("tokend", sink, spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::block);
  logger->set_level(lvl);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  // The writer flushes after every line, so what was logged is on disk within
  // moments (and all of it after shutdown()).
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return ok_status();
}

void shutdown() {
  // The writer thread first: destroying the pool drains its queue (every
  // line is written) and joins the thread. Only then are the loggers
  // dropped, so nothing a line used is freed while the thread could still
  // touch it (a join is an ordering ThreadSanitizer sees; the reference
  // counts inside the uninstrumented libspdlog are not).
  spdlog::details::registry::instance().set_tp(nullptr);
  spdlog::shutdown();
}

Result<bool> reopen() {
  auto logger = spdlog::default_logger();
  if (!logger) return false;
  bool reopened = false;
  for (const auto& sink : logger->sinks()) {
    auto* file = dynamic_cast<ReopenableFileSink*>(sink.get());
    if (!file) continue;
    try {
      file->reopen();
      reopened = true;
    } catch (const spdlog::spdlog_ex& e) {
      return Error{ErrorCode::kStorageError, std::string("log.file: ") + e.what()};
    }
  }
  return reopened;
}

namespace {

bool is_secretish(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

bool secret_param(std::string_view name) {
  static constexpr std::string_view kNames[] = {"token", "access_token", "password", "code", "secret",
                                                "session", "key", "auth"};
  for (auto n : kNames) {
    if (name.size() >= n.size()) {
      if (ascii_lower(name).find(n) != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    // Query parameter named like a secret: redact its value.
    if ((text[i] == '?' || text[i] == '&') && i + 1 < text.size()) {
      const auto eq = text.find('=', i + 1);
      const auto amp = text.find('&', i + 1);
      if (eq != std::string_view::npos && (amp == std::string_view::npos || eq < amp) &&
          secret_param(text.substr(i + 1, eq - i - 1))) {
        out.append(text.substr(i, eq - i + 1));
        out += "[redacted]";
        i = amp == std::string_view::npos ? text.size() : amp;
        continue;
      }
    }
    // Long runs of token-like characters: a token pasted into a path.
    std::size_t j = i;
    while (j < text.size() && is_secretish(text[j])) ++j;
    if (j - i >= 32) {
      out += "[redacted]";
      i = j;
      continue;
    }
    if (j > i) {
      out.append(text.substr(i, j - i));
      i = j;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string printable(std::string_view text) {
  static constexpr std::size_t kMax = 128;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out;
}

}  // namespace tokend::log
