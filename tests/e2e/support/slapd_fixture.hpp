// SlapdFixture: a throwaway OpenLDAP server for tests. It makes a temporary
// directory with a fresh CA and a server certificate for 127.0.0.1 (made with
// the `openssl` CLI), a slapd.conf (mdb backend, suffix dc=example,dc=org,
// the memberof overlay), starts /usr/sbin/slapd as the current user on two
// free loopback ports (ldap:// with StartTLS available, and ldaps://), waits
// until it answers, and loads test entries with `ldapadd`. The destructor
// stops slapd and removes the directory. Nothing depends on a system-wide
// slapd or on /etc/ldap/slapd.d; AppArmor is not involved (slapd's config,
// database, pid and args files all live in the temporary directory).
//
// Also here: SilentServer (a loopback port that accepts TCP connections and
// never answers) and closed_port() (a loopback port nobody listens on).
//
// Header-only so that both test executables (unit tests that call the
// authenticator directly, e2e tests that run the tokend binary) can use it.
//
// Thread-safety: none; use a fixture from one thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace e2e {

namespace slapd_detail {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  ::chmod(path.c_str(), mode);
}

// Single-quotes `s` for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// Runs `command` with output into `log`; throws with the output when it fails.
inline void run_or_throw(const std::string& command, const std::string& log) {
  const std::string full = command + " >" + sh_quote(log) + " 2>&1";
  const int rc = std::system(full.c_str());
  if (rc != 0) {
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command + "\n" +
                             read_file(log));
  }
}

inline bool can_connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A socket bound to 127.0.0.1 on a free port (not listening yet).
inline int bind_loopback_any(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// Sends `pid` the signal `sig`, waits up to 5 s for it to exit, then kills
// it with SIGKILL and waits; sets `pid` to -1. Nothing to do when pid <= 0.
inline void stop_child(pid_t& pid, int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid = -1;
}

}  // namespace slapd_detail

// A loopback port with nothing listening: connecting is refused at once.
inline int closed_port() {
  int port = 0;
  const int fd = slapd_detail::bind_loopback_any(port);
  ::close(fd);
  return port;
}

