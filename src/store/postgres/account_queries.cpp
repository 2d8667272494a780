#include "store/postgres/account_queries.hpp"

#include "store/postgres/sql_state.hpp"

namespace tokend::store::postgres {

namespace {

#define TOKEND_USER_COLUMNS "id, username, email, display_name, password_hash, disabled, created_at, admin"

const Query kFindUser{"acct_find_user", "SELECT " TOKEND_USER_COLUMNS " FROM users WHERE id = $1"};
const Query kFindUserByName{"acct_find_user_by_name", "SELECT " TOKEND_USER_COLUMNS " FROM users WHERE username = $1"};
// ASCII case folding on the users_email index, as SQLite's COLLATE NOCASE.
const Query kFindByEmail{
    "acct_find_by_email",
    "SELECT " TOKEND_USER_COLUMNS " FROM users WHERE translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz') = translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') "
    "ORDER BY id"};
// A failed statement aborts a PostgreSQL transaction, while the Transaction
// interface lets a body go on after a kConflict or kNotFound (SQLite does).
// So the writes below do not fail on those: they report them as counts
// (ON CONFLICT DO NOTHING, checks in the same statement), and the body's
// transaction stays usable. The unique constraints still hold underneath.
const Query kInsertUser{"acct_insert_user",
                        "INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at, admin) "
                        "VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (username) DO NOTHING RETURNING id"};
// Columns: the user exists, the username is another account's, rows updated,
// whether username, email or display name differed from the stored ones
// (target reads the row as it was before the update: one snapshot).
const Query kUpdateProfile{"acct_update_profile",
                           "WITH target AS (SELECT id, (username IS DISTINCT FROM $1 OR email IS DISTINCT FROM $2 "
                           "OR display_name IS DISTINCT FROM $3) AS differs FROM users WHERE id = $5), "
                           "clash AS (SELECT id FROM users WHERE username = $1 AND id <> $5), "
                           "upd AS (UPDATE users SET username = $1, email = $2, display_name = $3, updated_at = $4 "
                           "WHERE id = $5 AND NOT EXISTS (SELECT 1 FROM clash) RETURNING id), "
                           // The change-feed row: the account's remembered tokens carry its old name;
                           // none when nothing differs (every external login calls this).
                           "ch AS (INSERT INTO changes (user_id) SELECT id FROM upd "
                           "WHERE EXISTS (SELECT 1 FROM target WHERE differs)) "
                           "SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM clash), "
                           "(SELECT count(*) FROM upd), EXISTS (SELECT 1 FROM target WHERE differs)"};
const Query kFindLink{"acct_find_link",
                      "SELECT provider, subject, user_id, created_at FROM identities "
                      "WHERE provider = $1 AND subject = $2"};
const Query kListLinks{"acct_list_links",
                       "SELECT provider, subject, user_id, created_at FROM identities WHERE user_id = $1 "
                       "ORDER BY provider COLLATE \"C\", subject COLLATE \"C\""};
// Columns: the user exists, rows inserted.
const Query kInsertLink{"acct_insert_link",
                        "WITH target AS (SELECT id FROM users WHERE id = $3), "
                        "ins AS (INSERT INTO identities (provider, subject, user_id, created_at) "
                        "SELECT $1, $2, id, $4 FROM target ON CONFLICT (provider, subject) DO NOTHING RETURNING 1) "
                        "SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM ins)"};

Link read_link(const Rows& r, int row) {
  Link l;
  l.provider = r.text(row, 0);
  l.subject = r.text(row, 1);
  l.user_id = r.int64(row, 2);
  l.created_at = r.int64(row, 3);
  return l;
}

}  // namespace

TokenRecord read_token(const Rows& r, int row) {
  TokenRecord t;
  t.id = r.int64(row, 0);
  t.user_id = r.int64(row, 1);
  t.name = r.text(row, 2);
  t.source = r.text(row, 3);
  t.created_at = r.int64(row, 4);
  t.expires_at = r.int64(row, 5);
  t.last_used_at = r.opt_int64(row, 6);
  t.revoked_at = r.opt_int64(row, 7);
  t.scopes = r.opt_text(row, 8);
  return t;
}

User read_user(const Rows& r, int row, int first) {
  User u;
  u.id = r.int64(row, first);
  u.username = r.text(row, first + 1);
  u.email = r.text(row, first + 2);
  u.display_name = r.text(row, first + 3);
  u.password_hash = r.text(row, first + 4);
  u.disabled = r.boolean(row, first + 5);
  u.created_at = r.int64(row, first + 6);
  u.admin = r.boolean(row, first + 7);
  return u;
}

Result<User> AccountQueries::find_user(std::int64_t id) {
  auto r = c_.exec(kFindUser, Params().add(id));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return read_user(*r, 0, 0);
}

Result<User> AccountQueries::find_user_by_username(std::string_view username) {
  auto r = c_.exec(kFindUserByName, Params().add(username));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such user"};
  return read_user(*r, 0, 0);
}

Result<std::vector<User>> AccountQueries::find_users_by_email(std::string_view email) {
  auto r = c_.exec(kFindByEmail, Params().add(email));
  if (!r) return r.error();
  std::vector<User> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_user(*r, i, 0));
  return out;
}

