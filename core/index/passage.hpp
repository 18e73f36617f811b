#pragma once
// A chunk an index returned for a query, as eval suites and serve see it.
#include <cstdint>
#include <string>

namespace xops::index {

struct Passage {
  uint64_t id = 0;
  std::string source, text;
  double score = 0;
};

}  // namespace xops::index
