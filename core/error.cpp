#include "core/error.hpp"

namespace xops {

Error::~Error() = default;

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Runtime: return 1;
    case ErrorKind::Usage: return 2;
    case ErrorKind::Precondition: return 3;
    case ErrorKind::CheckFailed: return 4;
    case ErrorKind::Interrupted: return 130;
  }
  return 1;
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Runtime: return "runtime";
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Precondition: return "precondition";
    case ErrorKind::CheckFailed: return "check_failed";
    case ErrorKind::Interrupted: return "interrupted";
  }
  return "runtime";
}

}  // namespace xops
