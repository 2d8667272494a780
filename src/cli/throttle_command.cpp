#include "cli/throttle_command.hpp"

#include <cstdio>
#include <iostream>

#include "tokend/auth/throttle.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/common/time.hpp"
#include "tokend/log/log.hpp"
#include "tokend/store/open.hpp"

namespace tokend::cli {

int throttle_command(const config::Config& config, const CommandLine& cl, audit::AuditLog* audit) {
  auto store = store::open(config.database);
  if (!store) {
    std::cerr << "tokend: " << store.error().message << "\n";
    return 1;
  }
  auth::LoginThrottle throttle(config.throttle, **store, nullptr);
  if (cl.command == Command::kThrottleList) {
    const TimeMs now = now_ms();
    auto locks = throttle.locks(now);
    if (!locks) {
      std::cerr << "tokend: " << locks.error().message << "\n";
      return 1;
    }
    std::printf("%-8s %-40s %-10s %-8s %s\n", "KIND", "NAME", "METHOD", "FAILURES", "LOCKED UNTIL");
    for (const auto& l : *locks) {
      // Usernames are typed by strangers: never let them put escape
      // sequences on the operator's terminal.
      std::printf("%-8s %-40s %-10s %-8d %s\n", l.kind.c_str(), log::printable(l.name).c_str(),
                  l.method.empty() ? "-" : log::printable(l.method).c_str(), l.failures,
                  format_iso8601(l.until).c_str());
    }
    return 0;
  }
  const bool by_user = cl.throttle_user.has_value();
  const std::string& name = by_user ? *cl.throttle_user : *cl.throttle_address;
  if (name.empty()) {
    std::cerr << "tokend: " << (by_user ? "--user" : "--address") << " needs a non-empty value\n";
    return 2;
  }
  const Status s = by_user ? throttle.unlock_username(name) : throttle.unlock_address(name);
  if (!s) {
    if (s.error().is_not_found()) {
      std::cerr << "tokend: no failures are recorded for " << (by_user ? "username " : "address ")
                << log::printable(name) << ": nothing to unlock\n";
    } else {
      std::cerr << "tokend: " << s.error().message << "\n";
    }
    return 1;
  }
  audit::record(audit, audit::Event{"throttle.unlocked", "cli",
                                    by_user ? "username:" + auth::normalize_username(name) : "address:" + name, "", "",
                                    nlohmann::json::object()});
  std::cout << (by_user ? "username " : "address ") << log::printable(name) << " unlocked\n";
  return 0;
}

}  // namespace tokend::cli
