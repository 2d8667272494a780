#include "tokend/app/reload_hooks.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace tokend::app {

int ReloadHooks::run() const {
  int failed = 0;
  for (const auto& h : hooks_) {
    Status s = ok_status();
    // A hook that throws is a bug, but must not take the server down on a
    // routine SIGHUP from logrotate: count it as a failure.
    try {
      s = h.hook();
    } catch (const std::exception& e) {
      s = Error{ErrorCode::kInternalError, e.what()};
    }
    if (!s) {
      ++failed;
      spdlog::error("reload: reopening the {} failed: {}", h.name, s.error().message);
    }
  }
  spdlog::info("reload done: {} reopened, {} failed", hooks_.size() - static_cast<std::size_t>(failed), failed);
  return failed;
}

}  // namespace tokend::app
