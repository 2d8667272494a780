// LdapWatchdog: one background thread that cuts off (shutdown(2)) an LDAP
// socket whose exchange overran its deadline. It is the last resort for waits
// that libldap cannot bound itself: with libldap 2.5 on GnuTLS, the TLS
// handshake of ldaps:// (and after StartTLS) ignores LDAP_OPT_NETWORK_TIMEOUT,
// so a server that accepts the TCP connection and then says nothing would
// hold a worker thread for as long as it likes. Shutting the socket down makes
// the blocked read fail at once; the connection is then dropped.
//
// The caller arms the watchdog with a descriptor it owns (a dup() of libldap's
// socket) and disarms it before closing that descriptor, so the watchdog can
// never touch a descriptor number that was closed and reused.
//
// Thread-safety: arm() and disarm() are safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace tokend::auth::ldap {

class LdapWatchdog final {
 public:
  using Clock = std::chrono::steady_clock;

  LdapWatchdog();   // starts the thread
  ~LdapWatchdog();  // stops and joins it
  LdapWatchdog(const LdapWatchdog&) = delete;
  LdapWatchdog& operator=(const LdapWatchdog&) = delete;

  // At `deadline`, shutdown(fd, SHUT_RDWR) unless disarmed first. Returns the
  // ticket for disarm(). REQUIRES: `fd` stays open until disarm() returns.
  std::uint64_t arm(int fd, Clock::time_point deadline);

  // Forgets the ticket. True when the deadline had passed and the socket was
  // shut down (the caller reports a timeout and drops the connection).
  bool disarm(std::uint64_t ticket);

 private:
  struct Armed {
    int fd;
    Clock::time_point deadline;
  };
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Armed> armed_;
  std::set<std::uint64_t> fired_;
  std::uint64_t next_ = 1;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace tokend::auth::ldap
