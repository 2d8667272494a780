// PgCluster and PgDatabase: throwaway PostgreSQL 15 for tests, the way
// tests/e2e/support/slapd_fixture.hpp makes a throwaway slapd.
//
// The cluster itself is started and stopped by tests/support/pg-cluster.sh
// (initdb + pg_ctl in a fresh folder under /tmp, 127.0.0.1 on a free port, its
// unix socket in that folder, run as the `postgres` user when we are root).
// Under CTest one cluster serves the whole run: the `pg_cluster` fixture
// (tests/CMakeLists.txt) starts it before the first test and stops it after
// the last, and every test process finds it through $TOKEND_PG_CLUSTER_ENV
// (the cluster.env the script wrote). A test binary run by hand, without that
// variable, starts a cluster of its own on first use and stops it at exit.
// When the variable names a file that is not there, the first use throws: a
// PostgreSQL test fails loudly, it never skips.
//
// Each test case takes its own database (PgDatabase: CREATE DATABASE with a
// unique name, DROP ... WITH (FORCE) in the destructor), so tests running in
// parallel processes never see each other's rows. A test that stops the
// server (fault tests) starts a private cluster (PgCluster::start_private())
// so that it cannot disturb the others.
//
// Header-only and linked with libpq only, so both test executables use it.
//
// Thread-safety: PgCluster::shared() may be called from any thread; a
// PgCluster or PgDatabase object is used from one thread.
#pragma once

#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

#ifndef TOKEND_PG_CLUSTER_SCRIPT
#error "TOKEND_PG_CLUSTER_SCRIPT must name tests/support/pg-cluster.sh"
#endif

namespace tokend::testing {

class PgCluster {
 public:
  // The cluster of this test run: CTest's (from $TOKEND_PG_CLUSTER_ENV) or,
  // without that variable, one this process starts on first use and stops at
  // exit. Throws std::runtime_error when there is none and none can start.
  static PgCluster& shared() {
    static std::once_flag once;
    static std::unique_ptr<PgCluster> cluster;
    std::call_once(once, [] {
      const char* env = std::getenv("TOKEND_PG_CLUSTER_ENV");
      if (env != nullptr && *env != '\0') {
        cluster.reset(new PgCluster(std::filesystem::path(env).parent_path().string(), false));
      } else {
        cluster = start_private();
        cluster->shared_ = true;
      }
    });
    return *cluster;
  }

  // A cluster of the caller's own, stopped and removed by the destructor.
  static std::unique_ptr<PgCluster> start_private() {
    char tmpl[] = "/tmp/tokend-pgstate-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string state = tmpl;
    const std::string log = state + "/script.log";
    if (std::system((std::string("'" TOKEND_PG_CLUSTER_SCRIPT "' start '") + state + "' >'" + log + "' 2>&1").c_str()) != 0) {
      const std::string out = read_file(log);
      std::error_code ec;
      std::filesystem::remove_all(state, ec);
      throw std::runtime_error("cannot start a PostgreSQL cluster for the tests:\n" + out);
    }
    return std::unique_ptr<PgCluster>(new PgCluster(state, true));
  }

  ~PgCluster() {
    if (!owned_) return;
    script("stop");
    std::error_code ec;
    std::filesystem::remove_all(state_, ec);
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  const std::string& socket_dir() const { return socket_dir_; }

  // A libpq URI for `db` over TCP with the superuser's password, e.g.
  // postgresql://tokend_test:<hex>@127.0.0.1:5432/db (the password is hex, so
  // it needs no escaping).
  std::string url(const std::string& db) const {
    return "postgresql://" + user_ + ":" + password_ + "@" + host_ + ":" + std::to_string(port_) + "/" + db;
  }
  // The same without the password (for a password file or PGPASSWORD).
  std::string url_without_password(const std::string& db) const {
    return "postgresql://" + user_ + "@" + host_ + ":" + std::to_string(port_) + "/" + db;
  }

  // Runs `sql` in database `db` as the superuser over the unix socket; returns
  // the first column of the first row ("" when there is none). Throws with
  // the server's message when it fails.
  std::string exec(const std::string& db, const std::string& sql) const {
    const std::string conninfo = "host='" + socket_dir_ + "' port=" + std::to_string(port_) + " user=" + user_ +
                                 " dbname='" + db + "' connect_timeout=10";
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      const std::string msg = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("cannot connect to the test cluster: " + msg);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string out;
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) out = PQgetvalue(r, 0, 0);
    const std::string msg = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw std::runtime_error(sql + ": " + msg);
    return out;
  }

