#include "auth/ldap/ldap_watchdog.hpp"

#include <sys/socket.h>

namespace tokend::auth::ldap {

LdapWatchdog::LdapWatchdog() : thread_([this] { run(); }) {}

LdapWatchdog::~LdapWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::uint64_t LdapWatchdog::arm(int fd, Clock::time_point deadline) {
  std::uint64_t ticket;
  {
    std::lock_guard lock(mu_);
    ticket = next_++;
    armed_.emplace(ticket, Armed{fd, deadline});
  }
  cv_.notify_all();
  return ticket;
}

bool LdapWatchdog::disarm(std::uint64_t ticket) {
  std::lock_guard lock(mu_);
  armed_.erase(ticket);
  return fired_.erase(ticket) > 0;
}

void LdapWatchdog::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto earliest = Clock::time_point::max();
    const auto now = Clock::now();
    for (auto it = armed_.begin(); it != armed_.end();) {
      if (it->second.deadline <= now) {
        // Under the lock: disarm() cannot return (and the owner cannot close
        // the descriptor) while this runs.
        ::shutdown(it->second.fd, SHUT_RDWR);
        fired_.insert(it->first);
        it = armed_.erase(it);
      } else {
        earliest = std::min(earliest, it->second.deadline);
        ++it;
      }
    }
    if (earliest == Clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, earliest);
    }
  }
}

}  // namespace tokend::auth::ldap
