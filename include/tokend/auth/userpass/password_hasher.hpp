// PasswordHasher: argon2id password hashes as PHC strings
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), so the cost parameters
// travel with each hash and can be raised later: verify() says when a stored
// hash is weaker than the current parameters, and the caller re-hashes at the
// next successful login.
//
// It also holds a real dummy hash at the current cost, so a login for an
// account that does not exist costs the same time as a wrong password.
//
// Memory: argon2id's memory comes from a pool of at most `pool_size` buffers
// of memory_kib each (one per core by default), allocated on first use and
// kept warm for the life of the hasher, so hashing holds at most
// pool_size x memory_kib whatever the number of threads that hash, and a hash
// after warm-up takes no page faults. A hash that finds every buffer busy
// waits for one. A stored hash whose m is above memory_kib still takes one of
// the pool's places, but gets a buffer of its own size for that one
// computation, returned to the system right after it. release_idle_memory()
// gives the idle buffers back (the server calls it after a quiet second).
//
// Thread-safety: hash(), verify(), verify_dummy() and memory_stats() are safe
// to call from any thread at once. hash(), verify() and verify_dummy() may
// block while all pool_size buffers are in use: call them from worker
// threads, never from I/O threads. The hasher must outlive every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"

namespace tokend::metrics {
class Counter;
}  // namespace tokend::metrics

namespace tokend::auth {

class PasswordHasher final {
 public:
  // max(1, std::thread::hardware_concurrency()).
  static unsigned default_pool_size();

  // `pool_size` bounds the number of hashes that run at once, and so the
  // buffers of memory_kib the pool ever holds; 0 counts as 1. Throws
  // std::runtime_error (a startup failure) when the dummy hash cannot be made.
  explicit PasswordHasher(const config::PasswordConfig& config, unsigned pool_size = default_pool_size());
  ~PasswordHasher();

  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // A PHC string for `password` with a fresh 16-byte salt.
  // Error "internal_error" if libargon2 fails (out of memory).
  Result<std::string> hash(std::string_view password) const;

  struct Verdict {
    bool match = false;
    bool needs_rehash = false;  // match, but with weaker parameters than configured
    bool refused = false;       // `phc` is not a usable argon2id hash (see verify)
    bool failed = false;        // the hash could not be computed (out of memory)
  };
  // Whether `password` matches `phc`. A malformed `phc` never matches; neither
  // does one with absurd parameters (m above 4 GiB, t above 100, p above 64).
  // Both are `refused`, after burning the time of one dummy verification, so
  // that such an account answers no faster than any other. When argon2 cannot
  // run (no memory for its buffer) the verdict is `failed`, not a mismatch: a
  // server in trouble must not look like a wrong password. Runs in time that
  // depends on the stored parameters, not on where a mismatch is.
  Verdict verify(std::string_view password, std::string_view phc) const;

  // Burns the time of one verification against the dummy hash; for unknown
  // users and disabled accounts, so their answer takes as long as a real one.
  void verify_dummy(std::string_view password) const;

  // What the buffer pool holds, for tests and metrics.
  struct MemoryStats {
    std::size_t pool_size = 0;        // the bound on buffers and on hashes at once
    std::size_t buffer_bytes = 0;     // size of each pooled buffer: memory_kib KiB
    std::size_t buffers = 0;          // pooled buffers allocated so far; never above pool_size
    std::size_t in_use = 0;           // hashes running now
    std::size_t peak_in_use = 0;      // most hashes that ever ran at once; never above pool_size
    std::uint64_t one_off = 0;        // hashes that needed a buffer bigger than the pool's
    std::uint64_t computations = 0;   // argon2id computations run (hashes, verifications, dummies)
  };
  MemoryStats memory_stats() const;

  // From now on, every argon2id computation (hash, verification, dummy
  // verification) also increments `counter` (tokend_password_hash_computations_total),
  // so that the cost an unknown user pays can be seen from outside.
  // REQUIRES: called before the hasher is shared with other threads; `counter`
  // outlives the hasher.
  void count_computations_in(metrics::Counter& counter) { computations_counter_ = &counter; }

  // Returns the buffers no hash is using to the system; returns the bytes
  // freed. For a server gone quiet: the next hash maps a buffer again and
  // takes its page faults (a few ms) once.
  std::size_t release_idle_memory() const;

 private:
  class Pool;

  config::PasswordConfig config_;
  std::unique_ptr<Pool> pool_;
  std::string dummy_;
  metrics::Counter* computations_counter_ = nullptr;
};

}  // namespace tokend::auth
