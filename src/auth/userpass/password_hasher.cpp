#include "tokend/auth/userpass/password_hasher.hpp"

#include <argon2.h>
#include <openssl/crypto.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tokend/auth/userpass/phc.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::auth {

namespace {

constexpr std::size_t kSaltLen = 16;
constexpr std::size_t kHashLen = 32;

// Refuse absurd stored parameters rather than let a tampered row make one
// verification allocate gigabytes or loop for minutes.
constexpr std::uint32_t kMaxStoredMemoryKib = 4u * 1024 * 1024;
constexpr std::uint32_t kMaxStoredIterations = 100;
constexpr std::uint32_t kMaxStoredParallelism = 64;

std::uint8_t* map_buffer(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  // mmap, not malloc: a buffer of ours never sits in (or pins the top of) a
  // malloc arena, and one-off buffers go straight back to the system.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Security: the buffer holds values derived from passwords while a hash
  // runs; keep it out of core dumps. Failure is harmless (old kernels).
  (void)madvise(p, bytes, MADV_DONTDUMP);
  // argon2 reads blocks all over the buffer: with huge pages a warm hash
  // runs ~10% faster (20.0 against 22.6 ms at m=19456,t=2 here) and the
  // first one takes ~900 faults instead of ~4,900. A no-op where THP is off.
  (void)madvise(p, bytes, MADV_HUGEPAGE);
  return static_cast<std::uint8_t*>(p);
}

void unmap_buffer(std::uint8_t* p, std::size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}

}  // namespace

// Up to `size` warm buffers of `bytes` each, and at most `size` argon2
// computations at once: a computation holds one place (a Lease) while it runs.
class PasswordHasher::Pool {
 public:
  Pool(std::size_t size, std::size_t bytes) : size_(size), bytes_(bytes) { free_.reserve(size_); }

  ~Pool() {
    for (std::uint8_t* b : free_) unmap_buffer(b, bytes_);
  }

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs argon2id on `ctx` (its memory callbacks are set here) with memory
  // from the pool, waiting for a free place first. Returns argon2's code.
  int run(argon2_context& ctx) {
    Lease lease = acquire();
    ctx.allocate_cbk = &Pool::allocate;
    ctx.free_cbk = &Pool::deallocate;
    // argon2's callbacks take no user pointer, so the lease travels in a
    // thread_local. That is sound because libargon2 allocates and frees the
    // block in the calling thread (initialize/finalize in argon2_ctx); only
    // the filling of lanes runs on its own threads.
    current_ = &lease;
    const int rc = argon2_ctx(&ctx, Argon2_id);
    current_ = nullptr;
    return rc;
  }

  MemoryStats stats() {
    std::lock_guard lock(mu_);
    return MemoryStats{size_, bytes_, allocated_, in_use_, peak_in_use_, one_off_, computations_};
  }

  // Unmaps the buffers no hash holds now; returns how many bytes that freed.
  std::size_t trim() {
    std::vector<std::uint8_t*> idle;
    idle.reserve(size_);  // swapped in: free_ keeps room for size_, so release() never allocates
    {
      std::lock_guard lock(mu_);
      idle.swap(free_);
      allocated_ -= idle.size();
    }
    for (std::uint8_t* b : idle) unmap_buffer(b, bytes_);
    return idle.size() * bytes_;
  }

 private:
  // One place in the pool, held for one computation.
  class Lease {
   public:
    Lease(Pool& pool, std::uint8_t* buffer) : pool_(pool), buffer_(buffer) {}

    // Wipes and frees anything argon2 did not hand back (it returns early
    // without freeing on some errors), then returns the place to the pool.
    ~Lease() {
      if (handed_ != nullptr) {
        OPENSSL_cleanse(handed_, handed_bytes_);
        if (one_off_) unmap_buffer(handed_, handed_bytes_);
      }
      pool_.release(buffer_);
    }

    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // Memory for `bytes`: the pooled buffer if it is big enough, else a
    // buffer of exactly `bytes` for this computation only (a stored hash with
    // a higher m than configured). nullptr if out of memory.
    std::uint8_t* take(std::size_t bytes) {
      if (handed_ != nullptr) return nullptr;  // argon2 allocates once
      if (bytes <= pool_.bytes_) {
        handed_ = buffer_;
      } else {
        handed_ = map_buffer(bytes);
        one_off_ = handed_ != nullptr;
        if (one_off_) pool_.count_one_off();
      }
      handed_bytes_ = bytes;
      return handed_;
    }

