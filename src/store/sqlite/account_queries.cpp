#include "store/sqlite/account_queries.hpp"

#include "store/sqlite/change_rows.hpp"
#include "store/sqlite/rows.hpp"

namespace tokend::store::sqlite {

namespace {

Link read_link(const Stmt& s) {
  Link l;
  l.provider = s.text(0);
  l.subject = s.text(1);
  l.user_id = s.int64(2);
  l.created_at = s.int64(3);
  return l;
}

}  // namespace

Result<User> AccountQueries::insert_user(const NewUser& user, TimeMs now) {
  Connection& c = c_;
  auto st = c.prepare(
      "INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at, admin) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, user.username).bind(2, user.email).bind(3, user.display_name).bind(4, user.password_hash);
  st->bind(5, now).bind(6, now).bind(7, std::int64_t{user.admin ? 1 : 0});
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return Error{ErrorCode::kConflict, "the username is taken"};
  if (rc != SQLITE_DONE) return db_error(c, "inserting a user");
  User u;
  u.id = c.last_insert_rowid();
  u.username = user.username;
  u.email = user.email;
  u.display_name = user.display_name;
  u.password_hash = user.password_hash;
  u.created_at = now;
  u.admin = user.admin;
  return u;
}

Result<User> AccountQueries::find_user_by_username(std::string_view username) {
  Connection& c = c_;
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users WHERE username = ?");
  if (!st) return st.error();
  st->bind(1, username);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a user");
  return read_user(*st, 0);
}

Result<User> AccountQueries::find_user(std::int64_t id) {
  Connection& c = c_;
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a user");
  return read_user(*st, 0);
}

Result<std::vector<User>> AccountQueries::find_users_by_email(std::string_view email) {
  Connection& c = c_;
  // COLLATE NOCASE: ASCII case folding, on the users_email index.
  auto st = c.prepare(
      "SELECT id, username, email, display_name, password_hash, disabled, created_at, admin FROM users "
      "WHERE email = ? COLLATE NOCASE ORDER BY id");
  if (!st) return st.error();
  st->bind(1, email);
  std::vector<User> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_user(*st, 0));
  if (rc != SQLITE_DONE) return db_error(c, "finding accounts by email");
  return out;
}

Status AccountQueries::update_profile(std::int64_t user_id, const ProfileUpdate& p, TimeMs now) {
  Connection& c = c_;
  // Whether anything differs, read in this transaction before the update:
  // every external login calls this with the profile it got, mostly the same
  // one, and a change row would make every instance forget the account's
  // remembered tokens for nothing.
  bool differs = false;
  {
    auto old = c.prepare("SELECT username IS NOT ?1 OR email IS NOT ?2 OR display_name IS NOT ?3 FROM users WHERE id = ?4");
    if (!old) return old.error();
    old->bind(1, p.username).bind(2, p.email).bind(3, p.display_name).bind(4, user_id);
    const int rc = old->step();
    if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such user"};
    if (rc != SQLITE_ROW) return db_error(c, "reading a profile");
    differs = old->int64(0) != 0;
  }
  auto st = c.prepare("UPDATE users SET username = ?, email = ?, display_name = ?, updated_at = ? WHERE id = ?");
  if (!st) return st.error();
  st->bind(1, p.username).bind(2, p.email).bind(3, p.display_name).bind(4, now).bind(5, user_id);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return Error{ErrorCode::kConflict, "the username is taken"};
  if (rc != SQLITE_DONE) return db_error(c, "updating a profile");
  if (c.changes() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  if (!differs) return ok_status();
  // The remembered tokens of this account carry its old name and email.
  return record_change(c, Change{user_id, 0}, changes_);
}

Result<Link> AccountQueries::find_link(std::string_view provider, std::string_view subject) {
  Connection& c = c_;
  auto st = c.prepare("SELECT provider, subject, user_id, created_at FROM identities WHERE provider = ? AND subject = ?");
  if (!st) return st.error();
  st->bind(1, provider).bind(2, subject);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{ErrorCode::kNotFound, "no such link"};
  if (rc != SQLITE_ROW) return db_error(c, "finding a linked identity");
  return read_link(*st);
}

Result<std::vector<Link>> AccountQueries::list_links(std::int64_t user_id) {
  Connection& c = c_;
  auto st = c.prepare(
      "SELECT provider, subject, user_id, created_at FROM identities WHERE user_id = ? ORDER BY provider, subject");
  if (!st) return st.error();
  st->bind(1, user_id);
  std::vector<Link> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(read_link(*st));
  if (rc != SQLITE_DONE) return db_error(c, "listing linked identities");
  return out;
}

Status AccountQueries::insert_link(const Link& l) {
  Connection& c = c_;
  auto st = c.prepare("INSERT INTO identities (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)");
  if (!st) return st.error();
  st->bind(1, l.provider).bind(2, l.subject).bind(3, l.user_id).bind(4, l.created_at);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Error{ErrorCode::kConflict, "the identity is linked already"};
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Error{ErrorCode::kNotFound, "no such user"};
  if (rc != SQLITE_DONE) return db_error(c, "linking an identity");
  return ok_status();
}

}  // namespace tokend::store::sqlite
