// The SQLite schema as versioned migrations, and migrate(), which brings a
// database to the version this binary writes. Entry i of the list brings the
// schema from version i to i+1; a released entry is never edited, a change is
// a new entry.
//
// Thread-safety: functions without shared state; a Connection is used by one
// thread at a time.
#pragma once

#include "store/sqlite/connection.hpp"
#include "tokend/common/result.hpp"

namespace tokend::store::sqlite {

// The schema version this binary writes.
int schema_version();

// Applies the missing migrations to `c`'s database in one transaction, and
// records each in schema_migrations. Ok when the schema is at
// schema_version() (also when it was already). kStorageError when the write
// lock cannot be had, a migration fails (nothing is applied), or the database
// was written by a newer tokend (schema too new).
Status migrate(Connection& c);

}  // namespace tokend::store::sqlite
