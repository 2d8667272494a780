#include "auth/ldap/ldap_connection.hpp"

#include <fcntl.h>
#include <ldap.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "auth/ldap/ldap_watchdog.hpp"

namespace tokend::auth::ldap {
namespace {

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// The diagnostic text libldap keeps for the last operation on `ld` (the
// server's message or a client-side reason such as a TLS verification error).
std::string diagnostic_of(LDAP* ld) {
  char* text = nullptr;
  std::string out;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text) == LDAP_OPT_SUCCESS &&
      text != nullptr) {
    out = text;
  }
  if (text != nullptr) ldap_memfree(text);
  return out;
}

LdapStatus option_error(const char* what) {
  return LdapStatus{LDAP_OPT_ERROR, std::string("cannot set ") + what};
}

// Keeps SIGPIPE from killing the process while libldap writes to a socket the
// directory (or the watchdog) has closed: the signal is blocked for this
// thread, and one raised meanwhile is consumed before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~SigpipeGuard() {
    if (!blocked_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
  bool blocked_ = false;
};

// Owns an LDAP* until it is handed to an LdapConnection.
struct HandleGuard {
  LDAP* ld = nullptr;
  ~HandleGuard() {
    if (ld != nullptr) {
      SigpipeGuard no_sigpipe;
      ldap_unbind_ext_s(ld, nullptr, nullptr);
    }
  }
  LDAP* release() { return std::exchange(ld, nullptr); }
};

// Grace after the operation timeout before the watchdog cuts the socket:
// libldap's own timeout normally answers first.
constexpr auto kWatchdogGrace = std::chrono::milliseconds(250);

}  // namespace

// Filled by libldap's connect callback as soon as the TCP connection exists,
// before any TLS handshake: our own duplicate of the socket, for the watchdog.
struct LdapConnection::SocketWatch {
  ldap_conncb callbacks{};
  LdapWatchdog* watchdog = nullptr;
  int fd = -1;  // dup() of libldap's socket; closed last
  std::uint64_t ticket = 0;
  LdapWatchdog::Clock::time_point deadline{};

  ~SocketWatch() {
    if (ticket != 0) watchdog->disarm(ticket);
    if (fd >= 0) ::close(fd);
  }

  // Stops watching; true when the watchdog fired (the socket was shut down).
  bool settle() {
    if (ticket == 0) return false;
    const bool fired = watchdog->disarm(ticket);
    ticket = 0;
    return fired;
  }

  static int on_add(LDAP*, Sockbuf* sb, LDAPURLDesc*, struct sockaddr*, ldap_conncb* ctx) {
    auto* self = static_cast<SocketWatch*>(ctx->lc_arg);
    int libldap_fd = -1;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &libldap_fd) != 1 || libldap_fd < 0) return 0;
    // With several URLs libldap may connect more than once: watch the latest.
    self->settle();
    if (self->fd >= 0) ::close(self->fd);
    self->fd = ::fcntl(libldap_fd, F_DUPFD_CLOEXEC, 0);
    if (self->fd >= 0) self->ticket = self->watchdog->arm(self->fd, self->deadline);
    return 0;
  }
  static void on_del(LDAP*, Sockbuf*, ldap_conncb*) {}
};

