// Early-return helpers for absl::Status and absl::StatusOr (Abseil 20220623 has none).
#ifndef RATTN_ENGINE_UTIL_STATUS_MACROS_H_
#define RATTN_ENGINE_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RATTN_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    if (::absl::Status rattn_status_ = (expr); !rattn_status_.ok()) { \
      return rattn_status_;                                           \
    }                                                                 \
  } while (false)

#define RATTN_STATUS_CONCAT_INNER_(a, b) a##b
#define RATTN_STATUS_CONCAT_(a, b) RATTN_STATUS_CONCAT_INNER_(a, b)

// `RATTN_ASSIGN_OR_RETURN(auto x, MakeX());` declares or assigns `x` from an absl::StatusOr,
// or returns its status from the enclosing function.
#define RATTN_ASSIGN_OR_RETURN(lhs, expr) \
  RATTN_ASSIGN_OR_RETURN_IMPL_(RATTN_STATUS_CONCAT_(rattn_statusor_, __LINE__), lhs, expr)

#define RATTN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()

#endif  // RATTN_ENGINE_UTIL_STATUS_MACROS_H_
