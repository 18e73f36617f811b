#pragma once
// CSV as promptfoo's test files use it (RFC 4180): comma-separated cells, double quotes around
// cells holding commas, quotes ("" inside) or line breaks; \n or \r\n line ends; blank lines
// are skipped.
#include <string>
#include <vector>

namespace xops {

std::vector<std::vector<std::string>> parse_csv(const std::string& text);

}  // namespace xops
