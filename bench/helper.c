// bench/helper: what bench/run needs besides wrk: two measurements and a fill.
//
//   helper hash-time DB USERNAME PASSWORD N
//       Reads USERNAME's stored argon2id hash from the tokend SQLite database
//       DB, checks PASSWORD against it once, then times N argon2id
//       computations at the stored cost (m, t, p, 32-byte output) in a row, in
//       this one thread: the hashing work of one login. Like tokend's
//       PasswordHasher, the computation gets its memory from one warm buffer
//       (mmap, MADV_HUGEPAGE) reused from one run to the next, so the bound is
//       that of the fastest way tokend itself hashes, not of a cold malloc.
//       Prints one "sample_ms=<milliseconds>" line per computation, then
//       "hash_ms=<median>".
//   helper hash-time-phc PHC PASSWORD N
//       The same with the stored hash given (the PostgreSQL backend: bench/run
//       reads it with psql).
//   helper idle PORT N
//       Opens N keep-alive connections to 127.0.0.1:PORT, sends one
//       "GET /healthz" on each and reads its answer, so that every connection
//       is an idle keep-alive connection between requests. Prints
//       "ready ok=<answered with 200> failed=<others>" and holds the
//       connections open until standard input closes.
//   helper fill-tokens DB N
//       Adds N live tokens (random 32-byte digests, valid for 30 days) to the
//       tokend SQLite database DB, spread over its accounts in turn, in one
//       transaction: the database of the "million" case. Nobody knows their
//       plaintexts; they are there to be loaded (the prefix filter) and to
//       make the tables and indexes that big. Prints "filled=N seconds=S".
//
// Built by bench/run with the C compiler (links libargon2 and libsqlite3,
// which tokend's build needs anyway).
#define _GNU_SOURCE
#include <argon2.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

// The one warm buffer every timed computation uses (see hash-time above).
static void* warm = NULL;
static size_t warm_bytes = 0;

static int warm_allocate(uint8_t** memory, size_t bytes) {
  if (bytes > warm_bytes) return ARGON2_MEMORY_ALLOCATION_ERROR;
  *memory = warm;
  return ARGON2_OK;
}

static void warm_free(uint8_t* memory, size_t bytes) {
  (void)memory;
  (void)bytes;
}

static int time_phc(const char* phc, const char* password, int n);

