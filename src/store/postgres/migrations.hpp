// The PostgreSQL schema: versioned migrations, applied under an advisory lock.
//
// Thread-safety: migrate() may run in many processes at once on one
// database (several instances starting together): the advisory lock makes
// them take turns, and each applies only what is still missing.
#pragma once

#include "store/postgres/connection.hpp"
#include "tokend/common/result.hpp"

namespace tokend::store::postgres {

// The schema version this binary writes.
int schema_version();

// The version recorded in `c`'s database (0 when none is).
Result<int> current_version(Connection& c);

// Brings the database to schema_version(), each migration in its own
// transaction. Error kStorageError when a migration fails or the database
// holds a newer schema than this binary knows (the message names both).
Status migrate(Connection& c);

}  // namespace tokend::store::postgres