Result<User> AccountQueries::insert_user(const NewUser& user, TimeMs now) {
  auto r = c_.exec(kInsertUser, Params()
                                    .add(user.username)
                                    .add(user.email)
                                    .add(user.display_name)
                                    .add(user.password_hash)
                                    .add(std::int64_t{now})
                                    .add(user.admin));
  if (!r) {
    if (c_.sqlstate() == kUniqueViolation) return Error{ErrorCode::kConflict, "the username is taken"};
    return r.error();
  }
  if (r->size() == 0) return Error{ErrorCode::kConflict, "the username is taken"};
  User u;
  u.admin = user.admin;
  u.id = r->int64(0, 0);
  u.username = user.username;
  u.email = user.email;
  u.display_name = user.display_name;
  u.password_hash = user.password_hash;
  u.created_at = now;
  return u;
}

Status AccountQueries::update_profile(std::int64_t user_id, const ProfileUpdate& p, TimeMs now) {
  auto r = c_.exec(kUpdateProfile,
                   Params().add(p.username).add(p.email).add(p.display_name).add(std::int64_t{now}).add(user_id));
  if (!r) {
    if (c_.sqlstate() == kUniqueViolation) return Error{ErrorCode::kConflict, "the username is taken"};
    return r.error();
  }
  if (r->int64(0, 0) == 0) return Error{ErrorCode::kNotFound, "no such user"};
  if (r->int64(0, 1) != 0 || r->int64(0, 2) == 0) return Error{ErrorCode::kConflict, "the username is taken"};
  if (r->boolean(0, 3)) changes_.push_back(Change{user_id, 0});
  return ok_status();
}

Result<Link> AccountQueries::find_link(std::string_view provider, std::string_view subject) {
  auto r = c_.exec(kFindLink, Params().add(provider).add(subject));
  if (!r) return r.error();
  if (r->size() == 0) return Error{ErrorCode::kNotFound, "no such link"};
  return read_link(*r, 0);
}

Result<std::vector<Link>> AccountQueries::list_links(std::int64_t user_id) {
  auto r = c_.exec(kListLinks, Params().add(user_id));
  if (!r) return r.error();
  std::vector<Link> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(read_link(*r, i));
  return out;
}

Status AccountQueries::insert_link(const Link& l) {
  auto r = c_.exec(kInsertLink, Params().add(l.provider).add(l.subject).add(l.user_id).add(std::int64_t{l.created_at}));
  if (!r) {
    if (c_.sqlstate() == kUniqueViolation) return Error{ErrorCode::kConflict, "the identity is linked already"};
    if (c_.sqlstate() == kForeignKeyViolation) return Error{ErrorCode::kNotFound, "no such user"};
    return r.error();
  }
  if (r->int64(0, 0) == 0) return Error{ErrorCode::kNotFound, "no such user"};
  if (r->int64(0, 1) == 0) return Error{ErrorCode::kConflict, "the identity is linked already"};
  return ok_status();
}

}  // namespace tokend::store::postgres