    // argon2 has already wiped `memory` (free_memory clears the block before
    // calling free_cbk); a pooled buffer simply stays with the lease.
    void give_back(std::uint8_t* memory) {
      if (memory == nullptr || memory != handed_) return;
      if (one_off_) unmap_buffer(handed_, handed_bytes_);
      handed_ = nullptr;
      one_off_ = false;
    }

   private:
    Pool& pool_;
    std::uint8_t* const buffer_;  // pooled, pool_.bytes_ long; nullptr if mapping it failed
    std::uint8_t* handed_ = nullptr;
    std::size_t handed_bytes_ = 0;
    bool one_off_ = false;
  };

  static int allocate(std::uint8_t** memory, std::size_t bytes) {
    *memory = current_ != nullptr ? current_->take(bytes) : nullptr;
    return *memory != nullptr ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
  }

  static void deallocate(std::uint8_t* memory, std::size_t) {
    if (current_ != nullptr) current_->give_back(memory);
  }

  // Waits for a free place; takes a warm buffer, or maps a new one if none
  // is free (only while fewer than size_ exist).
  Lease acquire() {
    std::uint8_t* buffer = nullptr;
    bool fresh = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return in_use_ < size_; });
      ++in_use_;
      ++computations_;
      peak_in_use_ = std::max(peak_in_use_, in_use_);
      if (!free_.empty()) {
        buffer = free_.back();
        free_.pop_back();
      } else {
        // Every buffer that exists is held by another place, so allocated_
        // stays at most in_use_ <= size_.
        ++allocated_;
        fresh = true;
      }
    }
    if (fresh) {
      // Mapped outside the lock; its pages fault in during its first hash
      // and stay resident from then on.
      buffer = map_buffer(bytes_);
      if (buffer == nullptr) {
        std::lock_guard lock(mu_);
        --allocated_;
      }
    }
    return Lease(*this, buffer);
  }

  void release(std::uint8_t* buffer) {
    {
      std::lock_guard lock(mu_);
      if (buffer != nullptr) free_.push_back(buffer);  // reserved: cannot throw
      --in_use_;
    }
    cv_.notify_one();
  }

  void count_one_off() {
    std::lock_guard lock(mu_);
    ++one_off_;
  }

  static thread_local Lease* current_;

  const std::size_t size_;
  const std::size_t bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint8_t*> free_;  // warm buffers not in use
  std::size_t allocated_ = 0;
  std::size_t in_use_ = 0;
  std::size_t peak_in_use_ = 0;
  std::uint64_t one_off_ = 0;
  std::uint64_t computations_ = 0;
};

thread_local PasswordHasher::Pool::Lease* PasswordHasher::Pool::current_ = nullptr;

unsigned PasswordHasher::default_pool_size() { return std::max(1u, std::thread::hardware_concurrency()); }

PasswordHasher::PasswordHasher(const config::PasswordConfig& config, unsigned pool_size)
    : config_(config),
      pool_(std::make_unique<Pool>(std::max(1u, pool_size), std::size_t{config.memory_kib} * 1024)) {
  // A real hash of a random password, at the configured cost: verifying
  // against it costs exactly what verifying a real account costs. It also
  // warms the first pooled buffer.
  auto h = hash(crypto::to_hex(crypto::random_bytes(16)));
  // Without it, unknown usernames would be answered at once: refuse to start.
  if (!h) throw std::runtime_error("cannot make the dummy password hash: " + h.error().message);
  dummy_ = *h;
}

PasswordHasher::~PasswordHasher() = default;

