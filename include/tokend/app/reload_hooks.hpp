// ReloadHooks: what tokend does on SIGHUP. Reload means "reopen the files
// tokend writes", so that logrotate (rename, then `systemctl reload tokend`)
// works: the log file (log.file) and, once it exists, the audit log. The
// configuration is NOT read again: settings change with a restart.
//
// serve() (src/app/app.cpp) builds one, adds the log file's reopen, and
// runs every hook on the worker pool when SIGHUP arrives. Another file
// writer joins with one line where it is built in serve():
//   reload.add("audit log", [&audit] { return audit.reopen(); });
//
// Thread-safety: add() before the server starts; run() from one thread at
// a time (serve() runs it on the worker pool).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tokend/common/result.hpp"

namespace tokend::app {

class ReloadHooks final {
 public:
  // `hook` returns an error when its file could not be reopened; the
  // failure is logged under `name` and the other hooks still run.
  void add(std::string name, std::function<Status()> hook) { hooks_.push_back({std::move(name), std::move(hook)}); }

  // Runs every hook in the order added. Returns how many failed (0: all
  // reopened); each failure is logged as an error with its name, and the
  // whole as "reload done: N reopened, M failed".
  int run() const;

  std::size_t size() const { return hooks_.size(); }

 private:
  struct Hook {
    std::string name;
    std::function<Status()> hook;
  };
  std::vector<Hook> hooks_;
};

}  // namespace tokend::app
