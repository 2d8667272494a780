// AccountQueries: the account primitives of the Store interface (users,
// linked identities) as SQL on one connection. SqliteStore runs them inside a
// transaction for Store::in_transaction (as the Transaction the body gets), and
// in autocommit for its own find_user / find_user_by_username / create_user.
// No policy: which account an identity gets is the login service's rule.
// update_profile records a change-feed row (store.hpp, Change): it needs the
// transaction of in_transaction.
//
// Thread-safety: as its Connection: one thread at a time.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "store/sqlite/connection.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store::sqlite {

class AccountQueries final : public Transaction {
 public:
  // REQUIRES: `c` outlives this object.
  explicit AccountQueries(Connection& c) : c_(c) {}

  // See Transaction (store.hpp) for each result.
  Result<User> find_user(std::int64_t id) override;
  Result<User> find_user_by_username(std::string_view username) override;
  Result<std::vector<User>> find_users_by_email(std::string_view email) override;
  Result<User> insert_user(const NewUser& user, TimeMs now) override;
  Status update_profile(std::int64_t user_id, const ProfileUpdate& profile, TimeMs now) override;
  Result<Link> find_link(std::string_view provider, std::string_view subject) override;
  Result<std::vector<Link>> list_links(std::int64_t user_id) override;
  Status insert_link(const Link& link) override;

  // The changes recorded so far (update_profile), for the store's listener
  // once the transaction has committed.
  const std::vector<Change>& changes() const { return changes_; }

 private:
  Connection& c_;
  std::vector<Change> changes_;
};

}  // namespace tokend::store::sqlite
