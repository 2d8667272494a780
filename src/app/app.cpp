#include "tokend/app/app.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string_view>
#include <memory>
#include <thread>
#include <vector>

#include "tokend/api/api.hpp"
#include "tokend/app/reload_hooks.hpp"
#include "tokend/app/service_notify.hpp"
#include "tokend/app/worker_pool.hpp"
#include "tokend/app/audit_setup.hpp"
#include "tokend/app/cache_poller.hpp"
#include "tokend/audit/json_lines_log.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/http/server.hpp"
#include "tokend/log/log.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/open.hpp"
#include "tokend/token/token_service.hpp"
#include "tokend/token/validation_cache.hpp"

namespace tokend::app {

namespace {

namespace net = boost::asio;

// Revoked and expired rows are kept this long (for the audit trail of
// last-use times), then purged.
constexpr TimeMs kPurgeAfterMs = 30LL * 86'400'000;

// Jobs run every so often on one io_context's thread until cancel_all().
// A job must not block: it posts heavier work to a pool.
class PeriodicJobs final {
 public:
  explicit PeriodicJobs(net::io_context& ioc) : ioc_(ioc) {}

  void every(std::chrono::milliseconds period, std::function<void()> job) {
    auto p = std::make_shared<Job>(Job{net::steady_timer(ioc_), period, std::move(job)});
    jobs_.push_back(p);
    arm(p);
  }
  // On the context's thread: no job runs after this.
  void cancel_all() {
    stopped_ = true;
    for (auto& p : jobs_) p->timer.cancel();
  }

