// LdapConnection: one libldap handle (LDAP*), connected to a directory and,
// unless plain LDAP was explicitly allowed, protected by TLS (ldaps:// or
// StartTLS) with the server certificate verified. Owns the handle (RAII:
// ldap_unbind_ext_s in the destructor).
//
// Every operation is bounded: the TCP connect and the TLS handshake by the
// connect timeout (LDAP_OPT_NETWORK_TIMEOUT, backed by the LdapWatchdog for
// the handshake, which libldap does not bound), each request by the operation
// timeout (backed by the watchdog too). After a transport failure or a timeout the connection is
// marked broken() and must be dropped, never reused (a late answer to an abandoned request could
// otherwise be read as the answer to the next one).
//
// Thread-safety: none; one thread uses a connection at a time (the pool hands
// each connection to one caller).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ldap LDAP;  // NOLINT: libldap's own spelling of the handle type

namespace tokend::auth::ldap {

class LdapWatchdog;

// The outcome of one libldap call: LDAP_SUCCESS (0) or a libldap result code
// (positive: the directory's answer; negative: a client-side error such as
// LDAP_SERVER_DOWN or LDAP_TIMEOUT), with the diagnostic text for the log.
struct LdapStatus {
  int rc = 0;
  std::string diagnostic;
  bool ok() const { return rc == 0; }
};

// Case-insensitive ordering for attribute names ("mail" == "Mail").
struct AttrNameLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct LdapEntry {
  std::string dn;
  // The requested attributes that the entry has, name -> raw values.
  std::map<std::string, std::vector<std::string>, AttrNameLess> attributes;

  // The first value of `name`, or "" when absent.
  std::string first(const std::string& name) const;
  const std::vector<std::string>* values(const std::string& name) const;
};

struct LdapSearchResult {
  LdapStatus status;
  std::vector<LdapEntry> entries;  // also filled on LDAP_SIZELIMIT_EXCEEDED
};

class LdapConnection;

struct LdapOpenResult {
  LdapStatus status;
  std::unique_ptr<LdapConnection> connection;  // set when status.ok()
};

class LdapConnection final {
 public:
  struct Options {
    std::string url;         // ldap://host:port or ldaps://host:port (space-separated list allowed)
    bool start_tls = false;  // ldap:// only
    bool tls = true;         // ldaps:// or start_tls: certificate checks apply
    std::string ca_file;     // empty: libldap's default trust store
    int connect_timeout_ms = 5000;
    int operation_timeout_ms = 10000;
    LdapWatchdog* watchdog = nullptr;  // REQUIRED; outlives the connection
  };

  // A connected handle (TCP, plus TLS for ldaps:// or after StartTLS).
  // Failures: LDAP_SERVER_DOWN / LDAP_CONNECT_ERROR when the directory cannot
  // be reached or its certificate is not trusted, LDAP_TIMEOUT when it does
  // not answer in time (the TLS handshake included), LDAP_OPT_ERROR when an
  // option cannot be set.
  static LdapOpenResult open(const Options& options);

  ~LdapConnection();
  LdapConnection(const LdapConnection&) = delete;
  LdapConnection& operator=(const LdapConnection&) = delete;

  // A simple bind (LDAP_SASL_SIMPLE) as `dn` with `password`: LDAP_SUCCESS
  // when the directory accepted it, LDAP_INVALID_CREDENTIALS (49) for a wrong
  // password or unknown DN, LDAP_TIMEOUT after the operation timeout, or
  // another libldap code. An empty password is refused here with
  // LDAP_INAPPROPRIATE_AUTH without contacting the directory (RFC 4513 5.1.2:
  // it would be an unauthenticated bind that "succeeds").
  LdapStatus simple_bind(const std::string& dn, std::string_view password);

  // Entries under `base` matching `filter` with the listed attributes, at
  // most `size_limit` of them (0: the server's limit). Status LDAP_SUCCESS,
  // LDAP_SIZELIMIT_EXCEEDED (entries holds those returned), LDAP_NO_SUCH_OBJECT
  // when `base` does not exist, LDAP_TIMEOUT, or another libldap code.
  LdapSearchResult search(const std::string& base, int scope, const std::string& filter,
                          const std::vector<std::string>& attributes, int size_limit);

  // True after a failure that leaves the connection unusable (the connection
  // was lost, or a request timed out and its answer may still arrive).
  bool broken() const { return broken_; }
  void mark_broken() { broken_ = true; }

  // What libldap's connect callback records (defined in the .cpp).
  struct SocketWatch;

 private:
  LdapConnection(LDAP* ld, std::unique_ptr<SocketWatch> watch, const Options& options);
  // Arms the watchdog for one request; end_request() says whether it fired.
  std::uint64_t begin_request();
  bool end_request(std::uint64_t ticket);
  void note(int rc);

  LDAP* ld_;
  std::unique_ptr<SocketWatch> watch_;  // destroyed after ld_ is unbound
  LdapWatchdog* watchdog_;
  int operation_timeout_ms_;
  bool broken_ = false;
};

// True for codes after which the connection must not be reused.
bool is_transport_error(int rc);

}  // namespace tokend::auth::ldap
