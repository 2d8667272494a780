// Test support for several tokend instances on one PostgreSQL database
// (docs/operations.md, "Several instances"):
//
// Instances: N real tokend processes (TokendProcess) sharing one database of
// a PostgreSQL test cluster (tests/support/pg_cluster.hpp), each configured as
// the recipe says for instances behind a TLS-terminating proxy
// (trusted_proxies, sessions.behind_tls_proxy, server_names), the database
// password in a file. They start together, as after a deployment: the
// schema's migrations must not race.
//
// nginx_upstream_conf(): docs/examples/several-instances-nginx.conf as
// shipped, with its three upstream servers pointed at the instances; the
// NginxFixture (support/nginx_fixture.hpp) runs it.
//
// via(): one request with a chosen Host header (the public name the proxy
// passes through), where e2e::http always sends 127.0.0.1:PORT.
//
// Thread-safety: one thread, but via() may be called from many.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/nginx_fixture.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

namespace e2e {

inline constexpr const char* kPublicHost = "tokens.example.org";
inline constexpr const char* kPublicOrigin = "https://tokens.example.org";

// The database settings of every instance: driver, URL without the password,
// and the password in a file only the test's user can read.
inline nlohmann::json postgres_config(const tokend::testing::PgDatabase& db, const std::string& password_file) {
  return {{"database",
           {{"driver", "postgresql"},
            {"url", db.cluster().url_without_password(db.name())},
            {"password_file", password_file},
            {"path", nullptr}}}};
}

// What each instance behind the proxy needs (operations.md, "Several
// instances"): the proxy's address trusted for X-Forwarded-For, cookies
// Secure behind its TLS, and the public name (plus the address the health
// checks and this test use directly).
inline nlohmann::json behind_proxy_config() {
  return {{"trusted_proxies", {"127.0.0.1"}},
          {"sessions", {{"behind_tls_proxy", true}}},
          {"server_names", {kPublicHost, "127.0.0.1"}}};
}

class Instances {
 public:
  // Starts `n` instances on `db` (all at once), each with `extra` merged into
  // its configuration.
  Instances(const tokend::testing::PgDatabase& db, int n, const nlohmann::json& extra = nlohmann::json::object()) {
    char tmpl[] = "/tmp/tokend-instances-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    password_file_ = dir_ + "/pg.password";
    {
      std::ofstream out(password_file_);
      out << db.cluster().password() << "\n";
    }
    ::chmod(password_file_.c_str(), 0600);
    nlohmann::json config = behind_proxy_config();
    config.merge_patch(postgres_config(db, password_file_));
    config.merge_patch(extra);
    for (int i = 0; i < n; ++i) list_.push_back(std::make_unique<TokendProcess>(config, false));
    start_all();
  }
  ~Instances() {
    list_.clear();  // stops every instance first
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Instances(const Instances&) = delete;
  Instances& operator=(const Instances&) = delete;

  TokendProcess& operator[](std::size_t i) { return *list_.at(i); }
  std::size_t size() const { return list_.size(); }
  std::vector<std::uint16_t> ports() const {
    std::vector<std::uint16_t> p;
    for (const auto& t : list_) p.push_back(t->port());
    return p;
  }
  const std::string& password_file() const { return password_file_; }

 private:
  // Every instance at once, so that the schema migrations run concurrently.
  void start_all() {
    std::vector<std::string> errors(list_.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < list_.size(); ++i) {
      threads.emplace_back([this, i, &errors] {
        try {
          list_[i]->start();
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.empty()) throw std::runtime_error("an instance did not start: " + e);
    }
  }

  std::string dir_;
  std::string password_file_;
  std::vector<std::unique_ptr<TokendProcess>> list_;
};

// docs/examples/several-instances-nginx.conf with its upstream servers
// replaced by `ports` (at most three; the example lists three).
inline std::string nginx_upstream_conf(const std::vector<std::uint16_t>& ports) {
  std::ifstream in(source_dir() + "/docs/examples/several-instances-nginx.conf", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string conf = ss.str();
  if (ports.size() > 3) throw std::runtime_error("the example lists three upstream servers");
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string from = "server 10.0.0.1" + std::to_string(i + 1) + ":8080";
    if (i < ports.size()) {
      conf = replace_all(conf, from, "server 127.0.0.1:" + std::to_string(ports[i]));
    } else {
      // Fewer instances: the line goes.
      const auto at = conf.find(from);
      if (at == std::string::npos) throw std::runtime_error("template has no '" + from + "'");
      conf.erase(conf.rfind('\n', at) + 1, conf.find('\n', at) - conf.rfind('\n', at));
    }
  }
  return conf;
}

// One request to 127.0.0.1:port with `host` as its Host header.
inline Response via(std::uint16_t port, const std::string& method, const std::string& target,
                    const std::string& body = "", const std::map<std::string, std::string>& headers = {},
                    const std::string& host = kPublicHost) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    if (k == "Content-Type") has_type = true;
  }
  if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  return raw_http(port, req, 30000);
}

// Signs in with the page's request (POST /api/login from the public origin,
// through `port` with the public Host) and returns "name=value" of the cookie.
inline std::string sign_in(std::uint16_t port, const std::string& user, const std::string& password) {
  auto r = via(port, "POST", "/api/login", nlohmann::json{{"username", user}, {"password", password}}.dump(),
               {{"Origin", kPublicOrigin}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::string set = r.header("set-cookie");
  // behind_tls_proxy: Secure, and so the __Host- prefix.
  REQUIRE(set.rfind("__Host-tokend_session=", 0) == 0);
  CHECK(set.find("Secure") != std::string::npos);
  return set.substr(0, set.find(';'));
}

// How many access-log lines of `t` so far answered `path` with `status`.
inline int access_lines(const TokendProcess& t, const std::string& path, int status) {
  const std::string needle = "path=" + path + " status=" + std::to_string(status);
  const std::string log = t.log();
  int n = 0;
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace e2e