static int hash_time(const char* db_path, const char* username, const char* password, int n) {
  sqlite3* db = NULL;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fprintf(stderr, "helper: cannot open %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return 1;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = NULL;
  char* phc = NULL;
  if (sqlite3_prepare_v2(db, "SELECT password_hash FROM users WHERE username = ?", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    phc = strdup((const char*)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!phc || !*phc) {
    fprintf(stderr, "helper: no password hash for %s in %s\n", username, db_path);
    return 1;
  }
  const int rc = time_phc(phc, password, n);
  free(phc);
  return rc;
}

// Checks PASSWORD against PHC, then times N computations at PHC's cost.
static int time_phc(const char* phc, const char* password, int n) {
  const int rc = argon2id_verify(phc, password, strlen(password));
  if (rc != ARGON2_OK) {
    fprintf(stderr, "helper: the password does not verify: %s\n", argon2_error_message(rc));
    return 1;
  }
  unsigned m = 0, tc = 0, p = 0;
  const char* params = strstr(phc, "$m=");
  if (!params || sscanf(params, "$m=%u,t=%u,p=%u", &m, &tc, &p) != 3) {
    fprintf(stderr, "helper: cannot read the cost of the stored hash\n");
    return 1;
  }
  warm_bytes = (size_t)m * 1024;
  warm = mmap(NULL, warm_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (warm == MAP_FAILED) return 1;
  (void)madvise(warm, warm_bytes, MADV_HUGEPAGE);
  double* t = calloc((size_t)n, sizeof *t);
  if (!t) return 1;
  for (int i = -1; i < n; ++i) {  // run -1 warms the buffer and is not counted
    uint8_t out[32], salt[16] = {0};
    argon2_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = out;
    ctx.outlen = sizeof out;
    ctx.pwd = (uint8_t*)password;
    ctx.pwdlen = (uint32_t)strlen(password);
    ctx.salt = salt;
    ctx.saltlen = sizeof salt;
    ctx.t_cost = tc;
    ctx.m_cost = m;
    ctx.lanes = p;
    ctx.threads = p;
    ctx.version = ARGON2_VERSION_13;
    ctx.allocate_cbk = warm_allocate;
    ctx.free_cbk = warm_free;
    ctx.flags = ARGON2_DEFAULT_FLAGS;
    const double start = now_ms();
    const int r = argon2_ctx(&ctx, Argon2_id);
    const double took = now_ms() - start;
    if (r != ARGON2_OK) {
      fprintf(stderr, "helper: argon2 failed: %s\n", argon2_error_message(r));
      return 1;
    }
    if (i >= 0) t[i] = took;
  }
  munmap(warm, warm_bytes);
  for (int i = 0; i < n; ++i) printf("sample_ms=%.3f\n", t[i]);
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  const double median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
  printf("hash_ms=%.3f\n", median);
  free(t);
  return 0;
}

static int idle(int port, int n) {
  // Room for n sockets whatever the shell's soft limit is.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int* fds = calloc((size_t)n, sizeof *fds);
  if (!fds) return 1;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  static const char kRequest[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";
  int failed = 0, ok = 0;
  for (int i = 0; i < n; ++i) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr*)&addr, sizeof addr) != 0 ||
        send(fds[i], kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof kRequest - 1)) {
      if (fds[i] >= 0) close(fds[i]);
      fds[i] = -1;
    }
  }
  // Read every answer (headers and a small body arrive in one segment).
  for (int i = 0; i < n; ++i) {
    if (fds[i] < 0) {
      ++failed;
      continue;
    }
    struct pollfd p = {fds[i], POLLIN, 0};
    char buf[4096];
    ssize_t got = 0;
    if (poll(&p, 1, 10000) == 1) got = recv(fds[i], buf, sizeof buf - 1, 0);
    if (got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) {
      ++ok;
    } else {
      ++failed;
    }
  }
  printf("ready ok=%d failed=%d\n", ok, failed);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  for (int i = 0; i < n; ++i) {
    if (fds[i] >= 0) close(fds[i]);
  }
  free(fds);
  return 0;
}

static int fill_tokens(const char* db_path, long long n) {
  sqlite3* db = NULL;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    fprintf(stderr, "helper: cannot open %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return 1;
  }
  sqlite3_busy_timeout(db, 30000);
  // A large page cache: the digest index takes a million random inserts.
  char sql[1024];
  snprintf(sql, sizeof sql,
           "PRAGMA cache_size = -400000; BEGIN; "
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %lld), "
           "u(id, k) AS (SELECT id, row_number() OVER (ORDER BY id) - 1 FROM users), "
           "c(n) AS (SELECT count(*) FROM users), "
           "t(now) AS (SELECT CAST(strftime('%%s', 'now') AS INTEGER) * 1000) "
           "INSERT INTO tokens (digest, user_id, name, source, created_at, expires_at) "
           "SELECT randomblob(32), u.id, 'bulk', 'userpass', t.now, t.now + 30 * 86400000 "
           "FROM n, c, t JOIN u ON u.k = n.i %% c.n; COMMIT;",
           n);
  const double t0 = now_ms();
  char* err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "helper: cannot fill %s: %s\n", db_path, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_close(db);
    return 1;
  }
  const long long added = sqlite3_changes64(db);
  sqlite3_close(db);
  printf("filled=%lld seconds=%.1f\n", added, (now_ms() - t0) / 1000);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 6 && strcmp(argv[1], "hash-time") == 0) return hash_time(argv[2], argv[3], argv[4], atoi(argv[5]));
  if (argc == 5 && strcmp(argv[1], "hash-time-phc") == 0) return time_phc(argv[2], argv[3], atoi(argv[4]));
  if (argc == 4 && strcmp(argv[1], "idle") == 0) return idle(atoi(argv[2]), atoi(argv[3]));
  if (argc == 4 && strcmp(argv[1], "fill-tokens") == 0) return fill_tokens(argv[2], atoll(argv[3]));
  fprintf(stderr,
          "usage: helper hash-time DB USERNAME PASSWORD N | helper hash-time-phc PHC PASSWORD N | helper idle PORT N"
          " | helper fill-tokens DB N\n");
  return 2;
}
