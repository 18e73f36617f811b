#pragma once
// The one error type that crosses layers. core throws it; cli/app.cpp catches it once,
// prints `xops: error: ...` / `hint: ...` and exits with exit_code(kind).
#include <fmt/format.h>

#include <stdexcept>
#include <string>

// What libxops_base.so exports: the binary and every plugin link that one copy (the error
// type's identity, the interrupt flag), even where a plugin hides its other symbols.
#define XOPS_BASE_API __attribute__((visibility("default")))

namespace xops {

enum class ErrorKind {
  Runtime,       // 1: something failed while doing the work
  Usage,         // 2: bad flags or arguments
  Precondition,  // 3: not a workspace, lock held, dirty tree, missing object, exists already
  CheckFailed,   // 4: a gate/threshold/--exit-code check failed
  Interrupted,   // 130
};

XOPS_BASE_API int exit_code(ErrorKind kind);
XOPS_BASE_API const char* kind_name(ErrorKind kind);

class XOPS_BASE_API Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {})
      : std::runtime_error(message), kind_(kind), hint_(std::move(hint)) {}
  ~Error() override;  // out of line: one vtable and type_info, in libxops_base.so
  ErrorKind kind() const { return kind_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string hint_;
};

// Shorthands: throw runtime_error("..."), usage_error(...), precondition_error(...).
inline Error runtime_error(std::string msg, std::string hint = {}) {
  return Error(ErrorKind::Runtime, std::move(msg), std::move(hint));
}
inline Error usage_error(std::string msg, std::string hint = {}) {
  return Error(ErrorKind::Usage, std::move(msg), std::move(hint));
}
inline Error precondition_error(std::string msg, std::string hint = {}) {
  return Error(ErrorKind::Precondition, std::move(msg), std::move(hint));
}

}  // namespace xops