bool AttrNameLess::operator()(const std::string& a, const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string LdapEntry::first(const std::string& name) const {
  const auto* v = values(name);
  return v == nullptr || v->empty() ? std::string() : v->front();
}

const std::vector<std::string>* LdapEntry::values(const std::string& name) const {
  auto it = attributes.find(name);
  return it == attributes.end() ? nullptr : &it->second;
}

bool is_transport_error(int rc) {
  // Negative codes are client-side failures (server down, timeout, decoding,
  // TLS); busy/unavailable mean the server wants us to go away. Either way the
  // connection's state is unknown, so it is not reused.
  return rc < 0 || rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE;
}

LdapOpenResult LdapConnection::open(const Options& options) {
  SigpipeGuard no_sigpipe;
  HandleGuard guard;
  int rc = ldap_initialize(&guard.ld, options.url.c_str());
  if (rc != LDAP_SUCCESS || guard.ld == nullptr) {
    return {LdapStatus{rc != LDAP_SUCCESS ? rc : LDAP_NO_MEMORY, "ldap_initialize failed"},
            nullptr};
  }
  LDAP* ld = guard.ld;

  const int version = LDAP_VERSION3;
  if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS) {
    return {option_error("LDAP_OPT_PROTOCOL_VERSION"), nullptr};
  }
  // Referrals are never chased: following one would send our service
  // account's (or the user's) password to whatever server the referral names.
  if (ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS) {
    return {option_error("LDAP_OPT_REFERRALS"), nullptr};
  }
  // Bounds the TCP connect: a directory that is down or black-holed must give
  // an answer within the configured time. (libldap on GnuTLS does not apply
  // it to the TLS handshake; the watchdog below does that.)
  const timeval net = to_timeval(options.connect_timeout_ms);
  if (ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net) != LDAP_OPT_SUCCESS) {
    return {option_error("LDAP_OPT_NETWORK_TIMEOUT"), nullptr};
  }
  // Bounds every synchronous request (StartTLS included) that has no timeout
  // of its own.
  const timeval op = to_timeval(options.operation_timeout_ms);
  if (ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != LDAP_OPT_SUCCESS) {
    return {option_error("LDAP_OPT_TIMEOUT"), nullptr};
  }

  if (options.tls) {
    // Certificate verification is not optional: a directory we cannot
    // authenticate could be an attacker collecting passwords. DEMAND also
    // makes libldap check the host name (or IP) in the URL against the
    // certificate. Set per handle, so no global or ~/.ldaprc setting
    // (TLS_REQCERT never) can weaken it.
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS) {
      return {option_error("LDAP_OPT_X_TLS_REQUIRE_CERT"), nullptr};
    }
    if (!options.ca_file.empty() && ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
                                                    options.ca_file.c_str()) != LDAP_OPT_SUCCESS) {
      return {option_error("LDAP_OPT_X_TLS_CACERTFILE"), nullptr};
    }
    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    const int min_version = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_version) != LDAP_OPT_SUCCESS) {
      return {option_error("LDAP_OPT_X_TLS_PROTOCOL_MIN"), nullptr};
    }
    // The TLS options above only take effect in a new TLS context; without
    // this the handle would use the process-wide default context.
    const int is_server = 0;
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server) != LDAP_OPT_SUCCESS) {
      return {LdapStatus{LDAP_OPT_ERROR, "cannot create the TLS context: " + diagnostic_of(ld)},
              nullptr};
    }
  }

  // The connect callback hands the watchdog the socket before the TLS
  // handshake starts, with the connect deadline.
  auto watch = std::make_unique<SocketWatch>();
  watch->watchdog = options.watchdog;
  watch->deadline = LdapWatchdog::Clock::now() +
                    std::chrono::milliseconds(options.connect_timeout_ms) + kWatchdogGrace;
  watch->callbacks.lc_add = &SocketWatch::on_add;
  watch->callbacks.lc_del = &SocketWatch::on_del;
  watch->callbacks.lc_arg = watch.get();
  if (ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &watch->callbacks) != LDAP_OPT_SUCCESS) {
    return {option_error("LDAP_OPT_CONNECT_CB"), nullptr};
  }

  // The handle points at watch->callbacks, so it must be unbound before
  // `watch` is destroyed: `connecting` is declared after `watch`, hence
  // destroyed first, on every return below.
  HandleGuard connecting;
  connecting.ld = guard.release();
  const auto fail = [](LdapStatus status) { return LdapOpenResult{std::move(status), nullptr}; };

  rc = ldap_connect(ld);  // ldaps://: includes the TLS handshake
  if (watch->settle()) return fail(LdapStatus{LDAP_TIMEOUT, "connect or TLS handshake timed out"});
  if (rc != LDAP_SUCCESS) return fail(LdapStatus{rc, diagnostic_of(ld)});
  if (watch->fd < 0) return fail(LdapStatus{LDAP_LOCAL_ERROR, "no socket after connect"});
  if (options.start_tls) {
    // The StartTLS request is bounded by LDAP_OPT_TIMEOUT; the handshake
    // after it only by the watchdog.
    watch->ticket = options.watchdog->arm(
        watch->fd, LdapWatchdog::Clock::now() +
                       std::chrono::milliseconds(options.operation_timeout_ms) + kWatchdogGrace);
    rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (watch->settle()) return fail(LdapStatus{LDAP_TIMEOUT, "StartTLS timed out"});
    if (rc != LDAP_SUCCESS) return fail(LdapStatus{rc, diagnostic_of(ld)});
  }
  return {LdapStatus{}, std::unique_ptr<LdapConnection>(
                            new LdapConnection(connecting.release(), std::move(watch), options))};
}

LdapConnection::LdapConnection(LDAP* ld, std::unique_ptr<SocketWatch> watch, const Options& options)
    : ld_(ld),
      watch_(std::move(watch)),
      watchdog_(options.watchdog),
      operation_timeout_ms_(options.operation_timeout_ms) {}

std::uint64_t LdapConnection::begin_request() {
  return watchdog_->arm(watch_->fd, LdapWatchdog::Clock::now() +
                                        std::chrono::milliseconds(operation_timeout_ms_) +
                                        kWatchdogGrace);
}

bool LdapConnection::end_request(std::uint64_t ticket) {
  if (!watchdog_->disarm(ticket)) return false;
  broken_ = true;  // the socket was shut down under libldap
  return true;
}

