#include "tokend/app/app.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>

#include "tokend/api/api.hpp"
#include "tokend/app/worker_pool.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/http/server.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::app {

namespace {
// Revoked and expired rows are kept this long (for the audit trail of
// last-use times), then purged.
constexpr TimeMs kPurgeAfterMs = 30LL * 86'400'000;
}  // namespace

int serve(const config::Config& config) {
  auto opened = store::sqlite::SqliteStore::open(config.database);
  if (!opened) {
    spdlog::critical("cannot open the database: {}", opened.error().message);
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(*opened);
  spdlog::info("database: sqlite {}", config.database.path);

  metrics::Metrics metrics;
  auth::PasswordHasher hasher(config.passwords);
  hasher.count_computations_in(metrics.counter(
      "tokend_password_hash_computations_total",
      "argon2id computations run: password hashes, verifications and the dummy verifications of unknown users."));
  auth::LoginThrottle throttle(config.throttle);
  auth::LoginService login(*store, throttle, metrics);
  token::TokenService tokens(*store, config.tokens, metrics);
  session::SessionService sessions(*store, config.sessions);

  auto registry = auth::Registry::build(auth::FactoryContext{config, *store, metrics, hasher});
  if (!registry) {
    spdlog::critical("invalid configuration: {}", registry.error().message);
    return 1;
  }
  for (const auto& m : registry->all()) spdlog::info("authentication method: {} ({})", m->name(), m->type());

  // Hashing and SQLite on one pool; calls to directories and providers on
  // another, so a slow upstream cannot take the database work down with it.
  WorkerPool workers("worker", config.threads.workers, config.threads.worker_queue);
  WorkerPool upstream("upstream", config.threads.upstream_workers, config.threads.upstream_queue);
  // Token listings grow with an account's tokens: apart, so that one account
  // listing its tokens again and again slows its own listings, not everyone's
  // GET /api/user on the worker pool.
  WorkerPool bulk("bulk", config.threads.bulk_workers, config.threads.bulk_queue);

  http::Router router;
  api::ApiContext ctx{config, *store, metrics, *registry, login, tokens, sessions};
  api::register_routes(router, ctx);

  http::ServerOptions options{config.listen, config.tls, config.limits, config.threads.io_threads,
                              config.shutdown_timeout_ms, config.log.access_log, config.trusted_proxies,
                              config.server_names};
  std::atomic<std::uint64_t> jobs{0};  // handed to the pools, for the idle check below
  auto dispatch = [&workers, &upstream, &bulk, &jobs](http::RunOn where, std::function<void()> job) {
    jobs.fetch_add(1, std::memory_order_relaxed);
    WorkerPool& pool = where == http::RunOn::kUpstream ? upstream : where == http::RunOn::kBulk ? bulk : workers;
    return pool.try_post(std::move(job));
  };
  http::HttpServer server(options, router, dispatch, metrics);
  if (auto s = server.start(); !s) {
    spdlog::critical("{}", s.error().message);
    return 1;
  }
  server.every(std::chrono::seconds(1), [&] { workers.try_post([&tokens] { tokens.flush_usage(); }); });
  // Once a second without any pool job: give memory back to the system, the
  // password hasher's idle buffers (cores x passwords.memory_kib when warm)
  // and free heap pages. Not under load, where the next password hash would
  // only fault the same pages in again.
  server.every(std::chrono::seconds(1),
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
  auto purge = [&store] {
    if (auto s = store->purge(now_ms() - kPurgeAfterMs); !s) spdlog::warn("purge failed: {}", s.error().message);
  };
  workers.try_post(purge);  // at start too: an instance restarted often must purge as well
  server.every(std::chrono::hours(1), [&workers, purge] { workers.try_post(purge); });

  server.run();
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
  spdlog::info("tokend stopped");
  return 0;
}

}  // namespace tokend::app
