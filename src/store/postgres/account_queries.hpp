// AccountQueries: the account primitives of the PostgreSQL store on one
// connection; also the Transaction of PostgresStore::in_transaction().
//
// Thread-safety: as its Connection (one thread at a time).
#pragma once

#include <vector>

#include "store/postgres/connection.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store::postgres {

// A User from columns first.. of row `row`: id, username, email,
// display_name, password_hash, disabled, created_at, admin.
User read_user(const Rows& r, int row, int first);
// A TokenRecord from columns 0..8 of row `row`: id, user_id, name, source,
// created_at, expires_at, last_used_at, revoked_at, scopes.
TokenRecord read_token(const Rows& r, int row);

class AccountQueries final : public Transaction {
 public:
  explicit AccountQueries(Connection& c) : c_(c) {}

  Result<User> find_user(std::int64_t id) override;
  Result<User> find_user_by_username(std::string_view username) override;
  Result<std::vector<User>> find_users_by_email(std::string_view email) override;
  Result<User> insert_user(const NewUser& user, TimeMs now) override;
  Status update_profile(std::int64_t user_id, const ProfileUpdate& profile, TimeMs now) override;
  Result<Link> find_link(std::string_view provider, std::string_view subject) override;
  Result<std::vector<Link>> list_links(std::int64_t user_id) override;
  Status insert_link(const Link& link) override;

  // The change-feed rows recorded so far (update_profile), for the store's
  // listener once the transaction has committed.
  const std::vector<Change>& changes() const { return changes_; }

 private:
  Connection& c_;
  std::vector<Change> changes_;
};

}  // namespace tokend::store::postgres