namespace {

argon2_context make_context(std::string_view password, const std::uint8_t* salt, std::size_t salt_len,
                            std::uint32_t m, std::uint32_t t, std::uint32_t p, std::uint8_t* out,
                            std::size_t out_len) {
  argon2_context ctx{};
  ctx.out = out;
  ctx.outlen = static_cast<std::uint32_t>(out_len);
  // argon2 takes non-const pointers but only writes through them with
  // ARGON2_FLAG_CLEAR_PASSWORD/SECRET, which are not set.
  ctx.pwd = reinterpret_cast<std::uint8_t*>(const_cast<char*>(password.data()));
  ctx.pwdlen = static_cast<std::uint32_t>(password.size());
  ctx.salt = const_cast<std::uint8_t*>(salt);
  ctx.saltlen = static_cast<std::uint32_t>(salt_len);
  ctx.t_cost = t;
  ctx.m_cost = m;
  ctx.lanes = p;
  ctx.threads = p;
  ctx.version = ARGON2_VERSION_13;
  // Security: the same flags as argon2id_hash_encoded/argon2id_verify. The
  // memory block itself is wiped by libargon2 before it calls free_cbk
  // (FLAG_clear_internal_memory, on by default; Debian's build does not even
  // export it), so a pooled buffer never carries one password's state into
  // the next hash or sits readable while idle. Wiping a warm 19 MiB buffer
  // costs ~0.7 ms against ~20 ms for the hash at the default cost (measured):
  // not worth working around.
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  return ctx;
}

}  // namespace

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  if (password.size() > ARGON2_MAX_PWD_LENGTH) return Error{ErrorCode::kInternalError, "password too long for argon2"};
  const std::string salt_bytes = crypto::random_bytes(kSaltLen);
  const auto* salt = reinterpret_cast<const std::uint8_t*>(salt_bytes.data());
  std::array<std::uint8_t, kHashLen> out{};
  argon2_context ctx = make_context(password, salt, kSaltLen, config_.memory_kib, config_.iterations,
                                    config_.parallelism, out.data(), out.size());
  const int rc = pool_->run(ctx);
  if (computations_counter_ != nullptr) computations_counter_->inc();
  if (rc != ARGON2_OK) return Error{ErrorCode::kInternalError, std::string("argon2 failed: ") + argon2_error_message(rc)};
  // The format argon2id_hash_encoded writes, so stored hashes stay readable
  // by any argon2 implementation.
  Phc phc{config_.memory_kib, config_.iterations, config_.parallelism, std::vector<std::uint8_t>(salt, salt + kSaltLen),
          std::vector<std::uint8_t>(out.begin(), out.end())};
  return format_phc(phc);
}

PasswordHasher::Verdict PasswordHasher::verify(std::string_view password, std::string_view phc) const {
  Verdict v;
  // Security: a stored string that is refused still costs one verification,
  // so such accounts cannot be told apart by the time of their answer.
  const auto refuse = [&] {
    verify_dummy(password);
    v.refused = true;
    return v;
  };
  Phc stored;
  if (!parse_phc(phc, stored)) return refuse();
  if (stored.m > kMaxStoredMemoryKib || stored.t > kMaxStoredIterations || stored.p > kMaxStoredParallelism) {
    return refuse();
  }
  // Parameters argon2 would reject anyway.
  if (stored.t < ARGON2_MIN_TIME || stored.p < ARGON2_MIN_LANES || stored.m < 8 * stored.p) return refuse();
  if (password.size() > ARGON2_MAX_PWD_LENGTH) return refuse();
  std::vector<std::uint8_t> computed(stored.hash.size());
  argon2_context ctx = make_context(password, stored.salt.data(), stored.salt.size(), stored.m, stored.t, stored.p,
                                    computed.data(), computed.size());
  const int rc = pool_->run(ctx);
  if (computations_counter_ != nullptr) computations_counter_->inc();
  if (rc != ARGON2_OK) {
    v.failed = true;
    return v;
  }
  // Security: constant time (CRYPTO_memcmp), so the answer's timing says
  // nothing about how much of the stored hash a guess got right.
  v.match = crypto::constant_time_equal(
      std::string_view(reinterpret_cast<const char*>(computed.data()), computed.size()),
      std::string_view(reinterpret_cast<const char*>(stored.hash.data()), stored.hash.size()));
  v.needs_rehash =
      v.match && (stored.m < config_.memory_kib || stored.t < config_.iterations || stored.p != config_.parallelism);
  return v;
}

void PasswordHasher::verify_dummy(std::string_view password) const {
  if (!dummy_.empty()) (void)verify(password, dummy_);
}

PasswordHasher::MemoryStats PasswordHasher::memory_stats() const { return pool_->stats(); }

std::size_t PasswordHasher::release_idle_memory() const { return pool_->trim(); }

}  // namespace tokend::auth