 private:
  struct Job {
    net::steady_timer timer;
    std::chrono::milliseconds period;
    std::function<void()> job;
  };
  void arm(const std::shared_ptr<Job>& p) {
    p->timer.expires_after(p->period);
    p->timer.async_wait([this, p](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      p->job();
      arm(p);
    });
  }
  net::io_context& ioc_;
  std::vector<std::shared_ptr<Job>> jobs_;
  bool stopped_ = false;
};

// Tells systemd (Type=notify) where tokend is; a no-op without
// $NOTIFY_SOCKET. A failure is logged, not fatal: the server itself is fine,
// and systemd reports the missing READY=1 on its own (start timeout).
void notify(std::string_view message) {
  if (auto sent = notify_service_manager(message); !sent) {
    spdlog::warn("cannot notify the service manager: {}", sent.error().message);
  }
}

}  // namespace

int serve(const config::Config& config) {
  auto opened = store::open(config.database);
  if (!opened) {
    spdlog::critical("cannot open the database: {}", opened.error().message);
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(*opened);
  spdlog::info("database: {} {}", config.database.driver, config.database.path);

  // The audit trail first: a server that cannot record must not serve.
  auto audit_log = open_audit(config);
  if (!audit_log) {
    spdlog::critical("{}", audit_log.error().message);
    return 1;
  }
  audit::AuditLog* audit = audit_log->get();  // null when audit.enabled is false

  metrics::Metrics metrics;
  auth::PasswordHasher hasher(config.passwords);
  hasher.count_computations_in(metrics.counter(
      "tokend_password_hash_computations_total",
      "argon2id computations run: password hashes, verifications and the dummy verifications of unknown users."));
  // The throttle's counts live in the database, shared by every instance on
  // it. No audit sink for it: the login service records "throttle.locked"
  // itself, with the request's client address and id.
  auth::LoginThrottle throttle(config.throttle, *store, nullptr);
  auth::LoginService login(*store, throttle, metrics, audit);
  // Validation from memory (token/validation_cache.hpp): told of this
  // process's changes by the store before serving, of other writers' by the
  // poller's feed reads.
  token::ValidationCache validation_cache(config.validation_cache, metrics);
  if (validation_cache.enabled()) store->set_change_listener(&validation_cache);
  metrics.gauge("tokend_validation_cache_fresh", "1 while validations may be answered from memory, 0 in fallback.",
                [&validation_cache] { return validation_cache.fresh(steady_ms()) ? 1.0 : 0.0; });
  metrics.gauge("tokend_validation_cache_entries", "Tokens remembered by the validation cache.",
                [&validation_cache] { return static_cast<double>(validation_cache.entries()); });
  metrics.gauge("tokend_session_cache_entries", "Sessions remembered by the validation cache.",
                [&validation_cache] { return static_cast<double>(validation_cache.session_entries()); });
  metrics.gauge("tokend_token_filter_prefixes", "Token digest prefixes in the validation cache's filter.",
                [&validation_cache] { return static_cast<double>(validation_cache.filter_prefixes()); });
  // On every way out of serve(), before the cache goes: nothing may reach it
  // through the store or the metrics after that.
  struct CacheDetach {
    store::Store& store;
    metrics::Metrics& metrics;
    ~CacheDetach() {
      store.set_change_listener(nullptr);
      for (const char* g :
           {"tokend_validation_cache_fresh", "tokend_validation_cache_entries", "tokend_session_cache_entries",
            "tokend_token_filter_prefixes"}) {
        metrics.remove_gauge(g);
      }
    }
  } cache_detach{*store, metrics};
  CachePoller cache_poller(validation_cache, *store, config.validation_cache.poll_interval_ms);
  cache_poller.start();
  token::TokenService tokens(*store, config.tokens, metrics, audit, &validation_cache);
  session::SessionService sessions(*store, config.sessions, audit, &validation_cache);

  auto registry = auth::Registry::build(auth::FactoryContext{config, *store, metrics, hasher});
  if (!registry) {
    spdlog::critical("invalid configuration: {}", registry.error().message);
    return 1;
  }
  for (const auto& m : registry->all()) spdlog::info("authentication method: {} ({})", m->name(), m->type());
  record_config_loaded(audit, config, *registry);

  // Hashing and SQLite on one pool; calls to directories and providers on
  // another, so a slow upstream cannot take the database work down with it.
  WorkerPool workers("worker", config.threads.workers, config.threads.worker_queue);
  WorkerPool upstream("upstream", config.threads.upstream_workers, config.threads.upstream_queue);
  // Token listings grow with an account's tokens: apart, so that one account
  // listing its tokens again and again slows its own listings, not everyone's
  // GET /api/user on the worker pool.
  WorkerPool bulk("bulk", config.threads.bulk_workers, config.threads.bulk_queue);

  http::Router router;
  api::ApiContext ctx{config, *store, metrics, *registry, login, tokens, sessions, &hasher, &throttle, audit};
  api::register_routes(router, ctx);

  // One io_context per I/O thread, each run by one thread (the HTTP server
  // hands each connection to one of them). The first also runs the signals
  // and the periodic jobs. A work guard keeps a context without connections
  // running until shutdown.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> context_ptrs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  for (int i = 0; i < std::max(1, config.threads.io_threads); ++i) {
    contexts.push_back(std::make_unique<net::io_context>(1));
    context_ptrs.push_back(contexts.back().get());
    keep_running.push_back(net::make_work_guard(*contexts.back()));
  }
  net::io_context& main_context = *contexts.front();

  // Before the server listens: from then on SIGINT/SIGTERM must end in a
  // graceful shutdown, not the default action, and SIGHUP (whose default
  // action ends the process) must only reopen the files tokend writes.
  net::signal_set signals(main_context, SIGINT, SIGTERM);
  net::signal_set hangup(main_context, SIGHUP);
  ReloadHooks reload;
  if (!config.log.file.empty()) {
    reload.add("log file", [] {
      auto r = log::reopen();
      return r ? ok_status() : Status(r.error());
    });
  }
  if (auto* sink = audit_log->get(); sink != nullptr && sink->path() != "-") {
    reload.add("audit log", [sink] {
      auto s = sink->reopen();
      if (s) spdlog::info("audit: reopened {}", sink->path());
      return s;
    });
  }

  http::ServerOptions options{config.listen, config.tls, config.limits, config.shutdown_timeout_ms,
                              config.log.access_log, config.trusted_proxies, config.server_names};
  std::atomic<std::uint64_t> jobs{0};  // handed to the pools, for the idle check below
  auto dispatch = [&workers, &upstream, &bulk, &jobs](RunOn where, std::function<void()> job) {
    jobs.fetch_add(1, std::memory_order_relaxed);
    WorkerPool& pool = where == RunOn::kUpstream ? upstream : where == RunOn::kBulk ? bulk : workers;
    return pool.try_post(std::move(job));
  };
  http::HttpServer server(options, router, dispatch, metrics, context_ptrs);
  if (auto s = server.start(); !s) {
    spdlog::critical("{}", s.error().message);
    return 1;
  }
  PeriodicJobs periodic(main_context);
  periodic.every(std::chrono::seconds(1), [&] { workers.try_post([&tokens] { tokens.flush_usage(); }); });
  // Once a second without any pool job: give memory back to the system, the
  // password hasher's idle buffers (cores x passwords.memory_kib when warm)
  // and free heap pages. Not under load, where the next password hash would
  // only fault the same pages in again.
  periodic.every(std::chrono::seconds(1),
                 [&workers, &jobs, &hasher, seen = ~std::uint64_t{0}, trimmed = false]() mutable {
                   const std::uint64_t now = jobs.load(std::memory_order_relaxed);
                   if (now != seen) {
                     seen = now;
                     trimmed = false;
                   } else if (!trimmed) {
                     trimmed = workers.try_post([&hasher] {
                       hasher.release_idle_memory();
                       malloc_trim(0);
                     });
                   }
                 });
  // One instance at a time on a shared database (Store::run_maintenance):
  // the others skip this round.
  auto purge = [&store, &throttle] {
    auto ran = store->run_maintenance([&store, &throttle] {
      if (auto s = store->purge(now_ms() - kPurgeAfterMs); !s) spdlog::warn("purge failed: {}", s.error().message);
      if (auto s = throttle.purge(now_ms()); !s) spdlog::warn("throttle purge failed: {}", s.error().message);
    });
    if (!ran) spdlog::warn("maintenance skipped: {}", ran.error().message);
    else if (!*ran) spdlog::info("maintenance skipped: another instance is running it");
  };
  workers.try_post(purge);  // at start too: an instance restarted often must purge as well
  periodic.every(std::chrono::hours(1), [&workers, purge] { workers.try_post(purge); });

  // SIGHUP: reopen the log files (logrotate), on the worker pool since
  // opening a file may block. The configuration is not read again.
  std::function<void()> wait_for_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("received SIGHUP: reopening the log files");
      if (!workers.try_post([&reload] { reload.run(); })) {
        spdlog::warn("reload: the worker pool is full; the log files were not reopened, send SIGHUP again");
      }
      wait_for_hangup();
    });
  };
  wait_for_hangup();

  // SIGINT/SIGTERM: stop the periodic jobs, let the server drain, then stop
  // every context (their threads return).
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received signal {}", sig);
    notify("STOPPING=1");
    hangup.cancel();
    periodic.cancel_all();
    server.shutdown([&contexts, &keep_running] {
      keep_running.clear();
      for (auto& c : contexts) c->stop();
    });
  });
  std::vector<std::thread> threads;
  threads.reserve(contexts.size() - 1);
  for (std::size_t i = 1; i < contexts.size(); ++i) threads.emplace_back([c = contexts[i].get()] { c->run(); });
  // Ready once the contexts run: the store is open and the port listens,
  // and connections already waiting in the backlog are served from here on.
  net::post(main_context, [] { notify("READY=1\nSTATUS=serving"); });
  main_context.run();
  for (auto& t : threads) t.join();
  spdlog::info("HTTP server stopped");
  // The I/O threads are done; let the pools finish what they hold (their
  // answers have nobody to go to, but their writes must complete), then
  // write the last token-use times.
  workers.stop();
  upstream.stop();
  bulk.stop();
  // Tokens the pools handed to the group commit: committed and answered (into
  // the stopped server's queue) before the server and its sessions go away.
  store->wait_idle();
  tokens.flush_usage();
  cache_poller.stop();
  spdlog::info("tokend stopped");
  return 0;
}

}  // namespace tokend::app
