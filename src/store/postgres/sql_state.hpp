// The SQLSTATE codes the PostgreSQL store tells apart (PostgreSQL manual,
// Appendix A).
#pragma once

#include <string_view>

namespace tokend::store::postgres {

inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kForeignKeyViolation = "23503";

}  // namespace tokend::store::postgres
