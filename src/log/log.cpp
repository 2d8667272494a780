#include "tokend/log/log.hpp"

#include <spdlog/async.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "tokend/common/text.hpp"

namespace tokend::log {

namespace {
constexpr std::size_t kQueueLines = 16384;
// Lines gathered before they are written even while more are queued.
constexpr std::size_t kMaxBatchBytes = 64 * 1024;
// How long the writer lets lines gather once it has caught up with the queue,
// before it writes them: under load, one write and one wake-up per this many
// milliseconds instead of one per line (each wake-up of the writer thread is
// a context switch, which on a 2-core machine the I/O threads pay for).
constexpr auto kGatherFor = std::chrono::milliseconds(1);
// The oldest line of a batch is written at most this late, however steadily
// new lines keep the queue from emptying.
constexpr auto kMaxDelay = std::chrono::milliseconds(5);

// The one sink: lines are formatted into a buffer on the logging thread and
// written in batches: when the queue has stayed empty for kGatherFor, when the
// oldest buffered line is kMaxDelay old, when the buffer holds kMaxBatchBytes,
// at once for a warning or an error, and on every explicit flush (and at
// shutdown). Writes go to standard error, or to a file opened by name;
// reopen() (log rotation) switches to a new file of that name, opened before
// the old one is let go, so a failed reopen (disk full, folder gone) keeps
// logging into the old file instead of losing lines.
// Every call but reopen() comes from the logging thread (the async logger
// hands lines and flushes over its queue); reopen() takes the sink's lock.
class BatchingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // `path` empty: standard error.
  explicit BatchingSink(const std::string& path) : path_(path) {
    if (!path_.empty()) file_ = open(path_);
  }
  ~BatchingSink() override { write_out(); }

  // The queue whose length tells whether more lines are coming (the pool
  // outlives every call made on its thread); null: write every line at once.
  void set_pool(spdlog::details::thread_pool* pool) { pool_ = pool; }

  // Throws spdlog_ex when the file cannot be opened; the old one stays.
  void reopen() {
    if (path_.empty()) return;
    auto fresh = open(path_);
    std::lock_guard<std::mutex> lock(mutex_);
    write_out();  // what was gathered belongs to the old file
    file_.swap(fresh);
  }

  bool writes_file() const { return !path_.empty(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto now = std::chrono::steady_clock::now();
    if (buf_.size() == 0) oldest_ = now;
    formatter_->format(msg, buf_);
    if (pool_ == nullptr || msg.level >= spdlog::level::warn || buf_.size() >= kMaxBatchBytes ||
        now - oldest_ >= kMaxDelay) {
      return write_out();
    }
    if (pool_->queue_size() > 0) return;  // more lines are coming: a later one writes the batch
    std::this_thread::sleep_for(kGatherFor);
    if (pool_->queue_size() > 0) return;
    write_out();
  }

  // An explicit flush (logger->flush(), shutdown): everything gathered.
  void flush_() override { write_out(); }

 private:
  static std::unique_ptr<spdlog::details::file_helper> open(const std::string& path) {
    auto f = std::make_unique<spdlog::details::file_helper>();
    f->open(path, /*truncate=*/false);
    return f;
  }

  void write_out() {
    if (buf_.size() == 0) return;
    bool written = true;
    if (file_) {
      try {
        file_->write(buf_);
        file_->flush();
      } catch (const spdlog::spdlog_ex&) {
        written = false;  // a full disk: the batch is lost
      }
    } else {
      const char* p = buf_.data();
      std::size_t left = buf_.size();
      while (left > 0) {
        const ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // standard error closed or full: nowhere to write
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    }
    buf_.clear();
    // Said once per outage, where it can still be read (standard error),
    // and once more when writing works again.
    if (!written && !failing_) {
      std::fprintf(stderr, "tokend: log.file: cannot write to %s; log lines are lost until it works again\n",
                   path_.c_str());
    } else if (written && failing_) {
      std::fprintf(stderr, "tokend: log.file: writing to %s works again\n", path_.c_str());
    }
    failing_ = !written;
  }

  const std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
  spdlog::memory_buf_t buf_;
  spdlog::details::thread_pool* pool_ = nullptr;
  std::chrono::steady_clock::time_point oldest_{};  // when the first buffered line came
  bool failing_ = false;                            // the last file write failed
};

}  // namespace

Status init(std::string_view level, const std::string& file) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return Error{ErrorCode::kInvalidConfig, "log.level: unknown level '" + std::string(level) + "'"};
  }
  std::shared_ptr<BatchingSink> sink;
  try {
    sink = std::make_shared<BatchingSink>(file);
  } catch (const spdlog::spdlog_ex& e) {
    return Error{ErrorCode::kInvalidConfig, std::string("log.file: ") + e.what()};
  }
  // Asynchronous: an I/O thread hands the line to a queue and goes on; one
  // logging thread writes. A slow disk or a blocked stderr pipe must never
  // stall request handling. When the queue is full, callers wait rather than
  // drop lines: the log is the audit trail of sign-ins.
  spdlog::init_thread_pool(kQueueLines, 1);
  sink->set_pool(spdlog::thread_pool().get());
  auto logger = std::make_shared<spdlog::async_logger>("tokend", sink, spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::block);
  logger->set_level(lvl);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  // No flush per line: BatchingSink decides when to write (within about a
  // millisecond of the last line of a burst, at most kMaxDelay after the
  // first, at once for warnings and errors, and all of it after shutdown()).
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
    auto* file = dynamic_cast<BatchingSink*>(sink.get());
    if (!file || !file->writes_file()) continue;
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
