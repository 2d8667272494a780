// Test fixtures for forward authentication (docs/forward-auth.md):
//
// EchoBackend: a tiny HTTP/1.1 server on a free loopback port, standing for
// the application behind the proxy. It counts the requests it receives and
// answers each with a JSON object of the request's headers (names
// lower-cased), so a test sees exactly what the proxy passed on.
//
// NginxFixture: a real nginx (/usr/sbin/nginx, scripts/install-deps.sh
// --test) in a temporary prefix, running the server block of
// docs/examples/forward-auth-nginx.conf with the tokend and application
// addresses and the listen port replaced. The destructor stops it.
//
// Thread-safety: EchoBackend serves on its own thread; count() and last()
// may be read from the test's thread. NginxFixture: one thread.
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/slapd_fixture.hpp"

namespace e2e {

class EchoBackend {
 public:
  EchoBackend() {
    fd_ = slapd_detail::bind_loopback_any(port_);
    if (::listen(fd_, 64) != 0) throw std::runtime_error("listen() failed");
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoBackend() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  EchoBackend(const EchoBackend&) = delete;
  EchoBackend& operator=(const EchoBackend&) = delete;

  int port() const { return port_; }
  int count() const { return count_.load(); }
  // The headers of the last request, {"lower-name": "value"}.
  nlohmann::json last() const {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  // One request per connection: reads the head, answers, closes.
  void handle(int c) {
    std::string in;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (in.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    nlohmann::json headers = nlohmann::json::object();
    std::size_t pos = in.find("\r\n");
    const std::size_t end = in.find("\r\n\r\n");
    if (pos == std::string::npos || end == std::string::npos) return;
    while (pos < end) {
      const std::size_t next = in.find("\r\n", pos + 2);
      const std::string line = in.substr(pos + 2, next - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        headers[name] = value;
      }
      pos = next;
    }
    {
      std::lock_guard lock(mu_);
      last_ = headers;
    }
    ++count_;
    const std::string body = headers.dump();
    const std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  mutable std::mutex mu_;
  nlohmann::json last_ = nlohmann::json::object();
  std::thread thread_;
};

// Replaces every occurrence of `from` in `text` with `to`; throws when there
// is none (the template changed under the test).
inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  std::size_t pos = text.find(from);
  if (pos == std::string::npos) throw std::runtime_error("template has no '" + from + "'");
  for (; pos != std::string::npos; pos = text.find(from, pos + to.size())) text.replace(pos, from.size(), to);
  return text;
}

class NginxFixture {
 public:
  // `server_conf`: what goes in nginx's http {} context.
  explicit NginxFixture(const std::string& server_conf) {
    char tmpl[] = "/tmp/tokend-nginx.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = closed_port();
    const std::string conf = replace_all(server_conf, "listen 80;", "listen 127.0.0.1:" + std::to_string(port_) + ";");
    slapd_detail::write_file(dir_ + "/app.conf", conf, 0644);
    // The test runs as root in CI containers: nginx's workers would then
    // switch to "nobody", who cannot write this prefix.
    const std::string user = ::geteuid() == 0 ? "user root;\n" : "";
    slapd_detail::write_file(dir_ + "/nginx.conf",
                             user + "worker_processes 1;\ndaemon off;\npid " + dir_ + "/nginx.pid;\nerror_log " + dir_ +
                                 "/error.log info;\nevents { worker_connections 256; }\nhttp {\n  access_log " + dir_ +
                                 "/access.log;\n  client_body_temp_path " + dir_ + "/client_body;\n  proxy_temp_path " +
                                 dir_ + "/proxy;\n  fastcgi_temp_path " + dir_ + "/fastcgi;\n  uwsgi_temp_path " +
                                 dir_ + "/uwsgi;\n  scgi_temp_path " + dir_ + "/scgi;\n  include " + dir_ +
                                 "/app.conf;\n}\n",
                             0644);
    start();
  }
  ~NginxFixture() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  NginxFixture(const NginxFixture&) = delete;
  NginxFixture& operator=(const NginxFixture&) = delete;

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  std::string error_log() const { return slapd_detail::read_file(dir_ + "/error.log"); }

 private:
  void start() {
    const std::string conf = dir_ + "/nginx.conf";
    const std::string err = dir_ + "/error.log";
    const std::string out = dir_ + "/start.log";
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl("/usr/sbin/nginx", "nginx", "-p", dir_.c_str(), "-e", err.c_str(), "-c", conf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!slapd_detail::can_connect(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nginx exited at start:\n" + slapd_detail::read_file(out) +
                                 slapd_detail::read_file(err));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw std::runtime_error("nginx did not answer in time:\n" + slapd_detail::read_file(err));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // SIGQUIT: graceful stop; SIGKILL after 5 s.
  void stop() {
    slapd_detail::stop_child(pid_, SIGQUIT);
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace e2e