  // Ends every other connection to `db` (pg_terminate_backend); how many.
  int terminate_backends(const std::string& db) const {
    return std::stoi(exec("postgres",
                          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + db +
                              "' AND pid <> pg_backend_pid()"));
  }

  // Stops the server, keeping its data; resume() starts it again on the same
  // port. Only for a private cluster: the shared one serves other tests.
  void halt() {
    require_owned("halt");
    script_or_throw("halt");
  }
  void resume() {
    require_owned("resume");
    script_or_throw("resume");
  }

 private:
  PgCluster(std::string state, bool owned) : state_(std::move(state)), owned_(owned), shared_(!owned) {
    const std::string file = state_ + "/cluster.env";
    std::ifstream in(file);
    if (!in) {
      throw std::runtime_error("no PostgreSQL test cluster: " + file +
                               " is missing (the CTest fixture pg_cluster_start failed?)");
    }
    std::map<std::string, std::string> kv;
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    host_ = kv["PG_HOST"];
    port_ = std::atoi(kv["PG_PORT"].c_str());
    user_ = kv["PG_USER"];
    password_ = kv["PG_PASSWORD"];
    socket_dir_ = kv["PG_SOCKET_DIR"];
    if (host_.empty() || port_ <= 0 || user_.empty() || socket_dir_.empty()) {
      throw std::runtime_error("unreadable PostgreSQL test cluster file " + file);
    }
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  int script(const std::string& verb) const {
    const std::string cmd = std::string("'" TOKEND_PG_CLUSTER_SCRIPT "' ") + verb + " '" + state_ + "' >>'" + state_ +
                            "/script.log' 2>&1";
    return std::system(cmd.c_str());
  }
  void script_or_throw(const std::string& verb) const {
    if (script(verb) != 0) throw std::runtime_error("pg-cluster.sh " + verb + " failed:\n" + read_file(state_ + "/script.log"));
  }
  void require_owned(const char* what) const {
    if (shared_) throw std::logic_error(std::string(what) + " on the shared cluster would break other tests: use start_private()");
  }

  std::string state_;
  bool owned_ = false;   // started by this process: stopped by the destructor
  bool shared_ = false;  // the run's cluster: never halted
  std::string host_;
  int port_ = 0;
  std::string user_;
  std::string password_;
  std::string socket_dir_;
};

// A fresh, empty database in a cluster, dropped (with its connections) by the
// destructor.
class PgDatabase {
 public:
  explicit PgDatabase(PgCluster& cluster = PgCluster::shared()) : cluster_(cluster) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    name_ = "tokend_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
    // template0 with FILE_COPY: the fastest copy of an empty database on a
    // cluster that does not fsync.
    cluster_.exec("postgres", "CREATE DATABASE " + name_ + " TEMPLATE template0 STRATEGY FILE_COPY");
  }
  ~PgDatabase() {
    try {
      cluster_.exec("postgres", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception&) {
      // The cluster may be halted by the test; a private cluster goes with
      // all its databases, the shared one at the end of the run.
    }
  }
  PgDatabase(const PgDatabase&) = delete;
  PgDatabase& operator=(const PgDatabase&) = delete;

  const std::string& name() const { return name_; }
  PgCluster& cluster() const { return cluster_; }
  // libpq URI with the password (see PgCluster::url).
  std::string url() const { return cluster_.url(name_); }
  std::string exec(const std::string& sql) const { return cluster_.exec(name_, sql); }

 private:
  PgCluster& cluster_;
  std::string name_;
};

}  // namespace tokend::testing
