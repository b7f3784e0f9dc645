// Status and Result<T>: the error channel of every kiln API.
//
// Expected failures are values, never exceptions. A Status is either OK or carries a canonical
// code and a message; context is added outer -> inner with WithContext():
//
//   kiln::Status s = store.Commit(v);
//   if (!s.ok()) return s.WithContext("ingest churn.csv");
//   // -> "ingest churn.csv: write chunk 3: no space left on device"
//
// Result<T> holds a T or a non-OK Status. KILN_RETURN_IF_ERROR / KILN_ASSIGN_OR_RETURN propagate.
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kiln {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kOutOfRange,
  kResourceExhausted,
  kDeadlineExceeded,
  kCancelled,
  kUnavailable,
  kUnimplemented,
  kDataLoss,
  kInternal,
  kUnauthenticated,   // no credentials, or bad, expired or revoked ones
  kPermissionDenied,  // valid credentials without the permission
};

// "INVALID_ARGUMENT", "NOT_FOUND", ... (the spelling used in JSON error bodies).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: dataset 'x' has no version 3"; "OK" when ok.
  std::string ToString() const;

  // Prefixes the message with `context` ("context: message"); a no-op on OK.
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;

  // Explicitly discards a status where ignoring it is correct (e.g. best-effort cleanup).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status OutOfRangeError(std::string message);
Status ResourceExhaustedError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);
Status UnavailableError(std::string message);
Status UnimplementedError(std::string message);
Status DataLossError(std::string message);
Status UnauthenticatedError(std::string message);
Status PermissionDeniedError(std::string message);
// Whether a retry cannot cure an error of `code`: bad options or data (InvalidArgument,
// NotFound, AlreadyExists, FailedPrecondition, OutOfRange, Unimplemented, DataLoss,
// Unauthenticated, PermissionDenied).
bool IsPermanent(StatusCode code);
Status InternalError(std::string message);

// Status from an errno value: ENOENT -> NotFound, ENOSPC -> ResourceExhausted, EEXIST ->
// AlreadyExists, EACCES/EPERM -> FailedPrecondition, EIO -> DataLoss, else Internal.
Status ErrnoToStatus(int err, std::string_view what);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = InternalError("Result constructed from OK status without value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // Preconditions: ok().
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

namespace internal {
// Copies out the Status (cheap when OK), so that a temporary Result may be passed safely.
inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace kiln

#define KILN_CONCAT_INNER_(a, b) a##b
#define KILN_CONCAT_(a, b) KILN_CONCAT_INNER_(a, b)

// Returns the status of `expr` (a Status or Result) from the enclosing function if not OK.
#define KILN_RETURN_IF_ERROR(expr) \
  KILN_RETURN_IF_ERROR_IMPL_(KILN_CONCAT_(kiln_status_, __COUNTER__), expr)
#define KILN_RETURN_IF_ERROR_IMPL_(var, expr)              \
  do {                                                     \
    ::kiln::Status var = ::kiln::internal::ToStatus(expr); \
    if (!var.ok()) return var;                             \
  } while (false)

// KILN_ASSIGN_OR_RETURN(auto x, MakeX()); declares/assigns `lhs` or returns the error.
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_CONCAT_(kiln_result_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// Internal invariants only; never fires on input (docs/design/conventions.md "Errors").
#ifndef NDEBUG
#define KILN_DCHECK(cond) assert(cond)
#else
#define KILN_DCHECK(cond) ((void)0)
#endif