// A port whose connections the kernel accepts (listen backlog) but whose
// owner never reads or writes: a directory that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = slapd_detail::bind_loopback_any(port_);
    if (::listen(fd_, 64) != 0) {
      ::close(fd_);
      throw std::runtime_error("listen() failed");
    }
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }
  // Whether a client has connected (a connection waits in the listen queue)
  // within `timeout_ms`; the connection is left there, never accepted.
  bool wait_connected(int timeout_ms) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class SlapdFixture {
 public:
  static constexpr const char* kSuffix = "dc=example,dc=org";
  static constexpr const char* kAdminDn = "cn=admin,dc=example,dc=org";
  static constexpr const char* kAdminPassword = "admin-secret-0";
  static constexpr const char* kReaderDn = "cn=reader,dc=example,dc=org";
  static constexpr const char* kReaderPassword = "reader-secret-9";
  static constexpr const char* kGroupDn = "cn=tokend-users,ou=groups,dc=example,dc=org";
  static constexpr const char* kUniqueGroupDn = "cn=tokend-unique,ou=groups,dc=example,dc=org";
  // A uid made of characters that are special in filters and DNs.
  static constexpr const char* kSpecialUid = "j\\doe(x),y*z+=";
  static constexpr const char* kSpecialDn =
      "uid=j\\5Cdoe(x)\\2Cy*z\\2B\\3D,ou=people,dc=example,dc=org";

  // `server_san`: the certificate's subjectAltName; the default names the
  // address slapd listens on, another value makes a certificate for the
  // wrong host.
  explicit SlapdFixture(std::string server_san = "IP:127.0.0.1,DNS:localhost")
      : server_san_(std::move(server_san)) {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/tokend-slapd-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    fs::create_directories(dir_ + "/db");
    make_certificates();
    write_config();
    // Two free ports; when another process grabs one between our probe and
    // slapd's bind, slapd exits and we try again with new ports.
    for (int attempt = 0;; ++attempt) {
      ldap_port_ = closed_port();
      ldaps_port_ = closed_port();
      if (ldaps_port_ == ldap_port_) continue;
      try {
        start();
        break;
      } catch (const std::exception&) {
        if (attempt >= 3) throw;
      }
    }
    load_entries();
  }

  ~SlapdFixture() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SlapdFixture(const SlapdFixture&) = delete;
  SlapdFixture& operator=(const SlapdFixture&) = delete;

  int ldap_port() const { return ldap_port_; }
  int ldaps_port() const { return ldaps_port_; }
  std::string ldap_url() const { return "ldap://127.0.0.1:" + std::to_string(ldap_port_); }
  std::string ldaps_url() const { return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_); }
  // The CA that signed slapd's certificate.
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  // A CA that did not sign it: a client trusting only this must refuse slapd.
  std::string other_ca_file() const { return dir_ + "/other-ca.pem"; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  // slapd's log so far (one "stats" line per operation, e.g.
  // `conn=1004 op=0 BIND dn="uid=alice,ou=people,dc=example,dc=org" method=128`).
  std::string log() const { return slapd_detail::read_file(dir_ + "/slapd.log"); }
  // How many simple binds as `dn` (exactly as the client sent it) slapd has seen.
  int binds_as(const std::string& dn) const {
    const std::string needle = "BIND dn=\"" + dn + "\" method=128";
    const std::string text = log();
    int n = 0;
    for (std::size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
      ++n;
    }
    return n;
  }

  // Starts slapd on the fixture's ports and waits until it accepts
  // connections. Throws with slapd's log when it does not come up.
  void start() {
    if (pid_ > 0) return;
    const std::string urls = ldap_url() + "/ " + ldaps_url() + "/";
    const std::string log = dir_ + "/slapd.log";
    const std::string conf = dir_ + "/slapd.conf";
    const pid_t parent = ::getpid();
    // Everything the child needs is built before fork(): in a threaded
    // process the child may only make async-signal-safe calls.
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // slapd dies with the test process, even when the test crashes.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      // -d: stay in the foreground (so we own the process); level 256
      // ("stats") logs one line per connection and operation, so tests can
      // see which binds and searches reached the directory.
      ::execl("/usr/sbin/slapd", "slapd", "-d", "256", "-h", urls.c_str(), "-f", conf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("slapd exited at start:\n" + slapd_detail::read_file(log));
      }
      if (slapd_detail::can_connect(ldap_port_) && slapd_detail::can_connect(ldaps_port_)) break;
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw std::runtime_error("slapd did not answer in time:\n" + slapd_detail::read_file(log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Stops slapd (SIGTERM, then SIGKILL after 5 s) and waits for it.
  void stop() {
    slapd_detail::stop_child(pid_, SIGTERM);
  }

  // Kills slapd with SIGKILL (a crash: open connections are reset, nothing
  // is said on them) and waits for it; start() brings it back on the same
  // ports with the same data.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Applies `ldif` (changetype records) as the directory's administrator.
  void modify(const std::string& ldif) {
    const std::string file = dir_ + "/modify-" + std::to_string(++counter_) + ".ldif";
    slapd_detail::write_file(file, ldif);
    ldap_tool("ldapmodify", file);
  }

 private:
  void ldap_tool(const std::string& tool, const std::string& ldif_file) {
    using slapd_detail::sh_quote;
    slapd_detail::run_or_throw("LDAPNOINIT=1 " + tool + " -x -H " + sh_quote(ldap_url()) + " -D " +
                                   sh_quote(kAdminDn) + " -y " + sh_quote(dir_ + "/admin.pw") +
                                   " -f " + sh_quote(ldif_file),
                               dir_ + "/" + tool + ".log");
  }

  void make_certificates() {
    using slapd_detail::sh_quote;
    const std::string d = dir_;
    const std::string log = d + "/openssl.log";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
    const std::string ca_ext =
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
    slapd_detail::run_or_throw("openssl req -x509" + ec + "-keyout " + sh_quote(d + "/ca.key") +
                                   " -out " + sh_quote(d + "/ca.pem") +
                                   " -days 2 -subj '/CN=tokend test CA'" + ca_ext,
                               log);
    // Same subject name as the real CA, on purpose: trust must come from the
    // signature, not from a matching name.
    slapd_detail::run_or_throw(
        "openssl req -x509" + ec + "-keyout " + sh_quote(d + "/other-ca.key") + " -out " +
            sh_quote(d + "/other-ca.pem") + " -days 2 -subj '/CN=tokend test CA'" + ca_ext,
        log);
    slapd_detail::run_or_throw("openssl req" + ec + "-keyout " + sh_quote(d + "/server.key") +
                                   " -out " + sh_quote(d + "/server.csr") +
                                   " -subj '/CN=tokend test directory'",
                               log);
    slapd_detail::write_file(d + "/server.ext", "subjectAltName=" + server_san_ +
                                                    "\n"
                                                    "basicConstraints=CA:FALSE\n"
                                                    "keyUsage=critical,digitalSignature\n"
                                                    "extendedKeyUsage=serverAuth\n");
    slapd_detail::run_or_throw("openssl x509 -req -in " + sh_quote(d + "/server.csr") + " -CA " +
                                   sh_quote(d + "/ca.pem") + " -CAkey " + sh_quote(d + "/ca.key") +
                                   " -CAcreateserial -out " + sh_quote(d + "/server.pem") +
                                   " -days 2 -extfile " + sh_quote(d + "/server.ext"),
                               log);
  }

  void write_config() {
    const std::string d = dir_;
    slapd_detail::write_file(d + "/admin.pw", kAdminPassword);
    slapd_detail::write_file(
        d + "/slapd.conf",
        "include /etc/ldap/schema/core.schema\n"
        "include /etc/ldap/schema/cosine.schema\n"
        "include /etc/ldap/schema/inetorgperson.schema\n"
        "include /etc/ldap/schema/nis.schema\n"
        "modulepath /usr/lib/ldap\n"
        "moduleload back_mdb\n"
        "moduleload memberof\n"
        "pidfile " +
            d +
            "/slapd.pid\n"
            "argsfile " +
            d +
            "/slapd.args\n"
            "TLSCACertificateFile " +
            d +
            "/ca.pem\n"
            "TLSCertificateFile " +
            d +
            "/server.pem\n"
            "TLSCertificateKeyFile " +
            d +
            "/server.key\n"
            "database mdb\n"
            "maxsize 16777216\n"
            "suffix \"dc=example,dc=org\"\n"
            "rootdn \"" +
            std::string(kAdminDn) +
            "\"\n"
            "rootpw " +
            kAdminPassword +
            "\n"
            "directory " +
            d +
            "/db\n"
            "index objectClass eq\n"
            "index uid eq\n"
            "overlay memberof\n"
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by users read by * none\n");
  }

  void load_entries() {
    const std::string people = ",ou=people,dc=example,dc=org";
    std::string ldif =
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\n"
        "o: Example\ndc: example\n\n"
        "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n"
        "dn: ou=staff,dc=example,dc=org\nobjectClass: organizationalUnit\nou: staff\n\n"
        "dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n"
        "dn: cn=reader,dc=example,dc=org\nobjectClass: organizationalRole\n"
        "objectClass: simpleSecurityObject\ncn: reader\nuserPassword: " +
        std::string(kReaderPassword) + "\n\n";
    const auto person = [](const std::string& dn, const std::string& uid, const std::string& cn,
                           const std::string& mail, const std::string& password) {
      return "dn: " + dn + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: " + cn +
             "\nsn: " + cn + "\nmail: " + mail + "\nuserPassword: " + password + "\n\n";
    };
    ldif += person("uid=alice" + people, "alice", "Alice Liddell", "alice@example.org",
                   "alice-password-1");
    ldif += person("uid=bob" + people, "bob", "Bob Builder", "bob@example.org", "bob-password-2");
    ldif += person(kSpecialDn, kSpecialUid, "Special Person", "special@example.org",
                   "special-password-3");
    // Two entries with the same uid: a search for it finds more than one.
    ldif += person("uid=twin" + people, "twin", "Twin One", "twin1@example.org", "twin-password-4");
    ldif += person("uid=twin,ou=staff,dc=example,dc=org", "twin", "Twin Two", "twin2@example.org",
                   "twin-password-4");
    ldif += "dn: " + std::string(kGroupDn) +
            "\nobjectClass: groupOfNames\ncn: tokend-users\n"
            "member: uid=alice" +
            people + "\nmember: " + kSpecialDn +
            "\n\n"
            "dn: " +
            kUniqueGroupDn +
            "\nobjectClass: groupOfUniqueNames\ncn: tokend-unique\n"
            "uniqueMember: uid=alice" +
            people + "\n\n";
    const std::string file = dir_ + "/entries.ldif";
    slapd_detail::write_file(file, ldif);
    ldap_tool("ldapadd", file);
  }

  std::string server_san_;
  std::string dir_;
  int ldap_port_ = 0;
  int ldaps_port_ = 0;
  pid_t pid_ = -1;
  int counter_ = 0;
};

}  // namespace e2e
