#include "cli/token_commands.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <unordered_map>

#include "tokend/auth/username.hpp"
#include "tokend/common/time.hpp"
#include "tokend/log/log.hpp"

namespace tokend::cli {

namespace {

int list_tokens(const CommandLine& cl, store::Store& store) {
  std::int64_t user_id = 0;
  std::unordered_map<std::int64_t, std::string> names;  // owner id -> username
  if (!cl.username.empty()) {
    const std::string username = auth::normalize_username(cl.username);
    if (!auth::valid_username(username)) {
      std::cerr << "tokend: a username has 1 to 128 bytes of UTF-8 and no control characters\n";
      return 2;
    }
    auto u = store.find_user_by_username(username);
    if (!u) {
      std::cerr << "tokend: " << (u.error().is_not_found() ? "no user " + log::printable(username) : u.error().message)
                << "\n";
      return 1;
    }
    user_id = u->id;
    names[u->id] = u->username;
  } else {
    auto users = store.list_users();
    if (!users) {
      std::cerr << "tokend: " << users.error().message << "\n";
      return 1;
    }
    for (const auto& u : *users) names[u.id] = u.username;
  }
  // One more than asked tells whether the list was cut.
  auto tokens = store.list_all_live_tokens(user_id, now_ms(), cl.limit + 1);
  if (!tokens) {
    std::cerr << "tokend: " << tokens.error().message << "\n";
    return 1;
  }
  const bool more = tokens->size() > cl.limit;
  if (more) tokens->resize(cl.limit);
  std::printf("%-8s %-24s %-24s %-10s %-24s %-24s %s\n", "ID", "USER", "NAME", "SOURCE", "CREATED", "EXPIRES",
              "LAST USED");
  for (const auto& t : *tokens) {
    // Names come from people and directories: never let them put escape
    // sequences on the operator's terminal.
    std::printf("%-8lld %-24s %-24s %-10s %-24s %-24s %s\n", static_cast<long long>(t.id),
                log::printable(names[t.user_id]).c_str(), log::printable(t.name).c_str(),
                log::printable(t.source).c_str(), format_iso8601(t.created_at).c_str(),
                format_iso8601(t.expires_at).c_str(), t.last_used_at ? format_iso8601(*t.last_used_at).c_str() : "-");
  }
  if (more) std::cerr << "tokend: more than " << cl.limit << " live tokens; only the newest are listed (--limit)\n";
  return 0;
}

int revoke_token(const CommandLine& cl, store::Store& store, audit::AuditLog* audit) {
  auto revoked = store.revoke_any_token(cl.token_id, now_ms());
  if (!revoked) {
    if (revoked.error().is_not_found()) {
      std::cerr << "tokend: no live token " << cl.token_id << " (unknown, revoked already, or expired)\n";
    } else {
      std::cerr << "tokend: " << revoked.error().message << "\n";
    }
    return 1;
  }
  std::string owner = "user id " + std::to_string(revoked->user_id);
  if (auto u = store.find_user(revoked->user_id)) owner = log::printable(u->username);
  audit::record(audit, audit::Event{"token.revoked", "cli", "token:" + std::to_string(cl.token_id), "", "",
                                    {{"by", "cli"}, {"userId", revoked->user_id}}});
  std::cout << "token " << cl.token_id << " of " << owner << " revoked\n";
  return 0;
}

}  // namespace

int run_token_command(const CommandLine& cl, store::Store& store, audit::AuditLog* audit) {
  return cl.command == Command::kTokenList ? list_tokens(cl, store) : revoke_token(cl, store, audit);
}

}  // namespace tokend::cli
