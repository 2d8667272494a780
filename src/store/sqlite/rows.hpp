// Reading the rows of the users and tokens tables from a statement's columns,
// for the SQLite store's queries.
//
// Thread-safety: functions of one Stmt, used by its connection's thread.
#pragma once

#include <optional>
#include <string>

#include "store/sqlite/connection.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store::sqlite {

// A User from columns first.. of `s`: id, username, email, display_name,
// password_hash, disabled, created_at, admin (migration 4).
inline User read_user(const Stmt& s, int first) {
  User u;
  u.id = s.int64(first);
  u.username = s.text(first + 1);
  u.email = s.text(first + 2);
  u.display_name = s.text(first + 3);
  u.password_hash = s.text(first + 4);
  u.disabled = s.int64(first + 5) != 0;
  u.created_at = s.int64(first + 6);
  u.admin = s.int64(first + 7) != 0;
  return u;
}

// A TokenRecord from columns first.. of `s`: id, user_id, name, source,
// created_at, expires_at, last_used_at, revoked_at.
inline TokenRecord read_token(const Stmt& s, int first) {
  TokenRecord t;
  t.id = s.int64(first);
  t.user_id = s.int64(first + 1);
  t.name = s.text(first + 2);
  t.source = s.text(first + 3);
  t.created_at = s.int64(first + 4);
  t.expires_at = s.int64(first + 5);
  t.last_used_at = s.opt_int64(first + 6);
  t.revoked_at = s.opt_int64(first + 7);
  return t;
}

// The scopes column of tokens (migration 2), selected after the others:
// space-separated names, nullopt for NULL (the rows from before scopes).
inline std::optional<std::string> read_scopes(const Stmt& s, int col) { return s.opt_text(col); }

}  // namespace tokend::store::sqlite
