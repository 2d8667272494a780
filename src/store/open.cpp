#include "tokend/store/open.hpp"

#include <utility>

#include "tokend/store/postgres/postgres_store.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"

namespace tokend::store {

Result<std::unique_ptr<Store>> open(const config::DatabaseConfig& config) {
  if (config.driver == "sqlite") {
    auto opened = sqlite::SqliteStore::open(config);
    if (!opened) return opened.error();
    return std::unique_ptr<Store>(std::move(*opened));
  }
  if (config.driver == "postgresql") {
    auto opened = postgres::PostgresStore::open(config);
    if (!opened) return opened.error();
    return std::unique_ptr<Store>(std::move(*opened));
  }
  return Error{ErrorCode::kInvalidConfig, "database.driver: \"" + config.driver + "\" is not built into this binary"};
}

}  // namespace tokend::store
