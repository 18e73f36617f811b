#pragma once
// The one budget every template render runs under (suites, assertion values and served chat
// templates share the renderer, so a template from a commit or a model directory can cost at
// most this much, whatever its loops, filters and concatenations multiply to). Each limit is
// checked before or as a value is built, never only on the output; docs/security.md lists them.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace xops::nunjucks::budget {

inline constexpr size_t kMaxValueBytes = 16u << 20;   // one value: text bytes + 16 per item
inline constexpr size_t kMaxOutputBytes = 16u << 20;  // the rendered text
inline constexpr size_t kMaxDepth = 64;               // lists and dicts inside each other
inline constexpr size_t kMaxIterations = 1000000;     // loop iterations in one render
inline constexpr size_t kMaxRange = 1000000;          // items range() makes
inline constexpr size_t kMaxWorkBytes = 256u << 20;   // bytes of values built or copied

// A value's accounted size (text bytes + 16 per item), checked against kMaxValueBytes and
// kMaxDepth as it is measured; throws naming `what` when over.
size_t measure(const nlohmann::json& v, const std::string& what);
// Throws when a value about to be built would be larger than kMaxValueBytes.
void check_growth(size_t bytes, const std::string& what);

}  // namespace xops::nunjucks::budget
