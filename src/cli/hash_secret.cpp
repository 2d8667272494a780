#include "cli/hash_secret.hpp"

#include <iostream>
#include <string>

#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/config/config.hpp"

namespace tokend::cli {

namespace {

// Machine secrets are generated (openssl rand -hex 32): 16 bytes is a floor
// against a person typing a password here.
constexpr std::size_t kMinSecretBytes = 16;
constexpr std::size_t kMaxSecretBytes = 1024;

}  // namespace

int hash_secret_command(const std::optional<std::string>& config_path) {
  auto cfg = config::load_config(config_path.value_or(""));
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  std::string secret;
  if (!std::getline(std::cin, secret)) {
    std::cerr << "tokend: no secret on standard input\n";
    return 2;
  }
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes) {
    std::cerr << "tokend: the secret must have 16 to 1024 bytes\n";
    return 2;
  }
  auth::PasswordHasher hasher(cfg->passwords, 1);
  auto hash = hasher.hash(secret);
  if (!hash) {
    std::cerr << "tokend: " << hash.error().message << "\n";
    return 1;
  }
  std::cout << *hash << "\n";
  return 0;
}

}  // namespace tokend::cli