LdapConnection::~LdapConnection() {
  SigpipeGuard no_sigpipe;
  if (ld_ != nullptr) ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

void LdapConnection::note(int rc) {
  if (is_transport_error(rc)) broken_ = true;
}

LdapStatus LdapConnection::simple_bind(const std::string& dn, std::string_view password) {
  if (password.empty()) {
    // An empty password makes a simple bind "unauthenticated" (RFC 4513
    // 5.1.2), which many directories answer with success: never send one.
    return LdapStatus{LDAP_INAPPROPRIATE_AUTH, "empty password refused before bind"};
  }
  if (broken_) return LdapStatus{LDAP_SERVER_DOWN, "connection already broken"};
  SigpipeGuard no_sigpipe;
  berval cred{};
  cred.bv_len = password.size();
  cred.bv_val = const_cast<char*>(password.data());  // libldap does not modify it
  int msgid = -1;
  const std::uint64_t ticket = begin_request();
  int rc = ldap_sasl_bind(ld_, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) {
    if (end_request(ticket)) return LdapStatus{LDAP_TIMEOUT, "bind timed out"};
    note(rc);
    return LdapStatus{rc, diagnostic_of(ld_)};
  }
  timeval tv = to_timeval(operation_timeout_ms_);
  LDAPMessage* res = nullptr;
  rc = ldap_result(ld_, msgid, LDAP_MSG_ALL, &tv, &res);
  if (end_request(ticket)) {
    if (res != nullptr) ldap_msgfree(res);
    return LdapStatus{LDAP_TIMEOUT, "bind timed out"};
  }
  if (rc == 0) {
    // No answer in time. Abandon the request; the connection is dropped
    // because the answer might still arrive later.
    ldap_abandon_ext(ld_, msgid, nullptr, nullptr);
    broken_ = true;
    return LdapStatus{LDAP_TIMEOUT, "bind timed out"};
  }
  if (rc < 0) {
    int code = LDAP_OTHER;
    ldap_get_option(ld_, LDAP_OPT_RESULT_CODE, &code);
    if (code == LDAP_SUCCESS) code = LDAP_SERVER_DOWN;
    broken_ = true;
    if (res != nullptr) ldap_msgfree(res);
    return LdapStatus{code, diagnostic_of(ld_)};
  }
  int result_code = LDAP_OTHER;
  char* diag = nullptr;
  rc = ldap_parse_result(ld_, res, &result_code, nullptr, &diag, nullptr, nullptr,
                         1 /* frees res */);
  LdapStatus status{rc == LDAP_SUCCESS ? result_code : rc, diag != nullptr ? diag : ""};
  if (diag != nullptr) ldap_memfree(diag);
  note(status.rc);
  return status;
}

LdapSearchResult LdapConnection::search(const std::string& base, int scope,
                                        const std::string& filter,
                                        const std::vector<std::string>& attributes,
                                        int size_limit) {
  LdapSearchResult out;
  if (broken_) {
    out.status = LdapStatus{LDAP_SERVER_DOWN, "connection already broken"};
    return out;
  }
  SigpipeGuard no_sigpipe;
  std::vector<char*> attrs;
  attrs.reserve(attributes.size() + 1);
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);

  timeval tv = to_timeval(operation_timeout_ms_);
  LDAPMessage* res = nullptr;
  const std::uint64_t ticket = begin_request();
  int rc = ldap_search_ext_s(ld_, base.c_str(), scope, filter.c_str(), attrs.data(),
                             0 /* values too */, nullptr, nullptr, &tv, size_limit, &res);
  if (end_request(ticket)) {
    if (res != nullptr) ldap_msgfree(res);
    out.status = LdapStatus{LDAP_TIMEOUT, "search timed out"};
    return out;
  }
  out.status.rc = rc;
  if (rc != LDAP_SUCCESS) out.status.diagnostic = diagnostic_of(ld_);
  if (rc == LDAP_TIMEOUT) broken_ = true;  // the answer may still come
  note(rc);
  if (res == nullptr) return out;

  for (LDAPMessage* e = ldap_first_entry(ld_, res); e != nullptr; e = ldap_next_entry(ld_, e)) {
    LdapEntry entry;
    char* dn = ldap_get_dn(ld_, e);
    if (dn != nullptr) {
      entry.dn = dn;
      ldap_memfree(dn);
    }
    for (const auto& name : attributes) {
      berval** vals = ldap_get_values_len(ld_, e, name.c_str());
      if (vals == nullptr) continue;
      auto& slot = entry.attributes[name];
      for (int i = 0; vals[i] != nullptr; ++i) {
        slot.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
      }
      ldap_value_free_len(vals);
    }
    out.entries.push_back(std::move(entry));
  }
  ldap_msgfree(res);
  return out;
}

}  // namespace tokend::auth::ldap
