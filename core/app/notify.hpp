#pragma once
// Observers are optional: a use case tells one only when it is set.
#include <functional>
#include <string>

namespace xops::app {

inline void tell(const std::function<void(const std::string&)>& f, const std::string& s) {
  if (f) f(s);
}

}  // namespace xops::app
