#include <catch2/catch.hpp>

#include <argon2.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/crypto/crypto.hpp"

using tokend::auth::PasswordHasher;
using tokend::config::PasswordConfig;

namespace {

// Small argon2id parameters so the tests stay fast; the defaults are tested once.
PasswordConfig cheap(std::uint32_t m = 64, std::uint32_t t = 1, std::uint32_t p = 1) {
  PasswordConfig c;
  c.memory_kib = m;
  c.iterations = t;
  c.parallelism = p;
  return c;
}

const std::regex kPhc(R"(^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$)");

}  // namespace

TEST_CASE("PasswordHasher writes argon2id PHC strings with its parameters", "[auth][password]") {
  PasswordHasher h(cheap(64, 2, 1));
  auto phc = h.hash("correct horse battery staple");
  REQUIRE(phc.ok());
  std::smatch m;
  INFO(*phc);
  REQUIRE(std::regex_match(*phc, m, kPhc));
  CHECK(m[1] == "64");
  CHECK(m[2] == "2");
  CHECK(m[3] == "1");
  // 16-byte salt and 32-byte hash, unpadded base64: 22 and 43 characters.
  CHECK(m[4].length() == 22);
  CHECK(m[5].length() == 43);
}

TEST_CASE("PasswordHasher's default parameters are OWASP's argon2id m=19456,t=2,p=1", "[auth][password]") {
  PasswordHasher h(PasswordConfig{});
  auto phc = h.hash("pw");
  REQUIRE(phc.ok());
  CHECK(phc->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
  const auto v = h.verify("pw", *phc);
  CHECK(v.match);
  CHECK_FALSE(v.needs_rehash);
}

TEST_CASE("PasswordHasher verifies matching passwords only", "[auth][password]") {
  PasswordHasher h(cheap());
  auto phc = h.hash("s3cret-pass");
  REQUIRE(phc.ok());
  const auto ok = h.verify("s3cret-pass", *phc);
  CHECK(ok.match);
  CHECK_FALSE(ok.needs_rehash);
  for (const char* wrong : {"s3cret-pasS", "s3cret-pass ", "", "s3cret-pas", "S3CRET-PASS"}) {
    INFO(wrong);
    const auto v = h.verify(wrong, *phc);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
}

TEST_CASE("PasswordHasher handles empty, long and binary passwords", "[auth][password]") {
  PasswordHasher h(cheap());
  for (const std::string& pw : {std::string(), std::string(1024, 'x'), std::string("a\0b", 3), std::string("pässwörd")}) {
    auto phc = h.hash(pw);
    REQUIRE(phc.ok());
    CHECK(h.verify(pw, *phc).match);
  }
  // Bytes after an embedded NUL count.
  auto phc = h.hash(std::string("a\0b", 3));
  REQUIRE(phc.ok());
  CHECK_FALSE(h.verify(std::string("a\0c", 3), *phc).match);
  CHECK_FALSE(h.verify("a", *phc).match);
}

TEST_CASE("PasswordHasher salts every hash", "[auth][password]") {
  PasswordHasher h(cheap());
  auto a = h.hash("same password");
  auto b = h.hash("same password");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  std::smatch ma, mb;
  REQUIRE(std::regex_match(*a, ma, kPhc));
  REQUIRE(std::regex_match(*b, mb, kPhc));
  CHECK(ma[4] != mb[4]);  // salts
  CHECK(ma[5] != mb[5]);  // hashes
  CHECK(h.verify("same password", *a).match);
  CHECK(h.verify("same password", *b).match);
}

TEST_CASE("PasswordHasher never matches a malformed PHC string", "[auth][password]") {
  PasswordHasher h(cheap());
  auto good = h.hash("pw");
  REQUIRE(good.ok());
  const std::string g = *good;
  const std::string tail = g.substr(g.find("$m="));
  for (const std::string& bad : {
           std::string(),
           std::string("pw"),
           std::string("$argon2id$"),
           std::string("$argon2i") + g.substr(9),              // argon2i, not argon2id
           std::string("$argon2d") + g.substr(9),
           "$2b$12$" + std::string(53, 'a'),                   // bcrypt
           std::string("$argon2id$v=19$m=abc,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
           std::string("$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaA"),
           g.substr(0, g.size() - 5),                          // truncated hash
           g.substr(0, g.rfind('$')),                          // no hash
           "$argon2id$v=19" + tail.substr(0, tail.find('$', 1)),
           g + "$extra",
       }) {
    INFO("'" << bad << "'");
    const auto v = h.verify("pw", bad);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
  // A flipped character in the hash part.
  std::string flipped = g;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(h.verify("pw", flipped).match);
}

TEST_CASE("PasswordHasher refuses absurd stored parameters without running them", "[auth][password]") {
  PasswordHasher h(cheap());
  // A tampered row must not make one verification allocate 64 GiB or loop for ever.
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=67108864,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
  CHECK_FALSE(h.verify("pw", "$argon2id$v=19$m=64,t=1,p=1000$c2FsdHNhbHRzYWx0c2FsdA$"
                             "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").match);
}

TEST_CASE("PasswordHasher asks for a rehash when the stored parameters are weaker", "[auth][password]") {
  PasswordHasher weak(cheap(32, 1, 1));
  auto old_phc = weak.hash("pw");
  REQUIRE(old_phc.ok());

  SECTION("more memory configured") {
    PasswordHasher strong(cheap(128, 1, 1));
    const auto v = strong.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("more iterations configured") {
    PasswordHasher strong(cheap(32, 3, 1));
    const auto v = strong.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("other parallelism configured") {
    PasswordHasher other(cheap(32, 1, 2));
    const auto v = other.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("the defaults are stronger than a weak hash") {
    PasswordHasher def(PasswordConfig{});
    const auto v = def.verify("pw", *old_phc);
    CHECK(v.match);
    CHECK(v.needs_rehash);
  }
  SECTION("a wrong password never asks for a rehash") {
    PasswordHasher strong(cheap(128, 2, 1));
    const auto v = strong.verify("not pw", *old_phc);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
  SECTION("a stronger stored hash does not ask for a downgrade") {
    PasswordHasher strong(cheap(128, 2, 1));
    auto strong_phc = strong.hash("pw");
    REQUIRE(strong_phc.ok());
    const auto v = weak.verify("pw", *strong_phc);
    CHECK(v.match);
    CHECK_FALSE(v.needs_rehash);
  }
}

TEST_CASE("PasswordHasher::verify_dummy burns a verification and has no effect", "[auth][password]") {
  PasswordHasher h(cheap());
  tokend::metrics::Metrics metrics;
  auto& counted = metrics.counter("tokend_password_hash_computations_total", "");
  h.count_computations_in(counted);
  const auto before = h.memory_stats().computations;
  h.verify_dummy("anything");
  h.verify_dummy("");
  // Two real argon2id computations, seen by the pool and by the metric.
  CHECK(h.memory_stats().computations == before + 2);
  CHECK(counted.value() == 2);
  // Still fully usable afterwards.
  auto phc = h.hash("pw");
  REQUIRE(phc.ok());
  CHECK(h.verify("pw", *phc).match);
}

namespace {

// What libargon2's own encoder writes for these inputs.
std::string argon2_encoded(const std::string& password, const std::string& salt, std::uint32_t m, std::uint32_t t,
                           std::uint32_t p, std::size_t hash_len = 32) {
  std::string out(argon2_encodedlen(t, m, p, static_cast<std::uint32_t>(salt.size()),
                                    static_cast<std::uint32_t>(hash_len), Argon2_id),
                  '\0');
  const int rc = argon2id_hash_encoded(t, m, p, password.data(), password.size(), salt.data(), salt.size(), hash_len,
                                       out.data(), out.size());
  REQUIRE(rc == ARGON2_OK);
  return std::string(out.c_str());
}

bool argon2_accepts(const std::string& phc, const std::string& password) {
  return argon2id_verify(phc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

// Lenient unpadded base64, enough to read back a salt the hasher wrote.
std::string b64_decode(const std::string& s) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
    acc = (acc << 6) | static_cast<std::uint32_t>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// The PHC string with field `index` (0: "argon2id", 1: "v=19", 2: params,
// 3: salt, 4: hash) replaced.
std::string with_field(const std::string& phc, int index, const std::string& value) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  for (std::size_t pos; (pos = phc.find('$', start)) != std::string::npos; start = pos + 1) {
    parts.push_back(phc.substr(start, pos - start));
  }
  parts.push_back(phc.substr(start));
  REQUIRE(parts.size() == 5);
  parts[static_cast<std::size_t>(index)] = value;
  std::string out;
  for (const auto& p : parts) out += "$" + p;
  return out;
}

std::string field(const std::string& phc, int index) {
  std::size_t start = 0;
  for (int i = 0; i <= index; ++i) start = phc.find('$', start) + 1;
  return phc.substr(start, phc.find('$', start) - start);
}

char other_b64_char(char c) { return c == 'A' ? 'Q' : 'A'; }  // keeps the low 4 bits zero

}  // namespace

TEST_CASE("PasswordHasher writes exactly what libargon2's encoder writes", "[auth][password]") {
  for (const auto& cfg : {cheap(64, 1, 1), cheap(256, 3, 2), PasswordConfig{}}) {
    PasswordHasher h(cfg, 2);
    auto phc = h.hash("correct horse");
    REQUIRE(phc.ok());
    INFO(*phc);
    // Same salt through argon2id_hash_encoded gives the same string, byte for byte.
    const std::string salt = b64_decode(field(*phc, 3));
    REQUIRE(salt.size() == 16);
    CHECK(*phc == argon2_encoded("correct horse", salt, cfg.memory_kib, cfg.iterations, cfg.parallelism));
    CHECK(argon2_accepts(*phc, "correct horse"));
    CHECK_FALSE(argon2_accepts(*phc, "correct horsf"));
  }
}

TEST_CASE("PasswordHasher verifies hashes written by libargon2", "[auth][password]") {
  PasswordHasher h(cheap(64, 1, 1), 2);
  struct Case {
    std::uint32_t m, t, p;
    std::size_t salt_len, hash_len;
  };
  for (const Case& c : {Case{64, 1, 1, 16, 32}, Case{32, 2, 1, 8, 4}, Case{96, 1, 3, 64, 64}, Case{64, 3, 2, 17, 31},
                        Case{19456, 2, 1, 16, 32}}) {
    const std::string salt = tokend::crypto::random_bytes(c.salt_len);
    const std::string phc = argon2_encoded("pw-\xff\x01", salt, c.m, c.t, c.p, c.hash_len);
    INFO(phc);
    CHECK(h.verify("pw-\xff\x01", phc).match);
    CHECK_FALSE(h.verify("pw-\xff\x02", phc).match);
    CHECK_FALSE(h.verify("", phc).match);
  }
}

TEST_CASE("PasswordHasher refuses tampered and malformed PHC strings", "[auth][password]") {
  PasswordHasher h(cheap());
  const std::string good = argon2_encoded("pw", "0123456789abcdef", 64, 1, 1);
  REQUIRE(h.verify("pw", good).match);
  const std::string salt = field(good, 3);
  const std::string hash = field(good, 4);
  REQUIRE(salt.size() == 22);
  REQUIRE(hash.size() == 43);

  SECTION("tampered fields, still well formed: wrong hash") {
    std::string s = salt, x = hash, y = hash;
    s[0] = other_b64_char(s[0]);
    x[0] = other_b64_char(x[0]);
    y[20] = other_b64_char(y[20]);
    for (const std::string& bad : {with_field(good, 3, s), with_field(good, 4, x), with_field(good, 4, y),
                                   with_field(good, 2, "m=72,t=1,p=1"), with_field(good, 2, "m=64,t=2,p=1"),
                                   with_field(good, 2, "m=64,t=1,p=2")}) {
      INFO(bad);
      CHECK_FALSE(argon2_accepts(bad, "pw"));  // the same verdict as libargon2
      const auto v = h.verify("pw", bad);
      CHECK_FALSE(v.match);
      CHECK_FALSE(v.needs_rehash);
    }
  }

  SECTION("malformed base64 and fields") {
    std::string trailing = salt;  // 16 bytes use 128 of 132 bits: the last 4 must be zero
    trailing.back() = trailing.back() == 'A' ? 'B' : static_cast<char>(trailing.back() + 1);
    std::string url_safe = salt;
    url_safe[3] = '-';
    std::string star = hash;
    star[10] = '*';
    for (const std::string& bad : {
             with_field(good, 3, trailing),
             with_field(good, 3, url_safe),
             with_field(good, 3, salt + "A"),    // 23 chars: not whole bytes, bits left over
             with_field(good, 3, salt + "AAA"),  // 25 chars: a lone trailing character
             with_field(good, 3, salt + "=="),   // padding
             with_field(good, 4, hash + "="),
             with_field(good, 4, star),
             with_field(good, 4, hash.substr(0, 1)),
             with_field(good, 4, ""),
             with_field(good, 3, ""),
             with_field(good, 3, "c2FsdA"),      // a 4-byte salt: under argon2's minimum of 8
             with_field(good, 4, "aGk"),         // a 2-byte hash: under argon2's minimum of 4
             with_field(good, 3, std::string(100, 'A')),
             with_field(good, 4, std::string(100, 'A')),
             with_field(good, 2, "m=064,t=1,p=1"),
             with_field(good, 2, "m=+64,t=1,p=1"),
             with_field(good, 2, "m=64,t=1,p=1,keyid=abc"),
             with_field(good, 2, "t=1,m=64,p=1"),
             with_field(good, 2, "m=64,t=0,p=1"),
             with_field(good, 2, "m=64,t=1,p=0"),
             with_field(good, 2, "m=7,t=1,p=1"),
             with_field(good, 2, "m=64,t=1,p=9"),  // m below 8 blocks per lane
             with_field(good, 2, "m=4294967296,t=1,p=1"),
             with_field(good, 2, "m=64,t=1,p= 1"),
             with_field(good, 1, "v=16"),
             with_field(good, 1, "v=019"),
             with_field(good, 0, "ARGON2ID"),
             good + "\n",
             " " + good,
             good + std::string(1, '\0'),
         }) {
      INFO("'" << bad << "'");
      const auto v = h.verify("pw", bad);
      CHECK_FALSE(v.match);
      CHECK_FALSE(v.needs_rehash);
    }
    // libargon2's decoder is as strict about the base64 as ours.
    CHECK_FALSE(argon2_accepts(with_field(good, 3, trailing), "pw"));
    CHECK_FALSE(argon2_accepts(with_field(good, 4, hash + "="), "pw"));
  }
}

TEST_CASE("PasswordHasher pool of one serializes hashing from four threads", "[auth][password][pool]") {
  PasswordHasher h(cheap(2048, 1, 1), 1);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&h, &failures, i] {
      for (int j = 0; j < 5; ++j) {
        const std::string pw = "pw-" + std::to_string(i) + "-" + std::to_string(j);
        auto phc = h.hash(pw);
        if (!phc.ok() || !h.verify(pw, *phc).match || h.verify(pw + "x", *phc).match) ++failures;
        h.verify_dummy(pw);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  const auto s = h.memory_stats();
  CHECK(s.pool_size == 1);
  CHECK(s.buffer_bytes == 2048u * 1024);
  CHECK(s.buffers == 1);
  CHECK(s.peak_in_use == 1);
  CHECK(s.in_use == 0);
  CHECK(s.one_off == 0);
}

TEST_CASE("PasswordHasher pool never holds more buffers than its size", "[auth][password][pool]") {
  for (unsigned size : {2u, 3u}) {
    PasswordHasher h(cheap(1024, 1, 2), size);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&h, &failures, i] {
        for (int j = 0; j < 4; ++j) {
          const std::string pw = "pw-" + std::to_string(i * 10 + j);
          auto phc = h.hash(pw);
          if (!phc.ok() || !h.verify(pw, *phc).match) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    INFO("pool of " << size);
    CHECK(failures == 0);
    const auto s = h.memory_stats();
    CHECK(s.pool_size == size);
    CHECK(s.buffers >= 1);
    CHECK(s.buffers <= size);
    CHECK(s.peak_in_use <= size);
    CHECK(s.in_use == 0);
  }
}

TEST_CASE("PasswordHasher reuses one warm buffer for sequential hashes", "[auth][password][pool]") {
  PasswordHasher h(cheap(256, 1, 1), 4);
  CHECK(h.memory_stats().buffers == 1);  // the dummy hash, at construction
  for (int i = 0; i < 10; ++i) {
    auto phc = h.hash("pw");
    REQUIRE(phc.ok());
    CHECK(h.verify("pw", *phc).match);
  }
  const auto s = h.memory_stats();
  CHECK(s.pool_size == 4);
  CHECK(s.buffers == 1);
  CHECK(s.peak_in_use == 1);
}

TEST_CASE("PasswordHasher verifies stored hashes with more or less memory than its buffers", "[auth][password][pool]") {
  PasswordHasher h(cheap(64, 1, 1), 1);
  const std::string bigger = argon2_encoded("pw", "saltsaltsaltsalt", 1024, 1, 1);
  const std::string smaller = argon2_encoded("pw", "saltsaltsaltsalt", 32, 1, 1);

  const auto big = h.verify("pw", bigger);
  CHECK(big.match);
  CHECK_FALSE(big.needs_rehash);
  CHECK_FALSE(h.verify("px", bigger).match);
  auto s = h.memory_stats();
  CHECK(s.one_off == 2);  // a buffer of its own, each time
  CHECK(s.buffers == 1);  // and the pooled one stays as it was
  CHECK(s.in_use == 0);

  const auto small = h.verify("pw", smaller);
  CHECK(small.match);
  CHECK(small.needs_rehash);
  s = h.memory_stats();
  CHECK(s.one_off == 2);  // fits in the pooled buffer
  CHECK(s.buffers == 1);
}

TEST_CASE("PasswordHasher works with several lanes", "[auth][password][pool]") {
  PasswordHasher h(cheap(512, 2, 4), 2);
  auto phc = h.hash("lanes");
  REQUIRE(phc.ok());
  CHECK(phc->rfind("$argon2id$v=19$m=512,t=2,p=4$", 0) == 0);
  CHECK(h.verify("lanes", *phc).match);
  CHECK_FALSE(h.verify("lanez", *phc).match);
  CHECK(argon2_accepts(*phc, "lanes"));
  const std::string three = argon2_encoded("lanes", "saltsaltsaltsalt", 96, 1, 3);
  const auto v = h.verify("lanes", three);
  CHECK(v.match);
  CHECK(v.needs_rehash);
}

TEST_CASE("PasswordHasher pool defaults to one buffer per core", "[auth][password][pool]") {
  CHECK(PasswordHasher::default_pool_size() == std::max(1u, std::thread::hardware_concurrency()));
  PasswordHasher h(cheap());
  CHECK(h.memory_stats().pool_size == PasswordHasher::default_pool_size());
  PasswordHasher zero(cheap(), 0);
  CHECK(zero.memory_stats().pool_size == 1);
}

namespace {

// For the test below: what the block held when libargon2 handed it back.
std::vector<std::uint8_t> g_block;
bool g_block_was_zero = false;

int test_allocate(std::uint8_t** memory, std::size_t bytes) {
  g_block.assign(bytes, 0xAA);
  *memory = g_block.data();
  return ARGON2_OK;
}

void test_free(std::uint8_t* memory, std::size_t bytes) {
  g_block_was_zero = memory == g_block.data() && bytes == g_block.size() &&
                     std::all_of(g_block.begin(), g_block.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

// The pool does not wipe its buffers itself: it relies on libargon2 clearing
// the block before free_cbk, which this pins down.
TEST_CASE("libargon2 wipes the block before handing it to free_cbk", "[auth][password][pool]") {
  std::uint8_t out[32];
  std::uint8_t pwd[] = {'p', 'w'};
  std::uint8_t salt[] = "saltsaltsaltsalt";
  argon2_context ctx{};
  ctx.out = out;
  ctx.outlen = sizeof out;
  ctx.pwd = pwd;
  ctx.pwdlen = sizeof pwd;
  ctx.salt = salt;
  ctx.saltlen = 16;
  ctx.t_cost = 1;
  ctx.m_cost = 64;
  ctx.lanes = 1;
  ctx.threads = 1;
  ctx.version = ARGON2_VERSION_13;
  ctx.allocate_cbk = &test_allocate;
  ctx.free_cbk = &test_free;
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  REQUIRE(argon2_ctx(&ctx, Argon2_id) == ARGON2_OK);
  CHECK(g_block.size() == 64u * 1024);
  CHECK(g_block_was_zero);
}

TEST_CASE("PasswordHasher::release_idle_memory unmaps idle buffers, and hashing maps them again", "[auth][password][pool]") {
  tokend::config::PasswordConfig cfg;
  cfg.memory_kib = 64;
  cfg.iterations = 1;
  cfg.parallelism = 1;
  tokend::auth::PasswordHasher hasher(cfg, 2);
  auto h = hasher.hash("pw");
  REQUIRE(h.ok());
  CHECK(hasher.memory_stats().buffers >= 1);
  CHECK(hasher.memory_stats().buffers == 1);  // the dummy hash and this one ran one after the other
  CHECK(hasher.release_idle_memory() == 64 * 1024);
  CHECK(hasher.memory_stats().buffers == 0);
  CHECK(hasher.release_idle_memory() == 0);
  CHECK(hasher.verify("pw", *h).match);
  CHECK_FALSE(hasher.verify("wrong", *h).match);
  CHECK(hasher.memory_stats().buffers == 1);
}

TEST_CASE("PasswordHasher: a refused stored string burns one verification and says so", "[auth][password][security]") {
  tokend::config::PasswordConfig cfg;
  cfg.memory_kib = 64;
  cfg.iterations = 1;
  cfg.parallelism = 1;
  PasswordHasher hasher(cfg, 1);
  for (const char* phc : {"", "garbage", "$argon2id$v=19$m=65,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g=",
                          "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
                          "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}) {
    INFO(phc);
    const auto before = hasher.memory_stats().computations;
    const auto v = hasher.verify("pw", phc);
    CHECK(v.refused);
    CHECK_FALSE(v.match);
    CHECK_FALSE(v.failed);
    CHECK(hasher.memory_stats().computations == before + 1);
  }
  auto h = hasher.hash("pw");
  REQUIRE(h.ok());
  const auto ok = hasher.verify("pw", *h);
  CHECK(ok.match);
  CHECK_FALSE(ok.refused);
  CHECK_FALSE(ok.failed);
  CHECK_FALSE(hasher.verify("other", *h).refused);
}
