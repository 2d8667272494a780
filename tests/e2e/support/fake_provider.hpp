// FakeProvider: fake GitHub / GitHub Enterprise / GitLab / OpenID Connect
// servers for tests (tests/e2e/fixtures/fake_provider.mjs, on Node's
// built-in https module). The constructor makes a temporary directory with a
// throwaway CA, a server certificate for 127.0.0.1 and localhost, a second
// certificate for another name (wrong.example) and an unrelated second CA,
// all with the `openssl` CLI; starts node on free loopback ports (node binds
// port 0 and prints what it got) and waits for that line. The destructor
// stops node and removes the directory.
//
// Which account or misbehaviour answers is chosen by the access token; see
// the .mjs file's header (tok-alice, tok-bob, tok-revoked, tok-hang, ...).
//
// Header-only so that both test executables (unit tests that call the
// client and authenticators directly, e2e tests that run the tokend binary)
// can use it.
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

#include <nlohmann/json.hpp>

namespace e2e {

namespace fake_detail {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline void run_or_throw(const std::string& command, const std::string& log) {
  const std::string full = command + " >" + sh_quote(log) + " 2>&1";
  const int rc = std::system(full.c_str());
  if (rc != 0) {
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command + "\n" + read_file(log));
  }
}

inline std::string source_dir() {
#ifdef TOKEND_SOURCE_DIR
  return TOKEND_SOURCE_DIR;
#else
  // tests/e2e/support/fake_provider.hpp -> the repository root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path().string();
#endif
}

// A plain HTTP/1.0 GET on 127.0.0.1:port; the response body ("" on failure).
inline std::string plain_get(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        response.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  auto sep = response.find("\r\n\r\n");
  return sep == std::string::npos ? "" : response.substr(sep + 4);
}

}  // namespace fake_detail

class FakeProvider {
 public:
  FakeProvider() {
    char tmpl[] = "/tmp/tokend-fakeprov-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    try {
      make_certificates();
      start();
    } catch (...) {
      stop();
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      throw;
    }
  }

  ~FakeProvider() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  int port() const { return ports_.at("port").get<int>(); }
  int proxy_port() const { return ports_.at("proxyPort").get<int>(); }
  int silent_port() const { return ports_.at("silentPort").get<int>(); }
  int wrong_name_port() const { return ports_.at("wrongNamePort").get<int>(); }
  // "https://127.0.0.1:PORT" (no trailing slash).
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port()); }
  std::string proxy_url() const { return "http://127.0.0.1:" + std::to_string(proxy_port()); }
  // The throwaway CA that signed the fake's certificates.
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  // An unrelated CA: a client trusting only this must refuse the fake.
  std::string other_ca_file() const { return dir_ + "/other-ca.pem"; }
  const std::string& dir() const { return dir_; }

  // The fake's counters: {"connections": TLS connections accepted,
  // "requests", "paths": {path: count}, "proxyConnects",
  // "proxyAuthorization": [header or null per CONNECT]}.
  nlohmann::json stats() const {
    auto body = fake_detail::plain_get(ports_.at("statsPort").get<int>(), "/stats");
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded()) throw std::runtime_error("fake provider: unreadable stats");
    return doc;
  }
  // Closes the fake API's idle keep-alive connections (as a provider's idle
  // timeout does), so a client's pooled connection is dead on its next use.
  void close_idle_connections() const { fake_detail::plain_get(ports_.at("statsPort").get<int>(), "/close-idle"); }
  // How often `path` was requested (exact path, no query).
  int hits(const std::string& path) const {
    auto s = stats();
    return s["paths"].contains(path) ? s["paths"][path].get<int>() : 0;
  }

 private:
  void make_certificates() {
    using fake_detail::run_or_throw;
    using fake_detail::sh_quote;
    using fake_detail::write_file;
    const std::string d = dir_ + "/";
    const std::string log = d + "openssl.log";
    write_file(d + "ca.cnf",
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = tokend throwaway test CA\n"
               "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
               "subjectKeyIdentifier = hash\n");
    write_file(d + "server.ext",
               "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
               "subjectAltName = IP:127.0.0.1,DNS:localhost\n");
    write_file(d + "wrong.ext",
               "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
               "subjectAltName = DNS:wrong.example\n");
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto make_ca = [&](const std::string& name) {
      run_or_throw("openssl req -x509" + key + " -keyout " + sh_quote(d + name + ".key") + " -out " +
                       sh_quote(d + name + ".pem") + " -days 2 -config " + sh_quote(d + "ca.cnf") + " -extensions v3_ca",
                   log);
    };
    auto make_leaf = [&](const std::string& name, const std::string& cn) {
      run_or_throw("openssl req -new" + key + " -keyout " + sh_quote(d + name + ".key") + " -out " +
                       sh_quote(d + name + ".csr") + " -subj " + sh_quote("/CN=" + cn),
                   log);
      run_or_throw("openssl x509 -req -in " + sh_quote(d + name + ".csr") + " -CA " + sh_quote(d + "ca.pem") +
                       " -CAkey " + sh_quote(d + "ca.key") + " -CAcreateserial -out " + sh_quote(d + name + ".pem") +
                       " -days 2 -extfile " + sh_quote(d + name + ".ext"),
                   log);
    };
    make_ca("ca");
    make_ca("other-ca");
    make_leaf("server", "127.0.0.1");
    make_leaf("wrong", "wrong.example");
  }

  void start() {
    const std::string script = fake_detail::source_dir() + "/tests/e2e/fixtures/fake_provider.mjs";
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const std::string log = dir_ + "/node.log";
    const std::string d = dir_ + "/";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Dies with the test process, even when that one is killed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) ::dup2(err, STDERR_FILENO);
      const std::string cert = d + "server.pem", key = d + "server.key";
      const std::string wcert = d + "wrong.pem", wkey = d + "wrong.key";
      ::execlp("node", "node", script.c_str(), "--cert", cert.c_str(), "--key", key.c_str(), "--wrong-cert",
               wcert.c_str(), "--wrong-key", wkey.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{out[0], POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[512];
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    ports_ = nlohmann::json::parse(line.substr(0, line.find('\n')), nullptr, false);
    if (ports_.is_discarded() || !ports_.contains("port")) {
      throw std::runtime_error("fake provider did not start: " + fake_detail::read_file(log));
    }
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string dir_;
  pid_t pid_ = -1;
  nlohmann::json ports_;
};

}  // namespace e2e
