// open(): the one place that turns config.database into a Store, whatever the
// backend (today SQLite; config.database.driver names it). Used by the server
// (app/) and by the command line (cli/).
//
// Thread-safety: call from one thread; the Store it returns documents its own.
#pragma once

#include <memory>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store {

// Opens (creating when missing) and migrates the database `config` names.
// Error kInvalidConfig for a driver this binary does not have; kStorageError
// when the backend cannot open or migrate it (see the backend's open()).
Result<std::unique_ptr<Store>> open(const config::DatabaseConfig& config);

}  // namespace tokend::store
